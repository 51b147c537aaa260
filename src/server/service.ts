/**
 * The whole service for one application: store (with inline projections), projection daemon, command
 * and query buses, HTTP server; and its graceful shutdown (stop taking requests, end live streams, let
 * requests in flight finish, stop the daemon at a checkpoint, close the store).
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { AppDefinition } from '../app-definition.js';
import { CommandBus } from '../write/command-bus.js';
import { QueryBus } from '../queries/query-bus.js';
import { EventCatalog } from '../core/catalog.js';
import { createProjections, type Projections } from '../projections/projections.js';
import type { EventStore } from '../store/event-store.js';
import { openEventStore } from '../store/open.js';
import type { Caller, ServerContext, ServerLimits } from './context.js';
import { buildServer } from './http-server.js';

export interface ServiceOptions {
  app: AppDefinition;
  /** A PostgreSQL server; else the embedded store in `dataDir`. */
  databaseUrl?: string;
  dataDir?: string;
  schema?: string;
  port?: number;
  host?: string;
  logger?: FastifyBaseLogger;
  limits?: Partial<ServerLimits>;
  /** Bearer tokens → callers. Without any, requests are anonymous. */
  tokens?: ReadonlyMap<string, Caller>;
  /** Projection daemon settings (tests shorten them). */
  projectionOptions?: Parameters<typeof createProjections>[1];
}

export interface Service {
  url: string;
  store: EventStore;
  projections: Projections;
  commands: CommandBus;
  server: FastifyInstance;
  context: ServerContext;
  close(): Promise<void>;
}

export async function startService(options: ServiceOptions): Promise<Service> {
  const { app } = options;
  app.registry.assertComplete(); // a missing upcaster fails start-up, naming the event and the version
  const projections = createProjections(app.projections ?? [], options.projectionOptions);
  const store = await openEventStore({
    ...(options.databaseUrl ? { connectionString: options.databaseUrl } : { dataDir: options.dataDir ?? '.fabula/data' }),
    ...(options.schema ? { schema: options.schema } : {}),
    inlineHandlers: [projections.inlineHandler],
  });
  try {
    await projections.start(store);
    const commands = new CommandBus({ store });
    const queries = new QueryBus();
    const { aggregates } = app.setup({ store, commands, queries, registry: app.registry, projections });
    const catalog = new EventCatalog(app.registry, {
      title: `${app.name}: event catalog`,
      consumers: projections.catalog().map((p) => ({ name: p.name, kind: 'projection', handles: p.handles })),
    });
    const tokens = options.tokens;
    const { server, context } = await buildServer({
      store,
      commands,
      queries,
      catalog,
      projections,
      aggregates,
      logger: options.logger,
      limits: options.limits,
      title: app.name,
      authenticate: tokens && tokens.size > 0 ? (headers) => bearer(tokens, headers.authorization) : undefined,
    });
    const url = await server.listen({ port: options.port ?? 3000, host: options.host ?? '127.0.0.1' });
    let closing: Promise<void> | null = null;
    return {
      url,
      store,
      projections,
      commands,
      server,
      context,
      close: () =>
        (closing ??= (async () => {
          context.draining.abort(); // readiness fails, live streams end
          await server.close(); // waits for requests in flight
          await projections.stop(); // the daemon finishes its batch and releases its leases
          await store.close();
        })()),
    };
  } catch (error) {
    await projections.stop().catch(() => {});
    await store.close().catch(() => {});
    throw error;
  }
}

function bearer(tokens: ReadonlyMap<string, Caller>, header: string | string[] | undefined): Caller | null {
  const value = Array.isArray(header) ? header[0] : header;
  const match = value?.match(/^Bearer\s+(\S+)$/i);
  return match ? (tokens.get(match[1]!) ?? null) : null;
}
