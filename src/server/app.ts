/**
 * The HTTP API (Fastify 5): commands, queries, the event log, temporal aggregate state, projection
 * admin, the event catalog, OpenAPI and Swagger UI, Prometheus metrics and health checks.
 *
 * The server is assembled from parts the caller opened (store, buses, projections), so that it can be
 * tested and embedded; `serve.ts` wires the reference domains for `fabula serve`.
 */
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { CommandBus } from '../app/command-bus.js';
import type { QueryBus } from '../app/query-bus.js';
import type { EventCatalog } from '../core/catalog.js';
import type { Projections } from '../projections/projections.js';
import type { EventStore } from '../store/event-store.js';
import { errorHandler } from './http-errors.js';
import { Metrics } from './metrics.js';
import { adminRoutes } from './routes/admin.js';
import { commandRoutes } from './routes/commands.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { queryRoutes } from './routes/queries.js';

import type { StateReader } from '../app/app-definition.js';

/** Who is calling: from your authentication (a gateway header, a token). Anonymous when absent. */
export interface Caller {
  userId?: string;
  tenantId?: string;
}

export interface ServerLimits {
  /** Largest request body, in bytes. Default 1 MiB. */
  bodyLimit: number;
  /** Largest page a list endpoint returns. Default 1,000. */
  maxPageSize: number;
  /** Open Server-Sent Event streams at most. Default 100. */
  maxSseConnections: number;
  /** Longest read-your-writes wait (`minPosition`), in ms. Default 5,000. */
  maxWaitMs: number;
}

export interface ServerParts {
  store: EventStore;
  commands: CommandBus;
  queries: QueryBus;
  catalog: EventCatalog;
  projections?: Projections;
  aggregates?: Record<string, StateReader>;
  /** Identifies the caller of a request; return `null` to refuse it with 401. */
  authenticate?: (headers: Record<string, string | string[] | undefined>) => Caller | null | Promise<Caller | null>;
  metrics?: Metrics;
  limits?: Partial<ServerLimits>;
  /** A pino logger for request logs. Default: no logging. */
  logger?: FastifyBaseLogger;
  title?: string;
}

export interface ServerContext extends Required<Pick<ServerParts, 'store' | 'commands' | 'queries' | 'catalog'>> {
  projections?: Projections;
  aggregates: Record<string, StateReader>;
  authenticate: NonNullable<ServerParts['authenticate']>;
  metrics: Metrics;
  limits: ServerLimits;
  /** Set while the server drains for shutdown: readiness fails and SSE streams end. */
  draining: AbortController;
}

export const defaultServerLimits: ServerLimits = {
  bodyLimit: 1024 * 1024,
  maxPageSize: 1000,
  maxSseConnections: 100,
  maxWaitMs: 5000,
};

export async function buildServer(parts: ServerParts): Promise<{ app: FastifyInstance; context: ServerContext }> {
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

  const app = Fastify({
    ...(parts.logger ? { loggerInstance: parts.logger } : { logger: false }),
    bodyLimit: limits.bodyLimit,
    // Correlation: a caller's X-Request-Id is kept, else one is generated; it appears in every log line.
    requestIdHeader: 'x-request-id',
    genReqId: () => crypto.randomUUID(),
    // Long-lived SSE responses must not hold up shutdown forever.
    forceCloseConnections: true,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ code: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}; see /docs` }),
  );
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: parts.title ?? 'Fabula',
        version: '1',
        description:
          'Event-sourced service. Commands change state (POST /commands/{type}); queries read read models; the event log is readable and tailable. Positions and versions are decimal strings where they may exceed 2^53.',
      },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  await app.register(healthRoutes(context));
  await app.register(commandRoutes(context));
  await app.register(queryRoutes(context));
  await app.register(eventRoutes(context));
  await app.register(adminRoutes(context));
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  return { app, context };
}
