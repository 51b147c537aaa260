import path from 'node:path';
import { defaultLimits, validatePositiveInteger, type StoreLimits } from '../core/validation.js';
import { lockDataFolder } from './data-folder-lock.js';
import { createPgliteClient } from './drivers/pglite.js';
import { createPostgresClient } from './drivers/postgres.js';
import { EventStore, type StoreInlineHandler } from './event-store.js';
import { migrate } from './migrations.js';
import { validIdentifier, type SqlClient } from './sql-client.js';
import { PersonalDataProtection, type PersonalDataOptions } from './personal-data/protection.js';

export interface OpenEventStoreOptions {
  /** PostgreSQL server to use (`postgres://...`). */
  connectionString?: string;
  /** Folder of the embedded store (PGlite). The store locks it: one process at a time. */
  dataDir?: string;
  /** PostgreSQL schema holding the store's tables. Default `fabula`. */
  schema?: string;
  limits?: Partial<StoreLimits>;
  /** Most server connections (server driver only). Default 10. */
  maxConnections?: number;
  /**
   * An SQL client you manage (advanced; tests share one between stores). The store does not close it.
   */
  sql?: SqlClient;
  /**
   * Handlers run inside every append's transaction, after its events are written (inline projections
   * use this). A handler that throws rolls the append back and the append rejects with its error.
   */
  inlineHandlers?: readonly StoreInlineHandler[];
  /** Start an in-memory PGlite from this data folder image (`dumpDataDir()`); faster than initdb. */
  loadDataDir?: Blob | File;
  /**
   * Append batches in flight at once (server driver; PGlite is one connection: always 1). Default 2: a
   * second batch on its way hides the round trip behind the first one's commit.
   */
  appendWritersInFlight?: number;
  /**
   * Crypto-shredding (docs/personal-data.md): the fields event definitions declare as personal data are
   * encrypted on append under a per-subject key, decrypted on read, and unreadable after `forget`.
   */
  personalData?: PersonalDataOptions;
}

/**
 * Opens an event store and applies migrations. Which database, first match wins:
 * `sql` (a client you manage) → `connectionString` (a server) → `dataDir` or `loadDataDir` (embedded) →
 * embedded in memory. (The library reads no environment variables: the CLI and the server turn
 * `DATABASE_URL` into `connectionString`.)
 *
 * @example
 * ```ts
 * import { openEventStore } from 'fabula';
 *
 * const store = await openEventStore({ dataDir: '.fabula/data' }); // or { connectionString: 'postgres://...' }
 * await store.append('account-42', [{ type: 'AccountOpened', data: { owner: 'Ada' } }], { expectedVersion: 'no_stream' });
 * const events = await store.readStream('account-42');
 * await store.close();
 * ```
 */
export async function openEventStore(options: OpenEventStoreOptions = {}): Promise<EventStore> {
  const schema = validIdentifier(options.schema ?? 'fabula', 'schema');
  const limits = { ...defaultLimits, ...options.limits };
  const connectionString = options.connectionString || undefined;
  const appendWritersInFlight = validatePositiveInteger(options.appendWritersInFlight, 'appendWritersInFlight');

  let sql: SqlClient;
  let release = async () => {};
  if (options.sql) {
    sql = options.sql;
  } else if (connectionString) {
    sql = await createPostgresClient({ connectionString, maxConnections: options.maxConnections });
    release = () => sql.close();
  } else if (options.dataDir) {
    const dataDir = path.resolve(options.dataDir);
    const lock = lockDataFolder(dataDir);
    try {
      sql = await createPgliteClient({ dataDir: path.join(dataDir, 'pgdata') });
    } catch (error) {
      lock.release();
      throw error;
    }
    release = async () => {
      try {
        await sql.close();
      } finally {
        lock.release();
      }
    };
  } else {
    sql = await createPgliteClient({ loadDataDir: options.loadDataDir });
    release = () => sql.close();
  }

  let personalData: PersonalDataProtection | undefined;
  try {
    await migrate(sql, schema);
    if (options.personalData) personalData = await PersonalDataProtection.start(sql, schema, options.personalData);
  } catch (error) {
    await release().catch(() => {});
    throw error;
  }
  return new EventStore({
    personalData,
    sql,
    schema,
    limits,
    onClose: release,
    inlineHandlers: options.inlineHandlers,
    appendWritersInFlight,
  });
}
