import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/index.js';
import { drivers, storeFactory } from '../support/drivers.js';

/** Collects from a subscription in the background until `until` says stop. */
function collect(subscription: AsyncIterable<RecordedEvent>, until: (events: RecordedEvent[]) => boolean) {
  const events: RecordedEvent[] = [];
  const done = (async () => {
    for await (const event of subscription) {
      events.push(event);
      if (until(events)) break;
    }
  })();
  return { events, done };
}

async function waitUntil(condition: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(10);
  }
}

describe.each(drivers)('subscribe (%s)', (driver) => {
  const stores = storeFactory(driver);

  it('catches up, then delivers live events in order, and ends on break', async () => {
    const store = await stores.open();
    await store.append('s-1', [
      { type: 'E', data: 1 },
      { type: 'E', data: 2 },
    ]);
    await store.append('s-2', [{ type: 'E', data: 3 }]);
    const { events, done } = collect(store.subscribe({ pollIntervalMs: 60_000 }), (e) => e.length === 6);
    await waitUntil(() => events.length === 3);
    await store.append('s-1', [{ type: 'E', data: 4 }]);
    await store.append('s-3', [
      { type: 'E', data: 5 },
      { type: 'E', data: 6 },
    ]);
    await done;
    expect(events.map((e) => e.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(events.map((e) => e.globalPosition)).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
  });

  it('resumes after a checkpoint and filters by event and stream type', async () => {
    const store = await stores.open();
    await store.append('account-1', [{ type: 'AccountOpened', data: 1 }]);
    await store.append('order-1', [{ type: 'OrderPlaced', data: 2 }]);
    await store.append('account-1', [{ type: 'MoneyDeposited', data: 3 }]);
    const fromCheckpoint = collect(store.subscribe({ after: 1n }), (e) => e.length === 2);
    await fromCheckpoint.done;
    expect(fromCheckpoint.events.map((e) => e.data)).toEqual([2, 3]);

    const deposits = collect(store.subscribe({ eventTypes: ['MoneyDeposited'], pollIntervalMs: 60_000 }), (e) => e.length === 2);
    const orders = collect(store.subscribe({ streamTypes: ['order'], pollIntervalMs: 60_000 }), (e) => e.length === 2);
    await waitUntil(() => deposits.events.length === 1 && orders.events.length === 1);
    for (let i = 0; i < 5; i++) await store.append('noise-1', [{ type: 'Noise', data: i }]);
    await store.append('account-1', [{ type: 'MoneyDeposited', data: 4 }]);
    await store.append('order-2', [{ type: 'OrderPlaced', data: 5 }]);
    await Promise.all([deposits.done, orders.done]);
    expect(deposits.events.map((e) => e.data)).toEqual([3, 4]);
    expect(orders.events.map((e) => e.data)).toEqual([2, 5]);
  });

  it('ends when its AbortSignal aborts while waiting, and when the store closes', async () => {
    const store = await stores.open();
    await store.append('s-1', [{ type: 'E', data: 1 }]);
    const controller = new AbortController();
    const aborted = collect(store.subscribe({ signal: controller.signal, pollIntervalMs: 60_000 }), () => false);
    const closing = collect(store.subscribe({ pollIntervalMs: 60_000 }), () => false);
    await waitUntil(() => aborted.events.length === 1 && closing.events.length === 1);
    const started = Date.now();
    controller.abort();
    await aborted.done;
    await store.close();
    await closing.done;
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('polls when a notification is missed', async () => {
    const store = await stores.open();
    const { events, done } = collect(store.subscribe({ pollIntervalMs: 50 }), (e) => e.length === 1);
    await sleep(100);
    // Write an event the way another writer would, but without its NOTIFY.
    const sql = await stores.sql();
    await sql.exec(`
      INSERT INTO "${store.schema}".streams VALUES ('s-1', 's', 1, now(), now(), NULL, '{}');
      INSERT INTO "${store.schema}".events VALUES (1, gen_random_uuid(), 's-1', 1, 's', 'E', 1, '"quiet"', '{}', now());`);
    await done;
    expect(events.map((e) => e.data)).toEqual(['quiet']);
  });

  it.runIf(driver === 'postgres')('is woken by appends from another process within moments', async () => {
    const reader = await stores.open();
    const writer = await stores.openSeparate(reader.schema);
    const { events, done } = collect(reader.subscribe({ pollIntervalMs: 60_000 }), (e) => e.length === 3);
    await sleep(200);
    const started = Date.now();
    for (let i = 0; i < 3; i++) await writer.append('s-1', [{ type: 'E', data: i }]);
    await done;
    expect(events.map((e) => e.data)).toEqual([0, 1, 2]);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
