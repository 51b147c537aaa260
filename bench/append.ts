/**
 * `npm run bench -- append [--size N] [--pglite-size N] [--refill]`: Fabula's `EventStore.append()` on a
 * store of realistic size (the kept filled stores of bench/fill.ts: `--size` streams of 5 events, default
 * 1,000,000 streams / 5,000,000 events) against, in the same run on the same server:
 *
 * - raw INSERT: one autocommit multi-row INSERT of the append's rows into the kept raw table
 *   (`bench_raw_<N>.events`, same unique (stream_id, stream_version)), over a pg.Pool;
 * - Emmett 0.42 `appendToStream(stream, events, { expectedStreamVersion })` on the kept Emmett store
 *   (`bench_emmett_<N>`);
 * - Fabula on an EMPTY store (a fresh schema made for this run, growing during it, dropped at the end):
 *   does the cost stay flat with the store's size?
 *
 * Every side gets a pool of `concurrency` connections and the same events (~150 bytes of JSON data plus
 * metadata each). Sides run round-robin (raw, Emmett, Fabula filled, Fabula empty, raw, ...) and the
 * medians are compared. Configurations:
 *
 * - `existing`: appends to EXISTING streams at their exact expected version, concurrency x events per
 *   append 1x1, 1x10, 16x1, 16x10. On a filled store each client loop takes its own STREAMS_PER_CLIENT
 *   random prefilled streams (new ones every round), whose current versions the round learns before it
 *   starts, in one query per side (Fabula streams.version, Emmett emt_streams.stream_position, raw
 *   max(stream_version)), and appends to them in turn at the version it knows. On the empty store each
 *   loop creates EMPTY_STREAMS_PER_CLIENT streams (expected 'no_stream') and then appends to them in turn.
 * - `new`: every append creates a new stream (Fabula 'no_stream', Emmett 0n, raw rows at versions 1..B),
 *   at 1x1 and 16x1.
 *
 * After every round the events stored in the streams the round touched must equal what they held before
 * plus the appends acknowledged times B, so that no side can cheat.
 *
 * PGlite: Fabula on the kept embedded store (`<tmpdir>/fabula-bench-pglite-<N>`, `--pglite-size`
 * streams, default 100,000) against Fabula on an empty embedded store, `existing` at 1x1 and 16x1 (one
 * connection; the store batches concurrent appends). Those results are labelled "(pglite)".
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openEventStore, type EventStore } from '../src/index.js';
import { openEmmett, emmettEventCount, emmettVersions } from './emmett.js';
import {
  FILL_PREFIX,
  ensureEmmettFilled,
  ensureFabulaFilled,
  ensureRawFilled,
  fabulaSize,
  keptSchemas,
  openKeptPglite,
} from './fill.js';
import {
  benchResources,
  compare,
  interleave,
  machineInfo,
  randomSchemaName,
  runClientLoops,
  type Benchmark,
  type BenchContext,
  type BenchReport,
  type MeasuredResult,
  type RoundFigures,
} from './harness.js';

type Mode = 'existing' | 'new';
const CONFIGURATIONS: { mode: Mode; concurrency: number; batch: number }[] = [
  { mode: 'existing', concurrency: 1, batch: 1 },
  { mode: 'existing', concurrency: 1, batch: 10 },
  { mode: 'existing', concurrency: 16, batch: 1 },
  { mode: 'existing', concurrency: 16, batch: 10 },
  { mode: 'new', concurrency: 1, batch: 1 },
  { mode: 'new', concurrency: 16, batch: 1 },
];
const PGLITE_CONFIGURATIONS: { mode: Mode; concurrency: number; batch: number }[] = [
  { mode: 'existing', concurrency: 1, batch: 1 },
  { mode: 'existing', concurrency: 16, batch: 1 },
];

/** Random prefilled streams each client loop appends to in turn, on a filled store. */
const STREAMS_PER_CLIENT = 256;
/** Streams each client loop creates and then appends to in turn, on an empty store. */
const EMPTY_STREAMS_PER_CLIENT = 8;

const BASELINES = {
  raw: 'raw INSERT: one autocommit multi-row INSERT per append into the filled raw table with the same unique (stream_id, stream_version), same rows, same pool size, same server, same run',
  emmett: 'Emmett 0.42 appendToStream, same events, same server, same run (filled Emmett store of the same size, same pool size)',
  empty:
    'Fabula store.append on an EMPTY store (fresh schema), same events, same pool size, same server, same run: flat with size',
  pgliteEmpty: 'Fabula store.append on an EMPTY embedded PGlite store, same events, same run: flat with size',
};

export interface BenchEvent {
  type: string;
  data: Record<string, unknown>;
  metadata: Record<string, string>;
}

