/** A NATS connection that reconnects without end (the publisher's retries ride on it across restarts). */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ValidationError } from '../core/errors.js';

export async function connectNats(url: string, name = 'fabula'): Promise<NatsConnection> {
  if (typeof url !== 'string' || !/^(nats|tls|wss?):\/\/\S+$/.test(url))
    throw new ValidationError('nats.url', `${JSON.stringify(url)} is not a NATS URL such as nats://127.0.0.1:4222`);
  return connect({
    servers: url,
    name,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: false,
  });
}
