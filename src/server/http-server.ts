/**
 * The HTTP API (Fastify 5): commands, queries, the event log, temporal aggregate state, projection
 * admin, the event catalog, OpenAPI and Swagger UI, Prometheus metrics and health checks.
 *
 * The server is assembled from parts the caller opened (store, buses, projections), so that it can be
 * tested and embedded; `service.ts` opens those parts for an application definition (`fabula serve`).
 */
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { ApiKeys } from './auth/api-keys.js';
import { Audit } from './auth/audit.js';
import { authenticationRequired, createAuthentication } from './auth/authenticate.js';
import { registerRateLimits } from './auth/rate-limits.js';
import { callerOrNull } from './routes/caller.js';
import { defaultServerLimits, type ServerContext, type ServerParts } from './context.js';
import { errorHandler } from './http-errors.js';
import { Metrics } from './metrics.js';
import { openapiOptions } from './openapi.js';
import { adminRoutes } from './routes/admin.js';
import { commandRoutes } from './routes/commands.js';
import { consumerRoutes } from './routes/consumers.js';
import { processRoutes } from './routes/processes.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { queryRoutes } from './routes/queries.js';
import { personalDataRoutes } from './routes/personal-data.js';

export type { Caller, ServerContext, ServerLimits, ServerParts } from './context.js';

/** Without authentication every request is an anonymous caller with every role (development). */
const anonymous = () => ({ via: { method: 'anonymous' as const } });

export async function buildServer(parts: ServerParts): Promise<{ server: FastifyInstance; context: ServerContext }> {
  const limits = { ...defaultServerLimits, ...parts.limits };
  const server = Fastify({
    ...(parts.logger ? { loggerInstance: parts.logger } : { logger: false }),
    bodyLimit: limits.bodyLimit,
    // Correlation: a caller's X-Request-Id is kept, else one is generated; it appears in every log line.
    requestIdHeader: 'x-request-id',
    genReqId: () => crypto.randomUUID(),
    // Long-lived SSE responses must not hold up shutdown forever.
    forceCloseConnections: true,
  });
  const authenticate =
    parts.authenticate ??
    (authenticationRequired(parts.authentication)
      ? await createAuthentication(server, parts.authentication!, new ApiKeys(parts.store.sql, parts.store.schema))
      : anonymous);
  const context: ServerContext = {
    store: parts.store,
    commands: parts.commands,
    queries: parts.queries,
    catalog: parts.catalog,
    projections: parts.projections,
    processes: parts.processes,
    aggregates: parts.aggregates ?? {},
    authenticate,
    access: parts.access,
    audit: new Audit(parts.store),
    metrics: parts.metrics ?? new Metrics({ projections: parts.projections }),
    limits,
    draining: new AbortController(),
  };

  server.setValidatorCompiler(validatorCompiler);
  server.setSerializerCompiler(serializerCompiler);
  server.setErrorHandler(errorHandler);
  server.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ code: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}; see /docs` }),
  );
  server.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  if (parts.rateLimits) await registerRateLimits(server, parts.rateLimits, (request) => callerOrNull(context, request));

  await server.register(fastifySwagger, openapiOptions(parts.title ?? 'Fabula'));
  await server.register(fastifySwaggerUi, { routePrefix: '/docs' });

  await server.register(healthRoutes(context));
  await server.register(commandRoutes(context));
  await server.register(queryRoutes(context));
  await server.register(eventRoutes(context));
  await server.register(adminRoutes(context));
  await server.register(consumerRoutes(context));
  await server.register(processRoutes(context));
  await server.register(personalDataRoutes(context));
  server.get('/openapi.json', { schema: { hide: true } }, async () => server.swagger());

  return { server, context };
}
