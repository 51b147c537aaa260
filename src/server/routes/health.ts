/**
 * Liveness, readiness and Prometheus metrics. Readiness fails while the server drains, while the store
 * does not answer, and while a projection is failed (its read model is stopped: an operator must act).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import { errors, json, text } from '../schemas.js';

const notReady = z.object({
  status: z.enum(['draining', 'unavailable', 'projection_failed']),
  message: z.string(),
  failedProjections: z.array(z.string()).optional(),
});

export function healthRoutes(context: ServerContext): FastifyPluginAsync {
  return async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();
    app.get(
      '/health/live',
      {
        schema: {
          tags: ['operations'],
          operationId: 'live',
          summary: 'The process is up',
          security: [],
          response: { 200: json(z.object({ status: z.literal('ok') }), 'Alive') },
        },
      },
      async () => ({ status: 'ok' as const }),
    );
    app.get(
      '/health/ready',
      {
        schema: {
          tags: ['operations'],
          operationId: 'ready',
          summary: 'The store answers, migrations ran, and no projection is failed',
          security: [],
          response: {
            200: json(z.object({ status: z.literal('ready'), driver: z.string(), headPosition: z.string() }), 'Ready'),
            503: json(notReady, 'Not ready: draining for shutdown, the store does not answer, or a projection is failed (named)'),
          },
        },
      },
      async (_request, reply) => {
        if (context.draining.signal.aborted)
          return reply.status(503).send({ status: 'draining', message: 'the server is shutting down' });
        let head: bigint;
        let failed: string[];
        try {
          // Opening the store ran the migrations; a query proves the database answers now.
          head = await withTimeout(context.store.headPosition(), 2000);
          const statuses = context.projections ? await withTimeout(context.projections.status(), 2000) : [];
          failed = [...new Set(statuses.filter((p) => p.status === 'failed').map((p) => p.name))];
        } catch (error) {
          return reply
            .status(503)
            .send({ status: 'unavailable', message: `the store does not answer: ${(error as Error).message}` });
        }
        if (failed.length > 0) {
          return reply.status(503).send({
            status: 'projection_failed',
            message: `projection ${failed.map((name) => `"${name}"`).join(', ')} stopped on an event it could not apply: see GET /projections, fix it, then POST /projections/{name}/resume`,
            failedProjections: failed,
          });
        }
        return { status: 'ready' as const, driver: context.store.driver, headPosition: head.toString() };
      },
    );
    app.get(
      '/metrics',
      {
        schema: {
          tags: ['operations'],
          operationId: 'metrics',
          summary: 'Prometheus metrics',
          security: [],
          response: { 200: text('text/plain', 'The Prometheus text format'), ...errors([500]) },
        },
      },
      async (_request, reply) => {
        reply.type(context.metrics.registry.contentType);
        return context.metrics.registry.metrics();
      },
    );
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