/** One append's events for client `client`, its `seq`-th append: ~150 bytes of JSON data each. */
export function makeEvents(client: number, seq: number, batch: number): BenchEvent[] {
  const types = ['ItemAdded', 'QuantityChanged', 'ItemRemoved'] as const;
  const c = String(client).padStart(4, '0');
  const s = String(seq).padStart(6, '0');
  const metadata = { correlationId: `req-${c}-${s}`, userId: `user-${c}` };
  const events: BenchEvent[] = [];
  for (let i = 0; i < batch; i++) {
    const n = seq * batch + i;
    events.push({
      type: types[n % types.length]!,
      data: {
        orderId: `ord-${c}-${s}`,
        sku: `SKU-${String((n * 7919) % 100_000).padStart(5, '0')}`,
        quantity: (n % 9) + 1,
        unitPriceCents: 499 + ((n * 37) % 10_000),
        currency: 'EUR',
        warehouse: `ams-${n % 4}`,
        note: 'gift wrap, leave at the door',
      },
      metadata,
    });
  }
  return events;
}

/** One side of a configuration: how it appends, and the queries before and after a round. */
interface AppendSide {
  label: string;
  /** Appends to prefilled `filler-<i>` streams (a filled store); otherwise creates its streams. */
  filled: boolean;
  /** Appends `events` to `streamId`, whose current version is `version` (0: a new stream). */
  append(streamId: string, version: number, events: BenchEvent[]): Promise<void>;
  versions(streamIds: string[]): Promise<Map<string, number>>;
  /** Events stored in `streamIds`. */
  count(streamIds: string[]): Promise<number>;
  close(): Promise<void>;
}

function fabulaSide(label: string, store: EventStore, filled: boolean): AppendSide {
  const s = `"${store.schema}"`;
  return {
    label,
    filled,
    async append(streamId, version, events) {
      const result = await store.append(streamId, events, { expectedVersion: version === 0 ? 'no_stream' : version });
      if (result.nextExpectedVersion !== version + events.length)
        throw new Error(
          `${label} ${streamId}: at version ${result.nextExpectedVersion} after the append, expected ${version + events.length}`,
        );
    },
    async versions(ids) {
      const rows = await store.sql.query<{ stream_id: string; version: string }>(
        `SELECT stream_id, version FROM ${s}.streams WHERE stream_id = ANY($1)`,
        [ids],
      );
      return new Map(rows.map((r) => [r.stream_id, Number(r.version)]));
    },
    async count(ids) {
      const [row] = await store.sql.query<{ n: string }>(`SELECT count(*) AS n FROM ${s}.events WHERE stream_id = ANY($1)`, [
        ids,
      ]);
      return Number(row!.n);
    },
    close: () => store.close(),
  };
}

function insertSql(table: string, rows: number): string {
  const values = Array.from({ length: rows }, (_, i) => {
    const p = i * 5;
    return `($${p + 1}, $${p + 2}, $${p + 3}, $${p + 4}::jsonb, $${p + 5}::jsonb)`;
  });
  return `INSERT INTO ${table} (stream_id, stream_version, event_type, data, metadata) VALUES ${values.join(', ')}`;
}

