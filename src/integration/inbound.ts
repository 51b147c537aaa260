/**
 * Inbound integration events: a durable JetStream pull consumer whose messages become commands. Each
 * subject pattern has an anti-corruption function that turns a message into `{ type, data }` (or null
 * to ignore it); the command runs on the CommandBus with the message id (`Nats-Msg-Id`, else
 * `<stream>:<sequence>`) as its command id, so a redelivered message returns the recorded outcome
 * instead of running twice.
 *
 * Outcomes: handled or ignored → ack. Refused by the command (a DomainError, invalid data, an unknown
 * command, forbidden) → final: recorded as `rejected` in `inbound_parked_messages`, then ack. Any other
 * error → nak with a growing delay, and after `maxDeliveries` deliveries the message is parked as
 * `failed` and terminated (JetStream stops redelivering it). Parked messages can be retried (the same
 * command id) or deleted.
 */
import { EventEmitter } from 'node:events';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { DomainError, ForbiddenError, UnknownMessageError, ValidationError } from '../core/errors.js';
import type { EventStore } from '../store/event-store.js';
import type { CommandBus } from '../write/command-bus.js';
import { JetStreamSetupError } from './errors.js';
import { IntegrationHeaders } from './headers.js';
import { inboundSql, type InboundParkedRow } from './sql.js';
import { subjectMatches } from './subjects.js';

export interface InboundMessage {
  subject: string;
  /** The payload parsed as JSON (null when empty). */
  data: unknown;
  headers: Readonly<Record<string, string>>;
  /** `Nats-Msg-Id`, else `<stream>:<sequence>`: the command's id. */
  id: string;
  stream: string;
  streamSequence: number;
  /** How many times JetStream delivered it (1 the first time). */
  deliveries: number;
}

export interface InboundCommand {
  type: string;
  data: unknown;
}

/** The anti-corruption layer of one subject: a message in another context's terms → our command, or null. */
export type InboundMapper = (message: InboundMessage) => InboundCommand | null;

export interface InboundOptions {
  /** The JetStream stream to read (it must exist). */
  stream: string;
  /** Subject pattern (`*`, `>` allowed) → mapper. The first pattern that matches a subject is used; unmatched subjects are acknowledged and ignored. */
  subjects: Readonly<Record<string, InboundMapper>>;
  /** Durable consumer name, also the key of its parked messages. Default `fabula-inbound`. */
  durable?: string;
  /** Only messages on this subject (pattern) are delivered. Default: the whole stream. */
  filterSubject?: string;
  /** Deliveries of a failing message before it is parked. Default 5. */
  maxDeliveries?: number;
  /** Redelivery delay after a failure, in ms, times the delivery count (at most 60 s). Default 1,000. */
  retryDelayMs?: number;
  /** How long JetStream waits for an ack before redelivering, in ms. Default 30,000. */
  ackWaitMs?: number;
}

export type InboundOutcome =
  | { kind: 'handled'; commandId: string; replayed: boolean }
  | { kind: 'ignored' }
  | { kind: 'rejected'; error: string }
  | { kind: 'failed'; error: string };

export interface ParkedInboundMessage {
  id: string;
  consumer: string;
  messageId: string;
  subject: string;
  stream: string;
  streamSequence: number;
  headers: Record<string, string>;
  /** The payload as text. */
  data: string;
  /** `failed`: parked after too many deliveries; `rejected`: refused by its command (final). */
  reason: 'failed' | 'rejected';
  error: string;
  deliveries: number;
  parkedAt: Date;
}

export interface InboundEvents {
  handled: [{ message: InboundMessage; outcome: InboundOutcome }];
  parked: [{ message: InboundMessage; reason: 'failed' | 'rejected'; error: string }];
  /** A fault of NATS or of parking; the consumer goes on. */
  error: [{ error: unknown }];
}

const DURABLE = /^[A-Za-z0-9_-]{1,200}$/;

