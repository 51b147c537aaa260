import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { EventStore } from '../../src/index.js';
import { drivers, storeFactory } from '../support/drivers.js';

describe.each(drivers)('reads (%s)', (driver) => {
  const stores = storeFactory(driver);

  async function storeWithTwelve(): Promise<EventStore> {
    const store = await stores.open();
    for (let i = 1; i <= 12; i++) await store.append('s-1', [{ type: 'E', data: { i } }]);
    return store;
  }

  it('reads a stream forwards and backwards, from, to and maxCount', async () => {
    const store = await storeWithTwelve();
    const versions = async (options: Parameters<EventStore['readStream']>[1]) =>
      (await store.readStream('s-1', options)).map((e) => e.streamVersion);
    expect(await versions({})).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(await versions({ from: 10 })).toEqual([10, 11, 12]);
    expect(await versions({ from: 3, to: 5 })).toEqual([3, 4, 5]);
    expect(await versions({ from: 2, maxCount: 2 })).toEqual([2, 3]);
    expect(await versions({ direction: 'backwards' })).toEqual([12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    expect(await versions({ direction: 'backwards', maxCount: 3 })).toEqual([12, 11, 10]);
    expect(await versions({ direction: 'backwards', from: 5, maxCount: 2 })).toEqual([5, 4]);
    expect(await versions({ direction: 'backwards', from: 5, to: 4 })).toEqual([5, 4]);
    expect(await store.readStream('nothing-here')).toEqual([]);
  });

  it('reads a stream as it was at a moment (temporal read)', async () => {
    const store = await stores.open();
    const first = await store.append('account-1', [{ type: 'AccountOpened', data: {} }]);
    await sleep(15);
    const between = new Date();
    await sleep(15);
    await store.append('account-1', [{ type: 'MoneyDeposited', data: { amount: 1 } }]);
    await store.append('account-1', [{ type: 'MoneyDeposited', data: { amount: 2 } }]);

    expect((await store.readStream('account-1', { asOf: between })).map((e) => e.type)).toEqual(['AccountOpened']);
    expect(await store.readStream('account-1', { asOf: new Date(0) })).toEqual([]);
    const all = await store.readStream('account-1');
    // An event's own recordedAt finds that event.
    expect(await store.readStream('account-1', { asOf: all[1]!.recordedAt })).toHaveLength(2);
    expect((await store.readStream('account-1', { asOf: new Date() })).map((e) => e.globalPosition)).toEqual([
      first.firstPosition,
      2n,
      3n,
    ]);
  });

  it('keeps recordedAt in step with global order', async () => {
    const store = await stores.open();
    await Promise.all(Array.from({ length: 30 }, (_, i) => store.append(`s-${i % 4}`, [{ type: 'E', data: i }])));
    const all = await store.readAll();
    for (let i = 1; i < all.length; i++) {
      expect(all[i]!.globalPosition).toBe(all[i - 1]!.globalPosition + 1n);
      expect(all[i]!.recordedAt.getTime()).toBeGreaterThanOrEqual(all[i - 1]!.recordedAt.getTime());
    }
  });

  it('reads all streams in global order with after, maxCount and filters', async () => {
    const store = await stores.open();
    await store.append('account-1', [{ type: 'AccountOpened', data: {} }]);
    await store.append('order-1', [{ type: 'OrderPlaced', data: {} }]);
    await store.append('account-1', [{ type: 'MoneyDeposited', data: {} }]);
    await store.append('account-2', [{ type: 'AccountOpened', data: {} }]);
    await store.append('order-1', [{ type: 'OrderShipped', data: {} }]);
    for (let i = 0; i < 10; i++) await store.append('bulk-1', [{ type: 'Bulk', data: { i } }]);

    const positions = async (options: Parameters<EventStore['readAll']>[0]) =>
      (await store.readAll(options)).map((e) => e.globalPosition);
    expect(await positions({})).toEqual(Array.from({ length: 15 }, (_, i) => BigInt(i + 1)));
    expect(await positions({ after: 12n })).toEqual([13n, 14n, 15n]);
    expect(await positions({ after: 2n, maxCount: 2 })).toEqual([3n, 4n]);
    expect(await positions({ eventTypes: ['AccountOpened'] })).toEqual([1n, 4n]);
    expect(await positions({ eventTypes: ['AccountOpened', 'OrderShipped'], after: 1n })).toEqual([4n, 5n]);
    expect(await positions({ streamTypes: ['order'] })).toEqual([2n, 5n]);
    expect(await positions({ streamTypes: ['account'], eventTypes: ['MoneyDeposited'] })).toEqual([3n]);
    expect(await positions({ after: 100n })).toEqual([]);
  });

  it('lists streams by type, page by page', async () => {
    const store = await stores.open();
    for (const id of ['account-3', 'account-1', 'order-1', 'account-2', 'accounting'])
      await store.append(id, [{ type: 'E', data: {} }]);
    const ids = async (options: Parameters<EventStore['listStreams']>[0]) =>
      (await store.listStreams(options)).map((s) => s.streamId);
    expect(await ids({})).toEqual(['account-1', 'account-2', 'account-3', 'accounting', 'order-1']);
    expect(await ids({ type: 'account' })).toEqual(['account-1', 'account-2', 'account-3']);
    expect(await ids({ type: 'account', limit: 2 })).toEqual(['account-1', 'account-2']);
    expect(await ids({ type: 'account', limit: 2, after: 'account-2' })).toEqual(['account-3']);
    expect(await store.streamInfo('account-2')).toMatchObject({
      streamId: 'account-2',
      streamType: 'account',
      version: 1,
      deleted: false,
    });
    expect(await store.streamInfo('account-9')).toBeNull();
  });

  it('handles large and unicode data', async () => {
    const store = await stores.open();
    const data = { text: 'Grüße, 世界, emoji 🎉, quote " and backslash \\', big: 'x'.repeat(500_000), numbers: [0, -1.5, 1e300] };
    await store.append('s-1', [{ type: 'E', data }]);
    const [event] = await store.readStream('s-1');
    expect(event!.data).toEqual(data);
  });
});
