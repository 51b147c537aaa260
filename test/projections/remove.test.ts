import { describe, expect, it } from 'vitest';
import { ProjectionNotFoundError } from '../../src/index.js';
import { drivers } from '../support/drivers.js';
import { counters, deposit, projectionsFactory } from './support.js';

describe.each(drivers)('removing a projection (%s)', (driver) => {
  const f = projectionsFactory(driver);

  it('drops its tables, its consumers (checkpoints, leases) and its parked events', async () => {
    const store = await f.open();
    const projections = f.projections([counters({ onFailure: 'park', failWhen: (e) => e.type === 'Poison' })]);
    await projections.start(store);
    await deposit(store, 5);
    const { lastPosition } = await store.append('acct-1', [{ type: 'Poison', data: {} }]);
    await projections.waitFor('counters', lastPosition, { timeout: 20_000 });
    expect(await projections.parkedEvents('counters')).toHaveLength(1);
    const schemaName = `${store.schema}_p_counters_v1`;
    await projections.stop();

    await projections.remove('counters');
    const sql = await f.sql();
    const count = async (table: string) =>
      (await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${store.schema}".${table}`))[0]!.n;
    expect([await count('projections'), await count('consumers'), await count('consumer_parked_events')]).toEqual([0, 0, 0]);
    expect(await sql.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [schemaName])).toEqual([]);
    await expect(projections.status()).resolves.toEqual([]);
    await expect(projections.waitFor('counters', 1n)).rejects.toBeInstanceOf(ProjectionNotFoundError);
  });
});
