/**
 * `npm run bench -- commands`: bank commands per second through `CommandBus.execute`, against raw
 * `store.append` calls writing the same events, on the same store, in the same run.
 *
 * Each of `concurrency` client loops works its own accounts: OpenAccount, then DepositMoney and
 * WithdrawMoney (every third command withdraws 50, the others deposit 100), moving to a fresh account
 * after COMMANDS_PER_ACCOUNT commands. Every command writes exactly one event.
 *
 * - Measured: `bus.execute(type, data)` with the bank wired by `registerBank({ store, bus })` (no snapshot
 *   policy): validate the command, look its id up (idempotency), load the account (snapshot lookup and
 *   replay of its stream, at most COMMANDS_PER_ACCOUNT - 1 events), decide, encode, append with the
 *   loaded version as expected version.
 * - Baseline: `store.append('account-<id>', [event], { expectedVersion })` of the same event: same type,
 *   data, schema version and metadata keys (correlationId, causationId, commandType); the store generates
 *   the id (the bus's ids are new too, so neither side pays an idempotency lookup); expected version
 *   'no_stream' for the AccountOpened and the exact version the loop knows after that, as the bus does.
 *
 * Each configuration gets its own store (a fresh schema, dropped at the end) with a pool of `concurrency`
 * connections. Its tables are emptied before every round; rounds alternate raw and bus (A B A B ...) and
 * the medians are reported.
 */
import { randomUUID } from 'node:crypto';
import { CommandBus, openEventStore, type EventRegistry, type EventStore } from '../src/index.js';
import { registerBank } from '../examples/bank/index.js';
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

const CONFIGURATIONS = [{ concurrency: 1 }, { concurrency: 16 }] as const;
/** A client loop moves on to a fresh account after this many commands (1 open + 99 deposits/withdrawals). */
const COMMANDS_PER_ACCOUNT = 100;
const TARGET = '>= 0.5';
const BASELINE =
  'raw store.append of the same events (one event per append, new ids, same metadata keys, same expected versions), same store and pool, same run';

interface BankCommand {
  type: 'OpenAccount' | 'DepositMoney' | 'WithdrawMoney';
  data: Record<string, unknown>;
  /** The event it writes. */
  event: { type: 'AccountOpened' | 'MoneyDeposited' | 'MoneyWithdrawn'; data: Record<string, unknown> };
}

/** The `i`-th command (0-based) against account `accountId`. */
function commandAt(accountId: string, i: number): BankCommand {
  if (i === 0) {
    const owner = `Owner ${accountId}`;
    return {
      type: 'OpenAccount',
      data: { accountId, owner, currency: 'EUR' },
      event: { type: 'AccountOpened', data: { accountId, owner, currency: 'EUR', overdraftLimit: 0 } },
    };
  }
  if (i % 3 === 0) {
    return {
      type: 'WithdrawMoney',
      data: { accountId, amount: 50 },
      event: { type: 'MoneyWithdrawn', data: { accountId, amount: 50 } },
    };
  }
  return {
    type: 'DepositMoney',
    data: { accountId, amount: 100 },
    event: { type: 'MoneyDeposited', data: { accountId, amount: 100 } },
  };
}

/** Carries out `command` on `account-<accountId>`, whose version the caller knows to be `version`. */
type RunOnce = (accountId: string, version: number, command: BankCommand) => Promise<void>;

interface RoundOutcome {
  figures: RoundFigures;
  /** Commands completed in the whole round, warm-up included: events the table must hold now. */
  total: number;
}

async function runRound(
  runOnce: RunOnce,
  args: { concurrency: number; prefix: string; warmup: number; seconds: number },
): Promise<RoundOutcome> {
  const { counted, total, elapsedS } = await runClientLoops({
    ...args,
    client: (client) => {
      let seq = 0;
      let accountId = '';
      return async () => {
        const i = seq % COMMANDS_PER_ACCOUNT;
        if (i === 0) accountId = `${args.prefix}-${client}-${seq / COMMANDS_PER_ACCOUNT}`;
        await runOnce(accountId, i, commandAt(accountId, i));
        seq++;
      };
    },
  });
  return { figures: { per_s: counted / elapsedS }, total };
}

