/**
 * Authorisation over HTTP: roles on commands and queries, a policy on the aggregate's state, stream
 * access control on every read path (streams, one stream, events, the live tail, aggregates), admin
 * routes; lists and pages show only what the caller may read, counts and cursors included.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AggregateRepository, defineCommand, defineQuery, QueryBus, type AccessControl } from '../../src/index.js';
import { BankAccount } from '../../examples/bank/index.js';
import { drivers, storeFactory } from '../support/drivers.js';
import { call, readSse, startServer, type FastifyInstance } from './support.js';

const access: AccessControl = {
  streams: {
    account: { read: ['teller', 'auditor'], write: ['teller'] },
    order: { admin: ['clerk'] },
  },
};

const tokens = new Map([
  ['token-teller', { userId: 'tina', roles: ['teller'] }],
  ['token-teller2', { userId: 'theo', roles: ['teller'] }],
  ['token-auditor', { userId: 'aldo', roles: ['auditor'] }],
  ['token-clerk', { userId: 'cleo', roles: ['clerk'] }],
  ['token-nobody', { userId: 'nina', roles: [] }],
  ['token-admin', { userId: 'root', roles: ['admin'] }],
]);
const as = (who: string) => ({ authorization: `Bearer token-${who}` });

const Supervise = defineCommand('FreezeBySupervisor', {
  schema: z.object({ accountId: z.string() }),
  roles: ['supervisor', 'admin'],
});
const WithdrawOwn = defineCommand('WithdrawOwn', { schema: z.object({ accountId: z.string(), amount: z.number() }) });
const Audited = defineQuery('audited-accounts', { schema: z.object({}), roles: ['auditor'] });

/** Reads a Server-Sent Events stream until `count` events or `ms` pass. */
async function tail(url: string, path: string, who: string, count: number, ms: number) {
  const { status, events } = await readSse(url, path, as(who), count, ms);
  return { status, seen: events.map((e) => e.data as { streamId: string; type: string }) };
}

