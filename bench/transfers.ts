/**
 * `npm run bench -- transfers [--size N] [--rounds N]`: money transfers per second end to end through
 * the transfer saga (examples/transfers: TransferMoney, then the process debits, credits and records
 * the end through the command bus, each step durable), on the kept filled store of `--size` streams
 * (bench/fill.ts), against, in the same run on the same store and pool:
 *
 * - the same four commands per transfer sent directly by the client, one after the other
 *   (TransferMoney, SendTransfer, ReceiveTransfer, CompleteTransfer): what the saga does, without its
 *   durability (no outbox, no process state, no recovery after a crash).
 *
 * Each round uses fresh accounts (100 per side, funded so no debit is refused) and TRANSFERS transfers
 * from 16 clients; the saga round ends when every transfer's stream recorded its end. Then latency: at
 * LATENCY_RATE transfers/s for a few seconds, from `TransferRequested` to `TransferCompleted` by the
 * database's clock (recorded_at), p50 and p99.
 */
import { CommandBus, createProcesses, EventRegistry, openEventStore, type EventStore } from '../src/index.js';
import { registerBank, registerBankEvents } from '../examples/bank/index.js';
import { registerTransferEvents, registerTransfers, transferProcess } from '../examples/transfers/index.js';
import { ensureFabulaFilled, fabulaSize, keptSchemas } from './fill.js';
import {
  absolute,
  benchResources,
  compare,
  interleave,
  machineInfo,
  median,
  sleep,
  type Benchmark,
  type BenchContext,
  type BenchReport,
  type MeasuredResult,
} from './harness.js';

const TRANSFERS = 400;
const CLIENTS = 16;
const ACCOUNTS = 100;
const LATENCY_RATE = 50;
const LATENCY_SECONDS = 8;

const ENDED = ['TransferCompleted', 'TransferRejected', 'TransferCompensated'];

function wire(store: EventStore) {
  const registry = registerTransferEvents(registerBankEvents(new EventRegistry()));
  const bus = new CommandBus({ store });
  registerBank({ store, bus, registry });
  registerTransfers({ store, bus, registry });
  return { bus, registry };
}

async function openAccounts(bus: CommandBus, prefix: string) {
  const ids = Array.from({ length: ACCOUNTS }, (_, i) => `${prefix}-${i}`);
  await Promise.all(
    ids.map(async (accountId) => {
      await bus.execute('OpenAccount', { accountId, owner: 'bench', currency: 'EUR' });
      await bus.execute('DepositMoney', { accountId, amount: 1_000_000_000 });
    }),
  );
  return ids;
}

function transferAt(accounts: string[], tag: string, i: number) {
  const from = i % ACCOUNTS;
  const to = (from + 1 + (i % (ACCOUNTS - 1))) % ACCOUNTS;
  return { transferId: `${tag}-${i}`, fromAccountId: accounts[from]!, toAccountId: accounts[to]!, amount: 1 + (i % 50) };
}

async function endedCount(store: EventStore, ids: string[]): Promise<number> {
  const rows = await store.sql.query<{ n: string }>(
    `SELECT count(*) AS n FROM "${store.schema}".events WHERE stream_id = ANY($1) AND event_type = ANY($2)`,
    [ids, ENDED],
  );
  return Number(rows[0]!.n);
}

async function clients(count: number, total: number, send: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: count }, async () => {
      while (next < total) await send(next++);
    }),
  );
}

