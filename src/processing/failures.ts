/**
 * Telling an event a consumer cannot handle from a fault of the database, the connection or a broker,
 * which is retried without end and never blamed on the event. Pure.
 */
import type { RecordedEvent } from '../core/events.js';

/**
 * Thrown by an external-delivery consumer's `deliver` to blame event `index` of the batch it was given:
 * the receiver refused it for good (too large, invalid). The runner retries it alone, then stops or
 * parks it as the consumer's policy says. Any other error from `deliver` is a delivery fault (the broker
 * is down, a timeout): retried with backoff without end, never blamed on an event.
 */
export class EventRejected extends Error {
  constructor(
    readonly index: number,
    override readonly cause: unknown,
  ) {
    super(describeError(cause));
    this.name = 'EventRejected';
  }
}

/** A handler failed on `events[index]` (internal: carries the batch back to the runner). */
export class HandlerError extends Error {
  constructor(
    readonly events: readonly RecordedEvent[],
    readonly index: number,
    override readonly cause: unknown,
  ) {
    super(describeError(cause));
  }
}

/** Someone else moved the checkpoint, or the lease is gone: re-read and carry on. */
export class LostRace extends Error {
  constructor() {
    super('the checkpoint moved or the lease was lost');
  }
}

// SQLSTATE classes and codes that say nothing about the event: connection, shutdown, resources,
// serialisation failures and deadlocks, lock and statement timeouts, idle-in-transaction timeout.
const TRANSIENT_SQLSTATE = /^(08|53|57P0|40001|40P01|55P03|57014|25P03)/;
const TRANSIENT_NODE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTCONN']);

export function isTransient(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (TRANSIENT_SQLSTATE.test(code) || TRANSIENT_NODE_CODES.has(code))) return true;
  const message = (error as { message?: unknown }).message;
  return (
    typeof message === 'string' &&
    /Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(message)
  );
}

export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${error.name}: ${error.message}${typeof code === 'string' && !error.message.includes(code) ? ` (${code})` : ''}`;
  }
  return String(error);
}

/** The parked-events JSON that `parkBehind` takes. */
export function parkedJson(events: readonly RecordedEvent[]): string {
  return JSON.stringify(
    events.map((e) => ({ position: e.globalPosition.toString(), streamId: e.streamId, id: e.id, type: e.type })),
  );
}
