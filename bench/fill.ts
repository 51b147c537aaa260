/**
 * The kept filled stores (`--size N`, default 1,000,000 streams of 5 events): built once, topped up when
 * smaller than asked, never emptied, dropped and rebuilt only with `--refill`. Ctrl-C never drops them
 * (each fill chunk is one transaction, so an interrupted fill is topped up next time).
 *
 * - Fabula: schema `bench_store_<N>`, filled by `fillStore` (src/testing/fill-store.ts) through the
 *   store's own append_batch: streams `filler-<i>`, `Filled` events with data {"stream": i, "n": v}.
 * - Emmett 0.42: schema `bench_emmett_<N>`, filled through its own `emt_append_to_stream` (bench/emmett.ts),
 *   same stream ids, events and data.
 * - Raw baseline: table `bench_raw_<N>.events` (the raw append table: bigserial id, stream_id,
 *   stream_version, event_type, data, metadata, recorded_at, UNIQUE (stream_id, stream_version)), filled
 *   with INSERT ... SELECT generate_series, same stream ids and data; `bench_raw_<N>.filled` remembers how
 *   many streams it holds.
 * - PGlite (`--pglite-size N`, default 100,000): a Fabula store in the folder
 *   `<os.tmpdir()>/fabula-bench-pglite-<N>`, filled by `fillStore`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openEventStore, type EventStore } from '../src/index.js';
import { fillStore } from '../src/testing/fill-store.js';
import { emmettFillChunk, emmettStreamCount, openEmmett } from './emmett.js';
import { EVENTS_PER_FILLED_STREAM, type BenchContext } from './harness.js';

/** Stream ids in the filled stores are `filler-<i>`, 0 <= i < size. */
export const FILL_PREFIX = 'filler';

export function keptSchemas(size: number) {
  return { fabula: `bench_store_${size}`, emmett: `bench_emmett_${size}`, raw: `bench_raw_${size}` };
}

export function keptPgliteDir(size: number): string {
  return path.join(os.tmpdir(), `fabula-bench-pglite-${size}`);
}

/** A progress line on stderr every few seconds: streams done, events/s, ETA. */
export function fillProgress(log: (m: string) => void, label: string, have: number) {
  const started = performance.now();
  let last = 0;
  return (done: number, wanted: number) => {
    const now = performance.now();
    if (done < wanted && now - last < 3000) return;
    last = now;
    const s = (now - started) / 1000;
    const rate = (done - have) / Math.max(s, 1e-3);
    const eta = rate > 0 ? Math.round((wanted - done) / rate) : 0;
    log(
      `${label}: ${done.toLocaleString('en-US')}/${wanted.toLocaleString('en-US')} streams, ` +
        `${Math.round(rate * EVENTS_PER_FILLED_STREAM).toLocaleString('en-US')} events/s, ` +
        (done < wanted ? `ETA ${eta}s` : `done in ${s.toFixed(1)}s`),
    );
  };
}

