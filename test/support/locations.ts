/**
 * Fresh places for a whole store, for tests that start services or CLI processes: an embedded folder
 * or a schema on the server. Everything is removed after the file, on the server with the schemas that
 * projections made beside the store's (`<schema>_p_...`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { createPostgresClient } from '../../src/index.js';
import { serverUrl, uniqueSchema, type DriverName } from './drivers.js';

export interface StoreLocation {
  databaseUrl?: string;
  dataDir?: string;
  schema: string;
}

export function storeLocations(prefix: string) {
  const folders: string[] = [];
  const schemas: string[] = [];
  afterAll(async () => {
    for (const folder of folders) fs.rmSync(folder, { recursive: true, force: true });
    if (!serverUrl || schemas.length === 0) return;
    const sql = await createPostgresClient({ connectionString: serverUrl });
    try {
      for (const schema of schemas) {
        const rows = await sql.query<{ nspname: string }>(
          `SELECT nspname FROM pg_namespace WHERE nspname = $1 OR nspname LIKE $2`,
          [schema, `${schema}\\_p\\_%`],
        );
        for (const row of rows) await sql.exec(`DROP SCHEMA IF EXISTS "${row.nspname}" CASCADE`);
      }
    } finally {
      await sql.close();
    }
  });
  return (driver: DriverName): StoreLocation => {
    if (driver === 'postgres') {
      const schema = uniqueSchema(prefix);
      schemas.push(schema);
      return { databaseUrl: serverUrl!, schema };
    }
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `fabula-${prefix}-`));
    folders.push(dataDir);
    return { dataDir, schema: 'fabula' };
  };
}
