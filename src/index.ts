/**
 * Fabula: event sourcing and CQRS for TypeScript on PostgreSQL.
 */
export * from './core/errors.js';
export type * from './core/events.js';
export { DEFAULT_TENANT, streamTypeOf } from './core/events.js';
export { defaultLimits, type StoreLimits } from './core/validation.js';
export { EventStore, type StreamAppend } from './store/event-store.js';
export { openEventStore, type OpenEventStoreOptions } from './store/open.js';
export type { ForgetResult, PersonalDataOptions } from './store/personal-data/protection.js';
export {
  environmentKeyProvider,
  fileKeyProvider,
  masterKey,
  staticKeyProvider,
  type KeyProvider,
  type MasterKey,
} from './store/personal-data/master-keys.js';
export { ERASED, isErased, type PersonalDataDeclaration, type PersonalDataPaths } from './core/personal-data.js';
export type { SqlClient, SqlExecutor } from './store/sql-client.js';
export { createPgliteClient } from './store/drivers/pglite.js';
export { createPostgresClient } from './store/drivers/postgres.js';
export type { InlineHandler } from './store/append-batcher.js';
export * from './projections/index.js';
export * from './processing/index.js';
export * from './core/event-registry.js';
export { Transcoder, type CustomType } from './core/transcoder.js';
export { EventCatalog, type CatalogEntry, type CatalogOptions, type EventConsumer } from './core/catalog.js';
export { defineLifecycle, Lifecycle, type LifecycleDefinition } from './core/lifecycle.js';
export {
  Aggregate,
  defineDecider,
  evolveAll,
  decideEvents,
  initialStateOf,
  type AggregateClass,
  type Decider,
} from './core/aggregate.js';
export * from './write/repository.js';
export * from './write/command-bus.js';
export * from './queries/query-bus.js';
export * from './app-definition.js';
export * from './processes/index.js';
export * from './integration/index.js';
export { Access, hasRole, isSystemStreamType, type AccessControl, type StreamAcl, type StreamPermission } from './core/access.js';
