/**
 * Tenant isolation over HTTP (docs/tenancy.md): every route works in the caller's tenant (the default
 * tenant for a caller without one). Tenant B tries every route on tenant A's account and sees, counts and
 * infers nothing: the answers are those for an account that does not exist, anywhere.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { drivers, storeFactory } from '../support/drivers.js';
import { call, readSse, startServer } from './support.js';

const callers: Record<string, { userId: string; tenantId?: string }> = {
  'Bearer a': { userId: 'ann', tenantId: 'tenant-a' },
  'Bearer b': { userId: 'bob', tenantId: 'tenant-b' },
  'Bearer none': { userId: 'nia' },
};
const as = (who: 'a' | 'b' | 'none') => ({ authorization: `Bearer ${who}` });

/** The SSE stream's events until `count` arrived (or `ms` passed). */
async function tail(url: string, who: 'a' | 'b' | 'none', count: number, ms = 3000) {
  const { status, events } = await readSse(url, '/events/stream', as(who), count, ms);
  expect(status).toBe(200);
  return events.map(({ id, data }) => ({ position: id!, streamId: data.streamId as string, type: data.type as string }));
}

describe.each(drivers)('tenant isolation over HTTP (%s)', (driver) => {
  const stores = storeFactory(driver);
  const servers: FastifyInstance[] = [];
  afterAll(async () => {
    for (const server of servers) await server.close();
  });

  async function server() {
    const store = await stores.open();
    const started = await startServer(store, { authenticate: (headers) => callers[String(headers.authorization)] ?? null });
    servers.push(started.server);
    const { url } = started;
    // Tenant A: account a1 with a deposit, and account only-a.
    for (const [path, body] of [
      ['/commands/OpenAccount', { accountId: 'a1', owner: 'Ada', currency: 'EUR' }],
      ['/commands/DepositMoney', { accountId: 'a1', amount: 500 }],
      ['/commands/OpenAccount', { accountId: 'only-a', owner: 'Alan', currency: 'EUR' }],
    ] as const) {
      expect((await call(url, 'POST', path, body, as('a'))).status).toBe(202);
    }
    return { url, store };
  }

  it("a tenant's every read route shows, counts and infers none of another tenant's streams and events", async () => {
    const { url } = await server();
    for (const who of ['b', 'none'] as const) {
      expect((await call(url, 'GET', '/streams?includeDeleted=true', undefined, as(who))).json).toEqual({
        streams: [],
        next: null,
      });
      expect((await call(url, 'GET', '/streams?type=account', undefined, as(who))).json.streams).toHaveLength(0);
      expect((await call(url, 'GET', '/events', undefined, as(who))).json).toEqual({ events: [], next: '0' });
      expect((await call(url, 'GET', '/events?types=MoneyDeposited&after=1', undefined, as(who))).json.events).toHaveLength(0);
      // Another tenant's stream and aggregate answer exactly as ones that exist nowhere.
      const theirs = await call(url, 'GET', '/streams/account-only-a', undefined, as(who));
      const nobodys = await call(url, 'GET', '/streams/account-nobody', undefined, as(who));
      expect(theirs.status).toBe(404);
      expect([theirs.status, theirs.json.code, theirs.json.message.replace('only-a', 'X')]).toEqual([
        nobodys.status,
        nobodys.json.code,
        nobodys.json.message.replace('nobody', 'X'),
      ]);
      const state = await call(url, 'GET', '/aggregates/account/only-a', undefined, as(who));
      const noState = await call(url, 'GET', '/aggregates/account/nobody', undefined, as(who));
      expect([state.status, state.json.code, state.json.message.replace('only-a', 'X')]).toEqual([
        404,
        noState.json.code,
        noState.json.message.replace('nobody', 'X'),
      ]);
      expect((await call(url, 'GET', '/aggregates/account/a1?atVersion=2', undefined, as(who))).status).toBe(404);
    }
    // Tenant A sees its own.
    expect((await call(url, 'GET', '/streams', undefined, as('a'))).json.streams).toHaveLength(2);
    expect((await call(url, 'GET', '/events', undefined, as('a'))).json.events).toHaveLength(3);
    expect((await call(url, 'GET', '/aggregates/account/a1', undefined, as('a'))).json).toMatchObject({ version: 2 });
  });

  it("a tenant's commands cannot touch another tenant's aggregate, and answer as for one that does not exist", async () => {
    const { url } = await server();
    const deposit = (accountId: string) => call(url, 'POST', '/commands/DepositMoney', { accountId, amount: 1 }, as('b'));
    const theirs = await deposit('only-a');
    const nobodys = await deposit('nobody');
    expect(theirs.status).toBeGreaterThanOrEqual(400);
    expect([theirs.status, theirs.json.code, theirs.json.message.replace('only-a', 'X')]).toEqual([
      nobodys.status,
      nobodys.json.code,
      nobodys.json.message.replace('nobody', 'X'),
    ]);
    // The same account id in B is B's own account: opening it is no conflict.
    const opened = await call(url, 'POST', '/commands/OpenAccount', { accountId: 'a1', owner: 'Bea', currency: 'EUR' }, as('b'));
    expect(opened.status).toBe(202);
    expect(opened.json.events[0].streamVersion).toBe(1);
    expect((await call(url, 'GET', '/aggregates/account/a1', undefined, as('b'))).json).toMatchObject({
      version: 1,
      state: { owner: 'Bea', balance: 0 },
    });
    expect((await call(url, 'GET', '/aggregates/account/a1', undefined, as('a'))).json).toMatchObject({
      version: 2,
      state: { owner: 'Ada', balance: 500 },
    });
  });

  it("the same Idempotency-Key in two tenants is two commands; a tenant's retry replays its own", async () => {
    const { url } = await server();
    const key = { 'idempotency-key': 'shared-key-1' };
    await call(url, 'POST', '/commands/OpenAccount', { accountId: 'a1', owner: 'Bea', currency: 'EUR' }, as('b'));
    const a = await call(url, 'POST', '/commands/DepositMoney', { accountId: 'a1', amount: 7 }, { ...as('a'), ...key });
    const b = await call(url, 'POST', '/commands/DepositMoney', { accountId: 'a1', amount: 9 }, { ...as('b'), ...key });
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(b.headers.get('idempotent-replayed')).toBeNull();
    expect(b.json.events[0].id).not.toBe(a.json.events[0].id);
    const again = await call(url, 'POST', '/commands/DepositMoney', { accountId: 'a1', amount: 9 }, { ...as('b'), ...key });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.json.events[0].id).toBe(b.json.events[0].id);
    expect((await call(url, 'GET', '/aggregates/account/a1', undefined, as('b'))).json.state.balance).toBe(9);
    expect((await call(url, 'GET', '/aggregates/account/a1', undefined, as('a'))).json.state.balance).toBe(507);
  });

  it("the live tail (SSE) delivers only the tenant's own events", async () => {
    const { url } = await server();
    const tailB = tail(url, 'b', 2);
    const tailNone = tail(url, 'none', 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await call(url, 'POST', '/commands/DepositMoney', { accountId: 'a1', amount: 1 }, as('a'));
    await call(url, 'POST', '/commands/OpenAccount', { accountId: 'b1', owner: 'Bea', currency: 'EUR' }, as('b'));
    await call(url, 'POST', '/commands/OpenAccount', { accountId: 'd1', owner: 'Dee', currency: 'EUR' }, as('none'));
    await call(url, 'POST', '/commands/DepositMoney', { accountId: 'b1', amount: 2 }, as('b'));
    expect((await tailB).map((e) => [e.streamId, e.type])).toEqual([
      ['account-b1', 'AccountOpened'],
      ['account-b1', 'MoneyDeposited'],
    ]);
    expect((await tailNone).map((e) => e.streamId)).toEqual(['account-d1']);
    // Positions are the global ones: B's first event comes after A's five.
    expect(Number((await tail(url, 'b', 1))[0]!.position)).toBeGreaterThan(4);
  });
});
