import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConcurrencyError, IdempotencyError, StreamDeletedError, type EventStore } from '../../src/index.js';
import { drivers, storeFactory } from '../support/drivers.js';

describe.each(drivers)('append (%s)', (driver) => {
  const stores = storeFactory(driver);

  it('round-trips events with metadata, ids, schema versions and positions', async () => {
    const store = await stores.open();
    const id = randomUUID();
    const result = await store.append(
      'account-1',
      [
        {
          id,
          type: 'AccountOpened',
          data: { owner: 'Ada', nested: { list: [1, 'two', null, true] } },
          metadata: { correlationId: 'c-1', userId: 'u-1', tenantId: 't-1', causationId: 'cmd-1', extra: { any: 'thing' } },
        },
        { type: 'MoneyDeposited', data: { amount: 100 }, schemaVersion: 2 },
      ],
      { expectedVersion: 'no_stream' },
    );
    expect(result).toEqual({ streamId: 'account-1', nextExpectedVersion: 2, firstPosition: 1n, lastPosition: 2n });

    const events = await store.readStream('account-1');
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({
      id,
      type: 'AccountOpened',
      data: { owner: 'Ada', nested: { list: [1, 'two', null, true] } },
      metadata: { correlationId: 'c-1', userId: 'u-1', tenantId: 't-1', causationId: 'cmd-1', extra: { any: 'thing' } },
      schemaVersion: 1,
      streamId: 'account-1',
      streamVersion: 1,
      globalPosition: 1n,
    });
    expect(events[0]!.recordedAt).toBeInstanceOf(Date);
    expect(events[1]).toMatchObject({
      type: 'MoneyDeposited',
      schemaVersion: 2,
      streamVersion: 2,
      globalPosition: 2n,
      metadata: {},
    });
    expect(events[1]!.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(events[1]!.recordedAt.getTime()).toBeGreaterThanOrEqual(events[0]!.recordedAt.getTime());
    expect(await store.headPosition()).toBe(2n);
  });

  it('keeps stream versions per stream and global positions across streams', async () => {
    const store = await stores.open();
    await store.append('a-1', [{ type: 'E', data: 1 }]);
    await store.append('b-1', [{ type: 'E', data: 2 }]);
    const r = await store.append('a-1', [{ type: 'E', data: 3 }]);
    expect(r).toMatchObject({ nextExpectedVersion: 2, firstPosition: 3n, lastPosition: 3n });
    expect((await store.readAll()).map((e) => [e.streamId, e.streamVersion, e.globalPosition])).toEqual([
      ['a-1', 1, 1n],
      ['b-1', 1, 2n],
      ['a-1', 2, 3n],
    ]);
  });

  describe('expectedVersion', () => {
    const cases: Array<[string, (store: EventStore) => Promise<void>, unknown, 'ok' | number]> = [
      ['no_stream on a new stream', async () => {}, 'no_stream', 'ok'],
      ['no_stream on an existing stream', seedTwo, 'no_stream', 2],
      ['stream_exists on a new stream', async () => {}, 'stream_exists', 0],
      ['stream_exists on an existing stream', seedTwo, 'stream_exists', 'ok'],
      ['any on a new stream', async () => {}, 'any', 'ok'],
      ['any on an existing stream', seedTwo, 'any', 'ok'],
      ['0 on a new stream', async () => {}, 0, 'ok'],
      ['0 on an existing stream', seedTwo, 0, 2],
      ['the exact version', seedTwo, 2, 'ok'],
      ['a version behind', seedTwo, 1, 2],
      ['a version ahead', seedTwo, 3, 2],
    ];
    it.each(cases)('%s', async (_name, seed, expectedVersion, outcome) => {
      const store = await stores.open();
      await seed(store);
      const before = await store.readStream('s-1');
      const attempt = store.append('s-1', [{ type: 'E', data: {} }], { expectedVersion: expectedVersion as never });
      if (outcome === 'ok') {
        await expect(attempt).resolves.toMatchObject({ nextExpectedVersion: before.length + 1 });
      } else {
        const error = await attempt.catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ConcurrencyError);
        expect(error).toMatchObject({
          streamId: 's-1',
          expected: expectedVersion,
          actual: outcome,
          code: 'concurrency_conflict',
        });
        expect(await store.readStream('s-1')).toEqual(before);
      }
    });
  });

  describe('idempotency', () => {
    it('answers a retried append like the first time and writes nothing', async () => {
      const store = await stores.open();
      await store.append('other-1', [{ type: 'E', data: 0 }]);
      const events = [
        { id: randomUUID(), type: 'MoneyDeposited', data: { amount: 5 } },
        { id: randomUUID(), type: 'MoneyDeposited', data: { amount: 6 } },
      ];
      const first = await store.append('account-7', events, { expectedVersion: 'no_stream' });
      await store.append('account-7', [{ type: 'MoneyWithdrawn', data: { amount: 1 } }], { expectedVersion: 2 });
      // The client never got the first answer and retries with the same ids and the same expectedVersion.
      const retry = await store.append('account-7', events, { expectedVersion: 'no_stream' });
      expect(retry).toEqual(first);
      expect(await store.readStream('account-7')).toHaveLength(3);
      expect(await store.headPosition()).toBe(4n);
    });

    it('treats concurrent retries of one append as one append', async () => {
      const store = await stores.open();
      const events = [{ id: randomUUID(), type: 'E', data: { n: 1 } }];
      const results = await Promise.all(
        Array.from({ length: 10 }, () => store.append('s-1', events, { expectedVersion: 'no_stream' })),
      );
      expect(new Set(results.map((r) => r.firstPosition))).toEqual(new Set([1n]));
      expect(await store.readStream('s-1')).toHaveLength(1);
    });

    it('rejects an id reused in another stream, for other content, or in a different append', async () => {
      const store = await stores.open();
      const a = randomUUID();
      const b = randomUUID();
      await store.append('s-1', [
        { id: a, type: 'E', data: { n: 1 } },
        { id: b, type: 'E', data: { n: 2 } },
      ]);
      const attempts: Array<() => Promise<unknown>> = [
        () => store.append('s-2', [{ id: a, type: 'E', data: { n: 1 } }]),
        () =>
          store.append('s-1', [
            { id: a, type: 'E', data: { n: 99 } },
            { id: b, type: 'E', data: { n: 2 } },
          ]),
        () =>
          store.append('s-1', [
            { id: a, type: 'Other', data: { n: 1 } },
            { id: b, type: 'E', data: { n: 2 } },
          ]),
        () =>
          store.append('s-1', [
            { id: b, type: 'E', data: { n: 2 } },
            { id: a, type: 'E', data: { n: 1 } },
          ]),
        () =>
          store.append('s-1', [
            { id: a, type: 'E', data: { n: 1 } },
            { id: b, type: 'E', data: { n: 2 } },
            { type: 'E', data: 3 },
          ]),
      ];
      for (const attempt of attempts) {
        const error = await attempt().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(IdempotencyError);
        expect((error as IdempotencyError).code).toBe('idempotency_conflict');
      }
      expect(await store.headPosition()).toBe(2n);
      expect(await store.streamInfo('s-2')).toBeNull();
      // Repeating a leading part of an append (same ids, order and content) is a retry too: nothing new.
      expect(await store.append('s-1', [{ id: a, type: 'E', data: { n: 1 } }])).toMatchObject({
        firstPosition: 1n,
        lastPosition: 1n,
      });
      expect(await store.headPosition()).toBe(2n);
    });
  });

  it('is atomic: an append that fails half-way leaves nothing, and does not fail appends batched with it', async () => {
    const store = await stores.open();
    const sql = await stores.sql();
    // A test-only trigger that refuses one event type, to fail an append after its first events were inserted.
    await sql.exec(`
      CREATE FUNCTION "${store.schema}".refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.event_type = 'Poison' THEN RAISE EXCEPTION 'poison refused'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER refuse_poison BEFORE INSERT ON "${store.schema}".events
        FOR EACH ROW EXECUTE FUNCTION "${store.schema}".refuse_poison();`);
    await store.append('s-1', [{ type: 'E', data: 0 }]);
    const results = await Promise.allSettled([
      store.append('s-2', [{ type: 'E', data: 1 }]),
      store.append('s-1', [
        { type: 'E', data: 1 },
        { type: 'E', data: 2 },
        { type: 'Poison', data: 3 },
      ]),
      store.append('s-3', [{ type: 'E', data: 1 }]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.message).toContain('poison refused');
    expect(await store.readStream('s-1')).toHaveLength(1);
    expect((await store.streamInfo('s-1'))!.version).toBe(1);
    const all = await store.readAll();
    expect(all.map((e) => e.globalPosition)).toEqual([1n, 2n, 3n]);
    expect(await store.headPosition()).toBe(3n);
  });

  it('deletes a stream softly: events stay readable, appends are refused', async () => {
    const store = await stores.open();
    await store.append('order-1', [
      { type: 'OrderPlaced', data: {} },
      { type: 'ItemAdded', data: {} },
    ]);
    await store.append('order-2', [{ type: 'OrderPlaced', data: {} }]);
    await expect(store.deleteStream('order-1', { expectedVersion: 1 })).rejects.toMatchObject({
      name: 'ConcurrencyError',
      actual: 2,
    });
    expect(await store.deleteStream('order-1', { expectedVersion: 2 })).toEqual({ streamId: 'order-1', version: 2 });

    await expect(store.append('order-1', [{ type: 'ItemAdded', data: {} }])).rejects.toBeInstanceOf(StreamDeletedError);
    await expect(store.deleteStream('order-1')).rejects.toBeInstanceOf(StreamDeletedError);
    expect(await store.readStream('order-1')).toHaveLength(2);
    const info = await store.streamInfo('order-1');
    expect(info).toMatchObject({ streamId: 'order-1', streamType: 'order', version: 2, deleted: true });
    expect(info!.deletedAt).toBeInstanceOf(Date);
    expect((await store.listStreams()).map((s) => s.streamId)).toEqual(['order-2']);
    expect((await store.listStreams({ includeDeleted: true })).map((s) => s.streamId)).toEqual(['order-1', 'order-2']);
    expect(await store.headPosition()).toBe(3n);
  });

  it('can tombstone a stream id that has no events yet', async () => {
    const store = await stores.open();
    await store.deleteStream('reserved-1', { expectedVersion: 'no_stream' });
    await expect(store.append('reserved-1', [{ type: 'E', data: {} }])).rejects.toBeInstanceOf(StreamDeletedError);
    expect(await store.headPosition()).toBe(0n);
  });
});

async function seedTwo(store: EventStore) {
  await store.append('s-1', [
    { type: 'E', data: 1 },
    { type: 'E', data: 2 },
  ]);
}

describe.each(drivers)('inline handlers (%s)', (driver) => {
  const stores = storeFactory(driver);

  it('run in the append transaction with the recorded events; a throwing handler rolls the append back', async () => {
    const seen: Array<{ id: string; streamVersion: number; globalPosition: bigint; recordedAt: Date }> = [];
    const schema = `inline_${Math.random().toString(36).slice(2, 10)}`;
    const store = await stores.open({
      schema,
      inlineHandlers: [
        async (events, tx) => {
          for (const event of events) {
            if (event.type === 'Refused') throw new Error(`handler refused event ${event.streamVersion}`);
            await tx.query(`INSERT INTO "${schema}".inline_log (event_id, position) VALUES ($1, $2)`, [
              event.id,
              event.globalPosition,
            ]);
            seen.push(event);
          }
        },
      ],
    });
    await (await stores.sql()).exec(`CREATE TABLE "${schema}".inline_log (event_id uuid PRIMARY KEY, position bigint NOT NULL)`);

    const results = await Promise.allSettled([
      store.append('s-1', [
        { type: 'E', data: 1 },
        { type: 'E', data: 2 },
      ]),
      store.append('s-2', [
        { type: 'E', data: 3 },
        { type: 'Refused', data: 4 },
      ]),
      store.append('s-3', [{ type: 'E', data: 5 }]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.message).toBe('handler refused event 2');

    const stored = await store.readAll();
    expect(stored.map((e) => e.data)).toEqual([1, 2, 5]);
    const log = await (
      await stores.sql()
    ).query<{ event_id: string; position: string }>(
      `SELECT event_id::text, position::text FROM "${schema}".inline_log ORDER BY position`,
    );
    expect(log.map((r) => [r.event_id, BigInt(r.position)])).toEqual(stored.map((e) => [e.id, e.globalPosition]));
    // What the handler saw is exactly what readers see.
    const committed = seen.filter((e) => stored.some((s) => s.id === e.id));
    expect(committed).toEqual(stored);
  });
});

describe.each(drivers)('batched appends (%s)', (driver) => {
  const stores = storeFactory(driver);

  it('answers each append of a batch on its own: successes, conflicts and deletions mixed', async () => {
    const store = await stores.open();
    for (let i = 0; i < 30; i++) await store.append(`s-${i}`, [{ type: 'Seed', data: i }]);
    for (let i = 0; i < 30; i += 5) await store.deleteStream(`s-${i}`);
    const head = await store.headPosition();
    // All submitted at once: they are written as one or a few batches.
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) =>
        store.append(
          `s-${i}`,
          Array.from({ length: 1 + (i % 3) }, (_, k) => ({ type: 'E', data: { i, k } })),
          {
            expectedVersion: i % 4 === 0 ? 0 : 1,
          },
        ),
      ),
    );
    const expected = results.map((_, i) => (i % 5 === 0 ? 'StreamDeletedError' : i % 4 === 0 ? 'ConcurrencyError' : 'ok'));
    expect(results.map((r) => (r.status === 'fulfilled' ? 'ok' : r.reason.name))).toEqual(expected);
    const written = results.flatMap((r, i) => (r.status === 'fulfilled' ? [{ i, ...r.value }] : []));
    for (const w of written) expect(w.nextExpectedVersion).toBe(2 + (w.i % 3));
    // Positions: dense after the head, each append's events consecutive, no overlap.
    const ranges = written.map((w) => [w.firstPosition, w.lastPosition]).sort((a, b) => Number(a[0]! - b[0]!));
    let next = head + 1n;
    for (const [first, last] of ranges) {
      expect(first).toBe(next);
      next = last! + 1n;
    }
    const all = await store.readAll({ after: head });
    expect(all.map((e) => e.globalPosition)).toEqual(all.map((_, k) => head + 1n + BigInt(k)));
    expect(all).toHaveLength(written.reduce((n, w) => n + 1 + (w.i % 3), 0));
  });
});
