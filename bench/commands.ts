/**
 * `npm run bench -- commands [--size N] [--refill]`: order commands per second through Fabula's
 * `CommandBus.execute` on a store of realistic size (the kept filled store `bench_store_<N>` of
 * bench/fill.ts, `--size` other streams, default 1,000,000), against, in the same run on the same server:
 *
 * - Emmett 0.42 `CommandHandler({ evolve, initialState, retry: { onVersionConflict: true } })` on the
 *   kept Emmett store `bench_emmett_<N>` (same size), called as `handle(store, 'order-<id>', (state) =>
 *   decide(command, state))`: it reads the stream (aggregateStream), folds it with `evolve`, decides,
 *   and appends with the version it read as expected version;
 * - raw `store.append('order-<id>', [event], { expectedVersion })` of the same events on the same filled
 *   Fabula store (same type, data, schema version, metadata keys correlationId, causationId,
 *   commandType; 'no_stream' for the OrderPlaced, then the exact version the loop knows);
 * - Fabula `CommandBus.execute` on an EMPTY store (a fresh schema, dropped at the end).
 *
 * Both command sides use ONE decider, examples/orders/decider.ts (decide, evolve, initialState): Fabula
 * wires it as `registerOrders({ store, bus })` does (DeciderRepository, no snapshots, retries on version
 * conflict: the bus's default policy), Emmett gets the same decide/evolve/initialState.
 *
 * Each of `concurrency` client loops (1 and 16; pool size = concurrency on every side) places a new order
 * (PlaceOrder, one item) and then sends COMMANDS_PER_ORDER - 1 AddItem commands to it (a new sku each),
 * then moves to a new order; so most commands load and extend an existing stream of up to 49 events.
 * Every command writes exactly one event. After each round the events stored in the round's order
 * streams must equal the commands acknowledged. Sides run round-robin and the medians are compared.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { CommandHandler } from '@event-driven-io/emmett';
import { CommandBus, initialStateOf, openEventStore, type EventRegistry, type EventStore } from '../src/index.js';
import { orderDecider, registerOrders, type OrderCommand, type OrderEvent, type OrderState } from '../examples/orders/index.js';
import { emmettEventCount, openEmmett, type EmmettSide } from './emmett.js';
import { ensureEmmettFilled, ensureFabulaFilled, fabulaSize, keptSchemas } from './fill.js';
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

const CONCURRENCY = [1, 16] as const;
/** A client loop moves on to a new order after this many commands (1 PlaceOrder + 49 AddItem). */
const COMMANDS_PER_ORDER = 50;

const BASELINES = {
  emmett:
    'Emmett 0.42 CommandHandler (same decide/evolve/initialState, retry on version conflict), same commands, same server, same run (filled Emmett store of the same size, same pool size)',
  raw: 'raw store.append of the same events (one event per append, same metadata keys, same expected versions) on the same filled store and pool, same run',
  empty: 'Fabula CommandBus.execute on an EMPTY store (fresh schema), same commands, same pool size, same run: flat with size',
};

interface OrderStep {
  command: OrderCommand;
  /** The event it writes. */
  event: OrderEvent;
}

/** The `i`-th command (0-based) for order `orderId`. */
function stepAt(orderId: string, i: number): OrderStep {
  if (i === 0) {
    const items = [{ sku: 'SKU-00000', quantity: 1, priceCents: 499 }];
    const customerId = `customer-${orderId}`;
    return {
      command: { type: 'PlaceOrder', data: { orderId, customerId, items } },
      event: { type: 'OrderPlaced', data: { orderId, customerId, items, totalCents: 499 } },
    };
  }
  const item = { sku: `SKU-${String(i).padStart(5, '0')}`, quantity: (i % 5) + 1, priceCents: 199 + i * 10 };
  return { command: { type: 'AddItem', data: { orderId, item } }, event: { type: 'ItemAdded', data: { orderId, item } } };
}

/** Carries out step `i` on order `orderId`, whose stream the caller knows to be at version `i`. */
type RunOnce = (orderId: string, i: number, step: OrderStep) => Promise<void>;

interface CommandSide {
  label: string;
  run: RunOnce;
  /** Events stored in `streamIds`. */
  count(streamIds: string[]): Promise<number>;
}

const streamIdOf = (orderId: string) => `order-${orderId}`;

function fabulaCounter(store: EventStore) {
  return async (ids: string[]) => {
    const [row] = await store.sql.query<{ n: string }>(
      `SELECT count(*) AS n FROM "${store.schema}".events WHERE stream_id = ANY($1)`,
      [ids],
    );
    return Number(row!.n);
  };
}

function busSide(label: string, store: EventStore): CommandSide {
  const bus = new CommandBus({ store });
  registerOrders({ store, bus });
  return {
    label,
    async run(orderId, i, step) {
      const result = await bus.execute(step.command.type, step.command.data);
      if (result.nextExpectedVersion !== i + 1 || result.replayed || result.events.length !== 1)
        throw new Error(
          `${label} ${step.command.type} on order-${orderId}: version ${result.nextExpectedVersion} after the command, expected ${i + 1}`,
        );
    },
    count: fabulaCounter(store),
  };
}

function rawSide(store: EventStore, registry: EventRegistry): CommandSide {
  return {
    label: 'raw',
    async run(orderId, i, step) {
      const streamId = streamIdOf(orderId);
      const result = await store.append(
        streamId,
        [
          {
            type: step.event.type,
            data: step.event.data,
            schemaVersion: registry.definition(step.event.type).version,
            metadata: { correlationId: randomUUID(), causationId: randomUUID(), commandType: step.command.type },
          },
        ],
        { expectedVersion: i === 0 ? 'no_stream' : i },
      );
      if (result.nextExpectedVersion !== i + 1)
        throw new Error(`raw ${streamId}: at version ${result.nextExpectedVersion} after the append, expected ${i + 1}`);
    },
    count: fabulaCounter(store),
  };
}

