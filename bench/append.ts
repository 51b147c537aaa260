/**
 * `npm run bench -- append`: Fabula's `EventStore.append()` against a baseline of plain INSERTs of the
 * same rows on the same server in the same run.
 *
 * Baseline: a plain table with the same unique constraint (stream_id, stream_version); one append of B
 * events is ONE autocommit multi-row INSERT of those B rows, over a pg.Pool of the same size as the
 * store's pool. Measured: `store.append(streamId, events, { expectedVersion })` with the exact version
 * the client loop expects, so that the concurrency check runs on every append.
 *
 * Each configuration (concurrency x events per append) gets its own store (a fresh schema, dropped at
 * the end). Both sides' tables are emptied before every round so that table growth favours neither.
 * Rounds alternate baseline and Fabula (A B A B ...) and the medians are reported.
 */
import pg from 'pg';
import { openEventStore, type EventStore, type NewEvent } from '../src/index.js';
import {
  compare,
  benchResources,
  interleave,
  runClientLoops,
  machineInfo,
  randomSchemaName,
  type Benchmark,
  type BenchContext,
  type BenchReport,
  type MeasuredResult,
  type RoundFigures,
} from './harness.js';

const CONFIGURATIONS = [
  { concurrency: 1, batch: 1 },
  { concurrency: 1, batch: 10 },
  { concurrency: 16, batch: 1 },
  { concurrency: 16, batch: 10 },
] as const;

/** A client loop moves on to a fresh stream after this many appends. */
const APPENDS_PER_STREAM = 100;
const TARGET = '>= 0.9';
const BASELINE =
  'raw INSERT: one autocommit multi-row INSERT per append into a plain table with the same unique (stream_id, stream_version), same rows, same pool size, same server, same run';

interface BenchEvent {
  type: string;
  data: Record<string, unknown>;
  metadata: Record<string, string>;
}

