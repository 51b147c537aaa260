/** `projectionStatus()`: what each projection instance is doing, from its row. Pure. */
import { toConsumerStatus, type ConsumerStatus } from '../processing/status.js';
import type { ProjectionMode } from './define.js';
import type { StatusRow } from './sql.js';

/** A projection instance's status: its consumer's (see ConsumerStatus), plus what is the projection's. */
export interface ProjectionStatus extends Omit<ConsumerStatus, 'status'> {
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
  /** For a build: how far it is, in events of the log. */
  progress: { done: bigint; total: bigint; percent: number };
  activatedAt: Date | null;
}

/** From its row: an inline instance at the head counts as running (appends keep it current). */
export function toStatus(row: StatusRow): ProjectionStatus {
  const consumer = toConsumerStatus(row, row.mode === 'inline');
  const { checkpoint, headPosition: head } = consumer;
  return {
    ...consumer,
    lastError: recovered(consumer) ? null : consumer.lastError,
    name: row.name,
    version: row.version,
    build: row.build,
    mode: row.mode,
    handles: row.handles,
    phase: row.phase === 'building' ? 'building' : 'active',
    status: consumer.status === 'running' && row.phase === 'building' ? 'rebuilding' : consumer.status,
    progress: {
      done: checkpoint < head ? checkpoint : head,
      total: head,
      percent: head === 0n ? 100 : Math.min(100, Math.floor(Number((checkpoint * 10_000n) / head)) / 100),
    },
    activatedAt: row.activated_at,
  };
}

/**
 * Whether the last error is history: the projection is not failed, nothing is parked, and it has moved
 * past the event that failed (or, for a fault of the database or connection, runs at the head again).
 */
function recovered(s: ConsumerStatus): boolean {
  if (!s.lastError || s.status === 'failed' || s.parkedEvents > 0) return false;
  const at = s.lastError.position;
  return at === null ? s.status === 'running' && s.lagEvents === 0 : s.checkpoint >= at;
}
