/**
 * The NATS publisher in this process, on both drivers, against a private nats-server: every event
 * reaches JetStream exactly once after the broker's dedupe, each stream in order, across restarts of
 * the consumers, a rewound checkpoint (a crash between PubAck and checkpoint) and a NATS restart;
 * mapping, upcasting, headers; creating or checking the JetStream stream.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { connectNats, JetStreamSetupError, natsPublisher } from '../../src/integration/index.js';
import { createConsumers, type Consumers } from '../../src/processing/index.js';
import { ValidationError, type EventStore } from '../../src/index.js';
import { drivers, storeFactory } from '../support/drivers.js';
import { natsForFile } from '../support/nats.js';
import { waitUntil } from '../processing/support.js';
import { bankBus, bankLoad } from './bank.js';
import { readStream, streamMessageCount, type StoredMessage } from './support.js';

const nats = natsForFile();

/** Each event id once; each stream's versions 1..n in order. */
function expectComplete(messages: StoredMessage[], events: number) {
  expect(messages).toHaveLength(events);
  expect(new Set(messages.map((m) => m.headers['Nats-Msg-Id'])).size).toBe(events);
  const versions = new Map<string, number>();
  for (const m of messages) {
    const stream = m.headers['Fabula-Stream-Id']!;
    const version = Number(m.headers['Fabula-Stream-Version']);
    expect(version, `${stream} out of order`).toBe((versions.get(stream) ?? 0) + 1);
    versions.set(stream, version);
  }
}

