/**
 * Helpers for the consumer tests: stores and `Consumers` that are stopped after the file, appends over a
 * few streams, and a way to take a consumer's lease away the way a frozen process loses it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll } from 'vitest';
import type { EventStore } from '../../src/index.js';
import { createConsumers, type ConsumerDefinition, type Consumers, type ConsumersOptions } from '../../src/processing/index.js';
import { storeFactory, type DriverName } from '../support/drivers.js';

export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs = 20_000, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export function consumersFactory(driver: DriverName) {
  const stores = storeFactory(driver);
  const started: Consumers[] = [];
  afterAll(async () => {
    await Promise.all(started.map((c) => c.stop().catch(() => {})));
  });
  return {
    open: () => stores.open(),
    /** Consumers with test-friendly timings; stopped after the file. */
    consumers(definitions: ConsumerDefinition[], options: ConsumersOptions = {}): Consumers {
      const consumers = createConsumers(definitions, { pollIntervalMs: 100, leaseTtlMs: 600, ...options });
      started.push(consumers);
      return consumers;
    },
  };
}

/** Appends `count` events of `type`, one per append, round-robin over `streams` streams; returns the last position. */
export async function appendEvents(
  store: EventStore,
  count: number,
  options: { streams?: number; prefix?: string; type?: string } = {},
) {
  const streams = options.streams ?? 4;
  let last = 0n;
  for (let i = 0; i < count; i++) {
    const { lastPosition } = await store.append(`${options.prefix ?? 's'}-${i % streams}`, [
      { type: options.type ?? 'Happened', data: { n: i } },
    ]);
    last = lastPosition;
  }
  return last;
}

/** What a process that froze past its lease looks like to the others: someone else's lease, expiring in `ms`. */
export async function giveLeaseAway(store: EventStore, name: string, ms: number, owner = 'frozen-process') {
  await store.sql.query(
    `UPDATE "${store.schema}".consumers SET lease_owner = $2, lease_expires_at = clock_timestamp() + $3 * interval '1 millisecond' WHERE name = $1`,
    [name, owner, ms],
  );
}

export async function checkpointOf(store: EventStore, name: string): Promise<bigint> {
  const rows = await store.sql.query<{ checkpoint: string }>(
    `SELECT checkpoint::text AS checkpoint FROM "${store.schema}".consumers WHERE name = $1`,
    [name],
  );
  return BigInt(rows[0]!.checkpoint);
}
