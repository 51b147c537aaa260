/**
 * `npm run bench -- read [--size N] [--refill]`: `store.readStream(id)` of a 5-event stream on the kept
 * filled Fabula store (`bench_store_<N>`, `--size` streams of 5 events, default 1,000,000) against the
 * same reads on a nearly empty store (a fresh schema filled with EMPTY_STREAMS streams of 5 events by the
 * same `fillStore`, dropped at the end): does reading stay flat with the store's size?
 *
 * Each round samples SAMPLE random `filler-<i>` streams still at exactly 5 events (one query, before the
 * round; the append benchmark extends some filled streams), and each of `concurrency` client loops (1 and
 * 16; pool size = concurrency on both sides) reads random ones of them, one `readStream` after the
 * other, checking that each returned its 5 events. Sides alternate (filled, empty, filled, ...) and the medians are compared.
 */
import { openEventStore, type EventStore } from '../src/index.js';
import { fillStore } from '../src/testing/fill-store.js';
import { FILL_PREFIX, ensureFabulaFilled, fabulaSize, keptSchemas } from './fill.js';
import {
  EVENTS_PER_FILLED_STREAM,
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

const CONCURRENCY = [1, 16] as const;
/** Streams in the "empty" store: enough to read random ones, few enough to stay in cache. */
const EMPTY_STREAMS = 1000;
const BASELINE = `Fabula store.readStream of a 5-event stream on a nearly empty store (${EMPTY_STREAMS} streams), same pool size, same server, same run: flat with size`;

/** Streams sampled per round: random `filler-<i>` still at exactly 5 events (the append benchmark extends some). */
const SAMPLE = 4096;

async function fiveEventStreams(store: EventStore, streams: number): Promise<string[]> {
  const ids = Array.from({ length: Math.min(SAMPLE, streams) }, () => `${FILL_PREFIX}-${Math.floor(Math.random() * streams)}`);
  const rows = await store.sql.query<{ stream_id: string }>(
    `SELECT stream_id FROM "${store.schema}".streams WHERE stream_id = ANY($1) AND version = $2`,
    [ids, EVENTS_PER_FILLED_STREAM],
  );
  if (rows.length === 0) throw new Error(`no 5-event filler streams found in ${store.schema}`);
  return rows.map((r) => r.stream_id);
}

async function readRound(
  store: EventStore,
  streams: number,
  args: { concurrency: number; warmup: number; seconds: number },
): Promise<RoundFigures> {
  const ids = await fiveEventStreams(store, streams);
  const { counted, elapsedS } = await runClientLoops({
    ...args,
    client: () => async () => {
      const id = ids[Math.floor(Math.random() * ids.length)]!;
      const events = await store.readStream(id);
      if (events.length !== EVENTS_PER_FILLED_STREAM)
        throw new Error(`${id}: read ${events.length} events, expected ${EVENTS_PER_FILLED_STREAM}`);
    },
  });
  return { reads_per_s: counted / elapsedS };
}

async function run(ctx: BenchContext): Promise<BenchReport> {
  const { options, databaseUrl, log } = ctx;
  const resources = await benchResources(ctx);
  await ensureFabulaFilled(ctx, resources.admin);
  const filledSchema = keptSchemas(options.size).fabula;
  const emptySchema = randomSchemaName('bench_read_empty');
  resources.ownSchema(emptySchema);
  const emptyStreams = Math.max(1, Math.min(EMPTY_STREAMS, options.size || EMPTY_STREAMS));
  {
    const store = await openEventStore({ connectionString: databaseUrl, schema: emptySchema, maxConnections: 1 });
    try {
      await fillStore(store, { streams: emptyStreams, eventsPerStream: EVENTS_PER_FILLED_STREAM, prefix: FILL_PREFIX });
    } finally {
      await store.close();
    }
  }

  const results: MeasuredResult[] = [];
  for (const concurrency of CONCURRENCY) {
    const name = `readStream 5 events conc=${concurrency} filled vs empty`;
    const filled = await openEventStore({ connectionString: databaseUrl, schema: filledSchema, maxConnections: concurrency });
    const closeFilled = resources.own(() => filled.close());
    const empty = await openEventStore({ connectionString: databaseUrl, schema: emptySchema, maxConnections: concurrency });
    const closeEmpty = resources.own(() => empty.close());
    try {
      const size = await fabulaSize(filled);
      const filledStreams = options.size > 0 ? options.size : emptyStreams;
      if (options.size === 0)
        await fillStore(filled, { streams: emptyStreams, eventsPerStream: EVENTS_PER_FILLED_STREAM, prefix: FILL_PREFIX });
      const args = { concurrency, warmup: options.warmup, seconds: options.seconds };
      const outcome = await interleave(
        options.rounds,
        { filled: () => readRound(filled, filledStreams, args), empty: () => readRound(empty, emptyStreams, args) },
        (side, round, figures) =>
          log(`${name} round ${round}/${options.rounds} ${side.padEnd(6)}: ${Math.round(figures.reads_per_s!)} reads/s`),
      );
      results.push(
        compare({
          name,
          metric: 'reads_per_s',
          kind: 'throughput',
          measured: outcome.filled.reads_per_s!,
          baselineSamples: outcome.empty.reads_per_s!,
          baseline: BASELINE,
          target: '>= 0.9',
          store: size,
        }),
      );
    } finally {
      await resources.close(closeFilled);
      await resources.close(closeEmpty);
    }
  }
  return { benchmark: 'read', machine: machineInfo(ctx.postgresVersion), results };
}

const benchmark: Benchmark = {
  name: 'read',
  description: 'readStream of 5-event streams on the filled store vs a nearly empty store',
  needsPostgres: true,
  run,
};
export default benchmark;
