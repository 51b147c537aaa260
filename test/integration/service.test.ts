/**
 * The reference service with NATS, on both drivers: it publishes its events (with the app's mapping),
 * turns inbound messages into commands, shows the publisher in GET /consumers and its numbers in
 * /metrics, and closes cleanly. Without NATS nothing of it runs (the other service tests).
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, describe, expect, it } from 'vitest';
import { type IntegrationDefinition } from '../../src/integration/index.js';
import { startService, type Service } from '../../src/server/service.js';
import referenceApp from '../../examples/reference-app.js';
import { drivers } from '../support/drivers.js';
import { storeLocations } from '../support/locations.js';
import { natsForFile } from '../support/nats.js';
import { waitUntil } from '../processing/support.js';
import { call } from '../server/support.js';
import { readStream } from './support.js';

const nats = natsForFile();

const location = storeLocations('nats');

describe.each(drivers)('service with NATS (%s)', (driver) => {
  let service: Service | null = null;
  afterAll(async () => {
    await service?.close();
  });

  it('publishes events, runs inbound messages as commands, reports status and metrics, closes cleanly', async () => {
    const jsm = await jetstreamManager(nats.connection);
    await jsm.streams.add({ name: `IN_${driver}`, subjects: [`in-${driver}.>`] });
    const integration: IntegrationDefinition = {
      publish: {
        mapping: {
          MoneyDeposited: (e) => ({ type: 'bank.Deposited', data: { amount: (e.data as { amount: number }).amount } }),
        },
      },
      inbound: {
        stream: `IN_${driver}`,
        subjects: {
          [`in-${driver}.payments`]: (m) => ({ type: 'DepositMoney', data: m.data }),
        },
      },
    };
    const prefix = `svc-${driver}`;
    service = await startService({
      app: { ...referenceApp, integration },
      port: 0,
      ...location(driver),
      nats: { url: nats.server.url, prefix },
    });
    const { url } = service;
    await call(url, 'POST', '/commands/OpenAccount', { accountId: 'a1', owner: 'Ada', currency: 'EUR' });
    await call(url, 'POST', '/commands/DepositMoney', { accountId: 'a1', amount: 10 });
    await jetstream(nats.connection).publish(`in-${driver}.payments`, JSON.stringify({ accountId: 'a1', amount: 32 }), {
      msgID: 'partner-1',
    });
    await waitUntil(async () => (await service!.store.readStream('account-a1')).length === 3, 10_000, 'the inbound deposit');
    const publisher = service.integration!.publisher!;
    await service.integration!.consumers.waitFor(publisher.consumer.name, await service.store.headPosition(), {
      timeout: 10_000,
    });

    const published = await readStream(nats.connection, publisher.streamName);
    expect(published.map((m) => [m.subject, m.data])).toEqual([
      [`${prefix}.account.bank_Deposited`, { amount: 10 }],
      [`${prefix}.account.bank_Deposited`, { amount: 32 }],
    ]);
    expect(published[1]!.headers['Fabula-Causation-Id']).toBe('partner-1');

    const consumers = await call(url, 'GET', '/consumers');
    expect(consumers.status).toBe(200);
    expect(consumers.json.consumers.filter((c: { name: string }) => c.name === 'nats-publisher')).toMatchObject([
      { name: 'nats-publisher', status: 'running', lagEvents: 0, checkpoint: '3' },
    ]);
    const metrics = await call(url, 'GET', '/metrics');
    expect(metrics.text).toMatch(/fabula_nats_published_total 2/);
    expect(metrics.text).toMatch(/fabula_nats_publisher_lag_events 0/);
    expect(metrics.text).toMatch(/fabula_nats_inbound_total\{outcome="handled"\} 1/);

    await service.close();
    service = null;
    // The inbound consumer left nothing unacknowledged.
    const info = await jsm.consumers.info(`IN_${driver}`, 'fabula-inbound');
    expect(info.num_ack_pending + info.num_pending).toBe(0);
  }, 30_000);
});
