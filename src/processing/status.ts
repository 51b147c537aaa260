/** What a consumer is doing, from its status row: position, lag in events and seconds, errors. Pure. */
import type { ConsumerStatusRow } from './sql.js';

export interface ConsumerStatus {
  name: string;
  /**
   * `running`: a process holds its lease; `failed`: stopped on an event it could not handle, until
   * `resume()`; `paused`: by an operator; `stopped`: no process runs it.
   */
  status: 'running' | 'failed' | 'paused' | 'stopped';
  checkpoint: bigint;
  headPosition: bigint;
  /** Events appended after the checkpoint. */
  lagEvents: number;
  /** Age of the oldest event not yet handled (0 when caught up). */
  lagSeconds: number;
  eventsPerSecond: number;
  /** Events in the dead-letter table (failed ones and those of their streams held behind them). */
  parkedEvents: number;
  failedPosition: bigint | null;
  lastError: { message: string; position: bigint | null; at: Date } | null;
  /** The process holding the lease, if its lease is current. */
  owner: string | null;
  createdAt: Date;
}

/** `runningWithoutLease`: a client that is kept current without a runner (an inline projection at the head). */
export function toConsumerStatus(row: ConsumerStatusRow, runningWithoutLease = false): ConsumerStatus {
  const checkpoint = BigInt(row.checkpoint);
  const head = BigInt(row.head);
  const lag = head > checkpoint ? head - checkpoint : 0n;
  const status =
    row.status === 'failed'
      ? 'failed'
      : row.status === 'paused'
        ? 'paused'
        : !row.leased && !(runningWithoutLease && lag === 0n)
          ? 'stopped'
          : 'running';
  return {
    name: row.consumer_name,
    status,
    checkpoint,
    headPosition: head,
    lagEvents: Number(lag),
    lagSeconds: row.oldest_pending_at ? Math.max(0, (row.now.getTime() - row.oldest_pending_at.getTime()) / 1000) : 0,
    eventsPerSecond: row.leased ? Number(row.events_per_s) : 0,
    parkedEvents: row.parked,
    failedPosition: row.failed_position === null ? null : BigInt(row.failed_position),
    lastError: row.last_error
      ? {
          message: row.last_error,
          position: row.last_error_position === null ? null : BigInt(row.last_error_position),
          at: row.last_error_at!,
        }
      : null,
    owner: row.leased ? row.lease_owner : null,
    createdAt: row.created_at,
  };
}
