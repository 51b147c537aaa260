/** The reference service end to end: read models over HTTP, read-your-writes, projection admin. */
import { afterAll, describe, expect, it } from 'vitest';
import { defineApp, defineProjection } from '../../src/index.js';
import { startService, type Service } from '../../src/server/service.js';
import referenceApp from '../../examples/reference-app.js';
import { drivers, type DriverName } from '../support/drivers.js';
import { storeLocations } from '../support/locations.js';
import { call } from './support.js';

const location = storeLocations('svc');
const services: Service[] = [];
afterAll(async () => {
  for (const service of services) await service.close();
});

async function start(driver: DriverName, app = referenceApp): Promise<Service> {
  const service = await startService({
    app,
    port: 0,
    ...location(driver),
    projectionOptions: { pollIntervalMs: 100, leaseTtlMs: 2000, retiredDropDelayMs: 0 },
  });
  services.push(service);
  return service;
}

describe.each(drivers)('reference service (%s)', (driver) => {
  it('runs the transfer saga, and shows process managers and their instances over HTTP', async () => {
    const { url } = await start(driver);
    await call(url, 'POST', '/commands/OpenAccount', { accountId: 'p1', owner: 'Pia', currency: 'EUR' });
    await call(url, 'POST', '/commands/DepositMoney', { accountId: 'p1', amount: 900 });
    await call(url, 'POST', '/commands/OpenAccount', { accountId: 'p2', owner: 'Per', currency: 'EUR' });
    const sent = await call(url, 'POST', '/commands/TransferMoney', {
      transferId: 'tp',
      fromAccountId: 'p1',
      toAccountId: 'p2',
      amount: 400,
    });
    expect(sent.status).toBe(202);
    let transfer: { status?: string } = {};
    for (let i = 0; i < 200 && transfer.status !== 'completed'; i++) {
      transfer = (await call(url, 'GET', '/queries/transfers?transferId=tp')).json;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(transfer).toMatchObject({ transferId: 'tp', status: 'completed', amount: 400 });
    expect((await call(url, 'GET', '/queries/account-balances?accountId=p2')).json).toMatchObject({ balance: 400 });

    const processes = await call(url, 'GET', '/processes');
    expect(processes.json.processes).toEqual([
      expect.objectContaining({ name: 'transfer', activeInstances: 0, endedInstances: 1, openCommands: 0 }),
    ]);
    const instance = await call(url, 'GET', '/processes/transfer/instances/tp');
    expect(instance.json).toMatchObject({ process: 'transfer', instanceId: 'tp', ended: true });
    expect(instance.json.commands.map((c: { type: string; status: string }) => `${c.type}:${c.status}`)).toEqual([
      'SendTransfer:completed',
      'ReceiveTransfer:completed',
      'CompleteTransfer:completed',
    ]);
    expect((await call(url, 'GET', '/processes/transfer/instances/nope')).status).toBe(404);
    expect((await call(url, 'GET', '/processes/nope/instances/tp')).status).toBe(400);
    const consumers = await call(url, 'GET', '/consumers');
    expect(consumers.json.consumers.map((c: { name: string }) => c.name)).toContain('process:transfer');
    const metrics = (await call(url, 'GET', '/metrics')).text;
    expect(metrics).toContain('fabula_process_manager_instances{process="transfer",ended="true"} 1');
    expect(metrics).toContain('fabula_process_manager_instances{process="transfer",ended="false"} 0');
    expect(metrics).toContain('fabula_process_manager_open_commands{process="transfer"} 0');
    expect(metrics).toMatch(/fabula_process_manager_lag_events\{process="transfer"\} \d+/);
  });

  it('serves read models: inline balances at once, async orders after minPosition', async () => {
    const { url } = await start(driver);
    await call(url, 'POST', '/commands/OpenAccount', { accountId: 'a1', owner: 'Ada', currency: 'EUR' });
    await call(url, 'POST', '/commands/OpenAccount', { accountId: 'a2', owner: 'Ada', currency: 'USD' });
    await call(url, 'POST', '/commands/DepositMoney', { accountId: 'a1', amount: 1234 });
    // Inline: consistent with the append, no waiting needed.
    expect((await call(url, 'GET', '/queries/account-balances?accountId=a1')).json).toMatchObject({
      accountId: 'a1',
      balance: 1234,
      status: 'open',
      version: 2,
    });
    const list = await call(url, 'GET', '/queries/account-balances?limit=1');
    expect(list.json).toMatchObject({ items: [{ accountId: 'a1' }], next: 'a1' });
    expect(
      (await call(url, 'GET', '/queries/account-balances?after=a1')).json.items.map((a: { accountId: string }) => a.accountId),
    ).toEqual(['a2']);
    expect((await call(url, 'GET', '/queries/account-balances?accountId=zz')).status).toBe(404);

    const placed = await call(url, 'POST', '/commands/PlaceOrder', {
      orderId: 'o1',
      customerId: 'c1',
      items: [{ sku: 'A', quantity: 2, priceCents: 250 }],
    });
    const order = await call(url, 'GET', `/queries/orders-for-display?orderId=o1&minPosition=${placed.json.lastPosition}`);
    expect(order).toMatchObject({
      status: 200,
      json: { orderId: 'o1', customerId: 'c1', totalCents: 500, itemCount: 1, status: 'placed' },
    });
    const shipped = await call(url, 'POST', '/commands/ShipOrder', { orderId: 'o1', carrier: 'DHL' });
    const mine = await call(url, 'GET', `/queries/orders-for-display?customerId=c1&minPosition=${shipped.json.lastPosition}`);
    expect(mine.json.items).toMatchObject([{ orderId: 'o1', status: 'shipped' }]);
    expect((await call(url, 'GET', '/queries/orders-for-display')).status).toBe(400);
    expect((await call(url, 'GET', '/queries/orders-for-display?orderId=o1&minPosition=abc')).status).toBe(400);
  });

  it('operates projections over HTTP: status, pause, resume, rebuild, retry-parked; lag in metrics', async () => {
    const { url, projections } = await start(driver);
    for (let i = 0; i < 5; i++)
      await call(url, 'POST', '/commands/PlaceOrder', {
        orderId: `o${i}`,
        customerId: 'c1',
        items: [{ sku: 'A', quantity: 1, priceCents: 1 }],
      });
    const status = await call(url, 'GET', '/projections');
    expect(status.json.projections.map((p: { name: string }) => p.name).sort()).toEqual([
      'account-balances',
      'orders-for-display',
      'transfers',
    ]);

    expect((await call(url, 'POST', '/projections/orders-for-display/pause')).status).toBe(200);
    const last = await call(url, 'POST', '/commands/PlaceOrder', {
      orderId: 'late',
      customerId: 'c1',
      items: [{ sku: 'A', quantity: 1, priceCents: 1 }],
    });
    const waited = await call(url, 'GET', `/queries/orders-for-display?orderId=late&minPosition=${last.json.lastPosition}`);
    expect(waited.status).toBe(503); // bounded wait: the projection is paused
    expect(waited.json).toMatchObject({
      code: 'projection_timeout',
      projection: 'orders-for-display',
      position: String(last.json.lastPosition),
    });
    expect(waited.json.message).toMatch(/projection "orders-for-display" has not reached position \d+ yet .*retry/);
    expect(waited.json.message).not.toContain('projectionStatus');
    expect(waited.headers.get('retry-after')).toBe('1');
    const metrics = await call(url, 'GET', '/metrics');
    expect(metrics.text).toMatch(
      /fabula_projection_lag_events\{projection="orders-for-display",version="2",phase="active"\} [1-9]/,
    );
    expect((await call(url, 'POST', '/projections/orders-for-display/resume')).status).toBe(200);
    expect(
      (await call(url, 'GET', `/queries/orders-for-display?orderId=late&minPosition=${last.json.lastPosition}`)).status,
    ).toBe(200);

    const rebuild = await call(url, 'POST', '/projections/orders-for-display/rebuild');
    expect(rebuild).toMatchObject({ status: 202, json: { projection: 'orders-for-display', build: 1 } });
    const deadline = Date.now() + 20_000;
    for (;;) {
      const s = (await projections.status()).filter((p) => p.name === 'orders-for-display');
      if (s.length === 1 && s[0]!.build === 1 && s[0]!.phase === 'active') break;
      if (Date.now() > deadline) throw new Error('rebuild did not finish');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await call(url, 'GET', '/queries/orders-for-display?customerId=c1')).json.items).toHaveLength(6);
    expect((await call(url, 'POST', '/projections/orders-for-display/retry-parked')).json).toEqual({
      projection: 'orders-for-display',
      retried: 0,
    });
    expect((await call(url, 'POST', '/projections/nope/pause')).status).toBe(404);
  });

  it('reports projection gauges from the first scrape, and is not ready while a projection is failed', async () => {
    // A read model that cannot apply a deposit of 13, and stops there (policy `stop`, one attempt).
    const fragile = defineProjection({
      name: 'fragile',
      version: 1,
      handles: ['MoneyDeposited'],
      retry: { attempts: 1 },
      apply: async (event) => {
        if ((event.data as { amount: number }).amount === 13) throw new Error('13 is unlucky');
      },
    });
    const app = defineApp({ ...referenceApp, projections: [...referenceApp.projections!, fragile] });
    const { url } = await start(driver, app);
    const first = (await call(url, 'GET', '/metrics')).text;
    for (const [name, version] of [
      ['account-balances', 2],
      ['orders-for-display', 2],
      ['fragile', 1],
    ] as const) {
      expect(first).toMatch(
        new RegExp(`fabula_projection_lag_events\\{projection="${name}",version="${version}",phase="active"\\} \\d`),
      );
      expect(first).toMatch(
        new RegExp(`fabula_projection_lag_seconds\\{projection="${name}",version="${version}",phase="active"\\} \\d`),
      );
      expect(first).toMatch(new RegExp(`fabula_projection_parked_events\\{projection="${name}"\\} 0`));
    }
    expect((await call(url, 'GET', '/health/ready')).status).toBe(200);

    await call(url, 'POST', '/commands/OpenAccount', { accountId: 'f1', owner: 'Fay', currency: 'EUR' });
    await call(url, 'POST', '/commands/DepositMoney', { accountId: 'f1', amount: 13 });
    const deadline = Date.now() + 20_000;
    let ready = await call(url, 'GET', '/health/ready');
    while (ready.status === 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      ready = await call(url, 'GET', '/health/ready');
    }
    expect(ready).toMatchObject({ status: 503, json: { status: 'projection_failed', failedProjections: ['fragile'] } });
    expect(ready.json.message).toContain('"fragile"');
    expect(ready.json.message).toContain('/resume');
  });
});
