/**
 * The runner's types, and what one batch and the failure handling (batch.ts, parking.ts) use of the
 * runner they work for. Kept apart from runner.ts, which calls them, so that no module imports the other.
 */
import type { RecordedEvent } from '../core/events.js';
import type { EventStore } from '../store/event-store.js';
import type { SqlExecutor } from '../store/sql-client.js';
import type { Wakeup } from '../store/wakeup.js';
import type { ConsumerDefinition } from './consumer.js';
import type { RateMeter } from './rate.js';
import type { ConsumerRow, ConsumerSql } from './sql.js';

export interface RunnerSettings {
  batchSize: number;
  pollIntervalMs: number;
  leaseTtlMs: number;
}

/** What a runner needs from the daemon that owns it. */
export interface RunnerHost {
  store: EventStore;
  sql: ConsumerSql;
  owner: string;
  settings: RunnerSettings;
  /** Signalled on appends (this process's, and others' through LISTEN/NOTIFY). */
  appended: Wakeup;
  /** Signalled on admin calls (pause, resume, retry), here or in another process. */
  control: Wakeup;
  emit(event: ConsumerEvent): void;
}

/**
 * How a client (projections) extends the runner without knowing its loop. All optional.
 */
export interface RunnerHooks {
  /** After the lease is taken, before any batch: one-time set-up, re-reading the client's own state. */
  acquired?(row: ConsumerRow): Promise<void>;
  /**
   * Hold appends back in the transaction that ends at the head, and in parked retries, so that the
   * consumer ends exactly at the head (an inline projection, kept current by appends from then on).
   */
  holdsAppends?: boolean;
  /** Wake on appends (default true); an inline projection only needs to look now and then. */
  followsAppends?: boolean;
  /** True while the consumer must commit a batch at the head even with nothing to read (a build). */
  pendingAtHead?(): boolean;
  /** In the transaction of a batch that ends at the head, while `pendingAtHead()`. */
  atHead?(tx: SqlExecutor): Promise<void>;
  /** After that transaction committed. */
  reachedHead?(): void;
  /** When caught up and idle: housekeeping. */
  idle?(): Promise<void>;
}

export type ConsumerEvent =
  | { kind: 'checkpoint'; consumer: string; position: bigint; events: number }
  | { kind: 'progress'; consumer: string; done: bigint; total: bigint; eventsPerSecond: number; etaSeconds: number | null }
  | { kind: 'failed'; consumer: string; position: bigint; error: string }
  | { kind: 'parked'; consumer: string; position: bigint; streamId: string; error: string }
  | { kind: 'error'; consumer: string; error: unknown };

export type Outcome =
  | { kind: 'applied'; events: number; target: bigint; atHead: boolean }
  | { kind: 'lost' }
  | { kind: 'failed'; events: readonly RecordedEvent[]; index: number; error: unknown };

/** The runner as batch.ts and parking.ts see it (ConsumerRunner implements it). */
export interface RunnerContext {
  readonly id: string;
  readonly name: string;
  checkpoint: bigint;
  status: ConsumerRow['status'];
  parkedStreams: Set<string>;
  readonly rate: RateMeter;
  readonly readAllSql: string;
  readonly host: RunnerHost;
  readonly definition: ConsumerDefinition;
  readonly signal: AbortSignal;
  readonly hooks: RunnerHooks;
  readonly sql: ConsumerSql;
  readonly store: EventStore;
  emit(event: ConsumerEvent): void;
  filter(page: readonly RecordedEvent[]): RecordedEvent[];
  tryProcess(events: readonly RecordedEvent[], target: bigint, options: { last: boolean }): Promise<Outcome>;
  limitIdleTime(tx: SqlExecutor): Promise<void>;
  settle(outcome: Outcome): Promise<void>;
}
