/**
 * `npm run bench -- load`: rehydrating one 10,000-event bank account (AccountOpened, then 9,999
 * MoneyDeposited) on the PostgreSQL server, with and without snapshots.
 *
 * Three streams of the same 10,000 events (same amounts, so the same final state), in one fresh schema:
 * - `account-full`: no snapshots. Loaded with `new AggregateRepository(store, BankAccount, { registry })`:
 *   a full replay. (A repository without a snapshot policy still reads and uses snapshots that exist, so
 *   this stream must have none.)
 * - `account-head`: loaded with a repository with `snapshots: { every: 1000 }`, whose snapshots were written
 *   by that policy itself: the events at versions 1000, 2000, ... 10000 were saved through the repository
 *   (load, `deposit()`, `save()`), the others appended in batches. Its latest snapshot is at the head:
 *   load = snapshot + 0 events. The best case of `every: 1000`.
 * - `account-tail`: the same, but the last 1,000 events were appended directly, so the latest snapshot is
 *   at 9,000: load = snapshot + 1,000 events. The worst case of `every: 1000`.
 *
 * Baseline of the full replay: `SELECT <the same columns> FROM events WHERE stream_id = $1 ORDER BY
 * stream_version` of the same 10,000 rows through a pg.Pool (pg parses the jsonb columns; no decoding, no
 * upcasting, no aggregate). Baseline of the snapshot loads: the full replay.
 *
 * Targets: the full replay within 2x of the raw read (ratio >= 0.5); a load from a snapshot at the head is
 * two small queries instead of reading 10,000 rows, so at least 20x faster; the worst case under
 * `every: 1000` still reads 1,000 rows, so at least 5x. The benchmark warns (stderr) when the snapshot a load
 * starts from is not the latest one written.
 *
 * A round of one kind of load repeats it, one at a time, for a warm-up and then for `seconds`, and gives
 * the median time of one load. Rounds rotate raw, full replay, snapshot at head, snapshot + tail (A B C D
 * A B C D ...); the median over rounds is reported.
 */
import pg from 'pg';
import {
  AggregateRepository,
  CommandBus,
  openEventStore,
  type EventRegistry,
  type EventStore,
  type NewEvent,
} from '../src/index.js';
import { SnapshotStore } from '../src/store/snapshot-store.js';
import { BankAccount, registerBank } from '../examples/bank/index.js';
import {
  compare,
  interleave,
  machineInfo,
  median,
  randomSchemaName,
  type Benchmark,
  type BenchContext,
  type BenchReport,
  type MeasuredResult,
  type RoundFigures,
} from './harness.js';

const EVENTS = 10_000;
const SEED_BATCH = 500;
const SNAPSHOT_EVERY = 1000;
/** Tail of the worst-case stream: events after its latest snapshot. */
const TAIL = 1000;
/** Each round times at least this many loads, however short `--seconds` is. */
const MIN_LOADS_PER_ROUND = 5;

const RAW_BASELINE =
  'raw SELECT of the same 10,000 rows and columns (WHERE stream_id = $1 ORDER BY stream_version) through pg.Pool, same server, same run';
const FULL_BASELINE = 'full replay of the same 10,000 events without a snapshot, same run';

/** The amount of the deposit at stream version `version` (2..EVENTS): deterministic, 1..1000 cents. */
function amountAt(version: number): number {
  return 1 + ((version * 7919) % 1000);
}

let expectedBalance = 0;
for (let v = 2; v <= EVENTS; v++) expectedBalance += amountAt(v);

function eventAt(accountId: string, version: number) {
  return version === 1
    ? ({
        type: 'AccountOpened',
        data: { accountId, owner: 'Ada Lovelace', currency: 'EUR', overdraftLimit: 0 },
      } as const)
    : ({ type: 'MoneyDeposited', data: { accountId, amount: amountAt(version) } } as const);
}

/** Appends the events at versions `from`..`to` to `account-<accountId>`, SEED_BATCH per append. */
async function seedRaw(store: EventStore, registry: EventRegistry, accountId: string, from: number, to: number) {
  for (let start = from; start <= to; start += SEED_BATCH) {
    const end = Math.min(to, start + SEED_BATCH - 1);
    const events: NewEvent[] = [];
    for (let v = start; v <= end; v++) events.push(registry.encode(eventAt(accountId, v)));
    const result = await store.append(`account-${accountId}`, events, {
      expectedVersion: start === 1 ? 'no_stream' : start - 1,
    });
    if (result.nextExpectedVersion !== end)
      throw new Error(`seeding ${accountId}: at ${result.nextExpectedVersion}, expected ${end}`);
  }
}

