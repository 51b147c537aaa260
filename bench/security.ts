/**
 * `npm run bench -- security [--size N]`: the cost of issue 12's protections on the write and read
 * paths, on the kept filled store (`bench_store_<N>`, default 1,000,000 streams):
 *
 * - secured: a tenant's view of the store (`store.forTenant`, so every statement runs under the
 *   restricted role with row-level security forced) opened with personal-data protection (the bank's
 *   `AccountOpened.owner` encrypted under a per-subject key, AES-256-GCM);
 * - tenant: the same tenant's view without personal-data protection (row-level security alone);
 * - plain: the same store's system view, opened without protection (the owner, row-level security
 *   bypassed), the same events: the baseline of both.
 *
 * Workloads at 16 concurrent clients (pool of 16 each side): appends opening a new account (a new stream
 * and a new subject, whose data key is created: the worst case for encryption), appends of a deposit
 * to an account opened before (known subject), and `readStream` of 5-event account streams written
 * before (decrypting the owner). Sides alternate (plain, tenant, secured, plain, ...); medians are compared.
 * Target: secured >= 0.8 of plain (issue 12).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { EventRegistry, masterKey, openEventStore, staticKeyProvider, type EventStore } from '../src/index.js';
import { registerBankEvents } from '../examples/bank/events.js';
import { ensureFabulaFilled, fabulaSize, keptSchemas } from './fill.js';
import {
  benchResources,
  compare,
  interleave,
  machineInfo,
  runClientLoops,
  type Benchmark,
  type BenchContext,
  type BenchReport,
  type MeasuredResult,
  type RoundFigures,
} from './harness.js';

const CONCURRENCY = 16;
/** Accounts each side opens before measuring, to deposit to and read (5 events each). */
const PREPARED_ACCOUNTS = 2000;
const TENANT = 'bench-tenant';
/** The same every run (the kept store's data keys are wrapped under it); a benchmark's, not a secret. */
const BENCH_MASTER_KEY = masterKey(createHash('sha256').update('fabula bench master key').digest('base64'));
const BASELINE =
  "the same operation on the same store's system view without personal-data protection (no row-level security, no encryption), same events, same pool size, same server, same run";

const opened = (accountId: string) => ({
  type: 'AccountOpened',
  schemaVersion: 2,
  data: { accountId, owner: `Owner ${accountId} of Example Street 1`, currency: 'EUR', overdraftLimit: 0 },
});
const deposited = (accountId: string) => ({ type: 'MoneyDeposited', data: { accountId, amount: 5 } });

interface Side {
  store: EventStore;
  prefix: string;
  accounts: string[];
  versions: Map<string, number>;
}

async function prepare(store: EventStore, prefix: string, log: (m: string) => void): Promise<Side> {
  const accounts: string[] = [];
  const run = `${prefix}${randomBytes(4).toString('hex')}`;
  for (let i = 0; i < PREPARED_ACCOUNTS; i += 100) {
    await Promise.all(
      Array.from({ length: 100 }, async (_, j) => {
        const id = `${run}-${i + j}`;
        await store.append(`account-${id}`, [opened(id), deposited(id), deposited(id), deposited(id), deposited(id)], {
          expectedVersion: 'no_stream',
        });
        accounts.push(id);
      }),
    );
  }
  log(`prepared ${PREPARED_ACCOUNTS} accounts of 5 events (${prefix})`);
  return { store, prefix: run, accounts, versions: new Map(accounts.map((a) => [a, 5])) };
}

type Workload = 'open' | 'deposit' | 'read';