/** One append's events for client `client`, its `seq`-th append: ~150 bytes of JSON data each. */
function makeEvents(client: number, seq: number, batch: number): BenchEvent[] {
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

/** Appends `events` to `streamId` whose current version the caller knows to be `version`. */
type AppendOnce = (streamId: string, version: number, events: BenchEvent[]) => Promise<void>;

interface RoundOutcome {
  figures: RoundFigures;
  /** Appends completed in the whole round, warm-up included: what the table must hold now. */
  totalAppends: number;
}

/**
 * `concurrency` client loops appending for a warm-up, then for `seconds` while counting completions.
 * Each loop writes its own streams, a fresh one every APPENDS_PER_STREAM appends.
 */
async function runRound(
  appendOnce: AppendOnce,
  args: { concurrency: number; batch: number; streamPrefix: string; warmup: number; seconds: number },
): Promise<RoundOutcome> {
  const { counted, total, elapsedS } = await runClientLoops({
    ...args,
    client: (client) => {
      let seq = 0;
      let version = 0;
      let streamId = '';
      return async () => {
        if (seq % APPENDS_PER_STREAM === 0) {
          streamId = `${args.streamPrefix}-${client}-${seq / APPENDS_PER_STREAM}`;
          version = 0;
        }
        await appendOnce(streamId, version, makeEvents(client, seq, args.batch));
        version += args.batch;
        seq++;
      };
    },
  });

  const appendsPerS = counted / elapsedS;
  return { figures: { events_per_s: appendsPerS * args.batch, appends_per_s: appendsPerS }, totalAppends: total };
}

function insertSql(table: string, rows: number): string {
  const values = Array.from({ length: rows }, (_, i) => {
    const p = i * 5;
    return `($${p + 1}, $${p + 2}, $${p + 3}, $${p + 4}::jsonb, $${p + 5}::jsonb)`;
  });
  return `INSERT INTO ${table} (stream_id, stream_version, event_type, data, metadata) VALUES ${values.join(', ')}`;
}

async function run(ctx: BenchContext): Promise<BenchReport> {
  const { options, databaseUrl, log } = ctx;
  const runSchema = randomSchemaName('bench');
  const rawSchema = `${runSchema}_raw`;
  const rawTable = `"${rawSchema}".events`;

  // Set-up, cleaning between rounds and checks; never used for measured work.
  const resources = await benchResources(ctx);
  const { admin } = resources;

  resources.ownSchema(rawSchema);
  await admin.query(`CREATE SCHEMA "${rawSchema}"`);
  await admin.query(`CREATE TABLE ${rawTable} (
    id             bigserial PRIMARY KEY,
    stream_id      text NOT NULL,
    stream_version bigint NOT NULL,
    event_type     text NOT NULL,
    data           jsonb NOT NULL,
    metadata       jsonb NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, stream_version)
  )`);

  const count = async (table: string) =>
    Number((await admin.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);

  const results: MeasuredResult[] = [];
  for (const { concurrency, batch } of CONFIGURATIONS) {
    const name = `append conc=${concurrency} batch=${batch}`;
    const poolSize = concurrency;
    const schema = `${runSchema}_c${concurrency}_b${batch}`;
    log(`${name}: opening a store in schema ${schema}, pool size ${poolSize}`);

    resources.ownSchema(schema);
    const store: EventStore = await openEventStore({ connectionString: databaseUrl, schema, maxConnections: poolSize });
    const closeStore = resources.own(() => store.close());
    const pool = new pg.Pool({ connectionString: databaseUrl, max: poolSize });
    pool.on('error', () => {});
    const closePool = resources.own(() => pool.end());

    try {
      const sql = insertSql(rawTable, batch);
      const rawAppend: AppendOnce = async (streamId, version, events) => {
        const params: unknown[] = [];
        events.forEach((e, i) =>
          params.push(streamId, version + i + 1, e.type, JSON.stringify(e.data), JSON.stringify(e.metadata)),
        );
        await pool.query(sql, params);
      };
      const fabulaAppend: AppendOnce = async (streamId, version, events) => {
        const result = await store.append(streamId, events satisfies NewEvent[], { expectedVersion: version });
        if (result.nextExpectedVersion !== version + events.length) {
          throw new Error(
            `${streamId}: expected version ${version + events.length} after the append, got ${result.nextExpectedVersion}`,
          );
        }
      };

      const side =
        (label: 'raw' | 'fabula', appendOnce: AppendOnce, table: string, clean: () => Promise<void>) =>
        async (round: number): Promise<RoundFigures> => {
          await clean();
          const outcome = await runRound(appendOnce, {
            concurrency,
            batch,
            streamPrefix: `order-r${round}`,
            warmup: options.warmup,
            seconds: options.seconds,
          });
          const rows = await count(table);
          if (rows !== outcome.totalAppends * batch) {
            throw new Error(
              `${name} ${label} round ${round}: ${rows} rows in ${table}, expected ${outcome.totalAppends * batch}`,
            );
          }
          return outcome.figures;
        };

      const outcome = await interleave(
        options.rounds,
        {
          baseline: side('raw', rawAppend, rawTable, async () => {
            await admin.query(`TRUNCATE ${rawTable} RESTART IDENTITY`);
          }),
          measured: side('fabula', fabulaAppend, `"${schema}".events`, async () => {
            await admin.query(`TRUNCATE "${schema}".events, "${schema}".streams`);
          }),
        },
        (s, round, figures) =>
          log(
            `${name} round ${round}/${options.rounds} ${s === 'baseline' ? 'raw   ' : 'fabula'}: ` +
              `${Math.round(figures.events_per_s!)} events/s, ${Math.round(figures.appends_per_s!)} appends/s`,
          ),
      );

      for (const metric of ['events_per_s', 'appends_per_s'] as const) {
        results.push(
          compare({
            name,
            metric,
            kind: 'throughput',
            measured: outcome.measured[metric]!,
            baselineSamples: outcome.baseline[metric]!,
            baseline: BASELINE,
            target: TARGET,
          }),
        );
      }
    } finally {
      await resources.close(closeStore);
      await resources.close(closePool);
      await resources.dropSchema(schema);
    }
  }

  // Events per second first (the headline), then appends per second, each in configuration order.
  results.sort((a, b) => Number(a.metric !== 'events_per_s') - Number(b.metric !== 'events_per_s'));
  return { benchmark: 'append', machine: machineInfo(ctx.postgresVersion), results };
}

const benchmark: Benchmark = {
  name: 'append',
  description: "Fabula's appends vs plain multi-row INSERTs of the same rows",
  needsPostgres: true,
  run,
};
export default benchmark;
