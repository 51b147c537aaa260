/**
 * What an application declares for NATS (`defineApp({ integration })`), and starting it for a store:
 * the publisher run as a checkpointed consumer, and the inbound consumer. `startService` calls
 * `startIntegration` when it is given a NATS URL.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { EventRegistry } from '../core/event-registry.js';
import { createConsumers, type Consumers } from '../processing/consumers.js';
import type { DaemonOptions } from '../processing/daemon.js';
import type { EventStore } from '../store/event-store.js';
import type { CommandBus } from '../write/command-bus.js';
import { connectNats } from './connection.js';
import { InboundConsumer, type InboundOptions } from './inbound.js';
import { NatsPublisher, PUBLISH_BATCH, type PublisherOptions } from './publisher.js';

/** An application's integration events: what it publishes, and which messages become its commands. */
export interface IntegrationDefinition {
  /** Publishing; default: every event, as stored (upcast). `false` publishes nothing. */
  publish?: Pick<PublisherOptions, 'mapping' | 'name' | 'maxBatch' | 'onFailure'> | false;
  inbound?: InboundOptions;
}

export interface NatsSettings {
  url: string;
  /** Subject prefix of published events. Default `fabula`. */
  prefix?: string;
  /** JetStream stream of published events. Default: the prefix in upper case. */
  stream?: string;
  duplicateWindowMs?: number;
}

export interface Integration {
  connection: NatsConnection;
  publisher: NatsPublisher | null;
  inbound: InboundConsumer | null;
  /** Runs the publisher (when publishing); its status is `consumers.status(publisher.consumer.name)`. */
  consumers: Consumers;
  close(): Promise<void>;
}

export async function startIntegration(parts: {
  nats: NatsSettings;
  definition?: IntegrationDefinition;
  store: EventStore;
  commands: CommandBus;
  registry: EventRegistry;
  consumerOptions?: DaemonOptions;
}): Promise<Integration> {
  const { nats, definition = {}, store, commands, registry } = parts;
  const publisher =
    definition.publish === false
      ? null
      : new NatsPublisher({
          ...definition.publish,
          registry,
          prefix: nats.prefix,
          stream: { name: nats.stream, duplicateWindowMs: nats.duplicateWindowMs },
        });
  const inbound = definition.inbound ? new InboundConsumer(definition.inbound, { commands, store }) : null;
  const connection = await connectNats(nats.url);
  // Pages as large as the publisher's batches: a batch's streams are published side by side.
  const consumers = createConsumers(publisher ? [publisher.consumer] : [], {
    batchSize: PUBLISH_BATCH,
    ...parts.consumerOptions,
  });
  try {
    if (publisher) await publisher.start(connection);
    await consumers.start(store);
    if (inbound) await inbound.start(connection);
  } catch (error) {
    await consumers.stop().catch(() => {});
    await inbound?.stop().catch(() => {});
    await connection.close().catch(() => {});
    throw error;
  }
  return {
    connection,
    publisher,
    inbound,
    consumers,
    async close() {
      await inbound?.stop();
      await consumers.stop();
      await connection.drain().catch(() => connection.close());
    },
  };
}
