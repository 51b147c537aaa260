/**
 * The vocabulary of the event store, free of any I/O.
 *
 * A *stream* is the ordered history of one thing (usually one aggregate), named by a stream id such as
 * `account-42`. Its *stream type* is the part before the first `-` (`account`), as in Message DB.
 * Every event has a *stream version* (1, 2, 3 ... within its stream) and a *global position*
 * (strictly ascending across the whole store, in commit order).
 */

/** Metadata travels with every event. The well-known keys are typed; anything else is kept as given. */
export interface EventMetadata {
  correlationId?: string;
  causationId?: string;
  userId?: string;
  tenantId?: string;
  [key: string]: unknown;
}

/** An event as the caller hands it to `append`. */
export interface NewEvent<Type extends string = string, Data = unknown> {
  /** UUID. Generated when missing; give your own to make retries idempotent. */
  id?: string;
  type: Type;
  data: Data;
  metadata?: EventMetadata;
  /** Version of the event's schema (for upcasting on read). Defaults to 1. */
  schemaVersion?: number;
}

/** An event as the store recorded it. */
export interface RecordedEvent<Type extends string = string, Data = unknown> {
  id: string;
  type: Type;
  data: Data;
  metadata: EventMetadata;
  schemaVersion: number;
  streamId: string;
  streamVersion: number;
  globalPosition: bigint;
  recordedAt: Date;
  /** The tenant whose stream this is (`'default'` in a single-tenant store; see docs/tenancy.md). */
  tenantId: string;
}

/**
 * What the stream must look like for an append to go ahead (optimistic concurrency).
 * - `'any'`: no check.
 * - `'no_stream'`: the stream must not exist yet.
 * - `'stream_exists'`: the stream must exist (with at least one event).
 * - a number: the stream's current version must be exactly this (0 means "no events yet").
 */
export type ExpectedVersion = 'any' | 'no_stream' | 'stream_exists' | number;

export interface AppendOptions {
  expectedVersion?: ExpectedVersion;
  /**
   * Advanced: the caller vouches that these event ids were never used before (they derive from a fresh
   * random id), so the store skips looking for an earlier append with them. A wrong promise is still
   * safe: the append then fails on the ids' uniqueness and is checked as a retry.
   */
  newIds?: boolean;
}

export interface AppendResult {
  streamId: string;
  /** The stream's version after this append: pass it as `expectedVersion` to the next one. */
  nextExpectedVersion: number;
  firstPosition: bigint;
  lastPosition: bigint;
}

export interface StreamInfo {
  streamId: string;
  streamType: string;
  version: number;
  createdAt: Date;
  updatedAt: Date;
  deleted: boolean;
  deletedAt: Date | null;
  metadata: Record<string, unknown>;
  /** The tenant whose stream this is. A stream's identity is its id and its tenant. */
  tenantId: string;
}

export type ReadDirection = 'forwards' | 'backwards';

export interface ReadStreamOptions {
  /** First stream version to return (inclusive). Forwards default 1; backwards default the last. */
  from?: number;
  /** Last stream version to return (inclusive). */
  to?: number;
  direction?: ReadDirection;
  maxCount?: number;
  /** Temporal read: the stream as it was at this moment (events recorded at or before it). */
  asOf?: Date;
}

export interface ReadAllOptions {
  /** Return events strictly after this global position. Default: from the beginning. */
  after?: bigint;
  maxCount?: number;
  eventTypes?: readonly string[];
  streamTypes?: readonly string[];
}

export interface SubscribeOptions {
  /** Deliver events strictly after this global position (a checkpoint). Default: from the beginning. */
  after?: bigint;
  eventTypes?: readonly string[];
  streamTypes?: readonly string[];
  /** Ends the subscription cleanly when aborted. */
  signal?: AbortSignal;
  /** How many events one catch-up read fetches. Default 500. */
  batchSize?: number;
  /** Polling fallback interval (ms) when no notification arrives. Default 1000. */
  pollIntervalMs?: number;
}

export interface ListStreamsOptions {
  type?: string;
  /** Stream id to continue after (keyset paging, ordered by stream id). */
  after?: string;
  limit?: number;
  includeDeleted?: boolean;
}

export interface DeleteStreamOptions {
  expectedVersion?: ExpectedVersion;
}

/** The tenant of everything written without one (a single-tenant store, the store's system view). */
export const DEFAULT_TENANT = 'default';

/** The stream type (category) of a stream id: the part before the first `-`. */
export function streamTypeOf(streamId: string): string {
  const dash = streamId.indexOf('-');
  return dash > 0 ? streamId.slice(0, dash) : streamId;
}
