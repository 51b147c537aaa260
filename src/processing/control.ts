/**
 * Operating consumers, by id: pause, resume, retry or skip parked events, list them. Every call bumps
 * the consumer's `control_seq` (so its runner re-reads) and notifies the control channel (so runners in
 * other processes wake at once). `Consumers` and `Projections` map their names to ids and call these.
 */
import { ValidationError } from '../core/errors.js';
import type { SqlExecutor } from '../store/sql-client.js';
import type { ConsumerSql, ParkedRow } from './sql.js';

export interface ParkedConsumerEvent {
  consumerId: string;
  position: bigint;
  streamId: string;
  eventId: string;
  eventType: string;
  /** `failed`: could not be handled; `behind`: waits for an earlier parked event of its stream. */
  reason: 'failed' | 'behind';
  error: string | null;
  attempts: number;
  retryRequested: boolean;
  parkedAt: Date;
}

export async function notifyControl(sql: SqlExecutor, statements: ConsumerSql, payload: string): Promise<void> {
  await sql.query(statements.notify, [statements.controlChannel, payload]);
}

/** Returns how many consumers were paused (running ones only). */
export async function pauseConsumers(sql: SqlExecutor, statements: ConsumerSql, ids: string[]): Promise<number> {
  return (await sql.query(statements.pause, [ids])).length;
}

/** Clears `failed` or `paused`: the runner carries on (a failed event is tried again). */
export async function resumeConsumers(sql: SqlExecutor, statements: ConsumerSql, ids: string[]): Promise<number> {
  return (await sql.query(statements.resume, [ids])).length;
}

/** Asks the runners to handle parked events again (all, or one stream's). Returns how many. */
export async function requestParkedRetry(
  sql: SqlExecutor,
  statements: ConsumerSql,
  ids: string[],
  streamId: string | null,
): Promise<number> {
  const rows = await sql.query(statements.requestRetry, [ids, streamId]);
  await sql.query(statements.bumpControl, [ids]);
  return rows.length;
}

/**
 * Gives up on the event a consumer under the `stop` policy failed on: it moves past it, never handling
 * it, and runs on. Returns how many consumers were stopped at that position.
 */
export async function skipFailedEvent(
  sql: SqlExecutor,
  statements: ConsumerSql,
  ids: string[],
  position: bigint,
): Promise<number> {
  return (await sql.query(statements.skipFailed, [ids, position])).length;
}

/** Gives up on a parked event that failed; the events of its stream behind it go ahead. */
export async function skipParkedEvent(sql: SqlExecutor, statements: ConsumerSql, ids: string[], position: bigint, label: string) {
  const found = await sql.query<{ n: number }>(statements.skippedExists, [ids, position]);
  if (found[0]!.n === 0) throw new ValidationError('position', `${position} is not a parked event of "${label}" that failed`);
  await sql.query(statements.skipParked, [ids, position]);
  await sql.query(statements.bumpControl, [ids]);
}

export async function listParked(sql: SqlExecutor, statements: ConsumerSql, ids: string[]): Promise<ParkedConsumerEvent[]> {
  return (await sql.query<ParkedRow>(statements.listParked, [ids])).map(toParked);
}

export function toParked(r: ParkedRow): ParkedConsumerEvent {
  return {
    consumerId: r.consumer_id,
    position: BigInt(r.global_position),
    streamId: r.stream_id,
    eventId: r.event_id,
    eventType: r.event_type,
    reason: r.reason,
    error: r.error,
    attempts: r.attempts,
    retryRequested: r.retry_requested,
    parkedAt: r.parked_at,
  };
}