/** Drops a kept store's schema when `--refill` asks for it (once per run and store). */
async function refill(ctx: BenchContext, admin: pg.Client, schema: string) {
  if (!ctx.options.refill) return;
  ctx.log(`--refill: dropping schema ${schema}`);
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

export async function ensureFabulaFilled(ctx: BenchContext, admin: pg.Client): Promise<void> {
  const size = ctx.options.size;
  const schema = keptSchemas(size).fabula;
  await refill(ctx, admin, schema);
  const store = await openEventStore({ connectionString: ctx.databaseUrl, schema, maxConnections: 1 });
  try {
    const label = `fill Fabula ${schema}`;
    const [{ n }] = (await store.sql.query<{ n: string }>(
      `SELECT count(*) AS n FROM "${schema}".streams WHERE stream_type = $1`,
      [FILL_PREFIX],
    )) as [{ n: string }];
    if (Number(n) >= size) return;
    ctx.log(`${label}: ${n} of ${size} streams there, topping up`);
    await fillStore(store, {
      streams: size,
      eventsPerStream: EVENTS_PER_FILLED_STREAM,
      prefix: FILL_PREFIX,
      batchStreams: 1000,
      onProgress: fillProgress(ctx.log, label, Number(n)),
    });
  } finally {
    await store.close();
  }
}

export async function ensureEmmettFilled(ctx: BenchContext, admin: pg.Client): Promise<void> {
  const size = ctx.options.size;
  const schema = keptSchemas(size).emmett;
  await refill(ctx, admin, schema);
  const emmett = await openEmmett(ctx.databaseUrl, schema, 1);
  try {
    const label = `fill Emmett ${schema}`;
    const have = await emmettStreamCount(emmett.pool, schema, FILL_PREFIX);
    if (have >= size) return;
    ctx.log(`${label}: ${have} of ${size} streams there, topping up`);
    const progress = fillProgress(ctx.log, label, have);
    for (let from = have; from < size; from += 1000) {
      const to = Math.min(from + 1000, size) - 1;
      await emmettFillChunk(emmett.pool, schema, { prefix: FILL_PREFIX, from, to, eventsPerStream: EVENTS_PER_FILLED_STREAM });
      progress(to + 1, size);
    }
    await emmett.pool.query(`ANALYZE "${schema}".emt_streams; ANALYZE "${schema}".emt_messages`);
  } finally {
    await emmett.close();
  }
}

/** Creates the raw append table in `schema` (if missing). */
export async function createRawTable(admin: pg.Client, schema: string): Promise<void> {
  await admin.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  await admin.query(`CREATE TABLE IF NOT EXISTS "${schema}".events (
    id             bigserial PRIMARY KEY,
    stream_id      text NOT NULL,
    stream_version bigint NOT NULL,
    event_type     text NOT NULL,
    data           jsonb NOT NULL,
    metadata       jsonb NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, stream_version)
  )`);
}

export async function ensureRawFilled(ctx: BenchContext, admin: pg.Client): Promise<void> {
  const size = ctx.options.size;
  const schema = keptSchemas(size).raw;
  await refill(ctx, admin, schema);
  await createRawTable(admin, schema);
  await admin.query(`CREATE TABLE IF NOT EXISTS "${schema}".filled (streams int NOT NULL)`);
  await admin.query(`INSERT INTO "${schema}".filled SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM "${schema}".filled)`);
  const have = Number((await admin.query<{ streams: number }>(`SELECT streams FROM "${schema}".filled`)).rows[0]!.streams);
  if (have >= size) return;
  const label = `fill raw ${schema}.events`;
  ctx.log(`${label}: ${have} of ${size} streams there, topping up`);
  const progress = fillProgress(ctx.log, label, have);
  const chunk = 10_000;
  for (let from = have; from < size; from += chunk) {
    const to = Math.min(from + chunk, size) - 1;
    await admin.query('BEGIN');
    try {
      await admin.query(
        `INSERT INTO "${schema}".events (stream_id, stream_version, event_type, data, metadata)
         SELECT $3 || '-' || i, v, 'Filled', jsonb_build_object('stream', i, 'n', v), '{}'::jsonb
           FROM generate_series($1::int, $2::int) AS i, generate_series(1, $4::int) AS v ORDER BY i, v`,
        [from, to, FILL_PREFIX, EVENTS_PER_FILLED_STREAM],
      );
      await admin.query(`UPDATE "${schema}".filled SET streams = $1`, [to + 1]);
      await admin.query('COMMIT');
    } catch (error) {
      await admin.query('ROLLBACK').catch(() => {});
      throw error;
    }
    progress(to + 1, size);
  }
  await admin.query(`ANALYZE "${schema}".events`);
}

/** Streams and events a Fabula store holds now (its size, for the results). */
export async function fabulaSize(store: EventStore): Promise<{ streams: number; events: number }> {
  const [row] = await store.sql.query<{ streams: string; events: string }>(
    `SELECT (SELECT count(*) FROM "${store.schema}".streams) AS streams,
            (SELECT count(*) FROM "${store.schema}".events) AS events`,
  );
  return { streams: Number(row!.streams), events: Number(row!.events) };
}

/** Opens the kept PGlite store (`--pglite-size`), topped up (or rebuilt with `--refill`). Caller closes it. */
export async function openKeptPglite(ctx: BenchContext): Promise<EventStore> {
  const size = ctx.options.pgliteSize;
  const dataDir = keptPgliteDir(size);
  if (ctx.options.refill) {
    ctx.log(`--refill: removing ${dataDir}`);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  const store = await openEventStore({ dataDir });
  try {
    const [{ n }] = (await store.sql.query<{ n: string }>(
      `SELECT count(*) AS n FROM "${store.schema}".streams WHERE stream_type = $1`,
      [FILL_PREFIX],
    )) as [{ n: string }];
    if (Number(n) < size) {
      const label = `fill PGlite ${dataDir}`;
      ctx.log(`${label}: ${n} of ${size} streams there, topping up`);
      await fillStore(store, {
        streams: size,
        eventsPerStream: EVENTS_PER_FILLED_STREAM,
        prefix: FILL_PREFIX,
        batchStreams: 1000,
        onProgress: fillProgress(ctx.log, label, Number(n)),
      });
    }
    return store;
  } catch (error) {
    await store.close().catch(() => {});
    throw error;
  }
}
