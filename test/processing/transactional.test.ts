/**
 * A non-projection transactional consumer (a process manager writing its own rows) on the generic layer:
 * its effects commit with its checkpoint, fenced by its lease.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { EventStore, RecordedEvent, SqlExecutor } from '../../src/index.js';
import { defineTransactionalConsumer, type FailurePolicy } from '../../src/processing/index.js';
import { drivers } from '../support/drivers.js';
import { appendEvents, checkpointOf, consumersFactory, giveLeaseAway, waitUntil } from './support.js';

/** A consumer that logs every event it handles, with the process that handled it, in the store's schema. */
async function handledLog(store: EventStore) {
  const table = `"${store.schema}".handled`;
  await store.sql.exec(
    `CREATE TABLE ${table} (position bigint NOT NULL, stream_id text NOT NULL, owner text NOT NULL, seq bigserial)`,
  );
  return {
    table,
    consumer(
      owner: string,
      options: { name?: string; onFailure?: FailurePolicy; failWhen?: (e: RecordedEvent) => boolean } = {},
    ) {
      return defineTransactionalConsumer({
        name: options.name ?? 'pm',
        handles: ['Happened', 'Poison'],
        onFailure: options.onFailure,
        retry: { attempts: 2, backoffMs: 10 },
        async handle(event: RecordedEvent, tx: SqlExecutor) {
          await tx.query(`INSERT INTO ${table} (position, stream_id, owner) VALUES ($1, $2, $3)`, [
            event.globalPosition,
            event.streamId,
            owner,
          ]);
          if (options.failWhen?.(event)) throw new Error(`cannot handle ${event.type}`);
        },
      });
    },
    async positions(): Promise<bigint[]> {
      const rows = await store.sql.query<{ position: string }>(`SELECT position::text AS position FROM ${table} ORDER BY seq`);
      return rows.map((r) => BigInt(r.position));
    },
    async duplicates(): Promise<unknown[]> {
      return store.sql.query(`SELECT position FROM ${table} GROUP BY position HAVING count(*) > 1`);
    },
  };
}

async function positionsOf(store: EventStore, types: string[]): Promise<bigint[]> {
  return (await store.readAll({ after: 0n, maxCount: 100_000, eventTypes: types })).map((e) => e.globalPosition);
}