function rawSide(
  databaseUrl: string,
  admin: pg.Client,
  table: string,
  poolSize: number,
  batch: number,
  filled: boolean,
): AppendSide {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: poolSize });
  pool.on('error', () => {});
  const sql = insertSql(table, batch);
  return {
    label: 'raw',
    filled,
    async append(streamId, version, events) {
      const params: unknown[] = [];
      events.forEach((e, i) =>
        params.push(streamId, version + i + 1, e.type, JSON.stringify(e.data), JSON.stringify(e.metadata)),
      );
      await pool.query(sql, params);
    },
    async versions(ids) {
      const { rows } = await admin.query<{ stream_id: string; v: string }>(
        `SELECT stream_id, max(stream_version) AS v FROM ${table} WHERE stream_id = ANY($1) GROUP BY stream_id`,
        [ids],
      );
      return new Map(rows.map((r) => [r.stream_id, Number(r.v)]));
    },
    async count(ids) {
      const { rows } = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE stream_id = ANY($1)`, [ids]);
      return Number(rows[0]!.n);
    },
    close: () => pool.end(),
  };
}

async function emmettSide(
  databaseUrl: string,
  admin: pg.Client,
  schema: string,
  poolSize: number,
  filled: boolean,
): Promise<AppendSide> {
  const emmett = await openEmmett(databaseUrl, schema, poolSize);
  return {
    label: 'emmett',
    filled,
    async append(streamId, version, events) {
      const result = await emmett.store.appendToStream(streamId, events, { expectedStreamVersion: BigInt(version) });
      if (result.nextExpectedStreamVersion !== BigInt(version + events.length))
        throw new Error(
          `emmett ${streamId}: at ${result.nextExpectedStreamVersion} after the append, expected ${version + events.length}`,
        );
    },
    versions: (ids) => emmettVersions(admin, schema, ids),
    count: (ids) => emmettEventCount(admin, schema, ids),
    close: () => emmett.close(),
  };
}

/** `n` distinct random integers in [0, size). */
function randomDistinct(n: number, size: number): number[] {
  const picked = new Set<number>();
  while (picked.size < n) picked.add(Math.floor(Math.random() * size));
  return [...picked];
}

/** One round of `side`: returns its figures after checking the events it stored. */
async function runRound(
  side: AppendSide,
  args: { mode: Mode; concurrency: number; batch: number; size: number; tag: string; warmup: number; seconds: number },
): Promise<RoundFigures> {
  const { mode, concurrency, batch } = args;
  const perClient = Math.min(STREAMS_PER_CLIENT, Math.floor(args.size / concurrency));
  const usePrefilled = mode === 'existing' && side.filled && perClient > 0;
  // Each client's streams and the versions it knows them at.
  let streams: { id: string; version: number }[][];
  let touched: string[] = [];
  let before = 0;
  if (usePrefilled) {
    const indexes = randomDistinct(perClient * concurrency, args.size);
    const ids = indexes.map((i) => `${FILL_PREFIX}-${i}`);
    const versions = await side.versions(ids);
    streams = Array.from({ length: concurrency }, (_, c) =>
      ids.slice(c * perClient, (c + 1) * perClient).map((id) => {
        const version = versions.get(id);
        if (version === undefined) throw new Error(`${side.label}: prefilled stream ${id} is missing`);
        return { id, version };
      }),
    );
    touched = ids;
    before = await side.count(ids);
  } else {
    const per = mode === 'existing' ? EMPTY_STREAMS_PER_CLIENT : 0;
    streams = Array.from({ length: concurrency }, (_, c) =>
      Array.from({ length: per }, (_, k) => ({ id: `${args.tag}-c${c}-s${k}`, version: 0 })),
    );
    touched = streams.flat().map((s) => s.id);
  }

  const { counted, total, elapsedS } = await runClientLoops({
    concurrency,
    warmup: args.warmup,
    seconds: args.seconds,
    client: (client) => {
      const mine = streams[client]!;
      let seq = 0;
      return async () => {
        const events = makeEvents(client, seq, batch);
        if (mode === 'new') {
          const id = `${args.tag}-c${client}-n${seq}`;
          touched.push(id);
          await side.append(id, 0, events);
        } else {
          const stream = mine[seq % mine.length]!;
          await side.append(stream.id, stream.version, events);
          stream.version += batch;
        }
        seq++;
      };
    },
  });

  const after = await side.count(touched);
  if (after - before !== total * batch)
    throw new Error(
      `${side.label} ${args.tag}: ${after - before} events written to the round's streams, expected ${total * batch}`,
    );
  const appendsPerS = counted / elapsedS;
  return { events_per_s: appendsPerS * batch, appends_per_s: appendsPerS };
}

const configName = (c: { mode: Mode; concurrency: number; batch: number }) =>
  `append ${c.mode === 'existing' ? 'existing' : 'new'} conc=${c.concurrency} batch=${c.batch}`;

