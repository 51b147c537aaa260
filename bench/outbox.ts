/**
 * `npm run bench -- outbox`: the NATS publisher (the event log as outbox) against raw JetStream publishes.
 * Starts its own nats-server (JetStream, scratch folder; /usr/sbin/nats-server or NATS_SERVER_BIN).
 *
 * 1. Publishing rate. EVENTS events (OUTBOX_EVENTS, default 50,000) are in the store, appended 5 at a time
 *    to 1,000 streams taken round-robin (a batch of 500 holds ~100 streams; the publisher publishes a
 *    stream's events one after the other, so this shape matters).
 *    Baseline: the same messages (subject, body, headers, Nats-Msg-Id, built once beforehand), published
 *    from this process by raw `js.publish`, 500 in flight, awaiting the PubAcks of each 500. Measured: a
 *    new publisher consumer run from position 0 until its checkpoint reaches the head (it also reads the
 *    events, builds the messages and moves its lease-fenced checkpoint). Each round publishes to a fresh
 *    JetStream stream (so nothing is a duplicate). Rounds alternate; medians. Target: ratio >= 0.8.
 * 2. Latency at a steady 500 appends/s: from an append being acknowledged to a JetStream consumer (an
 *    ordered consumer in this process) receiving the event. Target: p99 < 50 ms.
 */
import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import {
  connectNats,
  createConsumers,
  natsPublisher,
  PUBLISH_BATCH,
  openEventStore,
  type EventStore,
  type RecordedEvent,
} from '../src/index.js';
import { launchNatsServer, natsServerBinary } from '../test/support/nats-process.js';
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
  type SkippedReport,
} from './harness.js';
import fs from 'node:fs';

const EVENTS = Number(process.env.OUTBOX_EVENTS ?? 50_000);
const STREAMS = 1_000;
const IN_FLIGHT = 500;
const APPENDS_PER_S = 500;
const BASELINE = `raw js.publish of the same prebuilt messages from this process, ${IN_FLIGHT} in flight, same NATS server, same run`;

/** Appends of 5 events (a command's worth) to streams taken round-robin, 8 appends in flight. */
async function seed(store: EventStore) {
  const perAppend = 5;
  const appends = Math.ceil(EVENTS / perAppend);
  for (let a = 0; a < appends; a += 8) {
    await Promise.all(
      Array.from({ length: Math.min(8, appends - a) }, (_, k) => {
        const append = a + k;
        const count = Math.min(perAppend, EVENTS - append * perAppend);
        const stream = append % STREAMS;
        const events = Array.from({ length: count }, (_, j) => ({
          type: 'MoneyDeposited',
          data: { accountId: `a${stream}`, amount: append * perAppend + j + 1, note: 'seeded for the outbox benchmark' },
          metadata: { correlationId: crypto.randomUUID(), causationId: crypto.randomUUID() },
        }));
        return store.append(`account-${stream}`, events);
      }),
    );
  }
}

async function readAllEvents(store: EventStore): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for (;;) {
    const page = await store.readAll({ after: out.length ? out[out.length - 1]!.globalPosition : 0n, maxCount: 5_000 });
    out.push(...page);
    if (page.length < 5_000) return out;
  }
}

