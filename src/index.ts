/**
 * Fabula: event sourcing and CQRS for TypeScript on PostgreSQL.
 */
export * from './core/errors.js';
export type * from './core/events.js';
export { streamTypeOf } from './core/events.js';
export { defaultLimits, type StoreLimits } from './core/validation.js';
export { EventStore } from './store/event-store.js';
export { openEventStore, type OpenEventStoreOptions } from './store/open.js';
export type { SqlClient, SqlExecutor } from './store/sql-client.js';
export { createPgliteClient } from './store/drivers/pglite.js';
export { createPostgresClient } from './store/drivers/postgres.js';
export type { InlineHandler } from './store/append-batcher.js';
export * from './projections/index.js';
