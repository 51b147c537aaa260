/**
 * The conformance suites run once per driver: always on embedded PGlite, and on the PostgreSQL server
 * when DATABASE_URL is set (CI sets it; `.ci/run` fails when no server answers).
 */
import { randomBytes } from 'node:crypto';
import { afterAll } from 'vitest';
import { createPgliteClient, createPostgresClient, openEventStore, type EventStore, type SqlClient } from '../../src/index.js';
import type { OpenEventStoreOptions } from '../../src/store/open.js';

export type DriverName = 'pglite' | 'postgres';

export const serverUrl = process.env.DATABASE_URL || undefined;
export const drivers: DriverName[] = serverUrl ? ['pglite', 'postgres'] : ['pglite'];

export function uniqueSchema(prefix = 't'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

/**
 * One SQL client per driver per test file, and a fresh schema for every store a test opens, so tests
 * are isolated without paying for a new database each time. Schemas on the server are dropped afterwards.
 */
export function storeFactory(driver: DriverName) {
  let client: Promise<SqlClient> | null = null;
  const schemas: string[] = [];
  const stores: EventStore[] = [];
  const sql = () =>
    (client ??=
      driver === 'pglite' ? createPgliteClient() : createPostgresClient({ connectionString: serverUrl!, maxConnections: 20 }));

  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    if (!client) return;
    const c = await client;
    if (driver === 'postgres') for (const schema of schemas) await c.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.close();
  });

  return {
    sql,
    /** A new, empty store in its own schema. */
    async open(options: Omit<OpenEventStoreOptions, 'sql' | 'schema'> & { schema?: string } = {}): Promise<EventStore> {
      const schema = options.schema ?? uniqueSchema();
      schemas.push(schema);
      const store = await openEventStore({ ...options, schema, sql: await sql() });
      stores.push(store);
      return store;
    },
    /**
     * Another store on the same schema with its own connections (server only): a second "process".
     */
    async openSeparate(schema: string, options: Omit<OpenEventStoreOptions, 'schema'> = {}): Promise<EventStore> {
      const store =
        driver === 'postgres'
          ? await openEventStore({ connectionString: serverUrl, ...options, schema })
          : await openEventStore({ ...options, schema, sql: await sql() });
      stores.push(store);
      return store;
    },
  };
}
