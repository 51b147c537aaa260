/**
 * The Emmett side of the benchmarks: Emmett 0.42 (`@event-driven-io/emmett-postgresql`) on the same
 * server, in a schema of its own.
 *
 * Emmett names its tables and functions unqualified (emt_streams, emt_messages, emt_append_to_stream),
 * so its pool is a pg.Pool whose connections start with `search_path=<schema>`; `openEmmett` checks that
 * its tables landed there. Filling goes through Emmett's own SQL function `emt_append_to_stream`, so the
 * rows are exactly those its `appendToStream` writes (partition 'emt:default', kind 'E', schema
 * version '1', stream type = the stream name's prefix before '-', metadata without messageId).
 */
import pg from 'pg';
import { getPostgreSQLEventStore, type PostgresEventStore } from '@event-driven-io/emmett-postgresql';

/** Emmett's default partition (`defaultTag`), where appendToStream writes. */
export const EMMETT_PARTITION = 'emt:default';

export interface EmmettSide {
  store: PostgresEventStore;
  pool: pg.Pool;
  close(): Promise<void>;
}

/** A pg.Pool of `max` connections whose unqualified names resolve in `schema`. */
export function emmettPool(databaseUrl: string, schema: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max, options: `-c search_path="${schema}"` });
  pool.on('error', () => {});
  return pool;
}

/**
 * Opens Emmett on `schema` with a pool of `max`, creating its tables and functions there if missing.
 *
 * The schema is Emmett's own schema SQL (`eventStore.schema.sql()`, what its migration applies), with one
 * change: its "create the function unless it exists" checks look for `proname` in EVERY schema of the
 * database, so a second Emmett schema in one database would get no functions (its migration then fails
 * on `emt_add_partition`); the checks are narrowed to the schema being created. Then the store is used
 * with `autoMigration: 'None'`.
 */
export async function openEmmett(databaseUrl: string, schema: string, max: number): Promise<EmmettSide> {
  const pool = emmettPool(databaseUrl, schema, max);
  await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  const store = getPostgreSQLEventStore(databaseUrl, { connectionOptions: { pool }, schema: { autoMigration: 'None' } });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await store.close().catch(() => {});
    await pool.end().catch(() => {});
  };
  try {
    const ddl = store.schema
      .sql()
      .replaceAll(
        'FROM pg_proc WHERE proname =',
        'FROM pg_proc WHERE pronamespace = current_schema()::regnamespace AND proname =',
      );
    if (!ddl.includes('current_schema()::regnamespace'))
      throw new Error("Emmett's schema SQL changed: cannot scope it to a schema");
    const client = await pool.connect();
    try {
      // One Emmett schema at a time (two runs creating the same schema at once would collide).
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`fabula-bench-emmett-${schema}`]);
      await client.query(ddl);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
    const { rows } = await pool.query<{ streams: string | null; messages: string | null; fn: boolean }>(
      `SELECT to_regclass($1) AS streams, to_regclass($2) AS messages,
              EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                      WHERE n.nspname = $3 AND p.proname = 'emt_append_to_stream') AS fn`,
      [`"${schema}".emt_streams`, `"${schema}".emt_messages`, schema],
    );
    if (!rows[0]!.streams || !rows[0]!.messages || !rows[0]!.fn)
      throw new Error(`Emmett's tables or emt_append_to_stream did not land in schema ${schema}`);
  } catch (error) {
    await close();
    throw error;
  }
  return { store, pool, close };
}

/** How many streams of type `prefix` the Emmett store holds. */
export async function emmettStreamCount(client: pg.Pool | pg.Client, schema: string, prefix: string): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    `SELECT count(*) AS n FROM "${schema}".emt_streams WHERE stream_type = $1 AND partition = $2`,
    [prefix, EMMETT_PARTITION],
  );
  return Number(rows[0]!.n);
}

/**
 * Appends streams `<prefix>-<from>` .. `<prefix>-<to>` (new, `eventsPerStream` `Filled` events each, data
 * `{"stream": i, "n": v}` as fillStore writes for Fabula) through `emt_append_to_stream`, in ONE statement
 * (one transaction). Returns the streams written.
 */
export async function emmettFillChunk(
  client: pg.Pool | pg.Client,
  schema: string,
  args: { prefix: string; from: number; to: number; eventsPerStream: number },
): Promise<number> {
  const { rows } = await client.query<{ ok: string; failed: string }>(
    `SELECT count(*) FILTER (WHERE r.success) AS ok, count(*) FILTER (WHERE NOT r.success) AS failed
       FROM generate_series($1::int, $2::int) AS i,
       LATERAL "${schema}".emt_append_to_stream(
         ARRAY(SELECT gen_random_uuid()::text FROM generate_series(1, $4::int)),
         ARRAY(SELECT jsonb_build_object('stream', i, 'n', v) FROM generate_series(1, $4::int) AS v ORDER BY v),
         array_fill('{}'::jsonb, ARRAY[$4::int]),
         array_fill('1'::text, ARRAY[$4::int]),
         array_fill('Filled'::text, ARRAY[$4::int]),
         array_fill('E'::text, ARRAY[$4::int]),
         $3 || '-' || i, $3, 0, $5) AS r`,
    [args.from, args.to, args.prefix, args.eventsPerStream, EMMETT_PARTITION],
  );
  if (Number(rows[0]!.failed) > 0)
    throw new Error(`Emmett fill: ${rows[0]!.failed} appends of streams ${args.prefix}-${args.from}..${args.to} failed`);
  return Number(rows[0]!.ok);
}

/** Current positions of `streamIds` in the Emmett store (absent streams left out). */
export async function emmettVersions(
  client: pg.Pool | pg.Client,
  schema: string,
  streamIds: string[],
): Promise<Map<string, number>> {
  const { rows } = await client.query<{ stream_id: string; v: string }>(
    `SELECT stream_id, stream_position AS v FROM "${schema}".emt_streams
      WHERE stream_id = ANY($1) AND partition = $2 AND NOT is_archived`,
    [streamIds, EMMETT_PARTITION],
  );
  return new Map(rows.map((r) => [r.stream_id, Number(r.v)]));
}

/** Messages stored in `streamIds` (for the checks after a round). */
export async function emmettEventCount(client: pg.Pool | pg.Client, schema: string, streamIds: string[]): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    `SELECT count(*) AS n FROM "${schema}".emt_messages WHERE stream_id = ANY($1) AND partition = $2`,
    [streamIds, EMMETT_PARTITION],
  );
  return Number(rows[0]!.n);
}
