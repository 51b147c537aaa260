import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ProjectionFailedError, ProjectionNotFoundError, type RecordedEvent } from '../../src/index.js';
import { drivers } from '../support/drivers.js';
import { counters, deposit, expectedCounters, projectionsFactory, readCounters, waitUntil } from './support.js';

const BOTH = ['Deposited', 'Poison'];
const isPoison = (e: RecordedEvent) => e.type === 'Poison';

describe.each(drivers)('projection failures (%s)', (driver) => {
  const factory = projectionsFactory(driver);

  it("policy 'stop': retries, then stops in status failed at the event, with the error; resume after a fix", async () => {
    const store = await factory.open();
    let broken = true;
    const projections = factory.projections(
      [counters({ onFailure: 'stop', attempts: 3, failWhen: (e) => broken && isPoison(e) })],
      {
        batchSize: 50,
      },
    );
    const failed: unknown[] = [];
    projections.on('failed', (e) => failed.push(e));
    await deposit(store, 20, { streams: 3 });
    const poison = await store.append('acct-1', [{ type: 'Poison', data: { amount: 100 } }]);
    const after = await deposit(store, 10, { streams: 3, prefix: 'later' });
    await projections.start(store);

    await waitUntil(async () => (await projections.status())[0]!.status === 'failed', 20_000, 'status failed');
    const [status] = await projections.status();
    expect(status).toMatchObject({ status: 'failed', failedPosition: poison.lastPosition, checkpoint: poison.lastPosition - 1n });
    expect(status!.lastError!.message).toMatch(
      /Poison at position \d+ \(stream "acct-1", version \d+\) failed 3 time\(s\): Error: cannot apply Poison/,
    );
    expect(status!.lastError!.position).toBe(poison.lastPosition);
    expect(failed).toEqual([expect.objectContaining({ projection: 'counters', position: poison.lastPosition })]);
    // Everything before the poison event is applied, nothing after it.
    const sql = await factory.sql();
    const table = await projections.table('counters', 'counters');
    expect((await readCounters(sql, table)).some((r) => r.stream_id.startsWith('later'))).toBe(false);
    const error = await projections.waitFor('counters', after, { timeout: 5_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProjectionFailedError);
    expect(error).toMatchObject({ projection: 'counters', position: poison.lastPosition });
    await projections.waitFor('counters', poison.lastPosition - 1n); // reached: resolves

    await sleep(300); // stays failed: no retries behind the operator's back
    expect((await projections.status())[0]).toMatchObject({ status: 'failed', checkpoint: poison.lastPosition - 1n });
    broken = false; // the fix
    expect(await projections.resume('counters')).toBe(1);
    await projections.waitFor('counters', after, { timeout: 20_000 });
    expect(await readCounters(sql, table)).toEqual(await expectedCounters(store, BOTH));
    // Recovered: the error that stopped it is no longer reported.
    expect((await projections.status())[0]).toMatchObject({ status: 'running', failedPosition: null, lastError: null });
  });

  it('an event that fails only at first is applied by a retry, without stopping or parking', async () => {
    const store = await factory.open();
    const failures = new Map<string, number>();
    const flaky = counters({
      onFailure: 'stop',
      attempts: 3,
      failWhen: (e) => {
        if (!isPoison(e)) return false;
        const n = (failures.get(e.id) ?? 0) + 1;
        failures.set(e.id, n);
        return n < 3;
      },
    });
    const projections = await factory.projections([flaky]).start(store);
    await deposit(store, 5);
    await store.append('acct-2', [{ type: 'Poison', data: { amount: 7 } }]);
    const last = await deposit(store, 5, { prefix: 'after' });
    await projections.waitFor('counters', last, { timeout: 20_000 });
    expect([...failures.values()]).toEqual([3]);
    expect(await readCounters(await factory.sql(), await projections.table('counters', 'counters'))).toEqual(
      await expectedCounters(store, BOTH),
    );
  });

  it("policy 'park': parks the event and every later event of its stream, other streams go on; retry after a fix applies them in order", async () => {
    const store = await factory.open();
    let broken = true;
    const projections = factory.projections(
      [counters({ onFailure: 'park', attempts: 2, failWhen: (e) => broken && isPoison(e) })],
      {
        batchSize: 30,
      },
    );
    const parked: unknown[] = [];
    projections.on('parked', (e) => parked.push(e));
    await deposit(store, 30, { streams: 5 });
    const poisons = [
      await store.append('acct-1', [{ type: 'Poison', data: { amount: 1 } }]),
      await store.append('acct-3', [{ type: 'Poison', data: { amount: 3 } }]),
    ];
    await deposit(store, 40, { streams: 5 }); // later events of the poisoned streams, and of others
    await projections.start(store);

    // Writers keep appending to every stream while the projection parks and, later, retries.
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        await store.append(`acct-${i % 5}`, [{ type: 'Deposited', data: { amount: i % 9 } }]);
        await sleep(2);
      }
    })();
    try {
      await waitUntil(async () => (await projections.status())[0]!.lagEvents === 0 && parked.length >= 2, 20_000, 'parking');
      const list = await projections.parkedEvents('counters');
      const failedOnes = list.filter((p) => p.reason === 'failed');
      expect(failedOnes.map((p) => [p.position, p.streamId, p.attempts])).toEqual([
        [poisons[0]!.lastPosition, 'acct-1', 2],
        [poisons[1]!.lastPosition, 'acct-3', 2],
      ]);
      expect(failedOnes[0]!.error).toMatch(/cannot apply Poison/);
      const behind = list.filter((p) => p.reason === 'behind');
      expect(behind.length).toBeGreaterThan(10);
      expect(new Set(behind.map((p) => p.streamId))).toEqual(new Set(['acct-1', 'acct-3']));
      expect((await projections.status())[0]).toMatchObject({ status: 'running', parkedEvents: list.length });
      // Streams that have nothing parked are current.
      const sql = await factory.sql();
      const table = await projections.table('counters', 'counters');
      const expectedNow = await expectedCounters(store, BOTH);
      const rows = await readCounters(sql, table);
      for (const stream of ['acct-0', 'acct-2', 'acct-4']) {
        const row = rows.find((r) => r.stream_id === stream)!;
        expect(row.last_version).toBeLessThanOrEqual(expectedNow.find((r) => r.stream_id === stream)!.last_version);
      }
      expect(rows.find((r) => r.stream_id === 'acct-1')!.last_version).toBeLessThan(poisons[0]!.nextExpectedVersion);

      broken = false; // the fix
      expect(await projections.retryParked('counters', { streamId: 'acct-1' })).toBeGreaterThan(1);
      await waitUntil(
        async () => (await projections.parkedEvents('counters')).every((p) => p.streamId !== 'acct-1'),
        20_000,
        'acct-1',
      );
      await projections.retryParked('counters');
      await waitUntil(async () => (await projections.parkedEvents('counters')).length === 0, 20_000, 'all retried');
    } finally {
      writing = false;
      await writer;
    }
    await projections.waitFor('counters', await store.headPosition(), { timeout: 20_000 });
    const sql = await factory.sql();
    expect(await readCounters(sql, await projections.table('counters', 'counters'))).toEqual(await expectedCounters(store, BOTH));
    expect(await sql.query(`SELECT * FROM ${await projections.table('counters', 'anomalies')}`)).toEqual([]);
    expect((await projections.status())[0]).toMatchObject({ parkedEvents: 0, status: 'running' });
  });

  it('skipping a parked event that failed lets the events behind it through; a retry that fails again stays parked', async () => {
    const store = await factory.open();
    const projections = factory.projections([counters({ onFailure: 'park', attempts: 1, failWhen: isPoison })]);
    await store.append('acct-1', [{ type: 'Deposited', data: { amount: 1 } }]);
    const poison = await store.append('acct-1', [{ type: 'Poison', data: { amount: 50 } }]);
    await store.append('acct-1', [
      { type: 'Deposited', data: { amount: 2 } },
      { type: 'Deposited', data: { amount: 3 } },
    ]);
    const last = await deposit(store, 3, { streams: 1, prefix: 'other' });
    await projections.start(store);
    await projections.waitFor('counters', last);
    expect((await projections.parkedEvents('counters')).map((p) => p.reason)).toEqual(['failed', 'behind', 'behind']);

    await projections.retryParked('counters'); // still broken
    await waitUntil(async () => (await projections.parkedEvents('counters'))[0]!.attempts === 2, 10_000, 'second failure');
    expect((await projections.parkedEvents('counters')).map((p) => [p.reason, p.retryRequested])).toEqual([
      ['failed', false],
      ['behind', false],
      ['behind', false],
    ]);

    await expect(projections.skipParked('counters', poison.lastPosition + 1n)).rejects.toMatchObject({ field: 'position' });
    await projections.skipParked('counters', poison.lastPosition);
    await waitUntil(async () => (await projections.parkedEvents('counters')).length === 0, 10_000, 'released');
    const rows = await readCounters(await factory.sql(), await projections.table('counters', 'counters'));
    expect(rows.find((r) => r.stream_id === 'acct-1')).toEqual({ stream_id: 'acct-1', events: 3, total: '6', last_version: 4 });
    await expect(projections.retryParked('nope')).rejects.toBeInstanceOf(ProjectionNotFoundError);
  });
});
