/**
 * Telling an event a projection cannot apply from a fault of the database or the connection, which is
 * retried without end and never blamed on the event. Pure.
 */
import type { RecordedEvent } from '../core/events.js';

/** A projection's `apply` threw while applying `events[index]`. */
export class ApplyError extends Error {
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
