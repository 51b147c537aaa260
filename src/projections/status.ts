/** `projectionStatus()`: what each projection instance is doing, from its row. Pure. */
import type { ProjectionMode } from './define.js';
import type { StatusRow } from './sql.js';

export interface ProjectionStatus {
  name: string;
  version: number;
  /** 0 for the first build of a version; each `rebuild()` adds one. */
  build: number;
  mode: ProjectionMode;
  handles: string[];
  /** `active` serves reads; `building` is being built beside it and replaces it once caught up. */
  phase: 'active' | 'building';
  /**
   * `running`: a daemon holds it (or, inline, appends keep it current); `rebuilding`: phase building;
   * `failed`: stopped on an event it could not apply, until `resume()`; `stopped`: no daemon runs it.
   */
  status: 'running' | 'rebuilding' | 'failed' | 'paused' | 'stopped';
  checkpoint: bigint;
  headPosition: bigint;
  /** Events appended after the checkpoint. */
  lagEvents: number;
  /** Age of the oldest event not yet applied (0 when caught up). */
  lagSeconds: number;
  eventsPerSecond: number;
  /** Events in the dead-letter table (failed ones and those of their streams held behind them). */
  parkedEvents: number;
  failedPosition: bigint | null;
  lastError: { message: string; position: bigint | null; at: Date } | null;
  /** The daemon holding the lease, if its lease is current. */
  owner: string | null;
  /** For a build: how far it is, in events of the log. */
  progress: { done: bigint; total: bigint; percent: number };
  createdAt: Date;
  activatedAt: Date | null;
}

export function toStatus(row: StatusRow): ProjectionStatus {
  const checkpoint = BigInt(row.checkpoint);
  const head = BigInt(row.head);
  const lag = head > checkpoint ? head - checkpoint : 0n;
  const failed = row.status === 'failed';
  const keptByAppends = row.mode === 'inline' && lag === 0n;
  const status = failed
    ? 'failed'
    : row.status === 'paused'
      ? 'paused'
      : !row.leased && !keptByAppends
        ? 'stopped'
        : row.phase === 'building'
          ? 'rebuilding'
          : 'running';
  return {
    name: row.name,
    version: row.version,
    build: row.build,
    mode: row.mode,
    handles: row.handles,
    phase: row.phase === 'building' ? 'building' : 'active',
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
    progress: {
      done: checkpoint < head ? checkpoint : head,
      total: head,
      percent: head === 0n ? 100 : Math.min(100, Math.floor(Number((checkpoint * 10_000n) / head)) / 100),
    },
    createdAt: row.created_at,
    activatedAt: row.activated_at,
  };
}
