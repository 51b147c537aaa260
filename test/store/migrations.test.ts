import { describe, expect, it } from 'vitest';
import { openEventStore, ValidationError } from '../../src/index.js';
import { latestSchemaVersion } from '../../src/store/migrations.js';
import { drivers, serverUrl, storeFactory, uniqueSchema } from '../support/drivers.js';

describe.each(drivers)('migrations (%s)', (driver) => {
  const stores = storeFactory(driver);

  it('applies migrations once: reopening keeps the data and applies nothing', async () => {
    const first = await stores.open();
    await first.append('s-1', [{ type: 'E', data: 1 }]);
    const again = await stores.openSeparate(first.schema);
    expect(await again.readStream('s-1')).toHaveLength(1);
    const sql = await stores.sql();
    const rows = await sql.query<{ n: number }>(`SELECT count(*)::int AS n, max(version) AS v FROM "${first.schema}".migrations`);
    expect(rows[0]).toEqual({ n: latestSchemaVersion, v: latestSchemaVersion });
  });

  it.runIf(driver === 'postgres')('is safe when several processes open a new schema at once', async () => {
    const schema = uniqueSchema();
    const opened = await Promise.all(Array.from({ length: 6 }, () => stores.openSeparate(schema)));
    await Promise.all(opened.map((store, i) => store.append(`s-${i}`, [{ type: 'E', data: i }])));
    expect(await opened[0]!.headPosition()).toBe(6n);
    await (await stores.sql()).exec(`DROP SCHEMA "${schema}" CASCADE`);
  });

  it('refuses a schema made by a newer Fabula, saying what to do', async () => {
    const store = await stores.open();
    const sql = await stores.sql();
    await sql.exec(`INSERT INTO "${store.schema}".migrations (version, name) VALUES (999, 'from the future')`);
    const error = await stores.openSeparate(store.schema).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/newer than this version of Fabula knows.*upgrade Fabula/);
  });

  it('refuses an invalid schema name before touching the database', async () => {
    for (const schema of ['', 'Fabula', 'drop table x;', 'a'.repeat(49), '1abc']) {
      const error = await openEventStore({ schema, connectionString: serverUrl }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect(error).toMatchObject({ field: 'schema' });
    }
  });
});