describe.each(drivers)('a transactional consumer (%s)', (driver) => {
  const f = consumersFactory(driver);

  it('two runners of one consumer never both apply a batch: every event exactly once, while writers append', async () => {
    const store = await f.open();
    const log = await handledLog(store);
    await appendEvents(store, 150, { streams: 6 });
    const a = await f.consumers([log.consumer('a')], { owner: 'a', batchSize: 7 }).start(store);
    const b = await f.consumers([log.consumer('b')], { owner: 'b', batchSize: 7 }).start(store);
    const last = await appendEvents(store, 150, { streams: 6, prefix: 'live' });
    await a.waitFor('pm', last, { timeout: 30_000 });
    expect(await log.duplicates()).toEqual([]);
    expect(await log.positions()).toEqual(await positionsOf(store, ['Happened'])); // all of them, in global order
    const [status] = await b.status('pm');
    expect(['a', 'b']).toContain(status!.owner);
    expect(status).toMatchObject({ name: 'pm', status: 'running', checkpoint: last, lagEvents: 0, parkedEvents: 0 });
  });

  it('waits while another process holds the lease, and takes over once it expires', async () => {
    const store = await f.open();
    const log = await handledLog(store);
    const first = await appendEvents(store, 10);
    const consumers = await f.consumers([log.consumer('a')], { owner: 'a' }).start(store);
    await consumers.waitFor('pm', first);
    await giveLeaseAway(store, 'pm', 1_500);
    await sleep(150); // the runner notices on its next step
    const last = await appendEvents(store, 10);
    await sleep(700); // more than the runner's lease time to live: it still must not touch the consumer
    expect(await checkpointOf(store, 'pm')).toBe(first);
    expect((await consumers.status('pm'))[0]!.owner).toBe('frozen-process');
    await consumers.waitFor('pm', last, { timeout: 10_000 }); // the frozen lease expired: taken over
    expect((await consumers.status('pm'))[0]!.owner).toBe('a');
    expect(await log.duplicates()).toEqual([]);
    expect(await log.positions()).toEqual(await positionsOf(store, ['Happened']));
  });

  it('pause stops it where it is; resume catches up exactly once', async () => {
    const store = await f.open();
    const log = await handledLog(store);
    const consumers = await f.consumers([log.consumer('a')]).start(store);
    const first = await appendEvents(store, 10);
    await consumers.waitFor('pm', first);
    expect(await consumers.pause('pm')).toBe(1);
    await waitUntil(async () => (await consumers.status('pm'))[0]!.status === 'paused', 5_000, 'paused');
    const last = await appendEvents(store, 10);
    await sleep(400);
    const [paused] = await consumers.status('pm');
    expect(paused).toMatchObject({ status: 'paused', checkpoint: first, lagEvents: Number(last - first) });
    expect(paused!.lagSeconds).toBeGreaterThan(0);
    expect(await consumers.pause('pm')).toBe(0);
    expect(await consumers.resume('pm')).toBe(1);
    await consumers.waitFor('pm', last);
    expect(await log.duplicates()).toEqual([]);
    expect(await log.positions()).toEqual(await positionsOf(store, ['Happened']));
  });

  it('reports lag in events and seconds while nothing runs; waitFor names where it is', async () => {
    const store = await f.open();
    const log = await handledLog(store);
    const consumers = f.consumers([log.consumer('a')]);
    await consumers.start(store);
    await consumers.stop();
    const last = await appendEvents(store, 5);
    await sleep(50);
    const [status] = await consumers.status('pm');
    expect(status).toMatchObject({ status: 'stopped', checkpoint: 0n, headPosition: last, lagEvents: 5, owner: null });
    expect(status!.lagSeconds).toBeGreaterThan(0);
    await expect(consumers.waitFor('pm', last, { timeout: 50 })).rejects.toMatchObject({
      code: 'consumer_timeout',
      checkpoint: 0n,
    });
    await expect(consumers.waitFor('nope', 1n)).rejects.toMatchObject({ code: 'consumer_not_found' });
  });

  it("policy 'park': a failed event parks its stream's later events behind it, in order; retry applies them in order", async () => {
    const store = await f.open();
    const log = await handledLog(store);
    let broken = true;
    const consumers = f.consumers([log.consumer('a', { onFailure: 'park', failWhen: (e) => broken && e.type === 'Poison' })]);
    const parked: unknown[] = [];
    consumers.on('parked', (e) => parked.push(e));
    await appendEvents(store, 8, { streams: 2 });
    const poison = await store.append('s-1', [{ type: 'Poison', data: {} }]);
    const last = await appendEvents(store, 12, { streams: 2 }); // s-0 and s-1 go on
    await consumers.start(store);
    await consumers.waitFor('pm', last);

    const list = await consumers.parkedEvents('pm');
    expect(list[0]).toMatchObject({ position: poison.lastPosition, streamId: 's-1', reason: 'failed', attempts: 2 });
    expect(list[0]!.error).toMatch(/cannot handle Poison/);
    const behind = list.slice(1);
    expect(behind.length).toBe(6);
    expect(behind.every((p) => p.reason === 'behind' && p.streamId === 's-1' && p.position > poison.lastPosition)).toBe(true);
    expect(behind.map((p) => p.position)).toEqual([...behind.map((p) => p.position)].sort((x, y) => (x < y ? -1 : 1)));
    expect(parked).toHaveLength(1);
    // s-0 is current; s-1 stopped at the poison event.
    const applied = await store.sql.query<{ stream_id: string; n: number }>(
      `SELECT stream_id, count(*)::int AS n FROM ${log.table} GROUP BY stream_id ORDER BY stream_id`,
    );
    expect(applied).toEqual([
      { stream_id: 's-0', n: 10 },
      { stream_id: 's-1', n: 4 }, // the failed attempts rolled back with their transactions
    ]);

    broken = false; // the fix
    expect(await consumers.retryParked('pm')).toBe(7);
    await waitUntil(async () => (await consumers.parkedEvents('pm')).length === 0, 10_000, 'parked events retried');
    expect(await log.duplicates()).toEqual([]);
    const all = await positionsOf(store, ['Happened', 'Poison']);
    expect([...(await log.positions())].sort((x, y) => (x < y ? -1 : 1))).toEqual(all);
    // Each stream's events were handled in stream order: the parked ones after the ones before them.
    const s1 = await store.sql.query<{ position: string }>(
      `SELECT position::text AS position FROM ${log.table} WHERE stream_id = 's-1' ORDER BY seq`,
    );
    const order = s1.map((r) => BigInt(r.position));
    expect(order).toEqual([...order].sort((x, y) => (x < y ? -1 : 1)));
    expect((await consumers.status('pm'))[0]).toMatchObject({ status: 'running', parkedEvents: 0, checkpoint: last });
  });
});
