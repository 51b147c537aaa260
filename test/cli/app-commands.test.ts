/**
 * The CLI with a user's application: appends checked against its registry, `check --app` finding events
 * that break their contracts, `projections skip` past a poison event, Ctrl-C during a rebuild, `tail`
 * saying where it waits, and an incomplete registry refused at load.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createProjections,
  defineProjection,
  openEventStore,
  type EventStore,
  type ProjectionDefinition,
} from '../../src/index.js';
import { drivers } from '../support/drivers.js';
import { storeLocations, type StoreLocation } from '../support/locations.js';
import { fabula, spawnFabula } from '../support/cli.js';

const root = path.resolve(import.meta.dirname, '../..');
const libraryApp = 'dist/examples/library/app.js';
const location = storeLocations('cliapp');

/** Users' TypeScript apps, importing the package by its name, in a folder of the repository. */
const folder = fs.mkdtempSync(path.join(root, '.cli-app-test-'));
afterAll(() => fs.rmSync(folder, { recursive: true, force: true }));
function writeApp(name: string, lines: string[]): string {
  const file = path.join(folder, name);
  fs.writeFileSync(file, lines.join('\n'));
  return path.relative(root, file);
}
const PROJECTIONS = [
  "import { defineApp, defineProjection, EventRegistry } from 'fabula';",
  'const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));',
  "const poisoned = defineProjection({ name: 'poisoned', version: 1, handles: ['Counted', 'Poison'], onFailure: 'stop',",
  '  retry: { attempts: 1 },',
  "  apply: async (event) => { if (event.type === 'Poison') throw new Error('cannot digest Poison'); } });",
  "const slow = defineProjection({ name: 'slow', version: 1, handles: ['Counted'], apply: () => sleep(2) });",
  "export default defineApp({ name: 'ops', registry: new EventRegistry(), projections: [poisoned, slow], setup: () => ({}) });",
];
const opsApp = writeApp('ops-app.ts', PROJECTIONS);

/** The projections of ops-app, as the test process runs them (same names and versions). */
const poisoned = defineProjection({
  name: 'poisoned',
  version: 1,
  handles: ['Counted', 'Poison'],
  onFailure: 'stop',
  retry: { attempts: 1 },
  apply: async (event) => {
    if (event.type === 'Poison') throw new Error('cannot digest Poison');
  },
});
const slow = defineProjection({ name: 'slow', version: 1, handles: ['Counted'], apply: async () => {} });

function openAt(where: StoreLocation): Promise<EventStore> {
  return openEventStore(
    where.databaseUrl ? { connectionString: where.databaseUrl, schema: where.schema } : { dataDir: where.dataDir! },
  );
}

/** Runs `definitions` in this process until `until` holds, then stops and closes (the embedded folder is free again). */
async function runProjections(
  where: StoreLocation,
  definitions: ProjectionDefinition[],
  until: (s: Awaited<ReturnType<ReturnType<typeof createProjections>['status']>>) => boolean,
) {
  const store = await openAt(where);
  const projections = createProjections(definitions, { pollIntervalMs: 50 });
  try {
    await projections.start(store);
    const deadline = Date.now() + 20_000;
    while (!until(await projections.status())) {
      if (Date.now() > deadline)
        throw new Error(
          `timed out: ${JSON.stringify(await projections.status(), (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`,
        );
      await new Promise((r) => setTimeout(r, 50));
    }
    return await projections.status();
  } finally {
    await projections.stop();
    await store.close();
  }
}

