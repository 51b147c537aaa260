import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { EventStore, ProgressEvent, Projections } from '../../src/index.js';
import { drivers } from '../support/drivers.js';
import { counters, deposit, expectedCounters, projectionsFactory, readCounters, waitUntil } from './support.js';

/** Appends to a few streams until stopped. */
function writer(store: EventStore, prefix = 'acct') {
  let writing = true;
  const done = (async () => {
    for (let i = 0; writing; i++) {
      await store.append(`${prefix}-${i % 6}`, [{ type: 'Deposited', data: { amount: i % 11 } }]);
      await sleep(3);
    }
  })();
  return {
    async stop() {
      writing = false;
      await done;
    },
  };
}

/** Queries the active version's table over and over, as an application would; records what answered. */
function reader(projections: Projections, sql: { query(text: string): Promise<unknown[]> }) {
  let reading = true;
  const answeredBy = new Set<string>();
  const errors: unknown[] = [];
  let reads = 0;
  const done = (async () => {
    while (reading) {
      try {
        const table = await projections.table('counters', 'counters');
        await sql.query(`SELECT count(*) FROM ${table}`);
        answeredBy.add(table.split('.')[0]!);
        reads++;
      } catch (error) {
        errors.push(error);
      }
      await sleep(5);
    }
  })();
  return {
    answeredBy,
    errors,
    get reads() {
      return reads;
    },
    async stop() {
      reading = false;
      await done;
    },
  };
}

async function schemaExists(sql: { query<R>(text: string, params?: unknown[]): Promise<R[]> }, name: string) {
  return (await sql.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [name])).length > 0;
}

