/** `projectionStatus()`: what each projection instance is doing, from its row. Pure. */
import { toConsumerStatus } from '../processing/status.js';
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

/** A projection instance's status: its consumer's (an inline one at the head counts as running), plus what is the projection's. */
export function toStatus(row: StatusRow): ProjectionStatus {
  const consumer = toConsumerStatus(row, row.mode === 'inline');
  const { checkpoint, headPosition: head } = consumer;
  return {
    ...consumer,
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
