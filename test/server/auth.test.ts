/**
 * Authentication over HTTP: API keys, JWTs (shared secret, and a real JWKS server), development
 * tokens; and the 401 matrix: nothing, junk, forged, expired, wrong audience or issuer, unsigned,
 * revoked, tenant-less where tenants are required. Real @fastify/jwt, real HTTP, both drivers.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { ApiKeys } from '../../src/server/auth/api-keys.js';
import type { AuthenticationOptions } from '../../src/server/auth/authenticate.js';
import { drivers, storeFactory } from '../support/drivers.js';
import { call, startServer, type FastifyInstance } from './support.js';

const SECRET = 'a-shared-secret-of-at-least-32-characters!';
const ISSUER = 'https://idp.test/';
const AUDIENCE = 'fabula-api';

function hs256(
  claims: Record<string, unknown>,
  options: { secret?: string; expires?: string | number; aud?: string; iss?: string } = {},
) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setIssuer(options.iss ?? ISSUER)
    .setAudience(options.aud ?? AUDIENCE)
    .setExpirationTime(options.expires ?? '5m')
    .sign(new TextEncoder().encode(options.secret ?? SECRET));
}

/** A token with `alg: none`: no signature at all. */
function unsigned(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ ...claims, iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 300 })}.`;
}

/** A real identity provider's JWKS endpoint, on a local port. */
async function jwksServer(keys: JWK[]) {
  let requests = 0;
  const server = http.createServer((request, response) => {
    requests++;
    if (request.url !== '/realms/test/jwks.json') {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/realms/test/jwks.json`, server, requests: () => requests };
}

