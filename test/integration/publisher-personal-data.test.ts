/**
 * The NATS publisher and crypto-shredding: it publishes decrypted events (never envelopes), and what it
 * publishes after a subject was forgotten (a new publisher, or one replaying) carries the marker.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { natsPublisher } from '../../src/integration/index.js';
import { createConsumers } from '../../src/processing/index.js';
import { ERASED, EventRegistry, masterKey, staticKeyProvider } from '../../src/index.js';
import { registerBankEvents } from '../../examples/bank/index.js';
import { drivers, storeFactory } from '../support/drivers.js';
import { natsForFile } from '../support/nats.js';
import { readStream } from './support.js';

const nats = natsForFile();

describe.each(drivers)('NATS publisher with personal data (%s)', (driver) => {
  const stores = storeFactory(driver);

  it('publishes clear values, and the marker for a forgotten subject', async () => {
    const registry = registerBankEvents(new EventRegistry());
    const store = await stores.open({
      personalData: { keys: staticKeyProvider(masterKey(randomBytes(32).toString('base64'))), registry },
    });
    const opened = (id: string, owner: string) => ({
      type: 'AccountOpened',
      data: { accountId: id, owner, currency: 'EUR', overdraftLimit: 0 },
      schemaVersion: 2,
    });
    await store.append('account-n1', [opened('n1', 'Nats Nora')]);
    await store.append('account-n2', [opened('n2', 'Nats Ned')]);

    const publish = async (prefix: string) => {
      const publisher = natsPublisher({ prefix, registry, name: `publisher-${prefix}` });
      await publisher.start(nats.connection);
      const consumers = await createConsumers([publisher.consumer], { pollIntervalMs: 50 }).start(store);
      await consumers.waitFor(publisher.consumer.name, await store.headPosition(), { timeout: 10_000 });
      await consumers.stop();
      return (await readStream(nats.connection, publisher.streamName)).map((m) => (m.data as { owner: string }).owner);
    };
    expect(await publish(`pd${driver}a`)).toEqual(['Nats Nora', 'Nats Ned']);
    await store.forget('n1');
    expect(await publish(`pd${driver}b`)).toEqual([ERASED, 'Nats Ned']);
  });
});
