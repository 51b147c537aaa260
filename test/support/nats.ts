/**
 * A private nats-server with JetStream for one test file (see nats-process.ts), stopped and removed
 * after the file. Starting fails the file (never a skip) when the server cannot start.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll } from 'vitest';
import { connectNats } from '../../src/integration/index.js';
import { launchNatsServer, type NatsServer } from './nats-process.js';

export type { NatsServer } from './nats-process.js';

export async function startNatsServer(): Promise<NatsServer> {
  const server = await launchNatsServer();
  afterAll(() => server.close());
  return server;
}

/**
 * For a test file: a private nats-server started before its tests, and a connection to it (closed after
 * them). Read `server` and `connection` inside the tests.
 */
export function natsForFile(): { server: NatsServer; connection: NatsConnection } {
  const nats = {} as { server: NatsServer; connection: NatsConnection };
  beforeAll(async () => {
    nats.server = await startNatsServer();
    nats.connection = await connectNats(nats.server.url);
  });
  afterAll(async () => {
    await nats.connection?.close();
  });
  return nats;
}
