/**
 * The whole service for one application: store (with inline projections), projection daemon, command
 * and query buses, HTTP server; and its graceful shutdown (stop taking requests, end live streams, let
 * requests in flight finish, stop the daemon at a checkpoint, close the store).
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { appCatalog, type AppDefinition } from '../app-definition.js';
import { CommandBus } from '../write/command-bus.js';
import { QueryBus } from '../queries/query-bus.js';
import { createProcesses, type Processes, type ProcessesOptions } from '../processes/processes.js';
import { createProjections, type Projections } from '../projections/projections.js';
import type { EventStore } from '../store/event-store.js';
import { openEventStore } from '../store/open.js';
import type { KeyProvider } from '../store/personal-data/master-keys.js';
import { startIntegration, type Integration, type NatsSettings } from '../integration/integration.js';
import type { AccessControl } from '../core/access.js';
import type { AuthenticationOptions } from './auth/authenticate.js';
import type { RateLimitOptions } from './auth/rate-limits.js';
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
  /** Development bearer tokens → callers (shorthand for `authentication.tokens`). */
  tokens?: ReadonlyMap<string, Caller>;
  /** API keys, JWTs, tokens. Without any, requests are anonymous with every role (development). */
  authentication?: AuthenticationOptions;
  /** Stream access control; default the application's `access`. */
  access?: AccessControl;
  /** Rate limits per user and tenant; without them, none. */
  rateLimits?: RateLimitOptions;
  /** Projection daemon settings (tests shorten them). */
  projectionOptions?: Parameters<typeof createProjections>[1];
  /** Process manager settings (tests shorten them). */
  processOptions?: Omit<ProcessesOptions, 'commands' | 'registry'>;
  /** NATS JetStream: publish the events (and run the app's inbound consumer). Without it, no NATS. */
  nats?: NatsSettings;
  /**
   * Crypto-shredding of the personal data the app's events declare (docs/personal-data.md): the master
   * keys. Without it, events are stored as given (`fabula serve` always passes one when the app declares
   * personal data).
   */
  personalData?: { keys: KeyProvider; cacheSize?: number };
}

export interface Service {
  url: string;
  store: EventStore;
  projections: Projections;
  processes: Processes;
  commands: CommandBus;
  server: FastifyInstance;
  context: ServerContext;
  /** The NATS publisher and inbound consumer, when `nats` was given. */
  integration: Integration | null;
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
    ...(options.personalData ? { personalData: { ...options.personalData, registry: app.registry } } : {}),
  });
  const commands = new CommandBus({ store });
  const processes = createProcesses(app.processes ?? [], { ...options.processOptions, commands, registry: app.registry });
  let integration: Integration | null = null;
  try {
    await projections.start(store);
    const queries = new QueryBus();
    const { aggregates } = app.setup({ store, commands, queries, registry: app.registry, projections, processes });
    // After setup: the processes send commands on the handlers it registered.
    await processes.start(store);
    const catalog = appCatalog(app);
    const authentication = { ...options.authentication, ...(options.tokens ? { tokens: options.tokens } : {}) };
    const { server, context } = await buildServer({
      store,
      commands,
      queries,
      catalog,
      projections,
      processes,
      aggregates,
      logger: options.logger,
      limits: options.limits,
      title: app.name,
      authentication,
      access: options.access ?? app.access,
      ...(options.rateLimits ? { rateLimits: options.rateLimits } : {}),
    });
    context.metrics.observeProcesses(processes);
    if (options.nats) {
      integration = await startIntegration({
        nats: options.nats,
        definition: app.integration,
        store,
        commands,
        registry: app.registry,
      });
      context.metrics.observeIntegration(integration);
    }
    const url = await server.listen({ port: options.port ?? 3000, host: options.host ?? '127.0.0.1' });
    let closing: Promise<void> | null = null;
    return {
      url,
      store,
      projections,
      processes,
      commands,
      server,
      context,
      integration,
      close: () =>
        (closing ??= (async () => {
          context.draining.abort(); // readiness fails, live streams end
          await server.close(); // waits for requests in flight
          await processes.stop(); // commands being sent finish; the rest are sent after the next start
          await integration?.close(); // the publisher stops at a checkpoint, the inbound consumer after its message
          await projections.stop(); // the daemon finishes its batch and releases its leases
          await store.close();
        })()),
    };
  } catch (error) {
    await processes.stop().catch(() => {});
    await integration?.close().catch(() => {});
    await projections.stop().catch(() => {});
    await store.close().catch(() => {});
    throw error;
  }
}