/** Errors that say the command itself is refused: redelivering cannot change the answer. */
export function isFinalRejection(error: unknown): boolean {
  return (
    error instanceof DomainError ||
    error instanceof ValidationError ||
    error instanceof UnknownMessageError ||
    error instanceof ForbiddenError
  );
}

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error));
const decoder = new TextDecoder();

export class InboundConsumer extends EventEmitter<InboundEvents> {
  readonly stream: string;
  readonly durable: string;
  private readonly patterns: Array<[string, InboundMapper]>;
  private readonly maxDeliveries: number;
  private readonly retryDelayMs: number;
  private readonly ackWaitMs: number;
  private readonly filterSubject: string | undefined;
  private readonly sql: ReturnType<typeof inboundSql>;
  private messages: ConsumerMessages | null = null;
  private loop: Promise<void> | null = null;

  constructor(
    options: InboundOptions,
    private readonly parts: { commands: CommandBus; store: EventStore },
  ) {
    super();
    if (typeof options !== 'object' || options === null) throw new ValidationError('inbound', 'must be an object');
    if (typeof options.stream !== 'string' || !DURABLE.test(options.stream))
      throw new ValidationError('inbound.stream', `${JSON.stringify(options.stream)} is not a JetStream stream name`);
    this.stream = options.stream;
    this.durable = options.durable ?? 'fabula-inbound';
    if (!DURABLE.test(this.durable))
      throw new ValidationError(
        'inbound.durable',
        `${JSON.stringify(this.durable)} is not valid: use letters, digits, '_' or '-'`,
      );
    if (typeof options.subjects !== 'object' || options.subjects === null || Object.keys(options.subjects).length === 0)
      throw new ValidationError(
        'inbound.subjects',
        'must map at least one subject pattern to a function (message) => { type, data } | null',
      );
    this.patterns = Object.entries(options.subjects);
    for (const [pattern, fn] of this.patterns)
      if (typeof fn !== 'function')
        throw new ValidationError(`inbound.subjects["${pattern}"]`, 'must be a function (message) => { type, data } | null');
    this.maxDeliveries = positive(options.maxDeliveries ?? 5, 'inbound.maxDeliveries');
    this.retryDelayMs = positive(options.retryDelayMs ?? 1_000, 'inbound.retryDelayMs');
    this.ackWaitMs = positive(options.ackWaitMs ?? 30_000, 'inbound.ackWaitMs');
    this.filterSubject = options.filterSubject;
    this.sql = inboundSql(parts.store.schema);
  }

  /** Creates (or updates) the durable consumer and handles its messages until `stop()`. */
  async start(connection: NatsConnection): Promise<this> {
    if (this.loop) throw new ValidationError('inbound', 'already started; call stop() first');
    const jsm = await jetstreamManager(connection);
    const config = {
      ack_policy: AckPolicy.Explicit,
      ack_wait: this.ackWaitMs * 1_000_000,
      // Unlimited on the broker: this consumer counts deliveries and parks, so nothing is dropped silently.
      max_deliver: -1,
      ...(this.filterSubject ? { filter_subject: this.filterSubject } : {}),
    };
    try {
      await jsm.consumers.info(this.stream, this.durable);
      await jsm.consumers.update(this.stream, this.durable, config);
    } catch (error) {
      const code = (error as { code?: number }).code;
      if (code === 10059)
        throw new JetStreamSetupError(
          `JetStream stream "${this.stream}" does not exist: create it (the stream the other system publishes to) or fix inbound.stream`,
          { cause: error },
        );
      if (code !== 10014) throw error; // 10014: no such consumer yet
      await jsm.consumers.add(this.stream, { ...config, durable_name: this.durable, deliver_policy: DeliverPolicy.All });
    }
    const consumer = await jetstream(connection).consumers.get(this.stream, this.durable);
    const messages = await consumer.consume({ max_messages: 100 });
    this.messages = messages;
    this.loop = (async () => {
      for await (const m of messages) await this.process(m);
    })();
    return this;
  }

