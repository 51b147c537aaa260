/** Operating projections, and the event catalog. */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { FabulaError } from '../../core/errors.js';
import type { ServerContext } from '../context.js';
import { toJsonValue } from '../json.js';
import { callerOf } from './caller.js';

export function adminRoutes(context: ServerContext): FastifyPluginAsync {
  return async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();
    const projections = () => {
      if (!context.projections)
        throw Object.assign(new FabulaError('not_found', 'this server runs no projections'), { status: 404 });
      return context.projections;
    };
    const name = z.object({ name: z.string().min(1).max(100) });

    app.get(
      '/projections',
      { schema: { tags: ['projections'], summary: 'Status and lag of every projection' } },
      async (request) => {
        await callerOf(context, request);
        return { projections: toJsonValue(await projections().status()) };
      },
    );
    app.post(
      '/projections/:name/rebuild',
      { schema: { tags: ['projections'], summary: 'Rebuild beside the serving version (blue/green)', params: name } },
      async (request, reply) => {
        await callerOf(context, request);
        const started = await projections().rebuild(request.params.name);
        return reply.status(202).send({ projection: request.params.name, ...started });
      },
    );
    app.post(
      '/projections/:name/pause',
      { schema: { tags: ['projections'], summary: 'Stop applying events until resumed', params: name } },
      async (request) => {
        await callerOf(context, request);
        const p = projections() as unknown as { pause?: (name: string) => Promise<unknown> };
        if (!p.pause)
          throw Object.assign(new FabulaError('not_supported', 'pausing is not supported by this version'), { status: 501 });
        await p.pause(request.params.name);
        return { projection: request.params.name, status: 'paused' };
      },
    );
    app.post(
      '/projections/:name/resume',
      { schema: { tags: ['projections'], summary: 'Resume a paused or failed projection', params: name } },
      async (request) => {
        await callerOf(context, request);
        await projections().resume(request.params.name);
        return { projection: request.params.name, status: 'resumed' };
      },
    );
    app.post(
      '/projections/:name/retry-parked',
      { schema: { tags: ['projections'], summary: 'Retry the parked (dead-letter) events', params: name } },
      async (request) => {
        await callerOf(context, request);
        const retried = await projections().retryParked(request.params.name);
        return { projection: request.params.name, retried };
      },
    );

    app.get(
      '/catalog',
      {
        schema: {
          tags: ['catalog'],
          summary: 'The event catalog: JSON Schema (default) or Markdown',
          querystring: z.object({ format: z.enum(['json', 'md']).optional() }),
        },
      },
      async (request, reply) => {
        if (request.query.format === 'md') return reply.type('text/markdown; charset=utf-8').send(context.catalog.toMarkdown());
        return context.catalog.toJSONSchema();
      },
    );
  };
}
