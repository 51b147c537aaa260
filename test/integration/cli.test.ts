/** `fabula consumers ...` through the real binary, on the embedded store and the server. */
import { describe, expect, it } from 'vitest';
import { createConsumers, defineDeliveryConsumer, openEventStore } from '../../src/index.js';
import { fabula } from '../support/cli.js';
import { drivers } from '../support/drivers.js';
import { storeLocations } from '../support/locations.js';

const location = storeLocations('ccli');

describe.each(drivers)('fabula consumers (%s)', (driver) => {
  it('shows consumers that are not projections, lists and deletes parked inbound messages, refuses bad input', async () => {
    const where = location(driver);
    const store = await openEventStore(
      where.databaseUrl ? { connectionString: where.databaseUrl, schema: where.schema } : { dataDir: where.dataDir! },
    );
    await store.append('account-1', [{ type: 'E', data: {} }]);
    await store.append('account-1', [{ type: 'E', data: {} }]);
    const delivered: number[] = [];
    const consumers = await createConsumers([
      defineDeliveryConsumer({ name: 'nats-publisher', deliver: async (events) => void delivered.push(events.length) }),
    ]).start(store);
    await consumers.waitFor('nats-publisher', 2n, { timeout: 10_000 });
    await consumers.stop();
    await store.sql.query(
      `INSERT INTO "${store.schema}".inbound_parked_messages (consumer, message_id, subject, stream, stream_sequence, headers, data, reason, error, deliveries)
       VALUES ('fabula-inbound', 'pay-9', 'payments.in', 'PAYMENTS', 9, '{}', '{"cents":13}', 'failed', 'cannot map', 5)`,
    );
    await store.close();

    const env = where.databaseUrl ? { DATABASE_URL: where.databaseUrl } : { FABULA_DATA_DIR: where.dataDir! };
    const run = (...args: string[]) => fabula(['--schema', where.schema, ...args], env);
    const status = await run('--json', 'consumers', 'status');
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject([
      { name: 'nats-publisher', checkpoint: '2', lagEvents: 0, status: 'stopped' },
    ]);
    const parked = await run('--json', 'consumers', 'parked', '--inbound');
    expect(JSON.parse(parked.stdout)).toMatchObject([
      { messageId: 'pay-9', reason: 'failed', deliveries: 5, data: '{"cents":13}' },
    ]);
    const id = JSON.parse(parked.stdout)[0].id as string;
    expect(await run('consumers', 'skip', '--inbound', id)).toMatchObject({
      code: 0,
      stdout: `parked inbound message ${id} (pay-9) deleted\n`,
    });
    expect(await run('consumers', 'skip', '--inbound', id)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining(`no parked inbound message ${id}`),
    });
    expect(await run('consumers', 'parked')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('give the consumer name'),
    });
    expect(await run('consumers', 'parked', 'nats-publisher')).toMatchObject({
      code: 0,
      stdout: '(no parked events of nats-publisher)\n',
    });
  });
});
