import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ProjectionFailedError, ValidationError } from '../../src/index.js';
import { drivers } from '../support/drivers.js';
import { counters, deposit, expectedCounters, projectionsFactory, readCounters, waitUntil } from './support.js';

describe.each(drivers)('inline projections (%s)', (driver) => {
  const factory = projectionsFactory(driver);

  it('are set up before the first append and consistent with every append, without waiting', async () => {
    const projections = factory.projections([counters({ mode: 'inline' })]);
    const store = await factory.open({ inlineHandlers: [projections.inlineHandler] });
    // Before start(): the handler registers the projection and creates its tables in the append's transaction.
    await store.append('acct-1', [{ type: 'Deposited', data: { amount: 5 } }]);
    await projections.start(store);
    const sql = await factory.sql();
    const table = await projections.table('counters', 'counters');
    expect(await readCounters(sql, table)).toEqual([{ stream_id: 'acct-1', events: 1, total: '5', last_version: 1 }]);
    for (let i = 0; i < 20; i++) {
      const result = await store.append(`acct-${i % 3}`, [
        { type: 'Deposited', data: { amount: i } },
        { type: 'Other', data: {} },
      ]);
      const rows = await readCounters(sql, table);
      // Read-your-writes with no waitFor: the read model committed with the append.
      expect(rows.find((r) => r.stream_id === `acct-${i % 3}`)!.last_version).toBe(result.nextExpectedVersion - 1);
    }
    expect(await readCounters(sql, table)).toEqual(await expectedCounters(store));
    const [status] = await projections.status();
    expect(status).toMatchObject({ mode: 'inline', status: 'running', lagEvents: 0, checkpoint: await store.headPosition() });
  });

  it('roll the append back with a ProjectionFailedError when apply throws; other appends of the batch commit', async () => {
    const projections = factory.projections([
      counters({ mode: 'inline', failWhen: (e) => (e.data as { amount?: number }).amount === 13 }),
    ]);
    const store = await factory.open({ inlineHandlers: [projections.inlineHandler] });
    await projections.start(store);
    const results = await Promise.allSettled([
      store.append('acct-1', [{ type: 'Deposited', data: { amount: 1 } }]),
      store.append('acct-2', [
        { type: 'Deposited', data: { amount: 2 } },
        { type: 'Deposited', data: { amount: 13 } },
      ]),
      store.append('acct-3', [{ type: 'Deposited', data: { amount: 3 } }]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const error = (results[1] as PromiseRejectedResult).reason;
    expect(error).toBeInstanceOf(ProjectionFailedError);
    expect(error).toMatchObject({
      code: 'projection_failed',
      projection: 'counters',
      version: 1,
      streamId: 'acct-2',
      eventType: 'Deposited',
    });
    expect(error.message).toMatch(
      /could not apply Deposited \(stream "acct-2", version 2\); the append was rolled back: Error: cannot apply/,
    );
    expect(error.cause).toBeInstanceOf(Error);
    expect(await store.readStream('acct-2')).toEqual([]);
    const sql = await factory.sql();
    expect(await readCounters(sql, await projections.table('counters', 'counters'))).toEqual(await expectedCounters(store));
    expect((await projections.status())[0]).toMatchObject({ lagEvents: 0, status: 'running' });
  });

  it('fall behind on appends made without the handler; the daemon catches them up and appends keep them current again', async () => {
    const projections = factory.projections([counters({ mode: 'inline' })], { batchSize: 20, pollIntervalMs: 50 });
    const store = await factory.open({ inlineHandlers: [projections.inlineHandler] });
    await store.append('acct-0', [{ type: 'Deposited', data: { amount: 1 } }]);
    const plain = await factory.openSeparate(store.schema); // a process that does not know the projection
    await deposit(plain, 45, { streams: 4 });
    const sql = await factory.sql();
    const table = await projections.attach(store).table('counters', 'counters');
    expect((await readCounters(sql, table)).reduce((n, r) => n + r.events, 0)).toBe(1);
    // Appends through the inline store while it is behind leave their events to the daemon too.
    await store.append('acct-0', [{ type: 'Deposited', data: { amount: 2 } }]);
    await projections.start(store);
    await projections.waitFor('counters', await store.headPosition(), { timeout: 20_000 });
    const result = await store.append('acct-9', [{ type: 'Deposited', data: { amount: 9 } }]);
    expect((await readCounters(sql, table)).find((r) => r.stream_id === 'acct-9')).toMatchObject({ events: 1 });
    expect((await projections.status())[0]!.checkpoint).toBe(result.lastPosition);
    expect(await readCounters(sql, table)).toEqual(await expectedCounters(store));
    const anomalies = await sql.query(`SELECT * FROM ${await projections.table('counters', 'anomalies')}`);
    expect(anomalies).toEqual([]);
  });

  it('catch up under a steady stream of appends, converging to applying them inline', async () => {
    const projections = factory.projections([counters({ mode: 'inline' })], { batchSize: 25, pollIntervalMs: 50 });
    const store = await factory.open({ inlineHandlers: [projections.inlineHandler] });
    const plain = await factory.openSeparate(store.schema);
    await deposit(plain, 200, { streams: 9 });
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        await store.append(`w-${i % 4}`, [{ type: 'Deposited', data: { amount: i } }]);
        await sleep(1); // PGlite answers without I/O: a tight loop would starve every timer
      }
    })();
    const sql = await factory.sql();
    let table: string;
    try {
      await projections.start(store);
      await waitUntil(
        async () => (await projections.status())[0]!.lagEvents === 0 && (await store.headPosition()) > 260n,
        30_000,
        'catch-up',
      );
      // Caught up while appends went on: from here every append is applied in its own transaction.
      table = await projections.table('counters', 'counters');
      for (let i = 0; i < 5; i++) {
        const r = await store.append('probe-1', [{ type: 'Deposited', data: { amount: 1 } }]);
        expect((await readCounters(sql, table)).find((row) => row.stream_id === 'probe-1')!.last_version).toBe(
          r.nextExpectedVersion,
        );
      }
    } finally {
      writing = false;
      await writer;
    }
    await projections.waitFor('counters', await store.headPosition());
    expect(await readCounters(sql, table)).toEqual(await expectedCounters(store));
  });

  it('refuse to start when the store was opened without their handler', async () => {
    const store = await factory.open();
    const projections = factory.projections([counters({ mode: 'inline' })]);
    const error = await projections.start(store).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ field: 'inlineHandlers' });
  });
});
