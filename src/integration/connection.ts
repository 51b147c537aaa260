/** A NATS connection that reconnects without end (the publisher's retries ride on it across restarts). */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { FabulaError, ValidationError } from '../core/errors.js';

/** Connects to `url`; a `FabulaError` (`nats_unreachable`) when no NATS server answers there at first. */
export async function connectNats(url: string, name = 'fabula'): Promise<NatsConnection> {
  if (typeof url !== 'string' || !/^(nats|tls|wss?):\/\/\S+$/.test(url))
    throw new ValidationError('nats.url', `${JSON.stringify(url)} is not a NATS URL such as nats://127.0.0.1:4222`);
  try {
    return await connect({
      servers: url,
      name,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      // An Error captured per request for async stack traces was a sixth of the publisher's CPU.
      noAsyncTraces: true,
    });
  } catch (cause) {
    throw new FabulaError(
      'nats_unreachable',
      `cannot reach NATS at ${url} (${(cause as Error).message}); start it (nats-server -js) or fix --nats-url / NATS_URL`,
      { cause },
    );
  }
}