async function run(ctx: BenchContext): Promise<BenchReport> {
  const { options, databaseUrl, log } = ctx;
  const resources = await benchResources(ctx);
  const { admin } = resources;
  const runId = Math.random().toString(36).slice(2, 8);

  // The kept filled stores (built or topped up now), and a fresh empty Fabula store for this run.
  await ensureRawFilled(ctx, admin);
  await ensureEmmettFilled(ctx, admin);
  await ensureFabulaFilled(ctx, admin);
  const kept = keptSchemas(options.size);
  const emptySchema = randomSchemaName('bench_empty');
  resources.ownSchema(emptySchema);

  const sizeStore = await openEventStore({ connectionString: databaseUrl, schema: kept.fabula, maxConnections: 1 });
  const size = await fabulaSize(sizeStore);
  await sizeStore.close();
  log(
    `filled stores: ${size.streams.toLocaleString('en-US')} streams, ${size.events.toLocaleString('en-US')} events in ${kept.fabula}`,
  );

  const results: MeasuredResult[] = [];
  const report = (
    name: string,
    outcome: Record<string, Record<string, number[]>>,
    measured: string,
    pairs: { side: string; baseline: string; target: string; label: string }[],
    batch: number,
    store: { streams: number; events: number },
  ) => {
    for (const metric of batch > 1 ? ['events_per_s', 'appends_per_s'] : ['events_per_s']) {
      for (const pair of pairs) {
        results.push(
          compare({
            name: `${name} ${pair.label}`,
            metric,
            kind: 'throughput',
            measured: outcome[measured]![metric]!,
            baselineSamples: outcome[pair.side]![metric]!,
            baseline: pair.baseline,
            target: pair.target,
            store,
          }),
        );
      }
    }
  };
  const progress = (name: string) => (side: string, round: number, figures: RoundFigures) =>
    log(
      `${name} round ${round}/${options.rounds} ${side.padEnd(13)}: ${Math.round(figures.events_per_s!)} events/s, ` +
        `${Math.round(figures.appends_per_s!)} appends/s`,
    );

  for (const config of CONFIGURATIONS) {
    const name = configName(config);
    const { concurrency, batch } = config;
    log(`${name}: pool size ${concurrency} on every side`);
    const opened: AppendSide[] = [];
    const closeAll = resources.own(async () => {
      for (const side of opened.splice(0)) await side.close().catch(() => {});
    });
    try {
      const filled = options.size > 0;
      const raw = rawSide(databaseUrl, admin, `"${kept.raw}".events`, concurrency, batch, filled);
      opened.push(raw);
      const emmett = await emmettSide(databaseUrl, admin, kept.emmett, concurrency, filled);
      opened.push(emmett);
      const fabula = fabulaSide(
        'fabula',
        await openEventStore({ connectionString: databaseUrl, schema: kept.fabula, maxConnections: concurrency }),
        filled,
      );
      opened.push(fabula);
      const empty = fabulaSide(
        'fabula-empty',
        await openEventStore({ connectionString: databaseUrl, schema: emptySchema, maxConnections: concurrency }),
        false,
      );
      opened.push(empty);
      const round = (side: AppendSide) => (r: number) =>
        runRound(side, {
          ...config,
          size: options.size,
          tag: `b${runId}-${side.label}-${config.mode}-c${concurrency}-b${batch}-r${r}`,
          warmup: options.warmup,
          seconds: options.seconds,
        });
      const outcome = await interleave(
        options.rounds,
        { raw: round(raw), emmett: round(emmett), fabula: round(fabula), 'fabula-empty': round(empty) },
        progress(name),
      );
      report(
        name,
        outcome,
        'fabula',
        [
          { side: 'raw', baseline: BASELINES.raw, target: '>= 0.9', label: 'vs raw' },
          { side: 'emmett', baseline: BASELINES.emmett, target: '>= 1.5', label: 'vs Emmett' },
          { side: 'fabula-empty', baseline: BASELINES.empty, target: '>= 0.9', label: 'filled vs empty' },
        ],
        batch,
        size,
      );
    } finally {
      await resources.close(closeAll);
    }
  }

  // PGlite: the kept embedded store against an empty one, both on disk.
  const pgliteEmptyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fabula-bench-pglite-empty-'));
  ctx.onCleanup(async () => fs.rmSync(pgliteEmptyDir, { recursive: true, force: true }));
  log(`PGlite: opening the kept store (${options.pgliteSize.toLocaleString('en-US')} streams) and an empty one`);
  const pgliteStore = await openKeptPglite(ctx);
  log('PGlite: kept store open');
  const pgliteFilled = fabulaSide('fabula-pglite', pgliteStore, true);
  const closeFilled = resources.own(() => pgliteFilled.close());
  const pgliteEmpty = fabulaSide('fabula-pglite-empty', await openEventStore({ dataDir: pgliteEmptyDir }), false);
  const closeEmpty = resources.own(() => pgliteEmpty.close());
  try {
    log('PGlite: empty store open');
    const filledStore = await fabulaSize(pgliteStore);
    for (const config of PGLITE_CONFIGURATIONS) {
      const name = `${configName(config)} (pglite)`;
      const round = (side: AppendSide) => (r: number) =>
        runRound(side, {
          ...config,
          size: options.pgliteSize,
          tag: `b${runId}-${side.label}-c${config.concurrency}-r${r}`,
          warmup: options.warmup,
          seconds: options.seconds,
        });
      const outcome = await interleave(
        options.rounds,
        { 'pglite-filled': round(pgliteFilled), 'pglite-empty': round(pgliteEmpty) },
        progress(name),
      );
      report(
        name,
        outcome,
        'pglite-filled',
        [{ side: 'pglite-empty', baseline: BASELINES.pgliteEmpty, target: '>= 0.9', label: 'filled vs empty' }],
        config.batch,
        filledStore,
      );
    }
  } finally {
    await resources.close(closeFilled);
    await resources.close(closeEmpty);
  }

  // Events per second first (the headline), then appends per second, each in configuration order.
  results.sort((a, b) => Number(a.metric !== 'events_per_s') - Number(b.metric !== 'events_per_s'));
  return { benchmark: 'append', machine: machineInfo(ctx.postgresVersion), results };
}

const benchmark: Benchmark = {
  name: 'append',
  description: "Fabula's appends on a filled store vs raw INSERTs, Emmett 0.42 and Fabula on an empty store",
  needsPostgres: true,
  run,
};
export default benchmark;
