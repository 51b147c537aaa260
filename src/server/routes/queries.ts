/**
 * `GET /queries/:name`: read models through the query bus. `minPosition` (a position returned by a
 * command) waits, bounded, until the query's projection has passed it: read-your-writes.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ValidationError } from '../../core/errors.js';
import type { ServerContext } from '../context.js';
import { toJsonValue } from '../json.js';
import { callerOf, documentedOnly } from './caller.js';

export function queryRoutes(context: ServerContext): FastifyPluginAsync {
  return async (app) => {
    const run = (name: string) => async (request: FastifyRequest) => {
      const caller = await callerOf(context, request);
      const { minPosition, ...params } = (request.query ?? {}) as Record<string, unknown>;
      if (minPosition !== undefined) await waitForPosition(context, name, minPosition);
      const result = await context.queries.execute(name, params, caller);
      return toJsonValue(result);
    };
    for (const definition of context.queries.queries()) {
      const schema =
        definition.schema instanceof z.ZodObject
          ? definition.schema.extend({
              minPosition: z
                .string()
                .optional()
                .describe('Wait until the read model has passed this position (read-your-writes)'),
            })
          : definition.schema;
      app.get(
        `/queries/${definition.name}`,
        {
          schema: { tags: ['queries'], summary: definition.name, description: definition.description, querystring: schema },
          validatorCompiler: documentedOnly,
        },
        run(definition.name),
      );
    }
    app.get('/queries/:name', { schema: { hide: true } }, async (request) =>
      run((request.params as { name: string }).name)(request),
    );
  };
}

async function waitForPosition(context: ServerContext, name: string, raw: unknown) {
  if (typeof raw !== 'string' || !/^\d{1,19}$/.test(raw))
    throw new ValidationError('minPosition', 'must be a global position (digits)');
  const projection = context.queries.definition(name)?.projection;
  if (!projection || !context.projections) return; // not served by an async read model: nothing to wait for
  await context.projections.waitFor(projection, BigInt(raw), { timeout: context.limits.maxWaitMs });
}
