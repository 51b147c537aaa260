import { randomBytes } from 'node:crypto';
import { EventRegistry, masterKey, openEventStore, staticKeyProvider } from '../src/index.js';
import { registerBankEvents } from '../examples/bank/index.js';

const url = process.argv[2];
const keys = staticKeyProvider(masterKey(randomBytes(32).toString('base64')));
async function run(label: string, protect: boolean, newSubjects: boolean) {
  const schema = `perf_${randomBytes(4).toString('hex')}`;
  const store = await openEventStore({
    ...(url ? { connectionString: url } : {}),
    schema,
    ...(protect ? { personalData: { keys, registry: registerBankEvents(new EventRegistry()) } } : {}),
  });
  const N = 4000,
    C = 50;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (next < N) {
        const i = next++;
        const id = newSubjects ? `s${i}` : `s${i % 200}`;
        await store.append(`account-${i}`, [
          {
            type: 'AccountOpened',
            schemaVersion: 2,
            data: { accountId: id, owner: `Owner ${i}`, currency: 'EUR', overdraftLimit: 0 },
          },
        ]);
      }
    }),
  );
  const appendMs = performance.now() - t0;
  const t1 = performance.now();
  let after = 0n,
    n = 0;
  for (;;) {
    const page = await store.readAll({ after, maxCount: 1000 });
    if (!page.length) break;
    n += page.length;
    after = page.at(-1)!.globalPosition;
  }
  const readMs = performance.now() - t1;
  console.log(
    `${label.padEnd(34)} append ${((N / appendMs) * 1000).toFixed(0)} ev/s   readAll ${((n / readMs) * 1000).toFixed(0)} ev/s`,
  );
  if (url) await store.sql.exec(`DROP SCHEMA "${schema}" CASCADE`);
  await store.close();
}
await run('plain', false, false);
await run('protected, 200 known subjects', true, false);
await run('protected, a new subject each', true, true);
await run('plain', false, false);
