/**
 * The database schema. Everything lives in one PostgreSQL schema (default `fabula`).
 *
 * - Tables and indexes: numbered migrations in `sql/migrations/NNN-name.sql`, applied in order, once,
 *   and never edited after a release (append-only).
 * - Functions: one per file in `sql/functions/`, `CREATE OR REPLACE`, installed after the migrations by
 *   every `migrate` whenever their text changed. A fix to a function is an edit of its file.
 *
 * Both run in one transaction under an advisory lock, so that several processes opening the same
 * database at the same moment do not race. Files use placeholders: `{{schema}}` (the quoted schema),
 * `{{schema_name}}` (the bare name, for literals) and, in functions, `{{append_lock}}` (the append lock's
 * key, read from `store_settings`: fixed per store, never derived from code).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { SqlClient, SqlExecutor } from './sql-client.js';

const SQL_DIR = new URL('./sql/', import.meta.url);

interface SqlFile {
  name: string;
  text: string;
}
interface MigrationFile extends SqlFile {
  version: number;
}

function readSqlFiles(folder: string): SqlFile[] {
  const dir = new URL(`${folder}/`, SQL_DIR);
  return readdirSync(dir)
    .filter((file) => file.endsWith('.sql'))
    .sort()
    .map((file) => ({ name: file.slice(0, -'.sql'.length), text: readFileSync(new URL(file, dir), 'utf8') }));
}

/** Read once, when the module loads: the files ship beside it. */
const files: { migrations: MigrationFile[]; functions: SqlFile[] } = {
  migrations: readSqlFiles('migrations').map((file) => {
    const match = /^(\d+)-(.+)$/.exec(file.name);
    if (!match) throw new Error(`sql/migrations/${file.name}.sql: a migration file is named NNN-name.sql`);
    return { ...file, version: Number(match[1]), name: match[2]!.replaceAll('-', ' ') };
  }),
  functions: readSqlFiles('functions'),
};

/** The highest migration this version of Fabula knows. */
export const latestSchemaVersion = Math.max(...files.migrations.map((m) => m.version));

function render(text: string, values: Record<string, string>): string {
  return text.replace(/\{\{(\w+)\}\}/g, (placeholder, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`SQL file uses ${placeholder}, which has no value here`);
    return value;
  });
}

/**
 * Brings `schema` up to the latest version and installs changed functions. Idempotent; safe when
 * several processes call it at once.
 */
export async function migrate(sql: SqlClient, schema: string): Promise<{ applied: number[]; installed: string[] }> {
  const values = { schema: `"${schema}"`, schema_name: schema };
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
    for (const migration of files.migrations) {
      if (done.has(migration.version)) continue;
      await tx.exec(render(migration.text, values));
      await tx.query(`INSERT INTO "${schema}".migrations (version, name) VALUES ($1, $2)`, [migration.version, migration.name]);
      applied.push(migration.version);
    }
    const installed = await installFunctions(tx, schema, values);
    return { applied, installed };
  });
}

async function installFunctions(tx: SqlExecutor, schema: string, values: Record<string, string>): Promise<string[]> {
  const [key] = await tx.query<{ key1: number; key2: number }>(
    `SELECT append_lock_key1 AS key1, append_lock_key2 AS key2 FROM "${schema}".store_settings`,
  );
  const rendered = { ...values, append_lock: `${Number(key!.key1)}, ${Number(key!.key2)}` };
  const current = new Map(
    (await tx.query<{ name: string; checksum: string }>(`SELECT name, checksum FROM "${schema}".installed_functions`)).map(
      (r) => [r.name, r.checksum],
    ),
  );
  const installed: string[] = [];
  // Function bodies may call functions installed later in this loop.
  await tx.query(`SELECT set_config('check_function_bodies', 'off', true)`);
  for (const fn of files.functions) {
    const text = render(fn.text, rendered);
    const checksum = createHash('sha256').update(text).digest('hex');
    if (current.get(fn.name) === checksum) continue;
    await tx.exec(text);
    await tx.query(
      `INSERT INTO "${schema}".installed_functions (name, checksum) VALUES ($1, $2)
       ON CONFLICT (name) DO UPDATE SET checksum = excluded.checksum, installed_at = clock_timestamp()`,
      [fn.name, checksum],
    );
    installed.push(fn.name);
  }
  return installed;
}