describe.each(drivers)('fabula CLI with an application (%s)', (driver) => {
  const target = (where: StoreLocation): Record<string, string> =>
    where.databaseUrl ? { DATABASE_URL: where.databaseUrl, FABULA_SCHEMA: where.schema } : { FABULA_DATA_DIR: where.dataDir! };
  const run = (where: StoreLocation, ...args: string[]) =>
    fabula(where.databaseUrl ? ['--schema', where.schema, ...args] : args, target(where));

  it('append --app refuses unknown types and invalid data unless --force; check --app reports events that break their contracts', async () => {
    const where = location(driver);
    const app = ['--app', libraryApp];
    const ok = await run(where, ...app, 'append', 'book-b1', 'BookBorrowed', '{"bookId":"b1","memberId":"m1","loanDays":7}');
    expect(ok).toMatchObject({ code: 0, stderr: '' });

    const unknown = await run(where, ...app, 'append', 'book-b1', 'BookLost', '{}');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('error: type: library has no event type "BookLost" (known: BookAdded, BookBorrowed,');
    expect(unknown.stderr).toContain('nothing was appended (--force appends it anyway)');
    const invalid = await run(
      where,
      ...app,
      'append',
      'book-b1',
      'BookBorrowed',
      '{"bookId":"b1","memberId":"m1","loanDays":"soon"}',
    );
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(
      /error: data\(BookBorrowed v2\)\.loanDays: .*nothing was appended \(--force appends it anyway\)/,
    );
    // Nothing was appended; the store alone (no --app) takes anything.
    expect(JSON.parse((await run(where, '--json', 'read', 'book-b1')).stdout)).toHaveLength(1);

    const forced = await run(where, ...app, 'append', 'book-b1', 'BookLost', '{}', '--force');
    expect(forced.code).toBe(0);
    expect(forced.stderr).toContain('warning: appending anyway (--force), although type: library has no event type "BookLost"');
    expect((await run(where, ...app, 'append', 'book-b2', 'BookBorrowed', '{"bookId":"b2"}', '--force')).code).toBe(0);
    // A version-1 event (before loanDays) keeps its contract through the upcaster.
    expect((await run(where, 'append', 'book-b3', 'BookBorrowed', '{"bookId":"b3","memberId":"m1"}')).code).toBe(0);

    const check = await run(where, ...app, 'check');
    expect(check.code).toBe(1);
    expect(check.stdout).toContain('INCONSISTENT (2 findings)');
    expect(check.stdout).toContain('[event contracts] #2 book-b1 v2 BookLost (stored at version 1): unknown event type BookLost');
    expect(check.stdout).toMatch(
      /\[event contracts\] #3 book-b2 v1 BookBorrowed \(stored at version 2\): BookBorrowed v2 data\.memberId: /,
    );
    expect(check.stdout).not.toContain('book-b3');
  });

  it('projections skip moves a stopped projection past its poison event; status says how', async () => {
    const where = location(driver);
    const store = await openAt(where);
    await store.append('count-1', [{ type: 'Counted', data: {} }]);
    const poison = await store.append('count-1', [{ type: 'Poison', data: {} }]);
    const last = await store.append('count-1', [{ type: 'Counted', data: {} }]);
    await store.close();
    await runProjections(where, [poisoned], (all) => all.some((s) => s.status === 'failed'));

    const status = await run(where, '--app', opsApp, 'projections', 'status');
    expect(status.stdout).toContain(
      `failed at position ${poison.lastPosition}: fix and "fabula projections resume poisoned", or "fabula projections skip poisoned ${poison.lastPosition}"`,
    );
    const wrong = await run(where, '--app', opsApp, 'projections', 'skip', 'poisoned', String(last.lastPosition));
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain(
      `${last.lastPosition} is neither the event "poisoned" is stopped failed at nor a parked event that failed (it is stopped at ${poison.lastPosition}`,
    );
    const skipped = await run(where, '--app', opsApp, 'projections', 'skip', 'poisoned', String(poison.lastPosition));
    expect(skipped).toMatchObject({ code: 0 });
    expect(skipped.stdout).toContain(`poisoned skips the event at position ${poison.lastPosition}`);

    // At or past the last event: the skip's audit event (`$audit-…`) follows it in the global order.
    const after = await runProjections(where, [poisoned], (all) => BigInt(all[0]!.checkpoint) >= last.lastPosition);
    expect(after[0]).toMatchObject({ status: 'running', failedPosition: null, lastError: null });
  });

  it('Ctrl-C during projections rebuild stops it cleanly and says the next run resumes', async () => {
    const where = location(driver);
    const store = await openAt(where);
    for (let i = 0; i < 40; i++) {
      await store.append(
        `count-${i}`,
        Array.from({ length: 100 }, () => ({ type: 'Counted', data: {} })),
      );
    }
    await store.close();
    await runProjections(where, [slow], (all) => all[0]?.lagEvents === 0 && all[0].status === 'running');

    const args = [...(where.databaseUrl ? ['--schema', where.schema] : []), '--app', opsApp, 'projections', 'rebuild', 'slow'];
    const child = spawnFabula(args, target(where));
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const deadline = Date.now() + 30_000;
    while (!stderr.includes('rebuilding slow (version 1, build 1); Ctrl-C stops it')) {
      if (Date.now() > deadline) throw new Error(`the rebuild did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 1_500)); // 4,000 events at 2 ms each: still building
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toMatch(
      // 4,000 events and the audit event of the rebuild itself.
      /interrupted: the rebuild of slow stopped at position \d+ of 4001 and keeps what it has done; run "fabula projections rebuild slow" again to resume it/,
    );

    const status = JSON.parse((await run(where, '--json', '--app', opsApp, 'projections', 'status')).stdout) as Array<{
      build: number;
      phase: string;
      checkpoint: string;
    }>;
    const build = status.find((s) => s.build === 1)!;
    expect(build.phase).toBe('building');
    expect(BigInt(build.checkpoint)).toBeGreaterThan(0n);
  });

  it('tail on an idle store says on stderr where it waits', async () => {
    const where = location(driver);
    const store = await openAt(where);
    await store.append('thing-1', [{ type: 'Happened', data: {} }]);
    await store.close();
    const args = [...(where.databaseUrl ? ['--schema', where.schema] : []), 'tail'];
    const child = spawnFabula(args, target(where));
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => (stdout += d));
    const deadline = Date.now() + 20_000;
    while (!stderr.includes('waiting for events')) {
      if (Date.now() > deadline) throw new Error(`no waiting message: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGINT');
    expect(await new Promise((r) => child.on('exit', r))).toBe(0);
    expect(stderr).toContain('waiting for events after position 1 (Ctrl-C to stop)');
    expect(stdout).toBe('');
  });

  it('refuses an application whose registry misses an upcaster, naming the event and the version', async () => {
    const where = location(driver);
    const broken = writeApp('broken-app.ts', [
      "import { z } from 'zod';",
      "import { defineApp, defineEvent, EventRegistry } from 'fabula';",
      "const Renamed = defineEvent('Renamed', { version: 3, schema: z.object({ name: z.string() }) });",
      "const registry = new EventRegistry().register(Renamed).upcast('Renamed', 1, (d) => d);",
      "export default defineApp({ name: 'broken', registry, setup: () => ({}) });",
    ]);
    const result = await run(where, '--app', broken, 'catalog');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      "error: event Renamed is at version 3 but has no upcaster from version 2; add registry.upcast('Renamed', 2, ...)",
    );
  });
});
