/**
 * A non-projection external-delivery consumer (an outbox publisher) on the generic layer, against an
 * in-process "broker" that fails, is slow, and acknowledges part of a batch before failing. At least
 * once: no event is ever skipped, the checkpoint never passes an event the broker has not acknowledged,
 * and a runner that lost its lease cannot move the checkpoint.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { EventStore, RecordedEvent } from '../../src/index.js';
import { defineDeliveryConsumer, EventRejected, type FailurePolicy } from '../../src/processing/index.js';
import { drivers } from '../support/drivers.js';
import { appendEvents, checkpointOf, consumersFactory, giveLeaseAway, waitUntil } from './support.js';

/** A broker that dedupes by event id, as JetStream does with a message id. */
class Broker {
  /** Positions acknowledged (deduplicated). */
  readonly acked = new Set<bigint>();
  /** Every delivery attempt's positions, duplicates included, in order. */
  readonly received: bigint[] = [];
  failRate = 0;
  maxDelayMs = 0;
  reject: ((e: RecordedEvent) => boolean) | null = null;
  private seed = 42;

  /** Deterministic pseudo-randomness, so that a failing run can be replayed. */
  random(): number {
    this.seed = (this.seed * 16807) % 2147483647;
    return this.seed / 2147483647;
  }

  async publish(events: readonly RecordedEvent[]): Promise<void> {
    if (this.maxDelayMs > 0) await sleep(Math.floor(this.random() * this.maxDelayMs));
    const index = this.reject ? events.findIndex(this.reject) : -1;
    const failing = this.random() < this.failRate;
    const upTo = index >= 0 ? index : failing ? Math.floor(this.random() * events.length) : events.length;
    for (const e of events.slice(0, upTo)) {
      this.received.push(e.globalPosition);
      this.acked.add(e.globalPosition); // acknowledged one by one: a failure may come after some of them
    }
    if (index >= 0) throw new EventRejected(index, new Error(`broker refuses ${events[index]!.type}`));
    if (failing) throw new Error('broker unavailable');
  }
}

function outbox(broker: Broker, options: { onFailure?: FailurePolicy; gate?: () => Promise<void>; maxBatch?: number } = {}) {
  return defineDeliveryConsumer({
    name: 'outbox',
    onFailure: options.onFailure,
    retry: { attempts: 2, backoffMs: 10 },
    maxBatch: options.maxBatch,
    async deliver(events) {
      await options.gate?.();
      await broker.publish(events);
    },
  });
}

async function allPositions(store: EventStore): Promise<bigint[]> {
  return (await store.readAll({ after: 0n, maxCount: 100_000 })).map((e) => e.globalPosition);
}

