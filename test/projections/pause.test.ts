import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { drivers } from '../support/drivers.js';
import { counters, deposit, expectedCounters, projectionsFactory, readCounters, waitUntil } from './support.js';

describe.each(drivers)('pausing a projection (%s)', (driver) => {
  const f = projectionsFactory(driver);

  it('stops applying events while paused, and catches up exactly once after resume', async () => {
    const store = await f.open();
    const projections = f.projections([counters()]);
    await projections.start(store);
    const first = await deposit(store, 30);
    await projections.waitFor('counters', first, { timeout: 20_000 });

    expect(await projections.pause('counters')).toBe(1);
    await waitUntil(async () => (await projections.status())[0]!.status === 'paused', 5_000, 'paused status');
    const pausedAt = (await projections.status())[0]!.checkpoint;
    const last = await deposit(store, 40);
    await sleep(600); // several poll intervals: a running daemon would have moved on
    const [paused] = await projections.status();
    expect(paused).toMatchObject({ status: 'paused', checkpoint: pausedAt });
    expect(paused!.lagEvents).toBeGreaterThanOrEqual(40);
    await expect(projections.pause('counters')).resolves.toBe(0); // already paused

    expect(await projections.resume('counters')).toBe(1);
    await projections.waitFor('counters', last, { timeout: 20_000 });
    expect((await projections.status())[0]!.status).toBe('running');
    const table = await projections.table('counters', 'counters');
    expect(await readCounters(store.sql, table)).toEqual(await expectedCounters(store));
  });
});
