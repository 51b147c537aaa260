/** Operating projections, and the event catalog. */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import { HttpError } from '../http-errors.js';
import { toJsonValue } from '../json.js';
import { bodyErrors, commonErrors, errors, json, projectionStatusSchema } from '../schemas.js';
import { adminOf, callerOf } from './caller.js';

const projectionErrors = {
  403: 'An admin route: the caller has no admin role (`forbidden`).',
  400: 'The projection name is invalid (`validation_failed`), or the request body is not acceptable.',
  404: 'No such projection (`projection_not_found`), or this server runs no projections (`not_found`).',
};

export function adminRoutes(context: ServerContext): FastifyPluginAsync {
  return async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();
    const projections = () => {
      if (!context.projections) throw new HttpError(404, 'not_found', 'this server runs no projections');
      return context.projections;
    };
    const params = z.object({ name: z.string().min(1).max(100).describe('The projection name') });
    const action = <S extends 200 | 202, R extends z.ZodType>(
      operationId: string,
      summary: string,
      status: S,
      reply: R,
      description: string,
    ) => ({
      schema: {
        tags: ['projections'],
        operationId,
        summary,
        params,
        response: {
          ...({ [status]: json(reply, description) } as Record<S, ReturnType<typeof json<R>>>),
          ...errors([...bodyErrors, 404, ...commonErrors], projectionErrors),
        },
      },
    });

    app.get(
      '/projections',
      {
        schema: {
          tags: ['projections'],
          operationId: 'listProjections',
          summary: 'Status and lag of every projection',
          response: {
            200: json(z.object({ projections: z.array(projectionStatusSchema) }), 'Every projection instance'),
            ...errors([404, ...commonErrors], { 404: 'This server runs no projections (`not_found`).' }),
          },
        },
      },
      async (request) => {
        await adminOf(context, request);
        return { projections: toJsonValue(await projections().status()) as z.output<typeof projectionStatusSchema>[] };
      },
    );
    app.post(
      '/projections/:name/rebuild',
      action(
        'rebuildProjection',
        'Rebuild beside the serving version (blue/green)',
        202,
        z.object({ projection: z.string(), version: z.number().int(), build: z.number().int() }),
        'Accepted: the build runs in the projection daemon; follow it in GET /projections',
      ),
      async (request, reply) => {
        const caller = await adminOf(context, request);
        const { name } = request.params;
        const started = await context.audit.run(caller, 'projection.rebuild', name, () => projections().rebuild(name));
        return reply.status(202).send({ projection: request.params.name, ...started });
      },
    );
    app.post(
      '/projections/:name/pause',
      action(
        'pauseProjection',
        'Stop applying events until resumed',
        200,
        z.object({ projection: z.string(), status: z.literal('paused') }),
        'Paused',
      ),
      async (request) => {
        const caller = await adminOf(context, request);
        const { name } = request.params;
        await context.audit.run(caller, 'projection.pause', name, () => projections().pause(name));
        return { projection: request.params.name, status: 'paused' as const };
      },
    );
    app.post(
      '/projections/:name/resume',
      action(
        'resumeProjection',
        'Resume a paused or failed projection',
        200,
        z.object({ projection: z.string(), status: z.literal('resumed') }),
        'Resumed',
      ),
      async (request) => {
        const caller = await adminOf(context, request);
        const { name } = request.params;
        await context.audit.run(caller, 'projection.resume', name, () => projections().resume(name));
        return { projection: request.params.name, status: 'resumed' as const };
      },
    );
    app.post(
      '/projections/:name/retry-parked',
      action(
        'retryParkedEvents',
        'Retry the parked (dead-letter) events',
        200,
        z.object({ projection: z.string(), retried: z.number().int().describe('How many parked events will be retried') }),
        'The retry is requested',
      ),
      async (request) => {
        const caller = await adminOf(context, request);
        const { name } = request.params;
        const retried = await context.audit.run(caller, 'projection.retry-parked', name, () => projections().retryParked(name));
        return { projection: request.params.name, retried };
      },
    );

    app.get(
      '/catalog',
      {
        schema: {
          tags: ['catalog'],
          operationId: 'getCatalog',
          summary: 'The event catalog: JSON Schema (default) or Markdown',
          description: 'Any authenticated caller may read it: it describes event types, not events.',
          querystring: z.object({ format: z.enum(['json', 'md']).optional() }),
          response: {
            200: {
              description: 'Every event type with its schema: JSON Schema (`$defs` by type), or Markdown with `format=md`',
              content: {
                'application/json': { schema: z.record(z.string(), z.unknown()) },
                'text/markdown': { schema: z.string() },
              },
            },
            ...errors([400, 401, 429, 500]),
          },
        },
      },
      async (request, reply) => {
        await callerOf(context, request);
        if (request.query.format === 'md') return reply.type('text/markdown; charset=utf-8').send(context.catalog.toMarkdown());
        return context.catalog.toJSONSchema() as Record<string, unknown>;
      },
    );
  };
}
