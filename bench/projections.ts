/**
 * `npm run bench -- projections`: the projection daemon against the loop one would write by hand.
 *
 * 1. Catch-up throughput. 200,000 events are in the store. Baseline: a raw loop of paged SELECTs of the
 *    events (500 a page, every event column, as the daemon reads them) plus one upsert per event, one
 *    transaction per page, over its own pg.Pool. Measured: a new async projection whose `apply` runs the
 *    same upsert, run by the daemon from position 0 until its checkpoint reaches the head (each batch
 *    also takes the lease-fenced checkpoint in its transaction, which the baseline does not). Rounds
 *    alternate (A B A B ...); medians are reported. Target: ratio >= 0.8.
 * 2. End-to-end lag at a steady 500 appends/s: from an append being acknowledged (its commit) to the
 *    daemon committing the batch that applied it, in the same process (the daemon's 'checkpoint' event).
 *    Target: p99 < 100 ms.
 */
import pg from 'pg';
import { createProjections, defineProjection, openEventStore, type EventStore } from '../src/index.js';
import {
  absolute,
  compare,
  interleave,
  machineInfo,
  randomSchemaName,
  sleep,
  type Benchmark,
  type BenchContext,
  type BenchReport,
  type MeasuredResult,
} from './harness.js';

const EVENTS = 200_000;
const KEYS = 20_000;
const PAGE = 500;
const APPENDS_PER_S = 500;
const BASELINE = `raw loop: paged SELECT of the events (${PAGE} a page) + one upsert per event, one transaction per page, same server, same run`;

const UPSERT = (table: string) =>
  `INSERT INTO ${table} AS t (key, events, total) VALUES ($1, 1, $2)
   ON CONFLICT (key) DO UPDATE SET events = t.events + 1, total = t.total + excluded.total`;
const COUNTERS_TABLE = (table: string) =>
  `CREATE TABLE ${table} (key text PRIMARY KEY, events int NOT NULL, total bigint NOT NULL)`;

interface Counted {
  key: string;
  amount: number;
}

/** A projection doing exactly the baseline's work per event. */
function countingProjection(name: string, handles: string[]) {
  return defineProjection<Record<string, Counted>>({
    name,
    version: 1,
    handles,
    async setup(ctx) {
      await ctx.sql.exec(COUNTERS_TABLE(ctx.table('counters')));
    },
    async apply(event, ctx) {
      await ctx.sql.query(UPSERT(ctx.table('counters')), [event.data.key, event.data.amount]);
    },
  });
}

async function seed(store: EventStore, log: (m: string) => void) {
  const perAppend = 1_000;
  const appends = EVENTS / perAppend;
  for (let i = 0; i < appends; i += 4) {
    await Promise.all(
      Array.from({ length: Math.min(4, appends - i) }, (_, k) => {
        const a = i + k;
        const events = Array.from({ length: perAppend }, (_, j) => {
          const n = a * perAppend + j;
          return {
            type: 'ItemCounted',
            data: { key: `k-${(n * 7919) % KEYS}`, amount: (n % 97) + 1, note: 'seeded for the catch-up benchmark' },
          };
        });
        return store.append(`counter-${a % 50}`, events);
      }),
    );
    if (i % 40 === 0) log(`seeding: ${(i + 4) * perAppend} of ${EVENTS} events`);
  }
}

