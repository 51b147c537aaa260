/**
 * A store written by release 0.1.0 (test/fixtures/upgrade: a dump of its schemas, made by its own code)
 * opens with this version: migrations and functions are brought up to date, and its events, snapshots,
 * checkpoints, parked events and read models are all still there and carry on. The example read models
 * are tenant-scoped since (`account-balances` and `orders-for-display` v2, keyed by tenant and id): the
 * upgrade builds their new versions from the old events, which all belong to the default tenant, beside
 * the old ones, and switches to them once caught up.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { accountBalances, readAccountBalance } from '../../examples/bank/account-balances.js';
import { ordersForDisplay } from '../../examples/orders/orders-for-display.js';
import { DEFAULT_TENANT, openEventStore, type SqlClient } from '../../src/index.js';
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

    // The release's read-model rows, to compare the rebuilt ones with (the old tables are dropped once replaced).
    const [oldAccounts, oldOrders] = await Promise.all(
      [
        ['account-balances', 'accounts', 'account_id'],
        ['orders-for-display', 'orders', 'order_id'],
      ].map(async ([name, table, key]) => {
        const [row] = await sql.query<{ schema_name: string; version: number }>(
          `SELECT schema_name, version FROM "${schema}".projections WHERE name = $1 AND phase = 'active'`,
          [name],
        );
        expect(row!.version).toBe(1);
        return sql.query<Record<string, unknown>>(`SELECT * FROM "${row!.schema_name}".${table} ORDER BY ${key}`);
      }),
    );
    expect([oldAccounts!.length, oldOrders!.length]).toEqual([expect.any(Number), expect.any(Number)]);
    expect(oldAccounts!.length).toBeGreaterThan(10);
    expect(oldOrders!.length).toBeGreaterThan(3);

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
    // The tenant-scoped versions are new: each is built beside the release's build 0 of version 1, which
    // keeps serving (orders-for-display's paused) until the new version has caught up.
    const building = Object.fromEntries((await projections.status()).filter((s) => s.version === 2).map((s) => [s.name, s]));
    expect(building['account-balances']).toMatchObject({ version: 2, build: 0, phase: 'building' });
    expect(building['orders-for-display']).toMatchObject({ version: 2, build: 0, phase: 'building' });
    await waitUntil(
      async () => (await projections.status()).every((s) => s.phase === 'active' && s.checkpoint === 171n && s.version <= 2),
      45_000,
      'the new versions active at 171',
    );
    const status = Object.fromEntries((await projections.status()).map((s) => [s.name, s]));
    // Version 1 is retired (the paused one with it): version 2 serves and runs. Pausing was of version
    // 1's consumer; the new version's is a new consumer, running.
    expect((await projections.status()).map((s) => [s.name, s.version, s.build, s.status])).toEqual([
      ['account-balances', 2, 0, 'running'],
      ['orders-for-display', 2, 0, 'running'],
      ['upgrade-parking', 1, 0, 'running'],
    ]);
    // upgrade-parking did not change: not rebuilt, its old checkpoint and parked events carry on.
    expect(status['upgrade-parking']!.checkpoint).toBe(171n);
    const parked = await projections.parkedEvents('upgrade-parking');
    expect(parked.map((p) => [p.streamId, p.reason])).toEqual([
      ['account-acct-poison', 'failed'],
      ...Array(5).fill(['account-acct-poison', 'behind']),
    ]);
    const retired = await sql.query<{ name: string; version: number; phase: string }>(
      `SELECT name, version, phase FROM "${schema}".projections WHERE name <> 'upgrade-parking' ORDER BY name, version`,
    );
    expect(retired.map((r) => [r.name, r.version, r.phase])).toEqual([
      ['account-balances', 1, 'retired'],
      ['account-balances', 2, 'active'],
      ['orders-for-display', 1, 'retired'],
      ['orders-for-display', 2, 'active'],
    ]);

    // Migration 011 keyed the documents table of the release's instances by tenant too.
    const [parkingSchema] = await sql.query<{ schema_name: string }>(
      `SELECT schema_name FROM "${schema}".projections WHERE name = 'upgrade-parking'`,
    );
    const key = await sql.query<{ key: string }>(
      `SELECT pg_get_constraintdef(oid) AS key FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'p'`,
      [`"${parkingSchema!.schema_name}".documents`],
    );
    expect(key.map((k) => k.key)).toEqual(['PRIMARY KEY (tenant_id, collection, id)']);

    // The rebuilt rows are the release's, in the default tenant, plus the new deposit.
    const newAccounts = await sql.query<Record<string, unknown>>(
      `SELECT * FROM ${await projections.table('account-balances', 'accounts')} ORDER BY account_id`,
    );
    const acct3 = oldAccounts!.find((a) => a.account_id === 'acct-3')!;
    expect(newAccounts).toEqual(
      oldAccounts!.map((row) =>
        row === acct3
          ? {
              ...row,
              tenant_id: DEFAULT_TENANT,
              // bigint: a string from pg, a number from PGlite, as the release's row was.
              balance: typeof row.balance === 'number' ? row.balance + 1000 : String(Number(row.balance) + 1000),
              version: 9,
              updated_at: expect.any(Date),
            }
          : { ...row, tenant_id: DEFAULT_TENANT },
      ),
    );
    const newOrders = await sql.query<Record<string, unknown>>(
      `SELECT * FROM ${await projections.table('orders-for-display', 'orders')} ORDER BY order_id`,
    );
    expect(newOrders).toEqual(oldOrders!.map((row) => ({ ...row, tenant_id: DEFAULT_TENANT })));
    expect(await readAccountBalance(projections, sql, DEFAULT_TENANT, 'acct-3')).toMatchObject({
      balance: 10 + 20 + 30 + 40 + 50 + 60 - 5 + 1000,
      version: 9,
    });
    expect(await readAccountBalance(projections, sql, DEFAULT_TENANT, 'acct-7')).toMatchObject({ balance: 205 });

    // From then on the inline version 2 takes appends in their transaction.
    await store.append('account-acct-7', [{ type: 'MoneyDeposited', data: { accountId: 'acct-7', amount: 5 } }]);
    expect(await readAccountBalance(projections, sql, DEFAULT_TENANT, 'acct-7')).toMatchObject({ balance: 210 });
    await projections.stop();
    await store.close();
  });
});
