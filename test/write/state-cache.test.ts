/**
 * Commands decide on the state their process saw last (no read before the append). These tests try to
 * make a stale cache win: another process ("bus") changes the stream behind the cache's back, and every
 * outcome must still be the one fresh state gives.
 */
import { describe, expect, it, vi } from 'vitest';
import { CommandBus, DomainError, IllegalStateError } from '../../src/index.js';
import { registerBank } from '../../examples/bank/index.js';
import { registerOrders } from '../../examples/orders/index.js';
import { drivers, storeFactory } from '../support/drivers.js';

describe.each(drivers)('command state cache (%s)', (driver) => {
  const stores = storeFactory(driver);

  /** Two command buses on one store, each with its own repositories and caches: two processes. */
  async function twoProcesses() {
    const store = await stores.open();
    const a = new CommandBus({ store });
    const b = new CommandBus({ store });
    // A class-style aggregate is cached when its repository uses snapshots (its snapshot holds its state).
    registerBank({ store, bus: a, snapshots: { whenReplayExceeds: 1000 } });
    registerBank({ store, bus: b, snapshots: { whenReplayExceeds: 1000 } });
    registerOrders({ store, bus: a });
    registerOrders({ store, bus: b });
    return { store, a, b };
  }

  it('decides on the cached state without reading the stream', async () => {
    const { store, a } = await twoProcesses();
    await a.execute('OpenAccount', { accountId: 'c1', owner: 'Ada', currency: 'EUR' });
    const reads = vi.spyOn(store, 'readStream');
    for (let i = 0; i < 5; i++) await a.execute('DepositMoney', { accountId: 'c1', amount: 10 });
    expect(reads).not.toHaveBeenCalled();
    reads.mockRestore();
    expect((await store.readStream('account-c1')).map((e) => e.streamVersion)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('caches a class-style aggregate only when its snapshot holds its state (a snapshot policy, or asked for)', async () => {
    const store = await stores.open();
    const plain = new CommandBus({ store });
    registerBank({ store, bus: plain }); // no snapshot policy: every command reads its stream
    await plain.execute('OpenAccount', { accountId: 'c6', owner: 'Ada', currency: 'EUR' });
    const reads = vi.spyOn(store, 'readStream');
    await plain.execute('DepositMoney', { accountId: 'c6', amount: 1 });
    expect(reads).toHaveBeenCalledTimes(1);
    reads.mockRestore();
  });

  it('a stale accept is caught by the append and decided again: no withdrawal from a frozen account', async () => {
    const { store, a, b } = await twoProcesses();
    await a.execute('OpenAccount', { accountId: 'c2', owner: 'Ada', currency: 'EUR' });
    await a.execute('DepositMoney', { accountId: 'c2', amount: 100 }); // a caches: open, balance 100
    await b.execute('FreezeAccount', { accountId: 'c2' });
    const error = await a.execute('WithdrawMoney', { accountId: 'c2', amount: 10 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IllegalStateError);
    expect((await store.readStream('account-c2')).map((e) => e.type)).toEqual(['AccountOpened', 'MoneyDeposited', 'AccountFrozen']);
  });

  it('a stale refusal is decided again on fresh state: a withdrawal after another process unfroze succeeds', async () => {
    const { store, a, b } = await twoProcesses();
    await a.execute('OpenAccount', { accountId: 'c3', owner: 'Ada', currency: 'EUR' });
    await a.execute('DepositMoney', { accountId: 'c3', amount: 100 });
    await a.execute('FreezeAccount', { accountId: 'c3' }); // a caches: frozen
    await b.execute('UnfreezeAccount', { accountId: 'c3' });
    const result = await a.execute('WithdrawMoney', { accountId: 'c3', amount: 10 });
    expect(result.events.map((e) => e.type)).toEqual(['MoneyWithdrawn']);
    expect(result.nextExpectedVersion).toBe(5);
    // And the same for a refusal by the domain: insufficient funds on a stale balance.
    await b.execute('DepositMoney', { accountId: 'c3', amount: 1000 });
    const big = await a.execute('WithdrawMoney', { accountId: 'c3', amount: 500 });
    expect(big.nextExpectedVersion).toBe(7);
  });

  it('a stale cache is not a conflict: with no retries allowed, a command after another process wrote still succeeds', async () => {
    const store = await stores.open();
    const a = new CommandBus({ store, retry: { maxRetries: 0 } });
    registerBank({ store, bus: a, snapshots: { whenReplayExceeds: 1000 } });
    registerOrders({ store, bus: a });
    await a.execute('OpenAccount', { accountId: 'c5', owner: 'Ada', currency: 'EUR' }); // a caches version 1
    await store.append('account-c5', [{ type: 'MoneyDeposited', data: { accountId: 'c5', amount: 7 } }]); // behind its back
    const deposit = await a.execute('DepositMoney', { accountId: 'c5', amount: 5 });
    expect(deposit).toMatchObject({ nextExpectedVersion: 3, attempts: 1 });
    await a.execute('PlaceOrder', { orderId: 'o5', customerId: 'c', items: [{ sku: 'A', quantity: 1, priceCents: 1 }] });
    await store.append('order-o5', [{ type: 'OrderCancelled', data: { orderId: 'o5', reason: 'elsewhere' } }]);
    await expect(a.execute('ShipOrder', { orderId: 'o5' })).rejects.toBeInstanceOf(IllegalStateError); // not a ConcurrencyError
  });

  it('deciders too: a stale accept on a cancelled order is refused, a stale refusal is retried', async () => {
    const { store, a, b } = await twoProcesses();
    const item = (sku: string) => ({ sku, quantity: 1, priceCents: 100 });
    await a.execute('PlaceOrder', { orderId: 'o1', customerId: 'c', items: [item('A')] }); // a caches: placed
    await b.execute('CancelOrder', { orderId: 'o1', reason: 'changed my mind' });
    await expect(a.execute('AddItem', { orderId: 'o1', item: item('B') })).rejects.toBeInstanceOf(IllegalStateError);
    expect((await store.readStream('order-o1')).map((e) => e.type)).toEqual(['OrderPlaced', 'OrderCancelled']);

    await a.execute('PlaceOrder', { orderId: 'o2', customerId: 'c', items: [item('A')] });
    await a.execute('AddItem', { orderId: 'o2', item: item('B') }); // a caches: A and B
    await b.execute('RemoveItem', { orderId: 'o2', sku: 'B' });
    const added = await a.execute('AddItem', { orderId: 'o2', item: item('B') }); // stale: "B is already in the order"
    expect(added.events.map((e) => e.type)).toEqual(['ItemAdded']);
  });

  it('money is conserved: concurrent withdrawals from warm caches in four processes never overdraw', async () => {
    const store = await stores.open();
    const buses = Array.from({ length: 4 }, () => new CommandBus({ store, retry: { maxRetries: 50 } }));
    for (const bus of buses) registerBank({ store, bus, snapshots: { whenReplayExceeds: 1000 } });
    await buses[0]!.execute('OpenAccount', { accountId: 'c4', owner: 'Ada', currency: 'EUR' });
    for (const bus of buses) await bus.execute('DepositMoney', { accountId: 'c4', amount: 25 }); // every cache warm
    // 100 in the account; 4 processes x 3 withdrawals of 10 = 120 asked: exactly 10 can succeed.
    const outcomes = await Promise.allSettled(
      buses.flatMap((bus) => Array.from({ length: 3 }, () => bus.execute('WithdrawMoney', { accountId: 'c4', amount: 10 }))),
    );
    const ok = outcomes.filter((o) => o.status === 'fulfilled').length;
    const refused = outcomes.filter((o) => o.status === 'rejected' && (o.reason as DomainError).code === 'insufficient_funds').length;
    expect({ ok, refused }).toEqual({ ok: 10, refused: 2 });
    const events = await store.readStream('account-c4');
    const balance = events.reduce(
      (sum, e) => sum + (e.type === 'MoneyDeposited' ? 1 : e.type === 'MoneyWithdrawn' ? -1 : 0) * ((e.data as { amount?: number }).amount ?? 0),
      0,
    );
    expect(balance).toBe(0);
  });
});
