/**
 * Status of the checkpointed consumers that are not projections (the NATS publisher, process
 * managers): every one registered in the store, from the processing layer.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { createConsumers } from '../../processing/consumers.js';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import { toJsonValue } from '../json.js';
import { commonErrors, consumerStatusSchema, errors, json } from '../schemas.js';
import { adminOf } from './caller.js';

export function consumerRoutes(context: ServerContext): FastifyPluginAsync {
  return async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();
    const consumers = createConsumers([]).attach(context.store);
    app.get(
      '/consumers',
      {
        schema: {
          tags: ['consumers'],
          operationId: 'listConsumers',
          summary:
            'Status, checkpoint, lag and errors of every consumer that is not a projection (NATS publisher, process managers)',
          response: {
            200: json(z.object({ consumers: z.array(consumerStatusSchema) }), 'Every consumer that is not a projection'),
            ...errors([...commonErrors]),
          },
        },
      },
      async (request) => {
        await adminOf(context, request);
        const statuses = (await consumers.status()).filter((s) => !s.name.startsWith('projection:'));
        return { consumers: toJsonValue(statuses) as z.output<typeof consumerStatusSchema>[] };
      },
    );
  };
}
