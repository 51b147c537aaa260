/**
 * An application: the events it records, the projections it keeps, and the commands, queries and
 * aggregates it offers. `fabula serve`, the CLI and tests start the same definition.
 */
import type { EventRegistry } from './core/event-registry.js';
import type { ProjectionDefinition } from './projections/define.js';
import type { Projections } from './projections/projections.js';
import type { EventStore } from './store/event-store.js';
import type { CommandBus } from './write/command-bus.js';
import type { QueryBus } from './queries/query-bus.js';

/** Reads an aggregate's state, now or as of a time or version (temporal query). Version 0: no such aggregate. */
export type StateReader = (
  id: string,
  options: { asOf?: Date; atVersion?: number },
) => Promise<{ version: number; state: unknown }>;

export interface AppContext {
  store: EventStore;
  commands: CommandBus;
  queries: QueryBus;
  registry: EventRegistry;
  projections: Projections;
}

export interface AppDefinition {
  name: string;
  registry: EventRegistry;
  projections?: readonly ProjectionDefinition[];
  /** Registers the command and query handlers; returns state readers by aggregate type. */
  setup(context: AppContext): { aggregates?: Record<string, StateReader> };
}

export function defineApp(definition: AppDefinition): AppDefinition {
  return definition;
}
