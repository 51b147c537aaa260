import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AggregateRepository, CommandBus, DeciderRepository, EventRegistry } from '../../src/index.js';
import { BankAccount, registerBank, registerBankEvents } from '../../examples/bank/index.js';
import { orderDecider, registerOrderEvents } from '../../examples/orders/index.js';
import { SnapshotStore } from '../../src/store/snapshot-store.js';
import { drivers, storeFactory } from '../support/drivers.js';

describe.each(drivers)('repositories and snapshots (%s)', (driver) => {
  const stores = storeFactory(driver);
  const registry = registerBankEvents(new EventRegistry());

  it('saves with the loaded version as expected version: a stale save fails', async () => {
    const store = await stores.open();
    const repo = new AggregateRepository(store, BankAccount, { registry });
    const fresh = await repo.load('a1');
    expect(fresh.version).toBe(0);
    fresh.open('Ada', 'EUR');
    fresh.deposit(10);
    expect(await repo.save(fresh)).toMatchObject({ nextExpectedVersion: 2 });
    expect(fresh.pendingEvents).toHaveLength(0);

    const a = await repo.load('a1');
    const b = await repo.load('a1');
    a.deposit(1);
    b.deposit(2);
    await repo.save(a);
    await expect(repo.save(b)).rejects.toMatchObject({ name: 'ConcurrencyError', expected: 2, actual: 3 });
    expect(await repo.save(await repo.load('a1'))).toBeNull(); // nothing pending
  });

  it('loads state as it was at a time or a version (temporal)', async () => {
    const store = await stores.open();
    const bus = new CommandBus({ store });
    const { accounts } = registerBank({ store, bus });
    await bus.execute('OpenAccount', { accountId: 'a1', owner: 'Ada', currency: 'EUR' });
    await bus.execute('DepositMoney', { accountId: 'a1', amount: 100 });
    await sleep(15);
    const between = new Date();
    await sleep(15);
    await bus.execute('DepositMoney', { accountId: 'a1', amount: 50 });
    await bus.execute('FreezeAccount', { accountId: 'a1' });
    expect((await accounts.load('a1', { asOf: between })).balance).toBe(100);
    expect((await accounts.load('a1', { asOf: between })).status).toBe('open');
    expect((await accounts.load('a1', { atVersion: 1 })).balance).toBe(0);
    expect((await accounts.load('a1', { atVersion: 3 })).balance).toBe(150);
    expect((await accounts.load('a1')).status).toBe('frozen');
    expect((await accounts.load('a1', { asOf: new Date(0) })).version).toBe(0);
  });

  it('loads from the latest snapshot plus the tail, equal to a full replay, for random histories', async () => {
    const store = await stores.open();
    const plain = new AggregateRepository(store, BankAccount, { registry });
    const snapshotting = new AggregateRepository(store, BankAccount, { registry, snapshots: { every: 7 } });
    const operation = fc.oneof(
      fc.record({ kind: fc.constant('deposit' as const), amount: fc.integer({ min: 1, max: 1000 }) }),
      fc.record({ kind: fc.constant('withdraw' as const), amount: fc.integer({ min: 1, max: 1000 }) }),
      fc.record({ kind: fc.constant('freeze' as const) }),
      fc.record({ kind: fc.constant('unfreeze' as const) }),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(operation, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 8 }),
        async (saves) => {
          const id = `p${run++}`;
          const account = await snapshotting.load(id);
          account.open('Prop', 'EUR', 500);
          for (const ops of saves) {
            for (const op of ops) {
              try {
                if (op.kind === 'deposit') account.deposit(op.amount);
                else if (op.kind === 'withdraw') account.withdraw(op.amount);
                else if (op.kind === 'freeze') account.freeze();
                else account.unfreeze();
              } catch {
                // a refused operation changes nothing
              }
            }
            await snapshotting.save(account);
          }
          const viaSnapshot = await snapshotting.load(id);
          const full = await plain.load(id);
          expect({ ...viaSnapshot, status: viaSnapshot.status, version: viaSnapshot.version }).toEqual({
            ...full,
            status: full.status,
            version: full.version,
          });
        },
      ),
      { numRuns: driver === 'pglite' ? 25 : 40 },
    );
    const sql = await stores.sql();
    const rows = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${store.schema}".snapshots`);
    expect(rows[0]!.n).toBeGreaterThan(0); // snapshots were really used
  });

  it('ignores a snapshot of an older shape instead of misreading it, and snapshots after long replays', async () => {
    const store = await stores.open();
    const repo = new AggregateRepository(store, BankAccount, { registry, snapshots: { whenReplayExceeds: 5 } });
    const account = await repo.load('a1');
    account.open('Ada', 'EUR');
    for (let i = 0; i < 10; i++) account.deposit(1);
    await repo.save(account);
    const sql = await stores.sql();
    // An old version of the code left a snapshot with another shape at version 11.
    await sql.query(
      `INSERT INTO "${store.schema}".snapshots (stream_id, aggregate_type, schema_version, stream_version, state) VALUES ('account-a1', 'account', 0, 11, '{"fields":{"balance":"garbage"}}')`,
    );
    // Read as the current shape it would be garbage; it is ignored, and the full replay (11 events > 5)
    // writes a current snapshot in its place.
    expect((await repo.load('a1')).balance).toBe(10);
    const snaps = await sql.query<{ schema_version: number; stream_version: string }>(
      `SELECT schema_version, stream_version::text AS stream_version FROM "${store.schema}".snapshots ORDER BY schema_version`,
    );
    expect(snaps).toEqual([{ schema_version: 1, stream_version: '11' }]);
    const again = await repo.load('a1');
    expect({ balance: again.balance, version: again.version, status: again.status }).toEqual({
      balance: 10,
      version: 11,
      status: 'open',
    });
  });

  it('picks the latest snapshot by number, also across digit boundaries (9 < 10 < 900 < 1000)', async () => {
    const store = await stores.open();
    const snapshots = new SnapshotStore(store.sql, store.schema);
    for (const version of [9, 10, 900, 1000]) {
      await snapshots.save(
        { streamId: 's-1', aggregateType: 't', schemaVersion: 1, streamVersion: version, state: { v: version } },
        10,
      );
    }
    expect((await snapshots.latest('s-1', 't', 1))?.streamVersion).toBe(1000);
    expect((await snapshots.latest('s-1', 't', 1, 999))?.streamVersion).toBe(900);
    expect((await snapshots.latest('s-1', 't', 1, 99))?.streamVersion).toBe(10);
    expect(await snapshots.latest('s-1', 't', 2)).toBeNull();
  });

  it('snapshots decider state too', async () => {
    const store = await stores.open();
    const orders = new DeciderRepository(store, orderDecider, {
      name: 'order',
      registry: registerOrderEvents(new EventRegistry()),
      snapshots: { every: 2 },
    });
    await orders.handle('order-o1', {
      type: 'PlaceOrder',
      data: { orderId: 'o1', customerId: 'c1', items: [{ sku: 'A', quantity: 1, priceCents: 1 }] },
    });
    await orders.handle('order-o1', { type: 'AddItem', data: { orderId: 'o1', item: { sku: 'B', quantity: 1, priceCents: 2 } } });
    await orders.handle('order-o1', { type: 'ShipOrder', data: { orderId: 'o1' } });
    const loaded = await orders.load('order-o1');
    expect(loaded.version).toBe(3);
    expect(loaded.state).toMatchObject({ status: 'shipped', items: { A: { sku: 'A' }, B: { sku: 'B' } } });
    const sql = await stores.sql();
    const rows = await sql.query<{ v: string }>(
      `SELECT stream_version::text AS v FROM "${store.schema}".snapshots WHERE aggregate_type = 'order'`,
    );
    expect(rows.map((r) => r.v)).toEqual(['2']);
  });
});
