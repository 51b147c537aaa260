/**
 * A private nats-server with JetStream for one test file (see nats-process.ts), stopped and removed
 * after the file. Starting fails the file (never a skip) when the server cannot start.
 */
import { afterAll } from 'vitest';
import { launchNatsServer, type NatsServer } from './nats-process.js';

export type { NatsServer } from './nats-process.js';

export async function startNatsServer(): Promise<NatsServer> {
  const server = await launchNatsServer();
  afterAll(() => server.close());
  return server;
}
