/**
 * The audit trail: admin actions over HTTP (rebuild, pause, resume, retry parked) are events in
 * `$audit-<day>` with who, when, what and the outcome, failures too; only administrators read them,
 * and they never show in another caller's lists, pages or live tail, even where `'*'` grants reading.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { defineApp, NatsPublisher, type AccessControl } from '../../src/index.js';
import { auditStreamId } from '../../src/server/auth/audit.js';
import { startService, type Service } from '../../src/server/service.js';
import referenceApp from '../../examples/reference-app.js';
import { drivers, type DriverName } from '../support/drivers.js';
import { storeLocations } from '../support/locations.js';
import { call } from './support.js';

const location = storeLocations('audit');
const services: Service[] = [];
afterAll(async () => {
  for (const service of services) await service.close();
});

const access: AccessControl = { streams: { '*': { read: ['reader'], write: ['writer'] } } };
const app = defineApp({ ...referenceApp, access });
const tokens = new Map([
  ['token-admin', { userId: 'root', tenantId: 't1', roles: ['admin'] }],
  // The same tenant as the administrator: the audit events are in the tenant the reader reads.
  ['token-reader', { userId: 'rita', tenantId: 't1', roles: ['reader'] }],
  ['token-writer', { userId: 'will', tenantId: 't1', roles: ['writer'] }],
]);
const as = (who: string) => ({ authorization: `Bearer token-${who}` });

async function start(driver: DriverName): Promise<Service> {
  const service = await startService({
    app,
    port: 0,
    ...location(driver),
    tokens,
    projectionOptions: { pollIntervalMs: 100, leaseTtlMs: 2000, retiredDropDelayMs: 0 },
  });
  services.push(service);
  return service;
}

describe.each(drivers)('audit (%s)', (driver) => {
  it('records admin actions with who, when, what and the outcome; only administrators read them', async () => {
    const { url, store } = await start(driver);
    const post = (path: string, who: string) => call(url, 'POST', path, undefined, as(who));
    await call(url, 'POST', '/commands/OpenAccount', { accountId: 'a1', owner: 'Ada', currency: 'EUR' }, as('writer'));
    expect((await post('/projections/orders-for-display/pause', 'admin')).status).toBe(200);
    expect((await post('/projections/orders-for-display/resume', 'admin')).status).toBe(200);
    expect((await post('/projections/account-balances/retry-parked', 'admin')).status).toBe(200);
    expect((await post('/projections/orders-for-display/rebuild', 'admin')).status).toBe(202);
    expect((await post('/projections/nope/pause', 'admin')).status).toBe(404);
    expect((await post('/projections/orders-for-display/pause', 'reader')).status).toBe(403);

    const day = auditStreamId(new Date());
    // Recorded in the administrator's tenant (t1), not in the default one.
    expect(await store.streamInfo(day)).toBeNull();
    const recorded = await store.forTenant('t1').readStream(day);
    expect(recorded.map((e) => e.type)).toEqual(Array(5).fill('AdminActionRecorded'));
    expect(recorded.map((e) => e.data)).toEqual([
      expect.objectContaining({ action: 'projection.pause', target: 'orders-for-display', outcome: 'succeeded' }),
      expect.objectContaining({ action: 'projection.resume', target: 'orders-for-display', outcome: 'succeeded' }),
      expect.objectContaining({ action: 'projection.retry-parked', target: 'account-balances', outcome: 'succeeded' }),
      expect.objectContaining({ action: 'projection.rebuild', target: 'orders-for-display', outcome: 'succeeded' }),
      expect.objectContaining({
        action: 'projection.pause',
        target: 'nope',
        outcome: 'failed',
        detail: { error: expect.any(String) },
      }),
    ]);
    const first = recorded[0]!.data as { actor: unknown; at: string };
    expect(first.actor).toEqual({ userId: 'root', tenantId: 't1', roles: ['admin'], via: { method: 'token' } });
    expect(Math.abs(Date.parse(first.at) - Date.now())).toBeLessThan(60_000);
    expect(recorded[0]!.metadata).toMatchObject({ userId: 'root', tenantId: 't1' });

    // Only administrators read the audit stream; the reader's `'*'` does not reach system streams.
    expect((await call(url, 'GET', `/streams/${day}`, undefined, as('admin'))).json.events).toHaveLength(5);
    expect((await call(url, 'GET', `/streams/${day}`, undefined, as('reader'))).status).toBe(403);
    const streams = await call(url, 'GET', '/streams?limit=1', undefined, as('reader'));
    expect(streams.json.streams.map((s: { streamId: string }) => s.streamId)).toEqual(['account-a1']);
    const all = await call(url, 'GET', '/streams', undefined, as('reader'));
    expect(all.json).toMatchObject({ streams: [{ streamId: 'account-a1' }], next: null });
    // The global order, one event a page: the reader's pages skip the audit events entirely.
    await call(url, 'POST', '/commands/DepositMoney', { accountId: 'a1', amount: 5 }, as('writer'));
    const seen: string[] = [];
    let after = '0';
    for (let page = 0; page < 10; page++) {
      const answer = await call(url, 'GET', `/events?limit=1&after=${after}`, undefined, as('reader'));
      if (answer.json.events.length === 0) break;
      seen.push(...answer.json.events.map((e: { type: string }) => e.type));
      after = answer.json.next;
    }
    expect(seen).toEqual(['AccountOpened', 'MoneyDeposited']);
    const adminEvents = await call(url, 'GET', '/events?limit=100', undefined, as('admin'));
    expect(adminEvents.json.events.filter((e: { type: string }) => e.type === 'AdminActionRecorded')).toHaveLength(5);
    expect((await call(url, 'GET', '/events?streamTypes=$audit', undefined, as('reader'))).json.events).toEqual([]);

    // The live tail too: the reader gets account events only, though audit events come between them.
    const controller = new AbortController();
    const response = await fetch(`${url}/events/stream`, { headers: as('reader'), signal: controller.signal });
    const types: string[] = [];
    const reading = (async () => {
      const decoder = new TextDecoder();
      let text = '';
      for await (const chunk of response.body!) {
        text += decoder.decode(chunk as Uint8Array, { stream: true });
        const lines = text.split('\n').filter((l) => l.startsWith('data: '));
        if (lines.length >= 3) {
          types.push(...lines.map((l) => JSON.parse(l.slice(6)).type));
          return;
        }
      }
    })();
    await post('/projections/orders-for-display/pause', 'admin');
    await call(url, 'POST', '/commands/DepositMoney', { accountId: 'a1', amount: 6 }, as('writer'));
    await reading;
    controller.abort();
    expect(types).toEqual(['AccountOpened', 'MoneyDeposited', 'MoneyDeposited']);
  });
});

describe('audit events stay internal', () => {
  it('are never published as integration events', () => {
    const event = (streamId: string) => ({
      id: '0190a1b2-0000-7000-8000-000000000001',
      type: 'AdminActionRecorded',
      streamId,
      streamVersion: 1,
      globalPosition: 1n,
      recordedAt: new Date(),
      schemaVersion: 1,
      data: { action: 'projection.pause' },
      metadata: {},
      tenantId: 'default',
    });
    const publisher = new NatsPublisher();
    expect(publisher.toMessage(event(auditStreamId(new Date())))).toBeNull();
    expect(publisher.toMessage(event('account-a1'))).not.toBeNull();
  });
});
