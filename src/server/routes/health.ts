/** Liveness, readiness and Prometheus metrics. */
import type { FastifyPluginAsync } from 'fastify';
import type { ServerContext } from '../context.js';

export function healthRoutes(context: ServerContext): FastifyPluginAsync {
  return async (app) => {
    app.get('/health/live', { schema: { tags: ['operations'], summary: 'The process is up' } }, async () => ({ status: 'ok' }));
    app.get(
      '/health/ready',
      { schema: { tags: ['operations'], summary: 'The store answers and migrations ran' } },
      async (_request, reply) => {
        if (context.draining.signal.aborted) return reply.status(503).send({ status: 'draining' });
        try {
          // Opening the store ran the migrations; a query proves the database answers now.
          const head = await withTimeout(context.store.headPosition(), 2000);
          return { status: 'ready', driver: context.store.driver, headPosition: head.toString() };
        } catch (error) {
          return reply
            .status(503)
            .send({ status: 'unavailable', message: `the store does not answer: ${(error as Error).message}` });
        }
      },
    );
    app.get('/metrics', { schema: { tags: ['operations'], summary: 'Prometheus metrics' } }, async (_request, reply) => {
      reply.type(context.metrics.registry.contentType);
      return context.metrics.registry.metrics();
    });
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