describe.each(drivers)('authentication (%s)', (driver) => {
  const stores = storeFactory(driver);
  const servers: FastifyInstance[] = [];
  afterAll(async () => {
    for (const server of servers) await server.close();
  });
  async function server(authentication: AuthenticationOptions) {
    const store = await stores.open();
    const started = await startServer(store, { authentication });
    servers.push(started.server);
    return { ...started, store, keys: new ApiKeys(store.sql, store.schema) };
  }
  const get = (url: string, credential?: string) =>
    call(url, 'GET', '/streams', undefined, credential === undefined ? {} : { authorization: `Bearer ${credential}` });

  it('answers 401 with a WWW-Authenticate challenge to every missing or bad credential, and 200 to good ones', async () => {
    const { url, keys } = await server({
      apiKeys: true,
      jwt: { secret: SECRET, issuer: ISSUER, audience: AUDIENCE },
      tokens: new Map([['dev-token-123', { userId: 'dev', tenantId: 't1' }]]),
      requireTenant: true,
    });
    const { key } = await keys.create({ userId: 'alice', tenantId: 't1', roles: ['teller'] });
    const { key: revoked, apiKey: revokedKey } = await keys.create({ userId: 'bob', tenantId: 't1' });
    await keys.revoke(revokedKey.id);
    const { key: tenantless } = await keys.create({ userId: 'carol' });

    const none = await get(url);
    expect(none).toMatchObject({ status: 401, json: { code: 'unauthenticated' } });
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="fabula"');
    expect((await call(url, 'GET', '/streams', undefined, { authorization: 'Basic YWxpY2U6cHc=' })).status).toBe(401);

    const refused: Record<string, string> = {
      junk: 'not-a-token',
      'unknown API key': key.replace(/_[^_]+$/, `_${'A'.repeat(43)}`),
      'API key with a changed id': key.replace(/^fabula_[0-9a-f]{4}/, 'fabula_0000'),
      'revoked API key': revoked,
      'API key without a tenant': tenantless,
      'JWT signed with another secret': await hs256({ sub: 'mallory', tenant: 't1' }, { secret: `${SECRET}-forged` }),
      'expired JWT': await hs256({ sub: 'alice', tenant: 't1' }, { expires: Math.floor(Date.now() / 1000) - 120 }),
      'JWT for another audience': await hs256({ sub: 'alice', tenant: 't1' }, { aud: 'another-api' }),
      'JWT of another issuer': await hs256({ sub: 'alice', tenant: 't1' }, { iss: 'https://evil.test/' }),
      'unsigned JWT (alg none)': unsigned({ sub: 'alice', tenant: 't1' }),
      'JWT without a tenant': await hs256({ sub: 'alice' }),
      'JWT with a tampered payload': await (async () => {
        const [header, , signature] = (await hs256({ sub: 'alice', tenant: 't1', roles: [] })).split('.');
        const payload = Buffer.from(
          JSON.stringify({ sub: 'alice', tenant: 't1', roles: ['admin'], iss: ISSUER, aud: AUDIENCE, exp: 9999999999 }),
        ).toString('base64url');
        return `${header}.${payload}.${signature}`;
      })(),
    };
    for (const [what, credential] of Object.entries(refused)) {
      const answer = await get(url, credential);
      expect({ what, status: answer.status, code: answer.json.code }).toEqual({ what, status: 401, code: 'unauthenticated' });
      expect(answer.headers.get('www-authenticate'), what).toBe('Bearer realm="fabula", error="invalid_token"');
      expect(answer.text, what).not.toContain('alice');
    }
    expect((await get(url, refused['expired JWT'])).json.message).toContain('expired');

    for (const credential of [key, 'dev-token-123', await hs256({ sub: 'alice', tenant: 't1', roles: ['teller'] })])
      expect((await get(url, credential)).status).toBe(200);
  });

  it('maps each kind of credential to its user, tenant and roles: recorded on the events it writes', async () => {
    const { url, keys, store } = await server({
      apiKeys: true,
      jwt: { secret: SECRET, claims: { user: 'preferred_username', tenant: 'org.id', roles: 'scope' } },
      tokens: new Map([['dev-token-123', { userId: 'dev', tenantId: 'td', roles: ['admin'] }]]),
    });
    const { key } = await keys.create({ userId: 'alice', tenantId: 'ta', roles: ['teller'] });
    const jwt = await new SignJWT({ preferred_username: 'jo', org: { id: 'tj' }, scope: 'teller auditor' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('subject-42')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(SECRET));
    for (const [credential, accountId] of [
      [key, 'k1'],
      [jwt, 'j1'],
      ['dev-token-123', 'd1'],
    ] as const) {
      const answer = await call(
        url,
        'POST',
        '/commands/OpenAccount',
        { accountId, owner: 'Ada', currency: 'EUR' },
        { authorization: `Bearer ${credential}` },
      );
      expect(answer.status).toBe(202);
    }
    // Each command ran in its caller's tenant: the stream is in that tenant, and only there.
    const metadata = async (tenant: string, streamId: string) => {
      expect(await store.streamInfo(streamId)).toBeNull();
      return (await store.forTenant(tenant).readStream(streamId))[0]!.metadata;
    };
    expect(await metadata('ta', 'account-k1')).toMatchObject({ userId: 'alice', tenantId: 'ta' });
    expect(await metadata('tj', 'account-j1')).toMatchObject({ userId: 'jo', tenantId: 'tj' });
    expect(await metadata('td', 'account-d1')).toMatchObject({ userId: 'dev', tenantId: 'td' });
  });

  it('verifies JWTs with the keys of a JWKS URL (a real HTTP server), refusing unknown keys and forgeries', async () => {
    const signing = await generateKeyPair('RS256');
    const other = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(signing.publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' };
    const idp = await jwksServer([jwk]);
    try {
      const { url } = await server({ jwt: { jwksUrl: idp.url, issuer: ISSUER, audience: AUDIENCE }, requireTenant: true });
      const rs256 = (key: CryptoKey, kid: string, claims: Record<string, unknown> = { tenant: 't1' }) =>
        new SignJWT(claims)
          .setProtectedHeader({ alg: 'RS256', kid })
          .setSubject('alice')
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setExpirationTime('5m')
          .sign(key);
      expect((await get(url, await rs256(signing.privateKey, 'key-1'))).status).toBe(200);
      expect((await get(url, await rs256(other.privateKey, 'key-1'))).status).toBe(401); // forged: right kid, wrong key
      expect((await get(url, await rs256(other.privateKey, 'key-2'))).status).toBe(401); // a key the IdP does not have
      expect((await get(url, await rs256(signing.privateKey, 'key-1', {}))).status).toBe(401); // no tenant
      // An HS256 token "signed" with the public key's text must not pass as RS256 (algorithm confusion).
      const confused = await hs256({ sub: 'alice', tenant: 't1' }, { secret: JSON.stringify(jwk) });
      expect((await get(url, confused)).status).toBe(401);
      expect(idp.requests()).toBeGreaterThan(0);
    } finally {
      idp.server.close();
    }
  });

  it('keeps servers without authentication open, as before (development)', async () => {
    const { url } = await server({});
    expect((await get(url)).status).toBe(200);
  });
});

describe('API keys', () => {
  const stores = storeFactory('pglite');
  let keys: ApiKeys;
  beforeAll(async () => {
    const store = await stores.open();
    keys = new ApiKeys(store.sql, store.schema);
  });

  it('stores only a hash, lists without secrets, refuses bad names with a typed error', async () => {
    const { key, apiKey } = await keys.create({ userId: 'alice', tenantId: 't1', roles: ['a', 'b'], description: 'ci' });
    expect(key).toMatch(/^fabula_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(key).toContain(apiKey.id);
    const listed = await keys.list();
    expect(listed).toEqual([expect.objectContaining({ id: apiKey.id, userId: 'alice', tenantId: 't1', roles: ['a', 'b'] })]);
    expect(JSON.stringify(listed)).not.toContain(key.slice(`fabula_${apiKey.id}_`.length));
    await expect(keys.create({ userId: 'bad user' })).rejects.toMatchObject({ code: 'validation_failed', field: 'user' });
    await expect(keys.revoke('nope')).rejects.toMatchObject({ code: 'not_found' });
    expect((await keys.verify(key))?.userId).toBe('alice');
    await keys.revoke(apiKey.id);
    expect(await keys.verify(key)).toBeNull();
    expect(await keys.list()).toEqual([]);
    expect((await keys.list({ includeRevoked: true }))[0]!.revokedAt).toBeInstanceOf(Date);
  });
});