/**
 * Seeds `account-<accountId>` up to `upTo` events, saving the event at each multiple of SNAPSHOT_EVERY
 * through `repository` (policy `every: SNAPSHOT_EVERY`), which writes the snapshots.
 */
async function seedWithSnapshots(
  store: EventStore,
  registry: EventRegistry,
  repository: AggregateRepository<BankAccount>,
  accountId: string,
  lastSnapshotAt: number,
) {
  let version = 0;
  for (let at = SNAPSHOT_EVERY; at <= lastSnapshotAt; at += SNAPSHOT_EVERY) {
    await seedRaw(store, registry, accountId, version + 1, at - 1);
    const account = await repository.load(accountId);
    if (account.version !== at - 1) throw new Error(`seeding ${accountId}: loaded at ${account.version}, expected ${at - 1}`);
    account.deposit(amountAt(at));
    await repository.save(account);
    version = at;
  }
  if (version < EVENTS) await seedRaw(store, registry, accountId, version + 1, EVENTS);
}

function checkAccount(account: BankAccount, label: string) {
  if (
    account.version !== EVENTS ||
    account.balance !== expectedBalance ||
    account.status !== 'open' ||
    account.owner !== 'Ada Lovelace'
  ) {
    throw new Error(
      `${label}: loaded version ${account.version}, balance ${account.balance}, status ${account.status}; expected ${EVENTS}, ${expectedBalance}, open`,
    );
  }
}

/** Repeats `load` one at a time for the warm-up, then for `seconds` (at least MIN_LOADS_PER_ROUND times): median ms. */
async function timeLoads(load: () => Promise<void>, warmupS: number, seconds: number): Promise<number> {
  const warmupEnd = performance.now() + warmupS * 1000;
  do await load();
  while (performance.now() < warmupEnd);
  const times: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end || times.length < MIN_LOADS_PER_ROUND) {
    const started = performance.now();
    await load();
    times.push(performance.now() - started);
  }
  return median(times);
}