function rawAppender(store: EventStore, registry: EventRegistry): RunOnce {
  return async (accountId, version, command) => {
    const streamId = `account-${accountId}`;
    const result = await store.append(
      streamId,
      [
        {
          type: command.event.type,
          data: command.event.data,
          schemaVersion: registry.definition(command.event.type).version,
          metadata: { correlationId: randomUUID(), causationId: randomUUID(), commandType: command.type },
        },
      ],
      { expectedVersion: version === 0 ? 'no_stream' : version },
    );
    if (result.nextExpectedVersion !== version + 1) {
      throw new Error(`${streamId}: at version ${result.nextExpectedVersion} after the append, expected ${version + 1}`);
    }
  };
}

function commandRunner(bus: CommandBus): RunOnce {
  return async (accountId, version, command) => {
    const result = await bus.execute(command.type, command.data);
    if (result.nextExpectedVersion !== version + 1 || result.attempts !== 1 || result.replayed || result.events.length !== 1) {
      throw new Error(
        `${command.type} on account-${accountId}: version ${result.nextExpectedVersion} after ${result.attempts} attempts (replayed: ${result.replayed}), expected ${version + 1} after 1`,
      );
    }
  };
}

async function run(ctx: BenchContext): Promise<BenchReport> {
  const { options, databaseUrl, log } = ctx;
  const runSchema = randomSchemaName('bench');

  const resources = await benchResources(ctx);
  const { admin } = resources;

  const results: MeasuredResult[] = [];
  for (const { concurrency } of CONFIGURATIONS) {
    const name = `bank commands conc=${concurrency}`;
    const schema = `${runSchema}_cmd_c${concurrency}`;
    log(`${name}: opening a store in schema ${schema}, pool size ${concurrency}`);
    resources.ownSchema(schema);
    const store = await openEventStore({ connectionString: databaseUrl, schema, maxConnections: concurrency });
    const closeStore = resources.own(() => store.close());

    try {
      const bus = new CommandBus({ store });
      const { registry } = registerBank({ store, bus });
      const count = async () =>
        Number((await admin.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".events`)).rows[0]!.n);

      const side =
        (label: 'raw' | 'bus', runOnce: RunOnce) =>
        async (round: number): Promise<RoundFigures> => {
          await admin.query(`TRUNCATE "${schema}".events, "${schema}".streams, "${schema}".snapshots`);
          const outcome = await runRound(runOnce, {
            concurrency,
            prefix: `${label}-r${round}`,
            warmup: options.warmup,
            seconds: options.seconds,
          });
          const rows = await count();
          if (rows !== outcome.total)
            throw new Error(`${name} ${label} round ${round}: ${rows} events stored, expected ${outcome.total}`);
          return outcome.figures;
        };

      const outcome = await interleave(
        options.rounds,
        { baseline: side('raw', rawAppender(store, registry)), measured: side('bus', commandRunner(bus)) },
        (s, round, figures) =>
          log(
            `${name} round ${round}/${options.rounds} ${s === 'baseline' ? 'raw appends' : 'commands   '}: ${Math.round(figures.per_s!)}/s`,
          ),
      );
      results.push(
        compare({
          name,
          metric: 'commands_per_s',
          kind: 'throughput',
          measured: outcome.measured.per_s!,
          baselineSamples: outcome.baseline.per_s!,
          baseline: BASELINE,
          target: TARGET,
        }),
      );
    } finally {
      await resources.close(closeStore);
      await resources.dropSchema(schema);
    }
  }
  return { benchmark: 'commands', machine: machineInfo(ctx.postgresVersion), results };
}

const benchmark: Benchmark = {
  name: 'commands',
  description: 'Bank commands/s through CommandBus.execute vs raw appends of the same events',
  needsPostgres: true,
  run,
};
export default benchmark;