describe.each(drivers)('authorisation (%s)', (driver) => {
  const stores = storeFactory(driver);
  const servers: FastifyInstance[] = [];
  afterAll(async () => {
    for (const server of servers) await server.close();
  });

  async function server() {
    const store = await stores.open();
    const queries = new QueryBus().register(Audited, async () => ({ accounts: 3 }));
    const started = await startServer(store, {
      authentication: { tokens },
      access,
      queries,
      configure: (commands, registry) => {
        const accounts = new AggregateRepository(store, BankAccount, { registry });
        commands
          .registerAggregate(Supervise, { repository: accounts, id: (c) => c.accountId, handle: (a) => a.freeze('supervisor') })
          .registerAggregate(WithdrawOwn, {
            repository: accounts,
            id: (c) => c.accountId,
            // Only the account's owner may withdraw: a policy on the loaded state.
            authorizeState: (account, _command, context) => account.owner === context.userId,
            handle: (account, command) => account.withdraw(command.amount),
          });
      },
    });
    servers.push(started.server);
    const post = (type: string, body: unknown, who: string) => call(started.url, 'POST', `/commands/${type}`, body, as(who));
    const get = (path: string, who: string) => call(started.url, 'GET', path, undefined, as(who));
    return { ...started, store, post, get };
  }

  it('checks command roles, stream write permissions and policies on the aggregate state (403, nothing written)', async () => {
    const { post, store } = await server();
    const open = (id: string, owner: string) => ({ accountId: id, owner, currency: 'EUR', overdraftLimit: 0 });
    expect((await post('OpenAccount', open('a1', 'tina'), 'teller')).status).toBe(202);
    expect((await post('DepositMoney', { accountId: 'a1', amount: 100 }, 'teller')).status).toBe(202);
    const head = await store.headPosition();

    const refused: Array<[string, unknown, string]> = [
      ['OpenAccount', open('a2', 'aldo'), 'auditor'], // may read accounts, not write them
      ['OpenAccount', open('a3', 'cleo'), 'clerk'],
      ['OpenAccount', open('a4', 'nina'), 'nobody'],
      ['PlaceOrder', { orderId: 'o1', customerId: 'c', items: [{ sku: 's', quantity: 1, priceCents: 1 }] }, 'teller'],
      ['FreezeBySupervisor', { accountId: 'a1' }, 'teller'], // the command's roles
      ['WithdrawOwn', { accountId: 'a1', amount: 5 }, 'teller2'], // not the owner
    ];
    for (const [type, body, who] of refused) {
      const answer = await post(type, body, who);
      expect({ type, who, status: answer.status, code: answer.json.code }).toEqual({ type, who, status: 403, code: 'forbidden' });
    }
    expect(await store.headPosition()).toBe(head);

    expect((await post('WithdrawOwn', { accountId: 'a1', amount: 5 }, 'teller')).status).toBe(202); // the owner
    expect(
      (await post('PlaceOrder', { orderId: 'o1', customerId: 'c', items: [{ sku: 's', quantity: 1, priceCents: 1 }] }, 'clerk'))
        .status,
    ).toBe(202); // admin on order implies write
    expect((await post('FreezeBySupervisor', { accountId: 'a1' }, 'admin')).status).toBe(202);
  });

  it('shows each caller only the streams and events it may read: pages, counts and cursors included', async () => {
    const { post, get } = await server();
    for (const id of ['a1', 'a2', 'a3']) await post('OpenAccount', { accountId: id, owner: 'x', currency: 'EUR' }, 'admin');
    for (const id of ['o1', 'o2'])
      await post('PlaceOrder', { orderId: id, customerId: 'c', items: [{ sku: 's', quantity: 1, priceCents: 1 }] }, 'admin');
    await post('DepositMoney', { accountId: 'a2', amount: 7 }, 'admin');

    // /streams, paged: the teller's pages hold accounts only, and end when its accounts do.
    const page1 = await get('/streams?limit=2', 'teller');
    expect(page1.json.streams.map((s: { streamId: string }) => s.streamId)).toEqual(['account-a1', 'account-a2']);
    const page2 = await get(`/streams?limit=2&after=${page1.json.next}`, 'teller');
    expect(page2.json).toMatchObject({ streams: [{ streamId: 'account-a3' }], next: null });
    expect((await get('/streams?limit=100', 'clerk')).json.streams.map((s: { streamId: string }) => s.streamId)).toEqual([
      'order-o1',
      'order-o2',
    ]);
    expect((await get('/streams?type=order', 'teller')).json).toEqual({ streams: [], next: null });
    expect((await get('/streams', 'nobody')).json).toEqual({ streams: [], next: null });
    expect((await get('/streams?limit=100', 'admin')).json.streams).toHaveLength(5);

    // /events: the global order, filtered; a page of 2 holds 2 readable events and its cursor moves on.
    const events = await get('/events?limit=2', 'clerk');
    expect(events.json.events.map((e: { streamId: string }) => e.streamId)).toEqual(['order-o1', 'order-o2']);
    const rest = await get(`/events?after=${events.json.next}`, 'clerk');
    expect(rest.json.events).toEqual([]);
    const tellerEvents = (await get('/events?limit=100', 'teller')).json.events;
    expect(tellerEvents.map((e: { type: string }) => e.type)).toEqual([
      'AccountOpened',
      'AccountOpened',
      'AccountOpened',
      'MoneyDeposited',
    ]);
    expect((await get('/events?streamTypes=order', 'teller')).json.events).toEqual([]);
    expect((await get('/events', 'nobody')).json.events).toEqual([]);
    expect((await get('/events?limit=100', 'admin')).json.events).toHaveLength(6);

    // One stream, an aggregate: 403 whether or not it exists (the answer tells nothing about existence).
    for (const path of ['/streams/order-o1', '/streams/order-none', '/aggregates/order/o1', '/aggregates/order/none']) {
      const answer = await get(path, 'teller');
      expect({ path, status: answer.status, code: answer.json.code }).toEqual({ path, status: 403, code: 'forbidden' });
      expect(answer.text).not.toContain('o1');
    }
    expect((await get('/streams/account-a2', 'auditor')).json.events).toHaveLength(2);
    expect((await get('/aggregates/account/a2', 'auditor')).json).toMatchObject({ version: 2 });
    expect((await get('/aggregates/order/o1', 'clerk')).status).toBe(200);
    expect((await get('/streams/account-a2', 'clerk')).status).toBe(403);
  });

  it('filters the live tail (SSE) to what the caller may read', async () => {
    const { post, url } = await server();
    await post('OpenAccount', { accountId: 'a1', owner: 'x', currency: 'EUR' }, 'admin');
    await post('PlaceOrder', { orderId: 'o1', customerId: 'c', items: [{ sku: 's', quantity: 1, priceCents: 1 }] }, 'admin');
    const clerk = tail(url, '/events/stream', 'clerk', 2, 1500);
    const teller = tail(url, '/events/stream', 'teller', 2, 1500);
    const nobody = tail(url, '/events/stream', 'nobody', 1, 800);
    const clerkAsksAccounts = tail(url, '/events/stream?streamTypes=account', 'clerk', 1, 800);
    await new Promise((r) => setTimeout(r, 200));
    await post('DepositMoney', { accountId: 'a1', amount: 1 }, 'admin');
    await post('AddItem', { orderId: 'o1', item: { sku: 't', quantity: 1, priceCents: 2 } }, 'admin');
    expect((await clerk).seen.map((e) => e.type)).toEqual(['OrderPlaced', 'ItemAdded']);
    expect((await teller).seen.map((e) => e.type)).toEqual(['AccountOpened', 'MoneyDeposited']);
    expect(await nobody).toEqual({ status: 200, seen: [] });
    expect((await clerkAsksAccounts).seen).toEqual([]);
  });

  it('checks query roles, guards the admin routes, and lets any authenticated caller read the catalog', async () => {
    const { get, url } = await server();
    expect((await get('/queries/audited-accounts', 'teller')).status).toBe(403);
    expect((await get('/queries/audited-accounts?minPosition=999', 'teller')).status).toBe(403);
    expect((await get('/queries/audited-accounts', 'auditor')).json).toEqual({ accounts: 3 });
    for (const path of ['/projections', '/consumers', '/processes', '/processes/transfer/instances/t1']) {
      const answer = await get(path, 'teller');
      expect({ path, status: answer.status, code: answer.json.code }).toEqual({ path, status: 403, code: 'forbidden' });
    }
    const rebuild = await call(url, 'POST', '/projections/balances/rebuild', undefined, as('clerk'));
    expect(rebuild.status).toBe(403);
    expect((await get('/consumers', 'admin')).status).toBe(200);
    expect((await get('/catalog', 'nobody')).status).toBe(200);
    expect((await call(url, 'GET', '/catalog')).status).toBe(401);
    expect((await call(url, 'GET', '/health/live')).status).toBe(200);
  });
});
