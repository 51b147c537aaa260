/**
 * Tenant-scoped read models over HTTP (docs/tenancy.md): the reference app served whole, its inline
 * (`account-balances`, `transfers`) and async (`orders-for-display`) read models and the transfer saga.
 * Two tenants use the same account, order and transfer ids: both succeed (no conflict in a read model's
 * key reveals the other's id), and each tenant's `GET /queries/...` answers and counts only its own rows;
 * a caller without a tenant (the default tenant) sees neither.
 */
import { afterAll, describe, expect, it } from 'vitest';
import referenceApp from '../../examples/reference-app.js';
import type { Caller } from '../../src/server/context.js';
import { startService, type Service } from '../../src/server/service.js';
import { drivers, type DriverName } from '../support/drivers.js';
import { storeLocations } from '../support/locations.js';
import { call, until } from './support.js';

const location = storeLocations('tenant_rm');
const services: Service[] = [];
afterAll(async () => {
  for (const service of services) await service.close();
});

const tokens = new Map<string, Caller>([
  ['a', { userId: 'ann', tenantId: 'tenant-a' }],
  ['b', { userId: 'bob', tenantId: 'tenant-b' }],
  ['none', { userId: 'nia' }],
]);
type Who = 'a' | 'b' | 'none';
const as = (who: Who) => ({ authorization: `Bearer ${who}` });

async function start(driver: DriverName) {
  const service = await startService({
    app: referenceApp,
    port: 0,
    ...location(driver),
    tokens,
    projectionOptions: { pollIntervalMs: 50, leaseTtlMs: 2000 },
    processOptions: { pollIntervalMs: 50 },
  });
  services.push(service);
  const { url } = service;
  const command = async (who: Who, type: string, body: unknown) => {
    const answer = await call(url, 'POST', `/commands/${type}`, body, as(who));
    expect([type, answer.status, answer.json?.message]).toEqual([type, 202, undefined]);
    return answer.json as { lastPosition: string };
  };
  const query = (who: Who, path: string) => call(url, 'GET', `/queries/${path}`, undefined, as(who));
  return { service, command, query };
}

const items = (answer: { json: { items: Array<Record<string, unknown>> } }, key: string) =>
  answer.json.items.map((item) => item[key]);

