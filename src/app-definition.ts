/**
 * An application definition: the events it records, the projections it keeps, and the commands,
 * queries and aggregates it offers. `fabula serve`, the CLI (`--app` / `FABULA_APP`) and tests start
 * the same definition; it sits above the write side, the query bus and the projections, and below the
 * server and the CLI that run it.
 */
import type { AccessControl } from './core/access.js';
import { EventCatalog } from './core/catalog.js';
import type { EventRegistry } from './core/event-registry.js';
import type { ProcessDefinition } from './processes/define.js';
import { createProcesses, type Processes } from './processes/processes.js';
import type { IntegrationDefinition } from './integration/integration.js';
import { withRegistry, type ProjectionDefinition } from './projections/define.js';
import { createProjections, type Projections } from './projections/projections.js';
import type { EventStore } from './store/event-store.js';
import type { CommandBus } from './write/command-bus.js';
import { QueryBus } from './queries/query-bus.js';

/**
 * Reads an aggregate's state, now or as of a time or version (temporal query). Version 0: no such
 * aggregate. `tenantId`: the caller's tenant, whose stream it must be (read it through the repository's
 * `forTenant`; docs/tenancy.md).
 */
export type StateReader = (
  id: string,
  options: { asOf?: Date; atVersion?: number; tenantId?: string },
) => Promise<{ version: number; state: unknown }>;

export interface AppContext {
  store: EventStore;
  commands: CommandBus;
  queries: QueryBus;
  registry: EventRegistry;
  projections: Projections;
  /** The application's process managers (status, instances); they start after `setup`. */
  processes: Processes;
}

export interface AppDefinition {
  name: string;
  /** The events the application records; its upcasters serve the repositories and the projections alike. */
  registry: EventRegistry;
  projections?: readonly ProjectionDefinition[];
  /** Its process managers (sagas): they send commands on the bus `setup` registers handlers on. */
  processes?: readonly ProcessDefinition[];
  /**
   * Who may read, write and administer which stream types (docs/security.md). Without it, every
   * authenticated caller may read and write every non-system stream.
   */
  access?: AccessControl;
  /** Integration events over NATS JetStream, used when the service gets a NATS URL (docs/integration.md). */
  integration?: IntegrationDefinition;
  /**
   * Registers the command and query handlers on `commands` and `queries` (build repositories on
   * `store` with `registry`); returns state readers by aggregate type, for `GET /aggregates/{type}/{id}`
   * and `fabula state` (`{}` when there are none).
   */
  setup(context: AppContext): { aggregates?: Record<string, StateReader> };
}

/**
 * Declares an application. Its module default-exports it, so that `fabula serve --app <module>` (or
 * `FABULA_APP=<module>`), the other CLI commands and `startService` can start it.
 *
 * @example
 * ```ts
 * import { z } from 'zod';
 * import { defineApp, defineQuery, EventRegistry } from 'fabula';
 *
 * const Hello = defineQuery('hello', { schema: z.object({ name: z.string() }) });
 *
 * // my-app.ts; serve it with `fabula serve --app ./my-app.ts`
 * export default defineApp({
 *   name: 'hello',
 *   registry: new EventRegistry(), // the events it records: .register(...)
 *   projections: [], // its read models: defineProjection(...)
 *   setup({ queries }) {
 *     queries.register(Hello, async ({ name }) => ({ greeting: `Hello, ${name}` }));
 *     return {}; // { aggregates: { account: readAccountState } } for temporal state queries
 *   },
 * });
 * ```
 */
export function defineApp(definition: AppDefinition): AppDefinition {
  return {
    ...definition,
    // Its projections see events upcast by its registry, as its aggregates do.
    projections: (definition.projections ?? []).map((projection) => withRegistry(projection, definition.registry)),
  };
}

/** The application's event catalog: its events, and who consumes each (projections, process managers). */
export function appCatalog(app: AppDefinition): EventCatalog {
  return new EventCatalog(app.registry, {
    title: `${app.name}: event catalog`,
    consumers: [
      ...(app.projections ?? []).map((p) => ({ name: p.name, kind: 'projection', handles: p.handles })),
      ...(app.processes ?? []).map((p) => ({ name: p.name, kind: 'process-manager', handles: [...p.routes.keys()] })),
    ],
  });
}

/**
 * Runs the application's `setup` outside a service (CLI commands, test specifications), registering
 * its handlers on `commands`: no projection or process is started.
 */
export function setupOutsideService(app: AppDefinition, store: EventStore, commands: CommandBus) {
  return app.setup({
    store,
    commands,
    queries: new QueryBus(),
    registry: app.registry,
    projections: createProjections([]),
    processes: createProcesses([], { commands }),
  });
}