describe.each(drivers)('NATS publisher (%s)', (driver) => {
  const stores = storeFactory(driver);
  let serial = 0;
  const unique = () => `${driver}${serial++}`;

  async function run(store: EventStore, publisher: ReturnType<typeof natsPublisher>, owner = 'p') {
    await publisher.start(nats.connection);
    const consumers = createConsumers([publisher.consumer], { owner, pollIntervalMs: 50, leaseTtlMs: 600 });
    consumers.on('error', () => {}); // NATS restarts are retried
    return consumers.start(store);
  }

  it('publishes every event once, each stream in order, across restarts, a rewound checkpoint and a NATS restart', async () => {
    const store = await stores.open();
    const { bus, registry } = bankBus(store);
    const prefix = `t${unique()}`;
    const publisher = natsPublisher({ prefix, registry, maxBatch: 100, publishTimeoutMs: 1_000 });
    let duplicates = 0;
    publisher.on('published', (e) => (duplicates += e.duplicates));
    let consumers: Consumers = await run(store, publisher);
    let ticks = 0;
    await bankLoad(bus, 1_500, {
      tick: async () => {
        ticks++;
        if (ticks % 15 === 0 && ticks <= 60) {
          // A crash between the PubAcks and the checkpoint: the next runner publishes those events again.
          await consumers.stop();
          await store.sql.query(
            `UPDATE "${store.schema}".consumers SET checkpoint = greatest(0, checkpoint - 200) WHERE name = $1`,
            [publisher.consumer.name],
          );
          consumers = await run(store, publisher, `p${ticks}`);
        }
        if (ticks === 40) {
          // The other lanes keep appending while NATS is down; the runner's publishes fail and are retried.
          await nats.server.restart();
          // (before the next consumer restart, which needs JetStream to check the stream)
          await waitUntil(
            () =>
              streamMessageCount(nats.connection, publisher.streamName).then(
                () => true,
                () => false,
              ),
            20_000,
            'JetStream back',
          );
        }
      },
    });
    const head = await store.headPosition();
    expect(head).toBe(1_500n);
    await consumers.waitFor(publisher.consumer.name, head, { timeout: 30_000 });
    await consumers.stop();
    const messages = await readStream(nats.connection, publisher.streamName);
    expectComplete(messages, 1_500);
    // Each batch is stored as an ordered prefix (expect.lastMsgID): the JetStream stream is in global order.
    const positions = messages.map((m) => Number(m.headers['Fabula-Global-Position']));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(duplicates).toBeGreaterThan(0); // the rewinds re-published events; the broker dropped them
    const first = messages.find((m) => m.headers['Fabula-Event-Type'] === 'MoneyDeposited')!;
    expect(first.subject).toBe(`${prefix}.account.MoneyDeposited`);
    expect(first.headers['Fabula-Causation-Id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(first.headers['Fabula-Correlation-Id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(first.headers['Fabula-Global-Position']).toMatch(/^\d+$/);
    expect(first.data).toEqual({ accountId: expect.any(String), amount: expect.any(Number) });
  }, 60_000);

  it('keeps each stream in order when something else writes to its JetStream stream meanwhile', async () => {
    const store = await stores.open();
    const { bus, registry } = bankBus(store);
    const prefix = `t${unique()}`;
    const publisher = natsPublisher({ prefix, registry, maxBatch: 400 });
    await publisher.start(nats.connection);
    // Another writer publishes into the same JetStream stream all along.
    const { jetstream } = await import('@nats-io/jetstream');
    const js = jetstream(nats.connection);
    let interloping = true;
    let others = 0;
    const interloper = (async () => {
      while (interloping) {
        await js.publish(`${prefix}.other.Noise`, new TextEncoder().encode('{}'));
        others++;
      }
    })();
    await bankLoad(bus, 1_000);
    const consumers = await run(store, publisher);
    await consumers.waitFor(publisher.consumer.name, await store.headPosition(), { timeout: 30_000 });
    interloping = false;
    await interloper;
    await consumers.stop();
    const messages = (await readStream(nats.connection, publisher.streamName)).filter((m) => m.headers['Fabula-Event-Id']);
    expectComplete(messages, 1_000);
    expect(others).toBeGreaterThan(0);
  }, 60_000);

  it('publishes upcast events, and with a mapping only the mapped ones, in their public form', async () => {
    const store = await stores.open();
    const { registry } = bankBus(store);
    // An account opened at version 1 (no overdraftLimit): published upcast to version 2.
    await store.append('account-old', [
      { type: 'AccountOpened', data: { accountId: 'old', owner: 'x', currency: 'EUR' }, schemaVersion: 1 },
    ]);
    await store.append('account-old', [{ type: 'MoneyDeposited', data: { accountId: 'old', amount: 5 } }]);
    await store.append('account-old', [{ type: 'MoneyWithdrawn', data: { accountId: 'old', amount: 7 } }]);
    await store.append('account-old', [{ type: 'MoneyWithdrawn', data: { accountId: 'old', amount: 1 } }]);

    const all = natsPublisher({ prefix: `t${unique()}`, registry });
    const c1 = await run(store, all);
    await c1.waitFor(all.consumer.name, 4n, { timeout: 10_000 });
    await c1.stop();
    const plain = await readStream(nats.connection, all.streamName);
    expect(plain.map((m) => m.data)).toEqual([
      { accountId: 'old', owner: 'x', currency: 'EUR', overdraftLimit: 0 },
      { accountId: 'old', amount: 5 },
      { accountId: 'old', amount: 7 },
      { accountId: 'old', amount: 1 },
    ]);

    const prefix = `t${unique()}`;
    const mapped = natsPublisher({
      prefix,
      registry,
      name: 'public-events',
      mapping: {
        // Enriched and stripped: the owner stays internal.
        AccountOpened: (e) => ({
          type: 'bank.AccountOpened',
          data: {
            account: (e.data as { accountId: string }).accountId,
            limit: (e.data as { overdraftLimit: number }).overdraftLimit,
          },
        }),
        // Small withdrawals are not announced.
        MoneyWithdrawn: (e) =>
          (e.data as { amount: number }).amount > 5 ? { data: { amount: (e.data as { amount: number }).amount } } : null,
      },
    });
    const c2 = await run(store, mapped);
    await c2.waitFor('public-events', 4n, { timeout: 10_000 });
    await c2.stop();
    const published = await readStream(nats.connection, mapped.streamName);
    expect(published.map((m) => [m.subject, m.headers['Fabula-Event-Type'], m.data])).toEqual([
      [`${prefix}.account.bank_AccountOpened`, 'bank.AccountOpened', { account: 'old', limit: 0 }],
      [`${prefix}.account.MoneyWithdrawn`, 'MoneyWithdrawn', { amount: 7 }],
    ]);
  });

  it('blames an event it cannot publish (larger than max_payload), parks it behind its stream, publishes the others', async () => {
    const store = await stores.open();
    await store.append('doc-1', [{ type: 'Small', data: { n: 1 } }]);
    await store.append('doc-1', [{ type: 'Big', data: {} }]);
    await store.append('doc-1', [{ type: 'Small', data: { n: 2 } }]); // behind the big one: parked too
    await store.append('doc-2', [{ type: 'Small', data: { n: 3 } }]);
    const publisher = natsPublisher({
      prefix: `t${unique()}`,
      name: 'big',
      onFailure: 'park',
      mapping: { Small: (e) => ({ data: e.data }), Big: () => ({ data: 'x'.repeat(2 * 1024 * 1024) }) },
    });
    const consumers = await run(store, publisher);
    await consumers.waitFor('big', 4n, { timeout: 10_000 });
    await consumers.stop();
    expect((await readStream(nats.connection, publisher.streamName)).map((m) => m.data)).toEqual([{ n: 1 }, { n: 3 }]);
    const parked = await consumers.parkedEvents('big');
    expect(parked.map((p) => [p.position, p.reason])).toEqual([
      [2n, 'failed'],
      [3n, 'behind'],
    ]);
    expect(parked[0]!.error).toContain('max_payload');
  });

  it('creates the JetStream stream with its duplicate window, accepts one that covers its subjects, refuses one that does not', async () => {
    const jsm = await jetstreamManager(nats.connection);
    const prefix = `t${unique()}`;
    const publisher = natsPublisher({ prefix, stream: { name: `S_${prefix}`, duplicateWindowMs: 30_000 } });
    await publisher.start(nats.connection);
    const info = await jsm.streams.info(`S_${prefix}`);
    expect(info.config.subjects).toEqual([`${prefix}.>`]);
    expect(info.config.duplicate_window).toBe(30_000 * 1_000_000);
    await publisher.start(nats.connection); // again: the stream is there and fits

    await jsm.streams.add({ name: `W_${prefix}`, subjects: [`${prefix}w.*`] });
    const wrong = natsPublisher({ prefix: `${prefix}w`, stream: { name: `W_${prefix}` } });
    const error = await wrong.start(nats.connection).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JetStreamSetupError);
    expect((error as Error).message).toContain(`do not cover "${prefix}w.>"`);

    // Another stream already takes the subjects: creating a second one fails, saying so.
    const clash = natsPublisher({ prefix, stream: { name: `C_${prefix}` } });
    await expect(clash.start(nats.connection)).rejects.toThrow(
      /cannot create JetStream stream "C_.*another stream may already take these subjects/,
    );

    await expect(connectNats('nats://127.0.0.1:1')).rejects.toThrow(/cannot reach NATS at nats:\/\/127.0.0.1:1 .*fix --nats-url/);
    await expect(connectNats('http://x')).rejects.toThrow(ValidationError);
    expect(() => natsPublisher({ prefix: 'a.>' })).toThrow(ValidationError);
    expect(() => natsPublisher({ stream: { name: 'bad name' } })).toThrow(ValidationError);
    expect(() => natsPublisher({ stream: { duplicateWindowMs: 10 } })).toThrow(ValidationError);
    expect(await streamMessageCount(nats.connection, `S_${prefix}`)).toBe(0);
  });
});
