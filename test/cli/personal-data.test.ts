/** `fabula forget`, and where the CLI gets the master key, through the real binary on both drivers. */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ERASED, openEventStore } from '../../src/index.js';
import { fabula } from '../support/cli.js';
import { drivers } from '../support/drivers.js';
import { storeLocations, type StoreLocation } from '../support/locations.js';

const app = 'dist/examples/reference-app.js';
const location = storeLocations('clipii');
const opened = (id: string, owner: string) => JSON.stringify({ accountId: id, owner, currency: 'EUR', overdraftLimit: 0 });

function cli(where: StoreLocation, env: Record<string, string | undefined> = {}) {
  const target = where.databaseUrl ? { DATABASE_URL: where.databaseUrl } : { FABULA_DATA_DIR: where.dataDir! };
  return (...args: string[]) => fabula(['--schema', where.schema, ...args], { ...target, ...env });
}

async function rawOwner(where: StoreLocation, streamId: string): Promise<unknown> {
  const store = await openEventStore(
    where.databaseUrl ? { connectionString: where.databaseUrl, schema: where.schema } : { dataDir: where.dataDir! },
  );
  try {
    return ((await store.readStream(streamId))[0]!.data as { owner: unknown }).owner;
  } finally {
    await store.close();
  }
}

describe.each(drivers)('fabula forget (%s)', (driver) => {
  it('encrypts appends, decrypts reads, forgets with --yes, and refuses a wrong master key', async () => {
    const where = location(driver);
    const run = cli(where);
    expect(await run('--app', app, 'append', 'account-c1', 'AccountOpened', opened('c1', 'Cli Carla'))).toMatchObject({
      code: 0,
    });
    expect(await run('--app', app, 'append', 'account-c2', 'AccountOpened', opened('c2', 'Cli Cid'))).toMatchObject({ code: 0 });
    expect(await rawOwner(where, 'account-c1')).toMatch(/^\$pd:1:/);
    const read = await run('--json', 'read', 'account-c1'); // no --app: the key alone decrypts
    expect(JSON.parse(read.stdout)[0].data.owner).toBe('Cli Carla');

    const unconfirmed = await run('--app', app, 'forget', 'c1');
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toContain('forgetting "c1" cannot be undone: run again with --yes to confirm');
    const forgot = await run('--app', app, '--json', 'forget', 'c1', '--yes');
    expect(forgot.code).toBe(0);
    expect(JSON.parse(forgot.stdout)).toMatchObject({
      subjectId: 'c1',
      keyDestroyed: true,
      events: 1,
      projectionsRebuilt: [],
    });
    const human = await run('--app', app, 'forget', 'c1', '--yes');
    expect(human.stdout).toContain('forgot c1: no data key (unknown subject, or forgotten before); 1 events carry it');

    const after = await run('--json', 'read', 'account-c1');
    expect(JSON.parse(after.stdout)[0].data).toMatchObject({ accountId: 'c1', owner: ERASED });
    const tail = await run('--json', 'read', 'account-c2');
    expect(JSON.parse(tail.stdout)[0].data.owner).toBe('Cli Cid');

    const wrong = await cli(where, { FABULA_MASTER_KEY: randomBytes(32).toString('base64') })('read', 'account-c2');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(
      /error: the store's data keys are wrapped under master key [0-9a-f]{16}, but the master key given is/,
    );

    // Master key rotation: the new key current, the old one previous; rewrap; then the new key alone.
    const newer = randomBytes(32).toString('base64');
    const rotating = cli(where, { FABULA_MASTER_KEY: newer, FABULA_MASTER_KEY_PREVIOUS: process.env.FABULA_MASTER_KEY });
    const rewrap = await rotating('personal-data', 'rewrap');
    expect(rewrap).toMatchObject({ code: 0 });
    expect(rewrap.stdout).toMatch(
      /^1 data keys re-wrapped under master key [0-9a-f]{16}; the previous master key is no longer needed/,
    );
    const rotated = await cli(where, { FABULA_MASTER_KEY: newer })('--json', 'read', 'account-c2');
    expect(JSON.parse(rotated.stdout)[0].data.owner).toBe('Cli Cid');
    expect((await run('read', 'account-c2')).stderr).toContain("error: the store's data keys are wrapped under master key");
    const malformed = await cli(where, { FABULA_MASTER_KEY: 'not-a-key' })('read', 'account-c2');
    expect(malformed).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('FABULA_MASTER_KEY: must be 32 random bytes in base64'),
    });
  });

  it('without a master key: a development key on the embedded store (with a warning), a clear refusal on a server', async () => {
    const where = location(driver);
    const run = cli(where, { FABULA_MASTER_KEY: undefined });
    const append = await run('--app', app, 'append', 'account-d1', 'AccountOpened', opened('d1', 'Dev Dora'));
    if (driver === 'postgres') {
      expect(append.code).toBe(2);
      expect(append.stderr).toContain(
        'error: FABULA_MASTER_KEY: the application declares personal data, which is encrypted under a master key: set FABULA_MASTER_KEY',
      );
      return;
    }
    expect(append.code).toBe(0);
    expect(append.stderr).toContain('warning: personal data is encrypted with the DEVELOPMENT master key in');
    const keyFile = path.join(where.dataDir!, 'master.key');
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(await rawOwner(where, 'account-d1')).toMatch(/^\$pd:1:/);
    const read = await run('--json', 'read', 'account-d1');
    expect(JSON.parse(read.stdout)[0].data.owner).toBe('Dev Dora');
  });
});