async function run(ctx: BenchContext): Promise<BenchReport> {
  const { options, databaseUrl, log } = ctx;
  const resources = await benchResources(ctx);
  await ensureFabulaFilled(ctx, resources.admin);
  const runId = Math.random().toString(36).slice(2, 8);
  const store = await openEventStore({
    connectionString: databaseUrl,
    schema: keptSchemas(options.size).fabula,
    maxConnections: CLIENTS,
  });
  const { bus, registry } = wire(store);
  const processes = await createProcesses([transferProcess({ creditTimeoutMs: 600_000 })], { commands: bus, registry }).start(
    store,
  );
  const closeAll = resources.own(async () => {
    await processes.stop();
    await store.close();
  });
  const results: MeasuredResult[] = [];
  try {
    const size = await fabulaSize(store);
    const outcome = await interleave(
      options.rounds,
      {
        direct: async (round) => {
          const tag = `bt${runId}-direct-r${round}`;
          const accounts = await openAccounts(bus, tag);
          const started = performance.now();
          await clients(CLIENTS, TRANSFERS, async (i) => {
            const t = transferAt(accounts, tag, i);
            const money = (accountId: string) => ({ accountId, amount: t.amount, transferId: t.transferId });
            await bus.execute('TransferMoney', t);
            await bus.execute('SendTransfer', money(t.fromAccountId));
            await bus.execute('ReceiveTransfer', money(t.toAccountId));
            await bus.execute('CompleteTransfer', { transferId: t.transferId });
          });
          return { per_s: TRANSFERS / ((performance.now() - started) / 1000) };
        },
        saga: async (round) => {
          const tag = `bt${runId}-saga-r${round}`;
          const accounts = await openAccounts(bus, tag);
          const ids = Array.from({ length: TRANSFERS }, (_, i) => `transfer-${tag}-${i}`);
          const started = performance.now();
          await clients(CLIENTS, TRANSFERS, async (i) => {
            await bus.execute('TransferMoney', transferAt(accounts, tag, i));
          });
          while ((await endedCount(store, ids)) < TRANSFERS) await sleep(20);
          const elapsed = (performance.now() - started) / 1000;
          const completed = await store.sql.query<{ n: string }>(
            `SELECT count(*) AS n FROM "${store.schema}".events WHERE stream_id = ANY($1) AND event_type = 'TransferCompleted'`,
            [ids],
          );
          if (Number(completed[0]!.n) !== TRANSFERS) throw new Error(`saga round ${round}: not every transfer completed`);
          return { per_s: TRANSFERS / elapsed };
        },
      },
      (side, r, figures) => log(`transfers round ${r}/${options.rounds} ${side.padEnd(6)}: ${Math.round(figures.per_s!)}/s`),
    );
    results.push(
      compare({
        name: `transfers end to end, ${CLIENTS} clients`,
        metric: 'transfers_per_s',
        kind: 'throughput',
        measured: outcome.saga.per_s!,
        baselineSamples: outcome.direct.per_s!,
        baseline:
          'the same 4 commands per transfer sent directly by the clients (TransferMoney, SendTransfer, ReceiveTransfer, CompleteTransfer), no saga, same store and pool, same run',
        target: '>= 0.5',
        store: size,
      }),
    );

    // Latency at a steady rate: request to completion, by the database's clock.
    const tag = `bt${runId}-latency`;
    const accounts = await openAccounts(bus, tag);
    const total = LATENCY_RATE * LATENCY_SECONDS;
    const started = performance.now();
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < total; i++) {
      const due = started + (i * 1000) / LATENCY_RATE;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      sends.push(bus.execute('TransferMoney', transferAt(accounts, tag, i)));
    }
    await Promise.all(sends);
    const ids = Array.from({ length: total }, (_, i) => `transfer-${tag}-${i}`);
    while ((await endedCount(store, ids)) < total) await sleep(20);
    const rows = await store.sql.query<{ ms: number }>(
      `SELECT (extract(epoch FROM max(recorded_at) - min(recorded_at)) * 1000)::float8 AS ms
         FROM "${store.schema}".events WHERE stream_id = ANY($1) GROUP BY stream_id`,
      [ids],
    );
    const latencies = rows.map((r) => r.ms).sort((a, b) => a - b);
    const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
    log(
      `latency at ${LATENCY_RATE} transfers/s: p50 ${p(0.5).toFixed(1)} ms, p99 ${p(0.99).toFixed(1)} ms, median ${median(latencies).toFixed(1)}`,
    );
    results.push(
      absolute({
        name: `transfer latency p50 at ${LATENCY_RATE}/s (request to completion, 4 commands)`,
        metric: 'ms',
        samples: [p(0.5)],
        target: 'p50 < 100 ms',
        met: (v) => v < 100,
      }),
      absolute({
        name: `transfer latency p99 at ${LATENCY_RATE}/s (request to completion, 4 commands)`,
        metric: 'ms',
        samples: [p(0.99)],
        target: 'p99 < 250 ms',
        met: (v) => v < 250,
      }),
    );
  } finally {
    await resources.close(closeAll);
  }
  return { benchmark: 'transfers', machine: machineInfo(ctx.postgresVersion), results };
}

const benchmark: Benchmark = {
  name: 'transfers',
  description: 'Money transfers/s end to end through the transfer saga vs the same commands sent directly; latency at 50/s',
  needsPostgres: true,
  run,
};
export default benchmark;
