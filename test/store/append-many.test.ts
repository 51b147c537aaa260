import { describe, expect, it } from 'vitest';
import { ConcurrencyError, IdempotencyError, StreamDeletedError, ValidationError } from '../../src/index.js';
import { drivers, storeFactory } from '../support/drivers.js';

const moved = (amount: number) => [{ type: 'Moved', data: { amount } }];

describe.each(drivers)('appendMany (%s)', (driver) => {
  const stores = storeFactory(driver);

  it('appends to several streams in one transaction, at consecutive positions in the order given', async () => {
    const store = await stores.open();
    await store.append('b-1', moved(0));
    const results = await store.appendMany([
      { streamId: 'a-1', events: moved(1), expectedVersion: 'no_stream' },
      { streamId: 'b-1', events: [...moved(2), ...moved(3)], expectedVersion: 1 },
    ]);
    expect(results).toEqual([
      { streamId: 'a-1', nextExpectedVersion: 1, firstPosition: 2n, lastPosition: 2n },
      { streamId: 'b-1', nextExpectedVersion: 3, firstPosition: 3n, lastPosition: 4n },
    ]);
    expect((await store.readAll()).map((e) => [e.streamId, e.streamVersion])).toEqual([
      ['b-1', 1],
      ['a-1', 1],
      ['b-1', 2],
      ['b-1', 3],
    ]);
  });

  it('writes nothing when one stream is refused, and throws that stream`s error', async () => {
    const store = await stores.open();
    await store.append('a-1', moved(1));
    await store.append('gone-1', moved(1));
    await store.deleteStream('gone-1');
    const before = await store.headPosition();

    await expect(
      store.appendMany([
        { streamId: 'new-1', events: moved(1), expectedVersion: 'no_stream' },
        { streamId: 'a-1', events: moved(2), expectedVersion: 0 },
      ]),
    ).rejects.toMatchObject({ name: ConcurrencyError.name, streamId: 'a-1' });
    await expect(
      store.appendMany([
        { streamId: 'new-1', events: moved(1) },
        { streamId: 'gone-1', events: moved(2) },
      ]),
    ).rejects.toBeInstanceOf(StreamDeletedError);
    expect(await store.headPosition()).toBe(before);
    expect(await store.streamInfo('new-1')).toBeNull();
  });

  it('is idempotent with caller ids: the same appendMany again is answered, not written twice', async () => {
    const store = await stores.open();
    const call = () =>
      store.appendMany([
        { streamId: 'a-1', events: [{ id: '0190c0de-0000-7000-8000-000000000001', type: 'Moved', data: 1 }], expectedVersion: 'no_stream' },
        { streamId: 'b-1', events: [{ id: '0190c0de-0000-7000-8000-000000000002', type: 'Moved', data: 2 }], expectedVersion: 'no_stream' },
      ]);
    const first = await call();
    expect(await call()).toEqual(first);
    expect(await store.headPosition()).toBe(2n);
    // The same id with other content is refused, and nothing of the group is written.
    await expect(
      store.appendMany([
        { streamId: 'c-1', events: moved(3) },
        { streamId: 'a-1', events: [{ id: '0190c0de-0000-7000-8000-000000000001', type: 'Moved', data: 99 }] },
      ]),
    ).rejects.toBeInstanceOf(IdempotencyError);
    expect(await store.streamInfo('c-1')).toBeNull();
  });

  it('refuses bad input with errors naming the append', async () => {
    const store = await stores.open();
    await expect(store.appendMany([])).rejects.toBeInstanceOf(ValidationError);
    await expect(
      store.appendMany([
        { streamId: 'a-1', events: moved(1) },
        { streamId: 'a-1', events: moved(2) },
      ]),
    ).rejects.toMatchObject({ field: 'appends[1].streamId' });
    await expect(store.appendMany([{ streamId: 'a-1', events: [] }])).rejects.toMatchObject({ field: 'appends[0].events' });
    await expect(
      store.appendMany([{ streamId: 'a-1', events: moved(1), expectedVersion: -1 as number }]),
    ).rejects.toMatchObject({ field: 'appends[0].expectedVersion' });
    const id = '0190c0de-0000-7000-8000-0000000000aa';
    await expect(
      store.appendMany([
        { streamId: 'a-1', events: [{ id, type: 'Moved', data: 1 }] },
        { streamId: 'b-1', events: [{ id, type: 'Moved', data: 1 }] },
      ]),
    ).rejects.toMatchObject({ field: 'appends[1].events[0].id' });
    expect(await store.headPosition()).toBe(0n);
  });

  it('one winner per conflict: concurrent transfers over shared streams, money conserved, all or nothing', async () => {
    const store = await stores.open();
    const accounts = ['acc-0', 'acc-1', 'acc-2', 'acc-3'];
    for (const a of accounts) await store.append(a, moved(100), { expectedVersion: 'no_stream' });
    // Every writer reads two streams' versions, then moves 1 from one to the other with both versions
    // expected. Writers racing for a stream conflict: exactly one wins each version of each stream.
    let wins = 0;
    let conflicts = 0;
    const writer = async (w: number) => {
      for (let round = 0; round < 15; round++) {
        const from = accounts[(w + round) % 4]!;
        const to = accounts[(w + round + 1 + (round % 3)) % 4]!;
        if (from === to) continue;
        const [f, t] = [await store.streamInfo(from), await store.streamInfo(to)];
        try {
          await store.appendMany([
            { streamId: from, events: moved(-1), expectedVersion: f!.version },
            { streamId: to, events: moved(1), expectedVersion: t!.version },
          ]);
          wins++;
        } catch (error) {
          if (!(error instanceof ConcurrencyError)) throw error;
          conflicts++;
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, w) => writer(w)));
    expect(wins).toBeGreaterThan(0);
    if (driver === 'postgres') expect(conflicts).toBeGreaterThan(0);
    const all = await store.readAll();
    // All or nothing: every transfer wrote both of its events (two streams, same transaction, adjacent).
    const transfers = all.filter((e) => e.streamVersion > 1);
    expect(transfers).toHaveLength(wins * 2);
    for (let i = 0; i < transfers.length; i += 2) {
      expect(transfers[i + 1]!.globalPosition).toBe(transfers[i]!.globalPosition + 1n);
      expect((transfers[i]!.data as { amount: number }).amount).toBe(-1);
      expect((transfers[i + 1]!.data as { amount: number }).amount).toBe(1);
    }
    // One winner per version: stream versions are dense, no version written twice.
    for (const a of accounts) {
      const versions = (await store.readStream(a)).map((e) => e.streamVersion);
      expect(versions).toEqual(versions.map((_, i) => i + 1));
    }
    const total = all.reduce((sum, e) => sum + (e.data as { amount: number }).amount, 0);
    expect(total).toBe(400);
  });
});