async function run(ctx: BenchContext): Promise<BenchReport> {
  const { options, databaseUrl, log } = ctx;
  const schema = `${randomSchemaName('bench')}_load`;
  const poolSize = 2;

  let store: EventStore | null = null;
  let pool: pg.Pool | null = null;
  let dropped = false;
  ctx.onCleanup(async () => {
    await store?.close().catch(() => {});
    await pool?.end().catch(() => {});
    store = null;
    pool = null;
    if (dropped) return;
    const dropper = new pg.Client({ connectionString: databaseUrl });
    dropper.on('error', () => {});
    try {
      await dropper.connect();
      await dropper.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      dropped = true;
    } finally {
      await dropper.end().catch(() => {});
    }
  });

  log(`load: opening a store in schema ${schema}, pool size ${poolSize}`);
  const s = await openEventStore({ connectionString: databaseUrl, schema, maxConnections: poolSize });
  store = s;
  const p = new pg.Pool({ connectionString: databaseUrl, max: poolSize });
  p.on('error', () => {});
  pool = p;

  // The bank's registry (with its upcaster), as registerBank builds it.
  const { registry } = registerBank({ store: s, bus: new CommandBus({ store: s }) });
  const fullRepository = new AggregateRepository(s, BankAccount, { registry });
  const snapshotRepository = new AggregateRepository(s, BankAccount, { registry, snapshots: { every: SNAPSHOT_EVERY } });

  const seedStarted = performance.now();
  await seedRaw(s, registry, 'full', 1, EVENTS);
  await seedWithSnapshots(s, registry, snapshotRepository, 'head', EVENTS);
  await seedWithSnapshots(s, registry, snapshotRepository, 'tail', EVENTS - TAIL);
  log(`load: seeded 3 streams of ${EVENTS} events in ${Math.round(performance.now() - seedStarted)} ms`);

  // The snapshots are where they should be, and the no-snapshot stream has none.
  const snapshots = await p.query<{ stream_id: string; latest: string; n: string }>(
    `SELECT stream_id, max(stream_version)::text AS latest, count(*)::text AS n FROM "${schema}".snapshots GROUP BY stream_id`,
  );
  const latest = new Map(snapshots.rows.map((r) => [r.stream_id, Number(r.latest)]));
  if (latest.has('account-full') || latest.get('account-head') !== EVENTS || latest.get('account-tail') !== EVENTS - TAIL) {
    throw new Error(`unexpected snapshots: ${JSON.stringify(snapshots.rows)}`);
  }
  log(`load: snapshots ${snapshots.rows.map((r) => `${r.stream_id} latest at ${r.latest} (${r.n} kept)`).join(', ')}`);
  // Which snapshot a load will start from (the repository asks the snapshot store the same question).
  const snapshotStore = new SnapshotStore(s.sql, schema);
  for (const [accountId, expected] of [
    ['head', EVENTS],
    ['tail', EVENTS - TAIL],
  ] as const) {
    const used = await snapshotStore.latest(`account-${accountId}`, BankAccount.streamType, BankAccount.snapshotVersion);
    if (used?.streamVersion !== expected) {
      log(
        `load: WARNING: loads of account-${accountId} start from the snapshot at ${used?.streamVersion ?? 'none'}, not the latest one at ` +
          `${expected}, and replay ${EVENTS - (used?.streamVersion ?? 0)} events instead of ${EVENTS - expected}`,
      );
    }
  }

  const rawSql = `SELECT event_id::text AS id, event_type AS type, data, metadata, schema_version, stream_id,
      stream_version::text AS stream_version, global_position::text AS global_position, recorded_at
    FROM "${schema}".events WHERE stream_id = $1 ORDER BY stream_version`;
  const loads = {
    raw: async () => {
      const { rows } = await p.query(rawSql, ['account-full']);
      if (rows.length !== EVENTS) throw new Error(`raw SELECT: ${rows.length} rows, expected ${EVENTS}`);
    },
    full: async () => checkAccount(await fullRepository.load('full'), 'full replay'),
    head: async () => checkAccount(await snapshotRepository.load('head'), 'snapshot at head'),
    tail: async () => checkAccount(await snapshotRepository.load('tail'), `snapshot + ${TAIL}`),
  };

  const time = (load: () => Promise<void>) => timeLoads(load, options.warmup, options.seconds);
  const outcome = await interleave(
    options.rounds,
    {
      baseline: async () => ({ raw_ms: await time(loads.raw) }),
      measured: async () => {
        const figures: RoundFigures = {};
        figures.full_ms = await time(loads.full);
        figures.head_ms = await time(loads.head);
        figures.tail_ms = await time(loads.tail);
        return figures;
      },
    },
    (side, round, f) =>
      log(
        `load round ${round}/${options.rounds} ` +
          (side === 'baseline'
            ? `raw SELECT: ${f.raw_ms!.toFixed(1)} ms`
            : `full replay: ${f.full_ms!.toFixed(1)} ms, snapshot at head: ${f.head_ms!.toFixed(2)} ms, snapshot + ${TAIL}: ${f.tail_ms!.toFixed(1)} ms`),
      ),
  );

  const full = outcome.measured.full_ms!;
  const results: MeasuredResult[] = [
    compare({
      name: `load ${EVENTS} events: full replay, no snapshot`,
      metric: 'median_load_ms',
      kind: 'latency',
      measured: full,
      baselineSamples: outcome.baseline.raw_ms!,
      baseline: RAW_BASELINE,
      target: '>= 0.5',
    }),
    compare({
      name: `load ${EVENTS} events: snapshots every ${SNAPSHOT_EVERY}, snapshot at head (+0 events)`,
      metric: 'median_load_ms',
      kind: 'latency',
      measured: outcome.measured.head_ms!,
      baselineSamples: full,
      baseline: FULL_BASELINE,
      target: '>= 20',
    }),
    compare({
      name: `load ${EVENTS} events: snapshots every ${SNAPSHOT_EVERY}, snapshot + ${TAIL} events (worst case)`,
      metric: 'median_load_ms',
      kind: 'latency',
      measured: outcome.measured.tail_ms!,
      baselineSamples: full,
      baseline: FULL_BASELINE,
      target: '>= 5',
    }),
  ];
  return { benchmark: 'load', machine: machineInfo(ctx.postgresVersion), results };
}

const benchmark: Benchmark = {
  name: 'load',
  description: 'Rehydrating a 10,000-event aggregate: full replay vs raw SELECT, and with snapshots',
  needsPostgres: true,
  run,
};
export default benchmark;
