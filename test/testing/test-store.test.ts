/** `openTestStore` (what commandSpec runs on): isolated stores on one PGlite per process, quick after the first. */
import { describe, expect, it } from 'vitest';
import { openTestStore } from '../../src/testing/index.js';

describe('openTestStore', () => {
  it('gives each caller an empty store of its own; closing one leaves the others working', async () => {
    const a = await openTestStore();
    const started = Date.now();
    const b = await openTestStore();
    // The PGlite is already up: a second store is a schema and its migrations, not a database start.
    expect(Date.now() - started).toBeLessThan(3_000);
    await a.append('thing-1', [{ type: 'Happened', data: { n: 1 } }]);
    expect(await b.headPosition()).toBe(0n);
    expect(await b.readAll()).toEqual([]);
    const schema = a.schema;
    await a.close();
    await b.append('thing-1', [{ type: 'Happened', data: { n: 2 } }]);
    expect((await b.readStream('thing-1')).map((e) => e.data)).toEqual([{ n: 2 }]);
    const rows = await b.sql.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [schema]);
    expect(rows).toEqual([]); // what a closed store wrote is gone
    await b.close();
  });
});
