/**
 * Rate limits: per user and per tenant, commands and reads apart, per-route overrides; 429 with
 * Retry-After, traffic again after the window; one budget across two server processes sharing a real
 * Redis (REDIS_URL, default 127.0.0.1:6379); in memory without one.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { RateLimitOptions } from '../../src/server/auth/rate-limits.js';
import { drivers, storeFactory } from '../support/drivers.js';
import { call, startServer, type FastifyInstance } from './support.js';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const tokens = new Map([
  ['token-alice', { userId: 'alice', tenantId: 't1' }],
  ['token-bob', { userId: 'bob', tenantId: 't1' }],
  ['token-carl', { userId: 'carl', tenantId: 't2' }],
]);
const as = (who: string) => ({ authorization: `Bearer token-${who}` });

describe.each(drivers)('rate limits (%s)', (driver) => {
  const stores = storeFactory(driver);
  const servers: FastifyInstance[] = [];
  const clients: Redis[] = [];
  afterAll(async () => {
    for (const server of servers) await server.close();
    for (const client of clients) await client.quit();
  });
  async function server(rateLimits: RateLimitOptions, store?: Awaited<ReturnType<typeof stores.open>>) {
    const started = await startServer(store ?? (await stores.open()), { authentication: { tokens }, rateLimits });
    servers.push(started.server);
    return started;
  }
  const statuses = async (url: string, path: string, who: string, times: number) => {
    const result: number[] = [];
    for (let i = 0; i < times; i++) result.push((await call(url, 'GET', path, undefined, as(who))).status);
    return result;
  };

  it('answers 429 with Retry-After over a user budget, per user, and lets traffic through after the window', async () => {
    const { url } = await server({ reads: { perUser: { max: 3, timeWindow: 3000 } } });
    expect((await call(url, 'GET', '/health/live')).status).toBe(200); // fetches the OpenAPI document first: not counted
    expect(await statuses(url, '/streams', 'alice', 3)).toEqual([200, 200, 200]);
    const refused = await call(url, 'GET', '/streams', undefined, as('alice'));
    expect(refused).toMatchObject({ status: 429, json: { code: 'rate_limited' } });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.json.message).toContain('retry after');
    // Another user, and other routes of the same class, have their own counters or share the user's:
    expect(await statuses(url, '/streams', 'bob', 3)).toEqual([200, 200, 200]);
    expect((await call(url, 'GET', '/events', undefined, as('alice'))).status).toBe(429); // reads share one budget
    // Commands are another class: no budget set, not limited.
    const open = await call(url, 'POST', '/commands/OpenAccount', { accountId: 'x', owner: 'A', currency: 'EUR' }, as('alice'));
    expect(open.status).toBe(202);
    // Health and metrics are never limited.
    expect((await call(url, 'GET', '/health/live')).status).toBe(200);
    expect((await call(url, 'GET', '/metrics')).status).toBe(200);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(3);
    await sleep(Number(refused.headers.get('retry-after')) * 1000 + 100);
    expect(await statuses(url, '/streams', 'alice', 1)).toEqual([200]);
  });

  it('limits a tenant as a whole, commands apart from reads, with per-route overrides', async () => {
    const { url } = await server({
      commands: { perUser: { max: 100, timeWindow: 60_000 }, perTenant: { max: 3, timeWindow: 60_000 } },
      reads: { perUser: { max: 100, timeWindow: 60_000 } },
      routes: { 'GET /events': { perUser: { max: 1, timeWindow: 60_000 } } },
    });
    const deposit = (who: string, i: number) =>
      call(url, 'POST', '/commands/OpenAccount', { accountId: `${who}${i}`, owner: 'A', currency: 'EUR' }, as(who));
    expect([(await deposit('alice', 1)).status, (await deposit('bob', 1)).status, (await deposit('alice', 2)).status]).toEqual([
      202, 202, 202,
    ]);
    const refused = await deposit('bob', 2); // tenant t1's budget is spent, whoever sends
    expect(refused).toMatchObject({ status: 429, json: { code: 'rate_limited' } });
    expect(refused.json.message).toContain('your tenant');
    expect((await deposit('carl', 1)).status).toBe(202); // tenant t2 is not
    expect(await statuses(url, '/streams', 'bob', 2)).toEqual([200, 200]); // reads are not commands
    expect(await statuses(url, '/events', 'alice', 2)).toEqual([200, 429]); // the route's own budget
  });

  it('limits anonymous callers by IP, before authentication refuses them (no free guessing of keys)', async () => {
    const { url } = await server({ reads: { perUser: { max: 2, timeWindow: 60_000 } } });
    const guesses: number[] = [];
    for (let i = 0; i < 3; i++)
      guesses.push((await call(url, 'GET', '/streams', undefined, { authorization: `Bearer guess-${i}-xxxx` })).status);
    expect(guesses).toEqual([401, 401, 429]);
  });

  it('shares one budget between two server processes through Redis', async () => {
    const namespace = `fabula-test-${randomUUID()}:`;
    const store = await stores.open();
    const redis = () => {
      const client = new Redis(redisUrl);
      clients.push(client);
      return client;
    };
    const budget = { reads: { perUser: { max: 4, timeWindow: 60_000 } }, namespace };
    const one = await server({ ...budget, redis: redis() }, store);
    const two = await server({ ...budget, redis: redis() }, store);
    const seen: number[] = [];
    for (let i = 0; i < 6; i++)
      seen.push((await call(i % 2 ? two.url : one.url, 'GET', '/streams', undefined, as('alice'))).status);
    expect(seen).toEqual([200, 200, 200, 200, 429, 429]);
    expect((await call(two.url, 'GET', '/streams', undefined, as('carl'))).status).toBe(200);
    // Without Redis, each process counts alone: the same traffic passes twice as often.
    const alone = { reads: { perUser: { max: 4, timeWindow: 60_000 } } };
    const three = await server(alone, store);
    const four = await server(alone, store);
    const apart: number[] = [];
    for (let i = 0; i < 6; i++)
      apart.push((await call(i % 2 ? four.url : three.url, 'GET', '/streams', undefined, as('alice'))).status);
    expect(apart).toEqual([200, 200, 200, 200, 200, 200]);
  });
});