async function round(side: Side, workload: Workload, args: { warmup: number; seconds: number }): Promise<RoundFigures> {
  const { store, accounts } = side;
  const { counted, elapsedS } = await runClientLoops({
    concurrency: CONCURRENCY,
    ...args,
    client: (index) => {
      let n = 0;
      // Each client deposits to its own share of the accounts: exact expected versions, no conflicts.
      const mine = accounts.filter((_, i) => i % CONCURRENCY === index);
      return async () => {
        n++;
        if (workload === 'open') {
          const id = `${side.prefix}-new-${randomUUID()}`;
          await store.append(`account-${id}`, [opened(id)], { expectedVersion: 'no_stream' });
        } else if (workload === 'deposit') {
          const id = mine[n % mine.length]!;
          const version = side.versions.get(id)!;
          const result = await store.append(`account-${id}`, [deposited(id)], { expectedVersion: version });
          side.versions.set(id, result.nextExpectedVersion);
        } else {
          const id = accounts[Math.floor(Math.random() * accounts.length)]!;
          const events = await store.readStream(`account-${id}`, { maxCount: 5 });
          const owner = (events[0]?.data as { owner?: string } | undefined)?.owner;
          if (events.length !== 5 || owner !== `Owner ${id} of Example Street 1`)
            throw new Error(`account-${id}: read ${events.length} events, owner ${JSON.stringify(owner)}`);
        }
      };
    },
  });
  return { ops_per_s: counted / elapsedS };
}

async function run(ctx: BenchContext): Promise<BenchReport> {
  const { options, databaseUrl, log } = ctx;
  const resources = await benchResources(ctx);
  await ensureFabulaFilled(ctx, resources.admin);
  const schema = keptSchemas(options.size).fabula;
  const registry = registerBankEvents(new EventRegistry());
  const plainStore = await openEventStore({ connectionString: databaseUrl, schema, maxConnections: CONCURRENCY });
  const closePlain = resources.own(() => plainStore.close());
  const securedStore = await openEventStore({
    connectionString: databaseUrl,
    schema,
    maxConnections: CONCURRENCY,
    personalData: { keys: staticKeyProvider(BENCH_MASTER_KEY), registry },
  });
  const closeSecured = resources.own(() => securedStore.close());
  const results: MeasuredResult[] = [];
  try {
    const size = await fabulaSize(plainStore);
    const plain = await prepare(plainStore, 'plain', log);
    const tenant = await prepare(plainStore.forTenant(TENANT), 'tenant', log);
    const secured = await prepare(securedStore.forTenant(TENANT), 'secured', log);
    const args = { warmup: options.warmup, seconds: options.seconds };
    const names: Record<Workload, { name: string; metric: string }> = {
      open: { name: `append AccountOpened to a new stream, new subject, conc=${CONCURRENCY}`, metric: 'appends_per_s' },
      deposit: { name: `append MoneyDeposited at the exact version, conc=${CONCURRENCY}`, metric: 'appends_per_s' },
      read: { name: `readStream of a 5-event account stream (owner decrypted), conc=${CONCURRENCY}`, metric: 'reads_per_s' },
    };
    for (const workload of ['open', 'deposit', 'read'] as const) {
      const { name, metric } = names[workload];
      const outcome = await interleave(
        options.rounds,
        {
          plain: () => round(plain, workload, args),
          tenant: () => round(tenant, workload, args),
          secured: () => round(secured, workload, args),
        },
        (side, r, figures) => log(`${name} round ${r}/${options.rounds} ${side.padEnd(7)}: ${Math.round(figures.ops_per_s!)}/s`),
      );
      for (const [side, what] of [
        ['tenant', 'tenant view + row-level security'],
        ['secured', 'tenant view + row-level security + encryption'],
      ] as const)
        results.push(
          compare({
            name: `${name}: ${what}`,
            metric,
            kind: 'throughput',
            measured: outcome[side].ops_per_s!,
            baselineSamples: outcome.plain.ops_per_s!,
            baseline: BASELINE,
            target: '>= 0.8',
            store: size,
          }),
        );
    }
  } finally {
    await resources.close(closeSecured);
    await resources.close(closePlain);
  }
  return { benchmark: 'security', machine: machineInfo(ctx.postgresVersion), results };
}

const benchmark: Benchmark = {
  name: 'security',
  description: 'Appends and reads in a tenant with row-level security and personal-data encryption vs without, on the filled store',
  needsPostgres: true,
  run,
};
export default benchmark;
