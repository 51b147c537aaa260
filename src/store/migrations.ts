/**
 * The database schema, as numbered migrations applied in order, once, under an advisory lock so that
 * several processes opening the same database at the same moment do not race. One file per migration in
 * `schema/`; everything lives in one PostgreSQL schema (default `fabula`).
 */
import { eventLog } from './schema/001-event-log.js';
import { snapshots } from './schema/002-snapshots.js';
import { projections } from './schema/003-projections.js';
import { consumers } from './schema/004-consumers.js';
import type { SqlClient } from './sql-client.js';

export interface Migration {
  version: number;
  name: string;
  /** The migration's SQL for the given (validated) schema name. */
  sql: (schema: string) => string;
}

const migrations: Migration[] = [eventLog, snapshots, projections, consumers];

export const latestSchemaVersion = migrations[migrations.length - 1]!.version;

/** Brings `schema` up to the latest version. Idempotent; safe when several processes call it at once. */
export async function migrate(sql: SqlClient, schema: string): Promise<{ applied: number[] }> {
  return sql.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`fabula:migrate:${schema}`]);
    await tx.exec(`CREATE SCHEMA IF NOT EXISTS "${schema}";
      CREATE TABLE IF NOT EXISTS "${schema}".migrations (
        version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());`);
    const rows = await tx.query<{ version: number }>(`SELECT version FROM "${schema}".migrations`);
    const done = new Set(rows.map((r) => Number(r.version)));
    const newest = Math.max(0, ...done);
    if (newest > latestSchemaVersion) {
      throw new Error(
        `the database schema "${schema}" is at version ${newest}, newer than this version of Fabula knows (${latestSchemaVersion}); upgrade Fabula`,
      );
    }
    const applied: number[] = [];
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      await tx.exec(migration.sql(schema));
      await tx.query(`INSERT INTO "${schema}".migrations (version, name) VALUES ($1, $2)`, [migration.version, migration.name]);
      applied.push(migration.version);
    }
    return { applied };
  });
}
