/** Reading a JetStream stream back, whole, for the integration tests. */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

export interface StoredMessage {
  seq: number;
  subject: string;
  headers: Record<string, string>;
  data: unknown;
}

export async function streamMessageCount(nc: NatsConnection, stream: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(stream)).state.messages;
}

/** Every message of `stream`, in stream order, through an ordered consumer. */
export async function readStream(nc: NatsConnection, stream: string): Promise<StoredMessage[]> {
  const total = await streamMessageCount(nc, stream);
  const out: StoredMessage[] = [];
  if (total === 0) return out;
  const consumer = await jetstream(nc).consumers.get(stream);
  const messages = await consumer.consume();
  const timer = setTimeout(() => messages.stop(), 20_000);
  for await (const m of messages) {
    const headers: Record<string, string> = {};
    for (const k of m.headers?.keys() ?? []) headers[k] = m.headers!.get(k);
    out.push({ seq: m.seq, subject: m.subject, headers, data: m.json() });
    if (out.length >= total) break;
  }
  clearTimeout(timer);
  return out;
}