async function run(ctx: BenchContext): Promise<BenchReport | SkippedReport> {
  const { options, databaseUrl, log } = ctx;
  if (!fs.existsSync(natsServerBinary))
    return { benchmark: 'outbox', skipped: `no nats-server at ${natsServerBinary} (set NATS_SERVER_BIN)` };
  const nats = await launchNatsServer();
  ctx.onCleanup(() => nats.close());
  const nc: NatsConnection = await connectNats(nats.url);
  ctx.onCleanup(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const js: JetStreamClient = jetstream(nc);
  const schema = randomSchemaName('bench');
  const store = await openEventStore({ connectionString: databaseUrl, schema, maxConnections: 4 });
  ctx.onCleanup(async () => {
    await store.close().catch(() => {});
    const admin = await openEventStore({ connectionString: databaseUrl, schema, maxConnections: 1 });
    await admin.sql.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await admin.close();
  });
  log(`publishing rate: seeding ${EVENTS.toLocaleString('en-US')} events over ${STREAMS} streams in schema ${schema}`);
  await seed(store);
  const head = await store.headPosition();
  const events = await readAllEvents(store);

  const raw = async (round: number) => {
    const prefix = `raw${round}`;
    const publisher = natsPublisher({ prefix }); // only to build the very same messages
    await publisher.start(nc);
    const messages = events.map((e) => publisher.toMessage(e)!);
    const started = performance.now();
    for (let i = 0; i < messages.length; i += IN_FLIGHT) {
      await Promise.all(
        messages.slice(i, i + IN_FLIGHT).map((m) => {
          const h = natsHeaders();
          for (const [k, v] of m.headers) h.set(k, v);
          return js.publish(m.subject, m.data, { msgID: m.msgId, headers: h });
        }),
      );
    }
    const perSecond = messages.length / ((performance.now() - started) / 1000);
    await jsm.streams.delete(publisher.streamName);
    return perSecond;
  };

  const measured = async (round: number) => {
    const prefix = `pub${round}`;
    const publisher = await natsPublisher({ prefix, name: `outbox-r${round}` }).start(nc);
    const consumers = createConsumers([publisher.consumer], { batchSize: PUBLISH_BATCH });
    const started = performance.now();
    await consumers.start(store);
    await consumers.waitFor(publisher.consumer.name, head, { timeout: 600_000 });
    const perSecond = EVENTS / ((performance.now() - started) / 1000);
    await consumers.stop();
    await jsm.streams.delete(publisher.streamName);
    return perSecond;
  };

  const outcome = await interleave(
    options.rounds,
    {
      baseline: async (round) => ({ events_per_s: await raw(round) }),
      measured: async (round) => ({ events_per_s: await measured(round) }),
    },
    (side, round, figures) =>
      log(
        `rate round ${round}/${options.rounds} ${side === 'baseline' ? 'raw js.publish' : 'publisher     '}: ${Math.round(figures.events_per_s!)} events/s`,
      ),
  );
  const results = [
    compare({
      name: `publish ${EVENTS.toLocaleString('en-US')} events over ${STREAMS} streams`,
      metric: 'events_per_s',
      kind: 'throughput',
      measured: outcome.measured.events_per_s!,
      baselineSamples: outcome.baseline.events_per_s!,
      baseline: BASELINE,
      target: '>= 0.8',
    }),
  ];

  // Latency: a live publisher, a JetStream consumer in this process, appends at a steady rate.
  const publisher = await natsPublisher({ prefix: 'lag', name: 'outbox-lag' }).start(nc);
  const consumers = createConsumers([publisher.consumer], { batchSize: PUBLISH_BATCH });
  await consumers.start(store);
  await consumers.waitFor('outbox-lag', head, { timeout: 600_000 });
  const p50s: number[] = [];
  const p99s: number[] = [];
  const seconds = Math.max(options.seconds, 2);
  for (let round = 1; round <= options.rounds; round++) {
    const { lags, rate } = await measureLatency(store, js, publisher.streamName, seconds);
    const sorted = lags.sort((a, b) => a - b);
    const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
    p50s.push(pct(50));
    p99s.push(pct(99));
    log(
      `latency round ${round}/${options.rounds}: ${Math.round(rate)} appends/s, p50 ${pct(50).toFixed(1)} ms, p99 ${pct(99).toFixed(1)} ms`,
    );
  }
  await consumers.stop();
  results.push(
    absolute({
      name: `append → JetStream consumer at ${APPENDS_PER_S} appends/s, p50`,
      metric: 'ms',
      samples: p50s,
      target: '< 50 ms',
      met: (v) => v < 50,
    }),
    absolute({
      name: `append → JetStream consumer at ${APPENDS_PER_S} appends/s, p99`,
      metric: 'ms',
      samples: p99s,
      target: 'p99 < 50 ms',
      met: (v) => v < 50,
    }),
  );
  return { benchmark: 'outbox', machine: machineInfo(ctx.postgresVersion), results };
}

/** Appends one event every 2 ms (open loop); latency = acknowledged append → received by a JetStream consumer. */
async function measureLatency(store: EventStore, js: JetStreamClient, stream: string, seconds: number) {
  const acknowledged = new Map<string, number>();
  const received = new Set<string>();
  const lags: number[] = [];
  const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.New });
  const messages = await consumer.consume();
  const reading = (async () => {
    for await (const m of messages) {
      const position = m.headers?.get('Fabula-Global-Position') ?? '';
      const at = acknowledged.get(position);
      if (at === undefined) received.add(position);
      else {
        lags.push(performance.now() - at);
        acknowledged.delete(position);
      }
    }
  })();
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
      store.append(`probe-${sent % 100}`, [{ type: 'Probe', data: { n: sent } }]).then((r) => {
        const position = r.lastPosition.toString();
        if (received.delete(position))
          lags.push(0); // received before the acknowledgement reached us
        else acknowledged.set(position, performance.now());
      }),
    );
  }
  await Promise.all(inFlight);
  const rate = sent / ((performance.now() - started) / 1000);
  const deadline = performance.now() + 30_000;
  while (acknowledged.size > 0 && performance.now() < deadline) await sleep(10);
  messages.stop();
  await reading;
  return { lags, rate };
}

const benchmark: Benchmark = {
  name: 'outbox',
  description:
    'NATS publisher (event log as outbox) vs raw js.publish of the same messages; append → JetStream consumer latency at 500 appends/s',
  needsPostgres: true,
  run,
};
export default benchmark;