function emmettSide(emmett: EmmettSide, schema: string, admin: pg.Client): CommandSide {
  const handle = CommandHandler<OrderState, OrderEvent>({
    evolve: (state, event) => orderDecider.evolve(state, event),
    initialState: () => initialStateOf(orderDecider),
    retry: { onVersionConflict: true },
  });
  return {
    label: 'emmett',
    async run(orderId, i, step) {
      const result = await handle(emmett.store, streamIdOf(orderId), (state) => {
        const decided = orderDecider.decide(step.command, state);
        return Array.isArray(decided) ? [...(decided as OrderEvent[])] : (decided as OrderEvent);
      });
      if (result.nextExpectedStreamVersion !== BigInt(i + 1) || result.newEvents.length !== 1)
        throw new Error(
          `emmett ${step.command.type} on order-${orderId}: version ${result.nextExpectedStreamVersion} after the command, expected ${i + 1}`,
        );
    },
    count: (ids) => emmettEventCount(admin, schema, ids),
  };
}

async function runRound(
  side: CommandSide,
  args: { concurrency: number; tag: string; warmup: number; seconds: number },
): Promise<RoundFigures> {
  const touched: string[] = [];
  const { counted, total, elapsedS } = await runClientLoops({
    ...args,
    client: (client) => {
      let seq = 0;
      let orderId = '';
      return async () => {
        const i = seq % COMMANDS_PER_ORDER;
        if (i === 0) {
          orderId = `${args.tag}-c${client}-o${seq / COMMANDS_PER_ORDER}`;
          touched.push(streamIdOf(orderId));
        }
        await side.run(orderId, i, stepAt(orderId, i));
        seq++;
      };
    },
  });
  const stored = await side.count(touched);
  if (stored !== total) throw new Error(`${side.label} ${args.tag}: ${stored} events in the round's orders, expected ${total}`);
  return { per_s: counted / elapsedS };
}

async function run(ctx: BenchContext): Promise<BenchReport> {
  const { options, databaseUrl, log } = ctx;
  const resources = await benchResources(ctx);
  const { admin } = resources;
  const runId = Math.random().toString(36).slice(2, 8);
  await ensureEmmettFilled(ctx, admin);
  await ensureFabulaFilled(ctx, admin);
  const kept = keptSchemas(options.size);
  const emptySchema = randomSchemaName('bench_cmd_empty');
  resources.ownSchema(emptySchema);

  const results: MeasuredResult[] = [];
  for (const concurrency of CONCURRENCY) {
    const name = `order commands conc=${concurrency}`;
    log(`${name}: pool size ${concurrency} on every side`);
    const closers: (() => Promise<void>)[] = [];
    const closeAll = resources.own(async () => {
      for (const close of closers.splice(0)) await close().catch(() => {});
    });
    try {
      const filled = await openEventStore({ connectionString: databaseUrl, schema: kept.fabula, maxConnections: concurrency });
      closers.push(() => filled.close());
      const empty = await openEventStore({ connectionString: databaseUrl, schema: emptySchema, maxConnections: concurrency });
      closers.push(() => empty.close());
      const emmett = await openEmmett(databaseUrl, kept.emmett, concurrency);
      closers.push(() => emmett.close());
      const size = await fabulaSize(filled);

      const fabula = busSide('fabula', filled);
      const fabulaEmpty = busSide('fabula-empty', empty);
      const { registry } = registerOrders({ store: filled, bus: new CommandBus({ store: filled }) });
      const raw = rawSide(filled, registry);
      const emmettCommands = emmettSide(emmett, kept.emmett, admin);

      const round = (side: CommandSide) => (r: number) =>
        runRound(side, {
          concurrency,
          tag: `b${runId}-${side.label}-c${concurrency}-r${r}`,
          warmup: options.warmup,
          seconds: options.seconds,
        });
      const outcome = await interleave(
        options.rounds,
        { raw: round(raw), emmett: round(emmettCommands), fabula: round(fabula), 'fabula-empty': round(fabulaEmpty) },
        (side, r, figures) => log(`${name} round ${r}/${options.rounds} ${side.padEnd(13)}: ${Math.round(figures.per_s!)}/s`),
      );
      const pairs = [
        { side: 'emmett' as const, baseline: BASELINES.emmett, target: '>= 1.5', label: 'vs Emmett' },
        // One command is a read and an append; at concurrency 1 that is two round trips against one.
        {
          side: 'raw' as const,
          baseline: BASELINES.raw,
          target: concurrency === 1 ? '>= 0.5' : '>= 0.6',
          label: 'vs raw appends',
        },
        { side: 'fabula-empty' as const, baseline: BASELINES.empty, target: '>= 0.9', label: 'filled vs empty' },
      ];
      for (const pair of pairs) {
        results.push(
          compare({
            name: `${name} ${pair.label}`,
            metric: 'commands_per_s',
            kind: 'throughput',
            measured: outcome.fabula.per_s!,
            baselineSamples: outcome[pair.side].per_s!,
            baseline: pair.baseline,
            target: pair.target,
            store: size,
          }),
        );
      }
    } finally {
      await resources.close(closeAll);
    }
  }
  return { benchmark: 'commands', machine: machineInfo(ctx.postgresVersion), results };
}

const benchmark: Benchmark = {
  name: 'commands',
  description: 'Order commands/s through CommandBus.execute on a filled store vs Emmett 0.42, raw appends, an empty store',
  needsPostgres: true,
  run,
};
export default benchmark;