  /** Stops pulling; the message in hand is finished first (unacknowledged ones are redelivered later). */
  async stop(): Promise<void> {
    const messages = this.messages;
    this.messages = null;
    await messages?.close();
    await this.loop?.catch(() => {});
    this.loop = null;
  }

  /** Maps and executes one message (no ack, no parking): what happened. */
  async handle(message: InboundMessage): Promise<InboundOutcome> {
    const mapper = this.patterns.find(([pattern]) => subjectMatches(pattern, message.subject))?.[1];
    if (!mapper) return { kind: 'ignored' };
    try {
      const command = mapper(message);
      if (command === null || command === undefined) return { kind: 'ignored' };
      if (typeof command !== 'object' || typeof command.type !== 'string')
        throw new ValidationError(`inbound.subjects`, `the mapper of ${message.subject} must return { type, data } or null`);
      const correlationId = message.headers[IntegrationHeaders.CorrelationId];
      const result = await this.parts.commands.execute(command.type, command.data, {
        commandId: message.id,
        ...(correlationId ? { correlationId } : {}),
        metadata: { inboundSubject: message.subject },
      });
      return { kind: 'handled', commandId: result.commandId, replayed: result.replayed };
    } catch (error) {
      return isFinalRejection(error) ? { kind: 'rejected', error: describe(error) } : { kind: 'failed', error: describe(error) };
    }
  }

  private async process(m: JsMsg): Promise<void> {
    let message: InboundMessage;
    try {
      message = toInboundMessage(m, this.stream);
    } catch (error) {
      // Not JSON: no delivery will make it so. Kept as rejected with its raw payload.
      const raw = rawMessage(m, this.stream);
      return this.settle(m, raw, { kind: 'rejected', error: describe(error) });
    }
    await this.settle(m, message, await this.handle(message));
  }

  private async settle(m: JsMsg, message: InboundMessage, outcome: InboundOutcome): Promise<void> {
    try {
      if (outcome.kind === 'rejected') {
        await this.park(message, m.data, 'rejected', outcome.error);
        m.ack();
      } else if (outcome.kind === 'failed') {
        if (message.deliveries >= this.maxDeliveries) {
          await this.park(message, m.data, 'failed', `${outcome.error} (after ${message.deliveries} deliveries)`);
          m.term(); // no reason text: nats-server before 2.10 ignores a TERM that carries one
        } else {
          m.nak(Math.min(60_000, this.retryDelayMs * message.deliveries));
        }
      } else {
        m.ack();
      }
      this.emit('handled', { message, outcome });
    } catch (error) {
      // Parking failed (the database is down): the message comes back and is tried again.
      m.nak(this.retryDelayMs);
      if (this.listenerCount('error') > 0) this.emit('error', { error });
    }
  }

  private async park(message: InboundMessage, payload: Uint8Array, reason: 'failed' | 'rejected', error: string) {
    await this.parts.store.sql.query(this.sql.park, [
      this.durable,
      message.id,
      message.subject,
      message.stream,
      message.streamSequence,
      JSON.stringify(message.headers),
      decoder.decode(payload),
      reason,
      error,
      message.deliveries,
    ]);
    this.emit('parked', { message, reason, error });
  }

  /** Parked and rejected messages of this consumer, oldest first. */
  async parked(): Promise<ParkedInboundMessage[]> {
    return listParkedInbound(this.parts.store, this.durable);
  }

  /**
   * Handles a parked message again, with its original id as the command id. Handled: the row is
   * removed. Refused or failed again: the row stays, with the new error.
   */
  async retryParked(id: string): Promise<InboundOutcome> {
    const row = await this.row(id);
    const message: InboundMessage = {
      subject: row.subject,
      data: parsePayload(row.data),
      headers: row.headers,
      id: row.messageId,
      stream: row.stream,
      streamSequence: row.streamSequence,
      deliveries: row.deliveries + 1,
    };
    let outcome: InboundOutcome;
    try {
      outcome = await this.handle(message);
    } catch (error) {
      outcome = { kind: 'rejected', error: describe(error) };
    }
    if (outcome.kind === 'handled' || outcome.kind === 'ignored') await this.parts.store.sql.query(this.sql.delete, [id]);
    else await this.parts.store.sql.query(this.sql.update, [id, outcome.kind, outcome.error]);
    return outcome;
  }