describe.each(drivers)('an external-delivery consumer (%s)', (driver) => {
  const f = consumersFactory(driver);

  it('never skips an event and checkpoints only what the broker acknowledged, while the broker fails and is slow', async () => {
    const store = await f.open();
    const broker = new Broker();
    broker.failRate = 0.3;
    broker.maxDelayMs = 15;
    const consumers = f.consumers([outbox(broker, { maxBatch: 9 })], { batchSize: 20 });
    const errors: unknown[] = [];
    consumers.on('error', (e) => errors.push(e));
    await appendEvents(store, 60);
    await consumers.start(store);

    // A watchdog reads the committed checkpoint all along: nothing at or before it may be unacknowledged.
    let watching = true;
    const violations: bigint[] = [];
    let checks = 0;
    const watchdog = (async () => {
      while (watching) {
        const checkpoint = await checkpointOf(store, 'outbox');
        for (let p = 1n; p <= checkpoint; p++) if (!broker.acked.has(p)) violations.push(p);
        checks++;
        await sleep(3);
      }
    })();
    const last = await appendEvents(store, 140, { prefix: 'live' });
    await consumers.waitFor('outbox', last, { timeout: 30_000 });
    watching = false;
    await watchdog;

    expect(violations).toEqual([]);
    expect(checks).toBeGreaterThan(10);
    expect([...broker.acked].sort((a, b) => (a < b ? -1 : 1))).toEqual(await allPositions(store));
    expect(errors.length).toBeGreaterThan(0); // the broker did fail...
    expect(broker.received.length).toBeGreaterThan(broker.acked.size); // ...and batches were delivered again
    const [status] = await consumers.status('outbox');
    // A broker fault is never blamed on an event: nothing parked, not failed.
    expect(status).toMatchObject({ status: 'running', checkpoint: last, lagEvents: 0, parkedEvents: 0, failedPosition: null });
    expect(status!.lastError!.message).toMatch(/broker unavailable/);
  });

  it('a runner that lost its lease mid-delivery cannot move the checkpoint; its successor delivers the batch again', async () => {
    const store = await f.open();
    const broker = new Broker();
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let aDeliveries = 0;
    const a = f.consumers(
      [
        outbox(broker, {
          gate: async () => {
            aDeliveries++;
            await held; // a process frozen in the middle of a delivery
          },
        }),
      ],
      { owner: 'a' },
    );
    const aCheckpoints: bigint[] = [];
    a.on('checkpoint', (e) => aCheckpoints.push(e.position));
    const first = await appendEvents(store, 12);
    await a.start(store);
    await waitUntil(() => aDeliveries === 1, 10_000, 'a delivering');

    await giveLeaseAway(store, 'outbox', -1); // a's lease lapsed while it was frozen
    const b = await f.consumers([outbox(broker)], { owner: 'b' }).start(store);
    await b.waitFor('outbox', first, { timeout: 10_000 });
    expect((await b.status('outbox'))[0]!.owner).toBe('b');

    release(); // a wakes up: the broker acknowledges its (stale) batch, but the checkpoint is fenced
    await sleep(300);
    expect(aCheckpoints).toEqual([]);
    const last = await appendEvents(store, 6);
    await b.waitFor('outbox', last);
    await sleep(200);
    expect(aCheckpoints).toEqual([]);
    expect(await checkpointOf(store, 'outbox')).toBe(last);
    expect([...broker.acked].sort((x, y) => (x < y ? -1 : 1))).toEqual(await allPositions(store));
    // At least once: a's batch reached the broker twice (a, then b); the broker's dedupe by id absorbs it.
    expect(broker.received.filter((p) => p === 1n)).toHaveLength(2);
  });

  it("an event the broker refuses is parked with its stream's later events, in order; the others go on; retry delivers them in order", async () => {
    const store = await f.open();
    const broker = new Broker();
    broker.reject = (e) => e.type === 'Poison';
    const consumers = f.consumers([outbox(broker, { onFailure: 'park' })]);
    await appendEvents(store, 6, { streams: 2 });
    const poison = await store.append('s-0', [{ type: 'Poison', data: {} }]);
    const last = await appendEvents(store, 8, { streams: 2 });
    await consumers.start(store);
    await consumers.waitFor('outbox', last);

    const list = await consumers.parkedEvents('outbox');
    expect(list.map((p) => [p.position, p.streamId, p.reason])).toEqual([
      [poison.lastPosition, 's-0', 'failed'],
      ...(await store.readStream('s-0'))
        .filter((e) => e.globalPosition > poison.lastPosition)
        .map((e) => [e.globalPosition, 's-0', 'behind']),
    ]);
    expect(list[0]!.error).toMatch(/broker refuses Poison/);
    // s-1 was delivered entirely; s-0 up to the refused event.
    const s1 = (await store.readStream('s-1')).map((e) => e.globalPosition);
    expect(s1.every((p) => broker.acked.has(p))).toBe(true);
    expect(list.some((p) => broker.acked.has(p.position))).toBe(false);

    broker.reject = null; // the fix
    const before = broker.received.length;
    expect(await consumers.retryParked('outbox')).toBe(list.length);
    await waitUntil(async () => (await consumers.parkedEvents('outbox')).length === 0, 10_000, 'parked events delivered');
    expect(broker.received.slice(before)).toEqual(list.map((p) => p.position)); // in stream order
    expect([...broker.acked].sort((x, y) => (x < y ? -1 : 1))).toEqual(await allPositions(store));
  });

  it("policy 'stop': a refused event stops it in status failed before that event; resume after a fix goes on", async () => {
    const store = await f.open();
    const broker = new Broker();
    broker.reject = (e) => e.type === 'Poison';
    const consumers = f.consumers([outbox(broker)]);
    await appendEvents(store, 5);
    const poison = await store.append('s-2', [{ type: 'Poison', data: {} }]);
    const last = await appendEvents(store, 5);
    await consumers.start(store);
    await waitUntil(async () => (await consumers.status('outbox'))[0]!.status === 'failed', 10_000, 'failed');
    expect((await consumers.status('outbox'))[0]).toMatchObject({
      checkpoint: poison.lastPosition - 1n,
      failedPosition: poison.lastPosition,
    });
    await expect(consumers.waitFor('outbox', last, { timeout: 1_000 })).rejects.toMatchObject({ code: 'consumer_failed' });
    expect([...broker.acked].some((p) => p >= poison.lastPosition)).toBe(false);
    broker.reject = null;
    expect(await consumers.resume('outbox')).toBe(1);
    await consumers.waitFor('outbox', last);
    expect([...broker.acked].sort((x, y) => (x < y ? -1 : 1))).toEqual(await allPositions(store));
  });

  it('pause holds deliveries back; resume catches up; status shows the lag', async () => {
    const store = await f.open();
    const broker = new Broker();
    const consumers = await f.consumers([outbox(broker)]).start(store);
    const first = await appendEvents(store, 5);
    await consumers.waitFor('outbox', first);
    expect(await consumers.pause('outbox')).toBe(1);
    await waitUntil(async () => (await consumers.status('outbox'))[0]!.status === 'paused', 5_000, 'paused');
    const last = await appendEvents(store, 7);
    await sleep(400);
    expect(broker.acked.size).toBe(5);
    const [paused] = await consumers.status('outbox');
    expect(paused).toMatchObject({ status: 'paused', checkpoint: first, headPosition: last, lagEvents: 7 });
    expect(paused!.lagSeconds).toBeGreaterThan(0);
    expect(await consumers.resume('outbox')).toBe(1);
    await consumers.waitFor('outbox', last);
    expect(broker.acked.size).toBe(12);
    expect((await consumers.status('outbox'))[0]).toMatchObject({ status: 'running', lagEvents: 0, lagSeconds: 0 });
  });
});
