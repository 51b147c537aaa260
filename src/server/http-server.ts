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
import {
  createJsonSchemaTransform,
  createJsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import { defaultServerLimits, type ServerContext, type ServerParts } from './context.js';
import { errorHandler } from './http-errors.js';
import { Metrics } from './metrics.js';
import { adminRoutes } from './routes/admin.js';
import { commandRoutes } from './routes/commands.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { queryRoutes } from './routes/queries.js';
import { apiSchemas } from './schemas.js';

export type { Caller, ServerContext, ServerLimits, ServerParts } from './context.js';

const componentsOf = createJsonSchemaTransformObject({ schemaRegistry: apiSchemas });

/** The transform writes each component twice (as input and output); keep those the document uses. */
function withoutUnusedSchemas<D extends object>(document: D): D {
  const { paths, components } = document as { paths?: unknown; components?: { schemas?: Record<string, unknown> } };
  const schemas = components?.schemas ?? {};
  const used = new Set<string>();
  const visit = (value: unknown) => {
    const text = JSON.stringify(value);
    for (const [, name] of text.matchAll(/"#\/components\/schemas\/([^"]+)"/g)) {
      if (used.has(name!)) continue;
      used.add(name!);
      visit(schemas[name!]);
    }
  };
  visit(paths);
  const kept = Object.fromEntries(Object.entries(schemas).filter(([name]) => used.has(name)));
  return { ...document, components: { ...components, schemas: kept } };
}

export async function buildServer(parts: ServerParts): Promise<{ server: FastifyInstance; context: ServerContext }> {
  const limits = { ...defaultServerLimits, ...parts.limits };
  const context: ServerContext = {
    store: parts.store,
    commands: parts.commands,
    queries: parts.queries,
    catalog: parts.catalog,
    projections: parts.projections,
    aggregates: parts.aggregates ?? {},
    authenticate: parts.authenticate ?? (() => ({})),
    metrics: parts.metrics ?? new Metrics({ projections: parts.projections }),
    limits,
    draining: new AbortController(),
  };

  const server = Fastify({
    ...(parts.logger ? { loggerInstance: parts.logger } : { logger: false }),
    bodyLimit: limits.bodyLimit,
    // Correlation: a caller's X-Request-Id is kept, else one is generated; it appears in every log line.
    requestIdHeader: 'x-request-id',
    genReqId: () => crypto.randomUUID(),
    // Long-lived SSE responses must not hold up shutdown forever.
    forceCloseConnections: true,
  });
  server.setValidatorCompiler(validatorCompiler);
  server.setSerializerCompiler(serializerCompiler);
  server.setErrorHandler(errorHandler);
  server.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ code: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}; see /docs` }),
  );
  server.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  await server.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: parts.title ?? 'Fabula',
        version: '1',
        description: [
          'Event-sourced service. Commands change state (POST /commands/{type}); queries read read models; the event log is readable and tailable.',
          'Positions are decimal strings (they may exceed 2^53). Every error is JSON with a stable `code` and a `message` (the `Error` schema).',
          'Authentication is optional: a server started with tokens asks for `Authorization: Bearer <token>` and answers 401 without one; otherwise requests are anonymous.',
        ].join(' '),
        license: { name: 'MIT', url: 'https://opensource.org/licenses/MIT' },
      },
      servers: [{ url: '/', description: 'This server (URLs are relative to where this document is served)' }],
      tags: [
        { name: 'commands', description: 'Change state: one route per command type' },
        { name: 'queries', description: 'Read models, with read-your-writes (`minPosition`)' },
        { name: 'events', description: 'The event log: streams, the global order, a live tail, aggregate state at a time' },
        { name: 'projections', description: 'Operating read models: status, pause, resume, rebuild, parked events' },
        { name: 'catalog', description: 'The event types and their schemas' },
        { name: 'operations', description: 'Health checks and metrics' },
      ],
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'Only when the server was started with tokens; without any, leave it out.',
          },
        },
      },
      // Either anonymous (`{}`) or a bearer token: tokens are optional, the server decides.
      security: [{}, { bearer: [] }],
    },
    transform: createJsonSchemaTransform({ schemaRegistry: apiSchemas }),
    transformObject: (document) => withoutUnusedSchemas(componentsOf(document)),
  });
  await server.register(fastifySwaggerUi, { routePrefix: '/docs' });

  await server.register(healthRoutes(context));
  await server.register(commandRoutes(context));
  await server.register(queryRoutes(context));
  await server.register(eventRoutes(context));
  await server.register(adminRoutes(context));
  server.get('/openapi.json', { schema: { hide: true } }, async () => server.swagger());

  return { server, context };
}
