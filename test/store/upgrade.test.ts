/**
 * A store written by release 0.1.0 (test/fixtures/upgrade: a dump of its schemas, made by its own code)
 * opens with this version: migrations and functions are brought up to date, and its events, snapshots,
 * checkpoints, parked events and read models are all still there and carry on.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { accountBalances, readAccountBalance } from '../../examples/bank/account-balances.js';
import { ordersForDisplay } from '../../examples/orders/orders-for-display.js';
import { openEventStore, type SqlClient } from '../../src/index.js';
import { checkConsistency } from '../../src/store/consistency.js';
import { latestSchemaVersion } from '../../src/store/migrations.js';
import { upgradeParking } from '../fixtures/upgrade/upgrade-parking.js';
import { projectionsFactory, waitUntil } from '../projections/support.js';
import { drivers, uniqueSchema } from '../support/drivers.js';

const dump = readFileSync(new URL('../fixtures/upgrade/release-0.1.0.sql', import.meta.url), 'utf8');

/** The dump's schemas renamed to `schema` (and `schema_p_...`); session settings and psql commands left out. */
async function restoreRelease(sql: SqlClient, schema: string) {
  const text = dump
    .split('\n')
    .filter((line) => !line.startsWith('\\') && !line.startsWith('SET ') && !line.startsWith('SELECT pg_catalog.set_config'))
    .join('\n')
    .replaceAll('release_fixture', schema);
  await sql.exec(text);
}

describe.each(drivers)('upgrade from release 0.1.0 (%s)', (driver) => {
  const factory = projectionsFactory(driver);
  const restored: string[] = [];
  afterAll(async () => {
    if (driver !== 'postgres') return; // PGlite is in memory
    const sql = await factory.sql();
    for (const schema of restored) {
      const rows = await sql.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname = $1 OR nspname LIKE $2`, [
        schema,
        `${schema}\\_p\\_%`,
      ]);
      for (const row of rows) await sql.exec(`DROP SCHEMA IF EXISTS "${row.nspname}" CASCADE`);
    }
  });

  it('keeps events, snapshots, checkpoints, parked events and read models, and carries on from them', async () => {
    const schema = uniqueSchema('up');
    restored.push(schema);
    const sql = await factory.sql();
    await restoreRelease(sql, schema);
    const count = async (table: string) =>
      Number((await sql.query<{ n: string }>(`SELECT count(*)::text AS n FROM "${schema}".${table}`))[0]!.n);
    const before = { events: await count('events'), streams: await count('streams'), snapshots: await count('snapshots') };
    expect(before).toEqual({ events: 170, streams: 31, snapshots: expect.any(Number) });
    expect(before.snapshots).toBeGreaterThan(0);

    const projections = factory.projections([accountBalances, ordersForDisplay, upgradeParking]);
    const store = await openEventStore({ sql, schema, inlineHandlers: [projections.inlineHandler] });
    const migrations = await sql.query<{ v: number }>(`SELECT max(version) AS v FROM "${schema}".migrations`);
    expect(Number(migrations[0]!.v)).toBe(latestSchemaVersion);
    expect({ events: await count('events'), streams: await count('streams'), snapshots: await count('snapshots') }).toEqual(before);
    expect((await checkConsistency(sql, schema)).findings).toEqual([]);
    // The append lock is the one release 0.1.0 took, so old and new processes still exclude each other.
    const [keys] = await sql.query<{ same: boolean }>(
      `SELECT append_lock_key1 = hashtext('fabula.append') AND append_lock_key2 = hashtext($1) AS same FROM "${schema}".store_settings`,
      [schema],
    );
    expect(keys!.same).toBe(true);

    // The old events read as before; deleted stays deleted; new appends continue the dense order.
    const account = await store.readStream('account-acct-3');
    expect(account.map((e) => e.type)).toEqual(['AccountOpened', ...Array(6).fill('MoneyDeposited'), 'MoneyWithdrawn']);
    expect((await store.streamInfo('acct-19'))!.deleted).toBe(true);
    const appended = await store.append('account-acct-3', [{ type: 'MoneyDeposited', data: { accountId: 'acct-3', amount: 1000 } }], {
      expectedVersion: 8,
    });
    expect(appended.firstPosition).toBe(171n);

    await projections.start(store);
    const status = Object.fromEntries((await projections.status()).map((s) => [s.name, s]));
    // Nothing rebuilt: the same builds, at their old checkpoints (or past them), paused still paused.
    expect(status['account-balances']).toMatchObject({ build: 0, checkpoint: 171n });
    expect(status['orders-for-display']).toMatchObject({ build: 0, status: 'paused', checkpoint: 170n });
    expect(status['upgrade-parking']).toMatchObject({ build: 0 });
    expect(status['upgrade-parking']!.status).not.toBe('failed');
    expect(status['upgrade-parking']!.checkpoint).toBeGreaterThanOrEqual(170n);
    const parked = await projections.parkedEvents('upgrade-parking');
    expect(parked.map((p) => [p.streamId, p.reason])).toEqual([
      ['account-acct-poison', 'failed'],
      ...Array(5).fill(['account-acct-poison', 'behind']),
    ]);
    // The inline read model kept its rows and took the new deposit in the append's transaction.
    expect(await readAccountBalance(projections, sql, 'acct-3')).toMatchObject({ balance: 10 + 20 + 30 + 40 + 50 + 60 - 5 + 1000 });
    expect(await readAccountBalance(projections, sql, 'acct-7')).toMatchObject({ balance: 205 });
    await projections.resume('orders-for-display');
    await projections.waitFor('upgrade-parking', 171n, { timeout: 20_000 });
    await waitUntil(async () => (await projections.status()).every((s) => s.checkpoint === 171n), 20_000, 'all at 171');
    expect(await projections.parkedEvents('upgrade-parking')).toHaveLength(6);
    expect((await projections.status()).map((s) => [s.name, s.build, s.status])).toEqual([
      ['account-balances', 0, 'running'],
      ['orders-for-display', 0, 'running'],
      ['upgrade-parking', 0, 'running'],
    ]);
    await projections.stop();
    await store.close();
  });
});