async function run(ctx: BenchContext): Promise<BenchReport> {
  const { options, databaseUrl, log } = ctx;
  const schema = randomSchemaName('bench');
  const admin = new pg.Client({ connectionString: databaseUrl });
  admin.on('error', () => {});
  await admin.connect();
  const stores: EventStore[] = [];
  ctx.onCleanup(async () => {
    for (const store of stores) await store.close().catch(() => {});
    const rows = await admin.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname LIKE $1`, [`${schema}%`]);
    for (const row of rows.rows) await admin.query(`DROP SCHEMA IF EXISTS "${row.nspname}" CASCADE`);
    await admin.end().catch(() => {});
  });

  const store = await openEventStore({ connectionString: databaseUrl, schema, maxConnections: 4 });
  stores.push(store);
  log(`catch-up: seeding ${EVENTS.toLocaleString('en-US')} events in schema ${schema}`);
  await seed(store, log);
  const head = await store.headPosition();

  // Baseline: the hand-written loop.
  const rawTable = `"${schema}".raw_counters`;
  await admin.query(COUNTERS_TABLE(rawTable));
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  pool.on('error', () => {});
  ctx.onCleanup(() => pool.end());
  const rawLoop = async () => {
    await admin.query(`TRUNCATE ${rawTable}`);
    const started = performance.now();
    let after = '0';
    for (;;) {
      const client = await pool.connect();
      let count = 0;
      try {
        await client.query('BEGIN');
        const page = await client.query<{ global_position: string; data: Counted }>(
          `SELECT event_id::text AS id, event_type AS type, data, metadata, schema_version, stream_id,
                  stream_version::text AS stream_version, global_position::text AS global_position, recorded_at
           FROM "${schema}".events e WHERE e.global_position > $1 ORDER BY e.global_position LIMIT ${PAGE}`,
          [after],
        );
        for (const row of page.rows) await client.query(UPSERT(rawTable), [row.data.key, row.data.amount]);
        await client.query('COMMIT');
        count = page.rows.length;
        if (count > 0) after = page.rows[count - 1]!.global_position;
      } finally {
        client.release();
      }
      if (count < PAGE) break;
    }
    return EVENTS / ((performance.now() - started) / 1000);
  };

  // Measured: a fresh projection per round, run by the daemon from 0 to the head.
  const daemonCatchUp = async (round: number) => {
    const name = `catch-up-r${round}`;
    const projections = createProjections([countingProjection(name, ['ItemCounted'])], { batchSize: PAGE });
    const started = performance.now();
    await projections.start(store);
    await projections.waitFor(name, head, { timeout: 600_000 });
    const perSecond = EVENTS / ((performance.now() - started) / 1000);
    await projections.stop();
    await projections.remove(name);
    return perSecond;
  };

  const outcome = await interleave(
    options.rounds,
    {
      baseline: async () => ({ events_per_s: await rawLoop() }),
      measured: async (round) => ({ events_per_s: await daemonCatchUp(round) }),
    },
    (side, round, figures) =>
      log(
        `catch-up round ${round}/${options.rounds} ${side === 'baseline' ? 'raw loop' : 'daemon  '}: ${Math.round(figures.events_per_s!)} events/s`,
      ),
  );
  const results: MeasuredResult[] = [
    compare({
      name: `catch-up ${EVENTS.toLocaleString('en-US')} events, 1 upsert each`,
      metric: 'events_per_s',
      kind: 'throughput',
      measured: outcome.measured.events_per_s!,
      baselineSamples: outcome.baseline.events_per_s!,
      baseline: BASELINE,
      target: '>= 0.8',
    }),
  ];

  // Lag: a live projection on the same store, appends at a steady rate.
  const lagProjection = countingProjection('lag', ['LagProbe']);
  const projections = createProjections([lagProjection], { batchSize: PAGE });
  await projections.start(store);
  await projections.waitFor('lag', await store.headPosition(), { timeout: 600_000 }); // past the seeded events first
  const p50s: number[] = [];
  const p99s: number[] = [];
  const seconds = Math.max(options.seconds, 5);
  for (let round = 1; round <= options.rounds; round++) {
    const { lags, rate } = await measureLag(store, projections, seconds);
    const sorted = lags.sort((a, b) => a - b);
    const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
    p50s.push(pct(50));
    p99s.push(pct(99));
    log(
      `lag round ${round}/${options.rounds}: ${Math.round(rate)} appends/s, p50 ${pct(50).toFixed(1)} ms, p99 ${pct(99).toFixed(1)} ms, max ${sorted[sorted.length - 1]!.toFixed(1)} ms`,
    );
  }
  await projections.stop();
  results.push(
    absolute({
      name: `lag at ${APPENDS_PER_S} appends/s, p50`,
      metric: 'ms',
      samples: p50s,
      target: '< 100 ms',
      met: (v) => v < 100,
    }),
    absolute({
      name: `lag at ${APPENDS_PER_S} appends/s, p99`,
      metric: 'ms',
      samples: p99s,
      target: 'p99 < 100 ms',
      met: (v) => v < 100,
    }),
  );
  return { benchmark: 'projections', machine: machineInfo(ctx.postgresVersion), results };
}

/** Appends one event every 2 ms (open loop) for `seconds`; lag = acknowledged append → batch committed. */
async function measureLag(store: EventStore, projections: ReturnType<typeof createProjections>, seconds: number) {
  const acknowledged = new Map<bigint, number>();
  const lags: number[] = [];
  let applied = 0n;
  const onCheckpoint = (event: { projection: string; position: bigint }) => {
    const now = performance.now();
    applied = event.position;
    for (const [position, at] of acknowledged) {
      if (position > event.position) continue;
      lags.push(now - at);
      acknowledged.delete(position);
    }
  };
  projections.on('checkpoint', onCheckpoint);
  const intervalMs = 1000 / APPENDS_PER_S;
  const started = performance.now();
  const inFlight: Promise<void>[] = [];
  let sent = 0;
  while (performance.now() - started < seconds * 1000) {
    const due = started + sent * intervalMs;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    sent++;
    inFlight.push(
      store.append(`probe-${sent % 100}`, [{ type: 'LagProbe', data: { key: `p-${sent % 1000}`, amount: 1 } }]).then((r) => {
        // Applied before the acknowledgement reached us: no measurable lag.
        if (applied >= r.lastPosition) lags.push(0);
        else acknowledged.set(r.lastPosition, performance.now());
      }),
    );
  }
  await Promise.all(inFlight);
  const rate = sent / ((performance.now() - started) / 1000);
  const deadline = performance.now() + 30_000;
  while (acknowledged.size > 0 && performance.now() < deadline) await sleep(10);
  projections.off('checkpoint', onCheckpoint);
  return { lags, rate };
}

const benchmark: Benchmark = {
  name: 'projections',
  description: 'Projection daemon catch-up vs a raw paged-SELECT loop with the same upserts; end-to-end lag at 500 appends/s',
  needsPostgres: true,
  run,
};
export default benchmark;
