/**
 * The store's hardest promises, attacked with real concurrency:
 * - exactly one winner of a version conflict;
 * - a live reader of the global order receives every committed event exactly once, in strictly
 *   ascending position, even while writers' transactions stay open for random times after taking
 *   their positions. The same reader on a store that orders by position alone must miss events here,
 *   which shows the test can fail.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ConcurrencyError, type EventStore, type RecordedEvent } from '../../src/index.js';
import { drivers, serverUrl, storeFactory } from '../support/drivers.js';

/** What a reader got, against what was committed. */
function checkDelivery(delivered: RecordedEvent[], committedIds: string[]) {
  const seen = new Set<string>();
  let duplicates = 0;
  let outOfOrder = 0;
  delivered.forEach((event, i) => {
    if (seen.has(event.id)) duplicates++;
    seen.add(event.id);
    if (i > 0 && event.globalPosition <= delivered[i - 1]!.globalPosition) outOfOrder++;
  });
  const missing = committedIds.filter((id) => !seen.has(id)).length;
  return { delivered: delivered.length, missing, duplicates, outOfOrder };
}

/** A live subscriber from position 0, collecting until stopped. */
function liveReader(store: EventStore) {
  const controller = new AbortController();
  const events: RecordedEvent[] = [];
  const done = (async () => {
    for await (const event of store.subscribe({ signal: controller.signal, pollIntervalMs: 20, batchSize: 50 }))
      events.push(event);
  })();
  return {
    events,
    /** Waits until the reader has all it should have, or has made no progress for a second; then stops it. */
    async stop(expectedCount: number) {
      let last = -1;
      let stillSince = Date.now();
      while (events.length < expectedCount && Date.now() - stillSince < 1000) {
        if (events.length !== last) [last, stillSince] = [events.length, Date.now()];
        await sleep(20);
      }
      await sleep(200); // anything late or duplicated shows up here
      controller.abort();
      await done;
    },
  };
}

/** Makes every insert into a store's events table hold its transaction open for 0-`maxMs` ms afterwards. */
async function addSleepAfterInsert(sql: { exec(text: string): Promise<void> }, schema: string, maxMs: number) {
  await sql.exec(`
    CREATE FUNCTION "${schema}".sleep_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_sleep(random() * ${maxMs / 1000}); RETURN NULL; END $$;
    CREATE TRIGGER sleep_after_insert AFTER INSERT ON "${schema}".events
      FOR EACH STATEMENT EXECUTE FUNCTION "${schema}".sleep_after_insert();`);
}

describe.each(drivers)('global order and concurrency (%s)', (driver) => {
  const stores = storeFactory(driver);

  it('lets exactly one of 50 concurrent appends at the same expected version win (one store)', async () => {
    const store = await stores.open();
    await store.append('account-1', [{ type: 'AccountOpened', data: {} }]);
    await expectOneWinner([store], 'account-1');
  });

  it.runIf(driver === 'postgres')('lets exactly one of 50 concurrent appends win across 5 processes', async () => {
    const first = await stores.open();
    const others = await Promise.all(Array.from({ length: 4 }, () => stores.openSeparate(first.schema, { maxConnections: 10 })));
    await first.append('account-1', [{ type: 'AccountOpened', data: {} }]);
    await expectOneWinner([first, ...others], 'account-1');
  });

  it('delivers every event exactly once, in ascending order, to a live reader while 8 writers race', async () => {
    const reference = await stores.open();
    const sql = await stores.sql();
    await addSleepAfterInsert(sql, reference.schema, driver === 'postgres' ? 20 : 2);
    // Separate stores = separate connection pools, as 8 processes would have.
    const writers = await Promise.all(
      Array.from({ length: 8 }, () => stores.openSeparate(reference.schema, { maxConnections: 2 })),
    );
    const reader = liveReader(await stores.openSeparate(reference.schema));

    const committed: string[] = [];
    const perWriter = driver === 'postgres' ? 30 : 15;
    await Promise.all(
      writers.map(async (writer, w) => {
        for (let i = 0; i < perWriter; i++) {
          const events = Array.from({ length: 1 + (i % 3) }, (_, k) => ({ id: randomUUID(), type: 'E', data: { w, i, k } }));
          await writer.append(`writer${w}-${i % 4}`, events);
          committed.push(...events.map((e) => e.id));
        }
      }),
    );
    await reader.stop(committed.length);
    expect(checkDelivery(reader.events, committed)).toEqual({
      delivered: committed.length,
      missing: 0,
      duplicates: 0,
      outOfOrder: 0,
    });
    // Positions are dense: no holes, not even from rolled-back appends.
    expect(reader.events.at(-1)!.globalPosition).toBe(BigInt(committed.length));
  });

  it.runIf(driver === 'postgres')(
    'would catch a store that orders by position alone (the same reader misses events there)',
    async () => {
      const naive = await stores.open();
      const sql = await stores.sql();
      await addSleepAfterInsert(sql, naive.schema, 20);
      await sql.exec(`CREATE SEQUENCE "${naive.schema}".naive_position`);
      const reader = liveReader(naive);
      const pool = new pg.Pool({ connectionString: serverUrl, max: 8 });
      const committed: string[] = [];
      try {
        // 8 writers that take a position from a sequence at insert time and commit whenever they are done.
        await Promise.all(
          Array.from({ length: 8 }, async (_, w) => {
            const client = await pool.connect();
            try {
              for (let i = 0; i < 30; i++) {
                const id = randomUUID();
                await client.query('BEGIN');
                await client.query(
                  `INSERT INTO "${naive.schema}".events VALUES (nextval('"${naive.schema}".naive_position'), $1, $2, $3, 'naive', 'E', 1, '{}', '{}', now())`,
                  [id, `naive-${w}-${i}`, 1],
                );
                await client.query('COMMIT');
                committed.push(id);
              }
            } finally {
              client.release();
            }
          }),
        );
      } finally {
        await pool.end();
      }
      await reader.stop(committed.length);
      const result = checkDelivery(reader.events, committed);
      console.info(`a reader ordering by position alone missed ${result.missing} of ${committed.length} events`);
      expect(result.missing).toBeGreaterThan(0);
    },
  );
});

async function expectOneWinner(stores: EventStore[], streamId: string) {
  const attempts = Array.from({ length: 50 }, (_, i) =>
    stores[i % stores.length]!.append(
      streamId,
      [
        { type: 'MoneyDeposited', data: { attempt: i } },
        { type: 'Audit', data: { attempt: i } },
      ],
      {
        expectedVersion: 1,
      },
    ),
  );
  const results = await Promise.allSettled(attempts);
  const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
  const losers = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  expect(winners).toHaveLength(1);
  expect(losers).toHaveLength(49);
  for (const loser of losers) {
    expect(loser.reason).toBeInstanceOf(ConcurrencyError);
    expect(loser.reason).toMatchObject({ streamId, expected: 1, actual: 3 });
  }
  const events = await stores[0]!.readStream(streamId);
  expect(events.map((e) => [e.streamVersion, e.type, (e.data as { attempt?: number }).attempt])).toEqual([
    [1, 'AccountOpened', undefined],
    [2, 'MoneyDeposited', winners[0]],
    [3, 'Audit', winners[0]],
  ]);
}