  /** Gives up on a parked message. */
  async deleteParked(id: string): Promise<void> {
    await this.row(id);
    await this.parts.store.sql.query(this.sql.delete, [id]);
  }

  private async row(id: string): Promise<ParkedInboundMessage> {
    if (typeof id !== 'string' || !/^\d{1,19}$/.test(id))
      throw new ValidationError('id', `${JSON.stringify(id)} is not a parked message id`);
    const [row] = await this.parts.store.sql.query<InboundParkedRow>(this.sql.byId, [id]);
    if (!row || row.consumer !== this.durable)
      throw new ValidationError('id', `no parked message ${id} of inbound consumer "${this.durable}"; list them with parked()`);
    return toParkedInbound(row);
  }
}

/** Parked inbound messages in `store` (of every inbound consumer, or of `consumer`), oldest first. */
export async function listParkedInbound(store: EventStore, consumer?: string): Promise<ParkedInboundMessage[]> {
  const rows = await store.sql.query<InboundParkedRow>(inboundSql(store.schema).list, [consumer ?? null]);
  return rows.map(toParkedInbound);
}

/** Deletes a parked inbound message by id (of any inbound consumer); a ValidationError when there is none. */
export async function deleteParkedInbound(store: EventStore, id: string): Promise<ParkedInboundMessage> {
  if (typeof id !== 'string' || !/^\d{1,19}$/.test(id))
    throw new ValidationError('id', `${JSON.stringify(id)} is not a parked message id`);
  const sql = inboundSql(store.schema);
  const [row] = await store.sql.query<InboundParkedRow>(sql.byId, [id]);
  if (!row)
    throw new ValidationError(
      'id',
      `no parked inbound message ${id}; list them with "fabula consumers parked --inbound" or listParkedInbound()`,
    );
  await store.sql.query(sql.delete, [id]);
  return toParkedInbound(row);
}

function toParkedInbound(r: InboundParkedRow): ParkedInboundMessage {
  return {
    id: r.id,
    consumer: r.consumer,
    messageId: r.message_id,
    subject: r.subject,
    stream: r.stream,
    streamSequence: Number(r.stream_sequence),
    headers: typeof r.headers === 'string' ? (JSON.parse(r.headers) as Record<string, string>) : r.headers,
    data: r.data,
    reason: r.reason,
    error: r.error,
    deliveries: r.deliveries,
    parkedAt: r.parked_at,
  };
}

function positive(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
    throw new ValidationError(field, `${String(value)} is not valid: use an integer >= 1`);
  return value;
}

function parsePayload(text: string): unknown {
  if (text.length === 0) return null;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ValidationError('data', `the message is not JSON: ${(error as Error).message}`);
  }
}

function headersOf(m: JsMsg): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of m.headers?.keys() ?? []) out[key] = m.headers!.get(key);
  return out;
}

function rawMessage(m: JsMsg, stream: string): InboundMessage {
  const headers = headersOf(m);
  return {
    subject: m.subject,
    data: null,
    headers,
    id: headers['Nats-Msg-Id'] || `${stream}:${m.info.streamSequence}`,
    stream,
    streamSequence: m.info.streamSequence,
    deliveries: m.info.deliveryCount,
  };
}

function toInboundMessage(m: JsMsg, stream: string): InboundMessage {
  const message = rawMessage(m, stream);
  return { ...message, data: parsePayload(decoder.decode(m.data)) };
}

export function inboundConsumer(options: InboundOptions, parts: { commands: CommandBus; store: EventStore }): InboundConsumer {
  return new InboundConsumer(options, parts);
}
