/** `fabula keys create|list|revoke`: the real binary, on the embedded store and the server. */
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { openEventStore } from '../../src/index.js';
import { ApiKeys } from '../../src/server/auth/api-keys.js';
import { auditStreamId } from '../../src/server/auth/audit.js';
import { fabula } from '../support/cli.js';
import { referenceServer } from '../support/reference-server.js';
import { drivers } from '../support/drivers.js';
import { storeLocations } from '../support/locations.js';

const location = storeLocations('keys');
const JWT_SECRET = 'a-shared-secret-of-at-least-32-characters!';

describe.each(drivers)('fabula keys (%s)', (driver) => {
  it('creates a key shown once, lists it without the secret, revokes it; each change is audited', async () => {
    const where = location(driver);
    const env: Record<string, string> = where.databaseUrl
      ? { DATABASE_URL: where.databaseUrl }
      : { FABULA_DATA_DIR: where.dataDir! };
    const run = (...args: string[]) => fabula(['--schema', where.schema, ...args], env);

    const created = await run(
      '--json',
      'keys',
      'create',
      '--user',
      'alice',
      '--tenant',
      't1',
      '--role',
      'teller',
      '--role',
      'auditor',
    );
    expect(created.code, created.stderr).toBe(0);
    const { key, id } = JSON.parse(created.stdout) as { key: string; id: string };
    expect(key).toMatch(new RegExp(`^fabula_${id}_`));
    const human = await run('keys', 'create', '--user', 'bob');
    expect(human.stdout).toMatch(
      /^fabula_\S+\ncreated API key \w+ for bob \(roles: none\): keep it now, it is not shown again\n$/,
    );

    const listed = await run('keys', 'list');
    expect(listed.stdout).toContain(`${id}  alice@t1 (roles: teller, auditor)`);
    expect(listed.stdout).not.toContain(key.slice(`fabula_${id}_`.length));

    expect((await run('keys', 'revoke', id)).stdout).toBe(`revoked API key ${id} of alice@t1 (roles: teller, auditor)\n`);
    expect((await run('keys', 'list')).stdout).not.toContain(id);
    expect((await run('keys', 'list', '--all')).stdout).toMatch(new RegExp(`${id} .* revoked `));

    const missing = await run('keys', 'revoke', 'nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no API key "nope"');
    const bad = await run('keys', 'create', '--user', 'a b');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/user: "a b" is not valid/);

    const store = await openEventStore(
      where.databaseUrl
        ? { connectionString: where.databaseUrl, schema: where.schema }
        : { dataDir: where.dataDir!, schema: where.schema },
    );
    try {
      expect(await new ApiKeys(store.sql, store.schema).verify(key)).toBeNull();
      const audit = await store.readStream(auditStreamId(new Date()));
      expect(audit.map((e) => `${(e.data as { action: string }).action}:${(e.data as { outcome: string }).outcome}`)).toEqual([
        'key.create:succeeded',
        'key.create:succeeded',
        'key.revoke:succeeded',
        'key.revoke:failed',
      ]);
      expect((audit[0]!.data as { actor: unknown }).actor).toMatchObject({ roles: ['*'], via: { method: 'cli' } });
    } finally {
      await store.close();
    }
  });

  it('fabula serve takes API keys, JWTs, development tokens with roles and rate limits from the environment', async () => {
    const where = location(driver);
    const env: Record<string, string> = where.databaseUrl
      ? { DATABASE_URL: where.databaseUrl }
      : { FABULA_DATA_DIR: where.dataDir! };
    const created = await fabula(
      ['--schema', where.schema, '--json', 'keys', 'create', '--user', 'alice', '--role', 'admin'],
      env,
    );
    const { key } = JSON.parse(created.stdout) as { key: string };
    const server = referenceServer(where, {
      readyAttempts: 400,
      env: {
        FABULA_API_KEYS: '1',
        FABULA_JWT_SECRET: JWT_SECRET,
        FABULA_API_TOKENS: 'reader-token=rita:reader',
        FABULA_RATE_LIMIT_READS: '5/1m',
      },
    });
    const child = server.start();
    try {
      await server.ready();
      const get = (path: string, credential?: string) =>
        fetch(`${server.url}${path}`, credential ? { headers: { authorization: `Bearer ${credential}` } } : {});
      expect((await get('/streams')).status).toBe(401);
      expect((await get('/streams', key)).status).toBe(200);
      const jwt = await new SignJWT({ roles: ['admin'] })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('jo')
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(JWT_SECRET));
      expect((await get('/streams', jwt)).status).toBe(200);
      expect((await get('/projections', 'reader-token')).status).toBe(403); // roles from FABULA_API_TOKENS
      expect((await get('/projections', key)).status).toBe(200);
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await get('/streams', key)).status);
      expect(statuses).toEqual([200, 200, 200, 429]); // 5 reads a minute for alice: 2 above, 3 here, then refused
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  });
});
