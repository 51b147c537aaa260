/** The real `fabula` binary, on the embedded store and (when DATABASE_URL is set) the server. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { drivers, serverUrl } from '../support/drivers.js';
import { storeLocations } from '../support/locations.js';
import { fabula, spawnFabula } from '../support/cli.js';
import { createPostgresClient } from '../../src/index.js';

const location = storeLocations('cli');
/** The reference app as compiled by the tests' global setup (the binary runs the compiled sources too). */
const referenceApp = 'dist/examples/reference-app.js';
const root = path.resolve(import.meta.dirname, '../..');

describe.each(drivers)('fabula CLI (%s)', (driver) => {
  function target(): Record<string, string> {
    const where = location(driver);
    return where.databaseUrl
      ? { DATABASE_URL: where.databaseUrl, FABULA_SCHEMA: where.schema }
      : { FABULA_DATA_DIR: where.dataDir! };
  }
  const run = (env: Record<string, string>, ...args: string[]) =>
    fabula(env.FABULA_SCHEMA ? ['--schema', env.FABULA_SCHEMA, ...args] : args, env);
  /** For the commands that need the application: the compiled reference app, as any user app is passed. */
  const runApp = (env: Record<string, string>, ...args: string[]) => run(env, '--app', referenceApp, ...args);

  it('appends, reads, lists, shows state and checks a consistent store', async () => {
    const env = target();
    const opened = await run(
      env,
      'append',
      'account-c1',
      'AccountOpened',
      '{"accountId":"c1","owner":"Ada","currency":"EUR","overdraftLimit":0}',
      '--expected-version',
      'no_stream',
    );
    expect(opened).toMatchObject({ code: 0, stdout: 'appended AccountOpened to account-c1 at version 1, position 1\n' });
    expect(
      (await run(env, 'append', 'account-c1', 'MoneyDeposited', '{"accountId":"c1","amount":70}', '--expected-version', '1'))
        .code,
    ).toBe(0);
    const conflict = await run(
      env,
      'append',
      'account-c1',
      'MoneyDeposited',
      '{"accountId":"c1","amount":1}',
      '--expected-version',
      '1',
    );
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain('expected version 1 but is at version 2');

    const read = await run(env, '--json', 'read', 'account-c1');
    expect(JSON.parse(read.stdout).map((e: { type: string }) => e.type)).toEqual(['AccountOpened', 'MoneyDeposited']);
    const streams = await run(env, 'streams');
    expect(streams.stdout).toContain('account-c1');
    const state = await runApp(env, '--json', 'state', 'account', 'c1');
    expect(JSON.parse(state.stdout)).toMatchObject({ version: 2, state: { balance: 70, status: 'open' } });
    const check = await run(env, 'check');
    expect(check).toMatchObject({ code: 0 });
    expect(check.stdout).toContain('consistent: 2 events in 1 streams');
    const catalog = await runApp(env, 'catalog', '--format', 'json');
    expect(Object.keys(JSON.parse(catalog.stdout).$defs)).toContain('MoneyDeposited');
    expect((await run(env, 'migrate')).stdout).toMatch(/is at version \d+/);
  });

  it('refuses junk input with a clear message and no stack trace', async () => {
    const env = target();
    const cases: Array<[string[], RegExp]> = [
      [['append', 'account-1', 'E', '{not json'], /data: is not valid JSON/],
      [['append', '', 'E'], /streamId: must not be empty/],
      [['append', 'account-1', 'bad type!'], /not a valid event type/],
      [['append', 'account-1', 'E', '{}', '--expected-version', 'soon'], /expectedVersion/],
      [['append', 'account-1', 'E', '{}', '--id', 'not-a-uuid'], /is not a UUID/],
      [['read', 'account-1', '--limit', '-4'], /--limit/],
      [['read', 'account-1', '--as-of', 'yesterday'], /--as-of.*ISO 8601/],
      [['read', 'nope-1'], /no stream "nope-1"/],
      [['state', 'spaceship', '1'], /unknown aggregate type "spaceship"/],
      [['state', 'account', 'nobody'], /no account "nobody"/],
      [['tail', '--after', 'x'], /--after/],
      [['projections', 'rebuild', 'no-such-projection'], /unknown projection/],
      [['--schema', 'Bad Schema', 'streams'], /schema/],
      [['catalog', '--format', 'pdf'], /Allowed choices are json, md/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['--database-url', 'notaurl', 'streams'], /DATABASE_URL: "notaurl" is not a PostgreSQL URL: use postgres:\/\//],
      [
        ['--database-url', 'postgres://u:secret@:5432/db', 'streams'],
        /"postgres:\/\/u:\*\*\*@:5432\/db" is not a PostgreSQL URL/,
      ],
    ];
    for (const [args, message] of cases) {
      const result = await runApp(env, ...args);
      expect({ args, code: result.code }).toEqual({ args, code: expect.any(Number) });
      expect(result.code, args.join(' ')).not.toBe(0);
      expect(result.stderr, args.join(' ')).toMatch(message);
      expect(result.stderr, args.join(' ')).not.toMatch(/\n\s+at /);
    }
  });

  it('shows process managers and their instances', async () => {
    const env = target();
    const status = await runApp(env, '--json', 'processes', 'status');
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toEqual([
      { name: 'transfer', activeInstances: 0, endedInstances: 0, openCommands: 0, scheduledTimeouts: 0, consumer: null },
    ]);
    expect((await runApp(env, 'processes', 'status')).stdout).toMatch(
      /^transfer: 0 active, 0 ended, 0 commands open, 0 timeouts, not started yet/,
    );
    const missing = await runApp(env, 'processes', 'show', 'transfer', 't-none');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/process transfer has no instance "t-none"/);
    const unknown = await runApp(env, 'processes', 'show', 'shipping', 't-none');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no process named "shipping"; known: transfer/);
    expect((await run(env, 'processes', 'status')).stderr).toMatch(/needs the application/);
  });

  it('reports inconsistencies and exits 1', async () => {
    const env = target();
    for (let i = 1; i <= 3; i++) await run(env, 'append', 'thing-1', 'Happened', `{"n":${i}}`);
    // Damage the store behind Fabula's back: remove an event from the middle, break a stream's version.
    if (driver === 'postgres') {
      const sql = await createPostgresClient({ connectionString: serverUrl! });
      await sql.exec(`DELETE FROM "${env.FABULA_SCHEMA}".events WHERE global_position = 2;
        UPDATE "${env.FABULA_SCHEMA}".streams SET version = 7`);
      await sql.close();
    } else {
      const { PGlite } = await import('@electric-sql/pglite');
      const db = await PGlite.create({ dataDir: path.join(env.FABULA_DATA_DIR!, 'pgdata') });
      await db.exec('DELETE FROM fabula.events WHERE global_position = 2; UPDATE fabula.streams SET version = 7');
      await db.close();
    }
    const check = await run(env, 'check');
    expect(check.code).toBe(1);
    expect(check.stdout).toContain('INCONSISTENT');
    expect(check.stdout).toContain('[global positions dense]');
    expect(check.stdout).toContain('[stream versions contiguous] stream "thing-1"');
    expect(check.stdout).toContain('[streams table matches events]');
  });

  it('replays a projection as a dry run, reporting the events it cannot apply and changing nothing', async () => {
    const env = target();
    await run(
      env,
      'append',
      'order-o1',
      'OrderPlaced',
      '{"orderId":"o1","customerId":"c1","items":[{"sku":"A","quantity":1,"priceCents":5}],"totalCents":5}',
    );
    await run(env, 'append', 'order-ghost', 'ItemAdded', '{"orderId":"ghost","item":{"sku":"B","quantity":1,"priceCents":1}}');
    const replay = await runApp(env, '--json', 'replay', '--projection', 'orders-for-display', '--from', '0');
    expect(replay.code).toBe(1);
    expect(JSON.parse(replay.stdout)).toMatchObject({
      applied: 1,
      failed: [{ position: '2', streamId: 'order-ghost', type: 'ItemAdded' }],
    });
    expect((await runApp(env, 'replay', '--projection', 'orders-for-display', '--from', '2')).stdout).toContain(
      '0 applied, 0 failed',
    );
    expect((await run(env, 'check')).code).toBe(0);
    expect((await runApp(env, 'replay', '--projection', 'nope')).stderr).toContain('unknown projection "nope"');
  });

  it('finds the application through --app or FABULA_APP, loads a TypeScript app, and says when a command needs one', async () => {
    const env = target();
    // Commands that need the application name both ways of passing it when it is missing.
    for (const args of [['state', 'account', 'c1'], ['catalog'], ['projections', 'status'], ['replay', '--projection', 'x']]) {
      const missing = await run(env, ...args);
      expect(missing.code, args.join(' ')).toBe(2);
      expect(missing.stderr, args.join(' ')).toContain(
        'error: --app: this command needs the application: pass --app <module> or set FABULA_APP',
      );
      expect(missing.stderr, args.join(' ')).not.toMatch(/\n\s+at /);
    }

    const fromEnv = await run({ ...env, FABULA_APP: referenceApp }, 'catalog', '--format', 'json');
    expect(fromEnv.code).toBe(0);
    expect(Object.keys(JSON.parse(fromEnv.stdout).$defs)).toContain('MoneyDeposited');

    // A user's TypeScript app, importing the package by its name (it resolves to the compiled package).
    const folder = fs.mkdtempSync(path.join(root, '.cli-test-app-'));
    try {
      const file = path.join(folder, 'my-app.ts');
      fs.writeFileSync(
        file,
        [
          "import { z } from 'zod';",
          "import { defineApp, defineEvent, EventRegistry } from 'fabula';",
          '',
          'interface Greeting { to: string }',
          "const GreetingSent = defineEvent('GreetingSent', { schema: z.object({ to: z.string() }) satisfies z.ZodType<Greeting> });",
          '',
          "export default defineApp({ name: 'greetings', registry: new EventRegistry().register(GreetingSent), setup: () => ({}) });",
          '',
        ].join('\n'),
      );
      const typescript = await run(env, '--app', path.relative(root, file), 'catalog', '--format', 'json');
      expect(typescript.stderr).toBe('');
      expect(Object.keys(JSON.parse(typescript.stdout).$defs)).toEqual(['GreetingSent']);
      const noAggregates = await run({ ...env, FABULA_APP: file }, 'state', 'account', 'c1');
      expect(noAggregates.stderr).toContain('unknown aggregate type "account"');
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
    }

    const broken = await run(env, '--app', 'no/such/app.js', 'catalog');
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain('error: --app: cannot load no/such/app.js');
  });

  it('tails events live until interrupted', async () => {
    const env = target();
    await run(env, 'append', 'a-1', 'Before', '{}');
    const args = env.FABULA_SCHEMA ? ['--schema', env.FABULA_SCHEMA, 'tail', '--after', '0'] : ['tail', '--after', '0'];
    if (driver === 'pglite') {
      // One process at a time on an embedded folder: the tail holds it, so an append from another process is refused.
      const tail = spawnFabula(args, env);
      let out = '';
      tail.stdout.on('data', (d) => (out += d));
      await waitFor(() => out.includes('Before'));
      const refused = await run(env, 'append', 'a-1', 'After', '{}');
      expect(refused.stderr).toContain('is in use by another process');
      tail.kill('SIGINT');
      expect(await new Promise((r) => tail.on('exit', r))).toBe(0);
      return;
    }
    const tail = spawnFabula(args, env);
    let out = '';
    tail.stdout.on('data', (d) => (out += d));
    await waitFor(() => out.includes('Before'));
    await run(env, 'append', 'a-1', 'After', '{"late":true}');
    await waitFor(() => out.includes('After'));
    tail.kill('SIGINT');
    expect(await new Promise((r) => tail.on('exit', r))).toBe(0);
    expect(out.indexOf('Before')).toBeLessThan(out.indexOf('After'));
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
