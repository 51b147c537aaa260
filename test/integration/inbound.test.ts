/**
 * Inbound integration events on both drivers, against a private nats-server: messages become bank
 * commands through an anti-corruption function; a redelivered message (the same Nats-Msg-Id stored
 * twice) runs its command once; a refused command is final (acked, recorded); a message that keeps
 * failing is parked after N deliveries, not looped, and can be retried or deleted.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { inboundConsumer, listParkedInbound, type InboundOutcome } from '../../src/integration/index.js';
import { ValidationError } from '../../src/index.js';
import { drivers, storeFactory } from '../support/drivers.js';
import { natsForFile } from '../support/nats.js';
import { waitUntil } from '../processing/support.js';
import { bankBus } from './bank.js';

const nats = natsForFile();

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

describe.each(drivers)('inbound integration events (%s)', (driver) => {
  const stores = storeFactory(driver);

  it('runs each message as one command, even when redelivered; refusals are final; poison is parked, not looped, and retried', async () => {
    const store = await stores.open();
    const { bus } = bankBus(store);
    await bus.execute('OpenAccount', { accountId: 'a1', owner: 'ada', currency: 'EUR' });
    const stream = `PARTNER_${driver}`;
    const jsm = await jetstreamManager(nats.connection);
    // A 1 s duplicate window, so that the same message id can be stored twice (a redelivery from the partner).
    await jsm.streams.add({ name: stream, subjects: [`${driver}.partner.>`], duplicate_window: 1_000_000_000 });
    let fixed = false;
    const inbound = inboundConsumer(
      {
        stream,
        durable: 'bank-inbound',
        maxDeliveries: 3,
        retryDelayMs: 50,
        subjects: {
          [`${driver}.partner.payments.*`]: (m) => {
            const data = m.data as { account: string; cents: number; internal?: boolean };
            if (data.internal) return null; // not for us
            if (data.cents === 13 && !fixed) throw new Error('cannot map 13 yet');
            return { type: 'DepositMoney', data: { accountId: data.account, amount: data.cents } };
          },
        },
      },
      { commands: bus, store },
    );
    const outcomes: Array<{ id: string; outcome: InboundOutcome; deliveries: number }> = [];
    inbound.on('handled', ({ message, outcome }) => outcomes.push({ id: message.id, outcome, deliveries: message.deliveries }));
    await inbound.start(nats.connection);
    const js = jetstream(nats.connection);
    const publish = async (subject: string, data: unknown, msgID?: string) => {
      const h = headers();
      h.set('Fabula-Correlation-Id', 'corr-1');
      return js.publish(`${driver}.partner.payments.${subject}`, encode(data), { ...(msgID ? { msgID } : {}), headers: h });
    };
    try {
      await publish('in', { account: 'a1', cents: 100 }, 'pay-1');
      await sleep(1_200); // past the duplicate window: the partner sends pay-1 again and it is stored again
      const again = await publish('in', { account: 'a1', cents: 100 }, 'pay-1');
      expect(again.duplicate).toBe(false);
      await publish('in', { account: 'a1', cents: 5 }); // no Nats-Msg-Id: <stream>:<sequence>
      await publish('in', { account: 'a1', cents: 1, internal: true }, 'skip-1');
      await publish('in', { account: 'nobody', cents: 7 }, 'refused-1'); // no such account: refused
      await publish('in', { account: 'a1', cents: -3 }, 'invalid-1'); // invalid command data: refused
      await publish('in', { account: 'a1', cents: 13 }, 'poison-1');
      await waitUntil(
        async () => (await inbound.parked()).some((p) => p.reason === 'failed'),
        15_000,
        'the poison message parked',
      );
      await sleep(500); // not looped: no more deliveries of it come
      const poisonDeliveries = outcomes.filter((o) => o.id === 'poison-1').map((o) => o.deliveries);
      expect(poisonDeliveries).toEqual([1, 2, 3]);

      const pay = outcomes.filter((o) => o.id === 'pay-1').map((o) => o.outcome);
      expect(pay).toEqual([
        { kind: 'handled', commandId: 'pay-1', replayed: false },
        { kind: 'handled', commandId: 'pay-1', replayed: true },
      ]);
      expect(outcomes.find((o) => o.id === 'skip-1')?.outcome).toEqual({ kind: 'ignored' });
      expect(outcomes.find((o) => /^PARTNER_\w+:3$/.test(o.id))?.outcome.kind).toBe('handled');

      const parked = await inbound.parked();
      expect(parked.map((p) => [p.messageId, p.reason, p.deliveries])).toEqual([
        ['refused-1', 'rejected', 1],
        ['invalid-1', 'rejected', 1],
        ['poison-1', 'failed', 3],
      ]);
      expect(parked[0]!.error).toMatch(/account/);
      expect(parked[2]!.error).toContain('cannot map 13 yet (after 3 deliveries)');
      expect(parked[2]!.data).toBe(JSON.stringify({ account: 'a1', cents: 13 }));
      expect(parked[2]!.headers['Fabula-Correlation-Id']).toBe('corr-1');
      expect((await listParkedInbound(store)).length).toBe(3);

      // Still failing: stays parked with the new error. Fixed: handled, with the same command id, and removed.
      expect((await inbound.retryParked(parked[2]!.id)).kind).toBe('failed');
      fixed = true;
      expect(await inbound.retryParked(parked[2]!.id)).toEqual({ kind: 'handled', commandId: 'poison-1', replayed: false });
      expect(await inbound.retryParked(parked[1]!.id)).toMatchObject({ kind: 'rejected' });
      await inbound.deleteParked(parked[1]!.id);
      expect((await inbound.parked()).map((p) => p.messageId)).toEqual(['refused-1']);
      await expect(inbound.deleteParked(parked[1]!.id)).rejects.toThrow(ValidationError);
      await expect(inbound.retryParked('x')).rejects.toThrow(ValidationError);

      // Each deposit once: 100 (pay-1, delivered twice), 5, 13 (the retried poison message).
      const deposits = (await store.readStream('account-a1')).filter((e) => e.type === 'MoneyDeposited');
      expect(deposits.map((e) => (e.data as { amount: number }).amount)).toEqual([100, 5, 13]);
      expect(deposits[0]!.metadata).toMatchObject({
        correlationId: 'corr-1',
        causationId: 'pay-1',
        inboundSubject: `${driver}.partner.payments.in`,
      });

      // NATS restarts: the consumer reconnects and carries on with the next message.
      await nats.server.restart();
      // (this test's own connection may need a moment too: publish until JetStream answers)
      await waitUntil(
        () =>
          publish('in', { account: 'a1', cents: 1_000 }, 'after-restart').then(
            () => true,
            () => false,
          ),
        20_000,
        'JetStream back',
      );
      await waitUntil(() => outcomes.some((o) => o.id === 'after-restart'), 20_000, 'a message after the NATS restart');
      expect(outcomes.find((o) => o.id === 'after-restart')?.outcome.kind).toBe('handled');
    } finally {
      await inbound.stop();
    }
    // Nothing left to deliver or waiting for an ack (the poison message was terminated, not left pending).
    const settled = async () => {
      const info = await jsm.consumers.info(stream, 'bank-inbound');
      return info.num_ack_pending === 0 && info.num_pending === 0 && info.num_redelivered === 0;
    };
    await waitUntil(settled, 5_000, 'every message acknowledged or terminated');
  }, 30_000);

  it('refuses bad options clearly', async () => {
    const store = await stores.open();
    const { bus } = bankBus(store);
    const parts = { commands: bus, store };
    expect(() => inboundConsumer({ stream: 'bad name', subjects: { a: () => null } }, parts)).toThrow(ValidationError);
    expect(() => inboundConsumer({ stream: 'S', subjects: {} }, parts)).toThrow(/inbound.subjects/);
    expect(() => inboundConsumer({ stream: 'S', subjects: { a: 1 as never } }, parts)).toThrow(/inbound.subjects\["a"\]/);
    expect(() => inboundConsumer({ stream: 'S', subjects: { a: () => null }, maxDeliveries: 0 }, parts)).toThrow(/maxDeliveries/);
    const missing = inboundConsumer({ stream: 'NO_SUCH_STREAM', subjects: { a: () => null } }, parts);
    await expect(missing.start(nats.connection)).rejects.toThrow(/JetStream stream "NO_SUCH_STREAM" does not exist: create it/);
  });
});