describe.each(drivers)('tenant-scoped read models over HTTP (%s)', (driver) => {
  it('two tenants open the same account id: both succeed, and each sees and counts only its own', async () => {
    const { command, query } = await start(driver);
    await command('a', 'OpenAccount', { accountId: 'acc-1', owner: 'Ada', currency: 'EUR' });
    await command('a', 'DepositMoney', { accountId: 'acc-1', amount: 500 });
    await command('a', 'OpenAccount', { accountId: 'only-a', owner: 'Ada', currency: 'EUR' });
    // The same id in tenant B: its own account (version 1 of its own stream, its own read-model row).
    await command('b', 'OpenAccount', { accountId: 'acc-1', owner: 'Bea', currency: 'USD' });
    await command('b', 'DepositMoney', { accountId: 'acc-1', amount: 7 });

    expect((await query('a', 'account-balances?accountId=acc-1')).json).toMatchObject({ owner: 'Ada', balance: 500, version: 2 });
    expect((await query('b', 'account-balances?accountId=acc-1')).json).toMatchObject({
      owner: 'Bea',
      currency: 'USD',
      balance: 7,
      version: 2,
    });
    // Counts: every page and listing holds the tenant's rows only.
    expect(items(await query('a', 'account-balances'), 'accountId')).toEqual(['acc-1', 'only-a']);
    expect(items(await query('b', 'account-balances'), 'accountId')).toEqual(['acc-1']);
    expect(items(await query('none', 'account-balances'), 'accountId')).toEqual([]);
    expect(items(await query('a', 'account-balances?owner=Ada'), 'accountId')).toEqual(['acc-1', 'only-a']);
    for (const who of ['b', 'none'] as const) {
      expect(items(await query(who, 'account-balances?owner=Ada'), 'accountId')).toEqual([]);
      expect(items(await query(who, 'account-balances?after=a'), 'accountId')).not.toContain('only-a');
      // Another tenant's account answers exactly as one that exists nowhere.
      const theirs = await query(who, 'account-balances?accountId=only-a');
      const nobodys = await query(who, 'account-balances?accountId=nobody');
      expect([theirs.status, theirs.json.code, theirs.json.message.replace('only-a', 'X')]).toEqual([
        404,
        nobodys.json.code,
        nobodys.json.message.replace('nobody', 'X'),
      ]);
    }
    expect((await query('none', 'account-balances?accountId=acc-1')).status).toBe(404);
    expect(items(await query('none', 'account-balances?owner=Bea'), 'accountId')).toEqual([]);

    // A caller without a tenant works in the default tenant: its own acc-1, a third account.
    await command('none', 'OpenAccount', { accountId: 'acc-1', owner: 'Dee', currency: 'GBP' });
    expect((await query('none', 'account-balances?accountId=acc-1')).json).toMatchObject({
      owner: 'Dee',
      balance: 0,
      version: 1,
    });
    expect(items(await query('none', 'account-balances'), 'owner')).toEqual(['Dee']);
    expect(items(await query('a', 'account-balances'), 'owner')).toEqual(['Ada', 'Ada']);
    expect(items(await query('b', 'account-balances'), 'owner')).toEqual(['Bea']);
  });

  it('two tenants place the same order id: the async read model keeps both, and each sees only its own', async () => {
    const { service, command, query } = await start(driver);
    const item = (sku: string, priceCents: number) => ({ sku, quantity: 1, priceCents });
    await command('a', 'PlaceOrder', { orderId: 'o-1', customerId: 'c-1', items: [item('A', 100)] });
    await command('a', 'PlaceOrder', { orderId: 'only-a', customerId: 'c-1', items: [item('A', 300)] });
    const placed = await command('b', 'PlaceOrder', { orderId: 'o-1', customerId: 'c-1', items: [item('B', 200), item('C', 1)] });
    await command('b', 'ShipOrder', { orderId: 'o-1', carrier: 'bee-post' });
    const last = await command('a', 'CancelOrder', { orderId: 'o-1', reason: 'changed my mind' });

    const wait = `minPosition=${last.lastPosition}`;
    expect((await query('a', `orders-for-display?orderId=o-1&${wait}`)).json).toMatchObject({
      totalCents: 100,
      itemCount: 1,
      status: 'cancelled',
      carrier: null,
    });
    expect((await query('b', `orders-for-display?orderId=o-1&${wait}`)).json).toMatchObject({
      totalCents: 201,
      itemCount: 2,
      status: 'shipped',
      carrier: 'bee-post',
    });
    expect(items(await query('a', `orders-for-display?customerId=c-1&${wait}`), 'orderId').sort()).toEqual(['o-1', 'only-a']);
    expect(items(await query('b', `orders-for-display?customerId=c-1&${wait}`), 'orderId')).toEqual(['o-1']);
    expect(items(await query('none', `orders-for-display?customerId=c-1&${wait}`), 'orderId')).toEqual([]);
    expect((await query('b', `orders-for-display?orderId=only-a&${wait}`)).status).toBe(404);
    expect((await query('none', `orders-for-display?orderId=o-1&${wait}`)).status).toBe(404);
    // The projection applied both tenants' o-1 (no key conflict): it runs, nothing failed or parked.
    const [status] = (await service.projections.status()).filter((s) => s.name === 'orders-for-display');
    expect(status).toMatchObject({ status: 'running', parkedEvents: 0, lastError: null });
    expect(placed.lastPosition).toBeDefined();
  });

  it("a transfer saga in tenant A never shows in tenant B's transfers; the same transfer id in B is B's own", async () => {
    const { command, query } = await start(driver);
    for (const who of ['a', 'b'] as const) {
      await command(who, 'OpenAccount', { accountId: 'acc-1', owner: who, currency: 'EUR' });
      await command(who, 'OpenAccount', { accountId: 'acc-2', owner: who, currency: 'EUR' });
      await command(who, 'DepositMoney', { accountId: 'acc-1', amount: 1000 });
    }
    await command('a', 'TransferMoney', { transferId: 't-a', fromAccountId: 'acc-1', toAccountId: 'acc-2', amount: 100 });
    const done = await until(
      () => query('a', 'transfers?transferId=t-a'),
      (answer) => answer.status === 200 && answer.json.status !== 'pending',
      20_000,
      50,
    );
    expect(done.json).toMatchObject({ status: 'completed', amount: 100 });
    expect((await query('a', 'account-balances?accountId=acc-2')).json.balance).toBe(100);

    // B sees none of it: not the transfer, not its account's list of transfers, not the money.
    for (const who of ['b', 'none'] as const) {
      const theirs = await query(who, 'transfers?transferId=t-a');
      const nobodys = await query(who, 'transfers?transferId=t-nobody');
      expect([theirs.status, theirs.json.code, theirs.json.message.replace('t-a', 'X')]).toEqual([
        404,
        nobodys.json.code,
        nobodys.json.message.replace('t-nobody', 'X'),
      ]);
      expect(items(await query(who, 'transfers?accountId=acc-1'), 'transferId')).toEqual([]);
      expect(items(await query(who, 'transfers?accountId=acc-2'), 'transferId')).toEqual([]);
    }
    expect((await query('b', 'account-balances?accountId=acc-2')).json.balance).toBe(0);
    expect(items(await query('a', 'transfers?accountId=acc-1'), 'transferId')).toEqual(['t-a']);

    // The same transfer id in B: the request is B's own row (the inline read model keys it by tenant).
    // (B's saga is another matter: process instance ids are one namespace across tenants, docs/tenancy.md.)
    await command('b', 'TransferMoney', { transferId: 't-a', fromAccountId: 'acc-2', toAccountId: 'acc-1', amount: 7 });
    expect((await query('b', 'transfers?transferId=t-a')).json).toMatchObject({
      fromAccountId: 'acc-2',
      toAccountId: 'acc-1',
      amount: 7,
    });
    expect((await query('a', 'transfers?transferId=t-a')).json).toMatchObject({
      fromAccountId: 'acc-1',
      toAccountId: 'acc-2',
      amount: 100,
      status: 'completed',
    });
    expect(items(await query('a', 'transfers?accountId=acc-1'), 'amount')).toEqual([100]);
    expect(items(await query('b', 'transfers?accountId=acc-1'), 'amount')).toEqual([7]);
    expect(items(await query('none', 'transfers?accountId=acc-1'), 'transferId')).toEqual([]);
  });
});