describe.each(drivers)('blue/green rebuilds (%s)', (driver) => {
  const factory = projectionsFactory(driver);

  it('a version bump builds beside the old version while writers append; the old one answers until the new one takes over', async () => {
    const store = await factory.open();
    const sql = await factory.sql();
    await deposit(store, 400, { streams: 6, perAppend: 4 });
    const old = await factory.projections([counters({ version: 1 })], { batchSize: 100 }).start(store);
    await old.waitFor('counters', await store.headPosition(), { timeout: 20_000 });

    const writing = writer(store);
    const reading = reader(old, sql);
    const next = factory.projections([counters({ version: 2 })], { batchSize: 20, retiredDropDelayMs: 1_000 });
    const progress: ProgressEvent[] = [];
    next.on('progress', (p) => progress.push(p));
    const activated = new Promise((resolve) => next.once('activated', resolve));
    try {
      await next.start(store);
      const statuses = await next.status();
      expect(statuses.map((s) => [s.version, s.phase])).toEqual([
        [1, 'active'],
        [2, 'building'],
      ]);
      await activated;
      await sleep(100);
    } finally {
      await writing.stop();
      await reading.stop();
    }
    expect(reading.errors).toEqual([]);
    expect(reading.reads).toBeGreaterThan(5);
    expect([...reading.answeredBy]).toEqual([`"${store.schema}_p_counters_v1"`, `"${store.schema}_p_counters_v2"`]);

    // Progress for the progress bar: building, done rising to the total, with a rate.
    const building = progress.filter((p) => p.phase === 'building' && p.version === 2);
    expect(building.length).toBeGreaterThan(5);
    for (let i = 1; i < building.length; i++) expect(building[i]!.done).toBeGreaterThan(building[i - 1]!.done);
    expect(building.some((p) => p.eventsPerSecond > 0 && p.etaSeconds !== null)).toBe(true);
    expect(building.every((p) => p.total >= p.done && p.total >= 400n)).toBe(true);

    await next.waitFor('counters', await store.headPosition(), { timeout: 20_000 });
    expect(await next.table('counters', 'counters')).toBe(`"${store.schema}_p_counters_v2"."counters"`);
    const built = await readCounters(sql, await next.table('counters', 'counters'));
    expect(built).toEqual(await expectedCounters(store));
    expect(await sql.query(`SELECT * FROM ${await next.table('counters', 'anomalies')}`)).toEqual([]);
    // And row by row against the same code built from scratch on the quiet log.
    const fresh = await factory.projections([counters({ name: 'counters-fresh' })], { batchSize: 500 }).start(store);
    await fresh.waitFor('counters-fresh', await store.headPosition(), { timeout: 20_000 });
    expect(built).toEqual(await readCounters(sql, await fresh.table('counters-fresh', 'counters')));
    await fresh.stop();
    // The old version is retired: its daemon lets go and, after the grace period, its tables are dropped.
    expect((await next.status()).filter((s) => s.name === 'counters').map((s) => [s.version, s.phase])).toEqual([[2, 'active']]);
    await waitUntil(async () => !(await schemaExists(sql, `${store.schema}_p_counters_v1`)), 15_000, 'old schema dropped');
  });

  it('rebuild() builds the active version again from scratch and switches to it; the result equals a from-scratch build', async () => {
    const store = await factory.open();
    const sql = await factory.sql();
    let bug = true; // the first build has a bug that doubles amounts; the code is fixed, then rebuilt
    const projection = counters();
    const buggy = {
      ...projection,
      apply: (e: Parameters<typeof projection.apply>[0], ctx: Parameters<typeof projection.apply>[1]) =>
        projection.apply(bug ? { ...e, data: { amount: 2 * ((e.data as { amount: number }).amount ?? 0) } } : e, ctx),
    };
    const projections = await factory.projections([buggy], { batchSize: 50 }).start(store);
    await deposit(store, 200, { streams: 4 });
    await projections.waitFor('counters', await store.headPosition(), { timeout: 20_000 });
    expect(await readCounters(sql, await projections.table('counters', 'counters'))).not.toEqual(await expectedCounters(store));

    bug = false;
    const writing = writer(store, 'new');
    const activated = new Promise((resolve) => projections.once('activated', resolve));
    let build;
    try {
      build = await projections.rebuild('counters');
      expect(await projections.rebuild('counters')).toEqual(build); // asking again does not start another
      await activated;
    } finally {
      await writing.stop();
    }
    expect(build).toEqual({ version: 1, build: 1 });
    await projections.waitFor('counters', await store.headPosition(), { timeout: 20_000 });
    expect(await projections.table('counters', 'counters')).toBe(`"${store.schema}_p_counters_v1_r1"."counters"`);
    expect(await readCounters(sql, await projections.table('counters', 'counters'))).toEqual(await expectedCounters(store));
    await waitUntil(async () => !(await schemaExists(sql, `${store.schema}_p_counters_v1`)), 15_000, 'old schema dropped');
    expect((await projections.status()).map((s) => [s.version, s.build, s.phase, s.status])).toEqual([
      [1, 1, 'active', 'running'],
    ]);
  });

  it('an inline projection changes version while both old and new code append; after the switch appends keep the new one current', async () => {
    const oldCode = factory.projections([counters({ mode: 'inline', version: 1 })]);
    const oldStore = await factory.open({ inlineHandlers: [oldCode.inlineHandler] });
    await oldCode.start(oldStore);
    await deposit(oldStore, 150, { streams: 5 });
    const newCode = factory.projections([counters({ mode: 'inline', version: 2 })], { batchSize: 20, pollIntervalMs: 50 });
    const newStore = await factory.openSeparate(oldStore.schema, { inlineHandlers: [newCode.inlineHandler] });
    const writingOld = writer(oldStore, 'old');
    const writingNew = writer(newStore, 'new');
    const activated = new Promise((resolve) => newCode.once('activated', resolve));
    try {
      await newCode.start(newStore);
      await activated;
    } finally {
      await writingOld.stop();
    }
    const sql = await factory.sql();
    try {
      const table = await newCode.table('counters', 'counters');
      expect(table).toBe(`"${oldStore.schema}_p_counters_v2"."counters"`);
      await newCode.waitFor('counters', await newStore.headPosition(), { timeout: 20_000 });
      for (let i = 0; i < 3; i++) {
        const r = await newStore.append('probe-1', [{ type: 'Deposited', data: { amount: 1 } }]);
        expect((await readCounters(sql, table)).find((row) => row.stream_id === 'probe-1')!.last_version).toBe(
          r.nextExpectedVersion,
        );
      }
    } finally {
      await writingNew.stop();
    }
    await newCode.waitFor('counters', await newStore.headPosition(), { timeout: 20_000 });
    expect(await readCounters(sql, await newCode.table('counters', 'counters'))).toEqual(await expectedCounters(newStore));
    expect(await sql.query(`SELECT * FROM ${await newCode.table('counters', 'anomalies')}`)).toEqual([]);
  });
});
