/** Process managers (sagas): their status, and one instance with its commands and timeouts. */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import { HttpError } from '../http-errors.js';
import { toJsonValue } from '../json.js';
import { commonErrors, errors, json, processInstanceSchema, processStatusSchema } from '../schemas.js';
import { adminOf } from './caller.js';

export function processRoutes(context: ServerContext): FastifyPluginAsync {
  return async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();
    const processes = () => {
      if (!context.processes) throw new HttpError(404, 'not_found', 'this server runs no process managers');
      return context.processes;
    };
    app.get(
      '/processes',
      {
        schema: {
          tags: ['processes'],
          operationId: 'listProcesses',
          summary: 'Every process manager: instances active and ended, open commands, timeouts, and its consumer',
          response: {
            200: json(z.object({ processes: z.array(processStatusSchema) }), 'Every process manager of the application'),
            ...errors([404, ...commonErrors], { 404: 'This server runs no process managers (`not_found`).' }),
          },
        },
      },
      async (request) => {
        await adminOf(context, request);
        const statuses = (await processes().status()).map(({ consumer, ...rest }) => (consumer ? { ...rest, consumer } : rest));
        return { processes: toJsonValue(statuses) as z.output<typeof processStatusSchema>[] };
      },
    );
    app.get(
      '/processes/:name/instances/:instanceId',
      {
        schema: {
          tags: ['processes'],
          operationId: 'getProcessInstance',
          summary: 'One instance of a process manager: its state, the commands it sent with their outcomes, its timeouts',
          params: z.object({
            name: z.string().min(1).max(100).describe('The process name'),
            instanceId: z.string().min(1).max(200).describe('The instance id (for transfers: the transferId)'),
          }),
          response: {
            200: json(processInstanceSchema, 'The instance'),
            ...errors([400, 404, ...commonErrors], {
              400: 'No process of that name (`validation_failed`).',
              404: 'No such instance (`not_found`), or this server runs no process managers.',
            }),
          },
        },
      },
      async (request) => {
        await adminOf(context, request);
        const { name, instanceId } = request.params;
        const instance = await processes().instance(name, instanceId);
        if (!instance) throw new HttpError(404, 'not_found', `process ${name} has no instance ${JSON.stringify(instanceId)}`);
        return toJsonValue(instance) as z.output<typeof processInstanceSchema>;
      },
    );
  };
}
