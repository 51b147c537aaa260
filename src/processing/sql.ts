/**
 * Every SQL statement of a checkpointed consumer, for one store schema: leases, checkpoints, failure
 * state, parked events, admin and status. Consumers are addressed by id ($1); the schema is a validated
 * name; everything else is a parameter. Bigints are selected as text (see src/store/sql-client.ts).
 */

export type ConsumerRunStatus = 'running' | 'failed' | 'paused';

/** One consumer, as read from `consumers`. */
export interface ConsumerRow {
  consumer_id: string;
  consumer_name: string;
  status: ConsumerRunStatus;
  checkpoint: string;
  lease_owner: string | null;
  lease_expires_at: Date | null;
  /** The lease is held and not expired (by the database's clock). */
  leased: boolean;
  failed_position: string | null;
  last_error: string | null;
  last_error_position: string | null;
  last_error_at: Date | null;
  events_per_s: number;
  control_seq: string;
  retired: boolean;
  created_at: Date;
}

/** A runner's view before each step: where it is, where the log is, and whether it still holds the lease. */
export interface RunnerStateRow {
  checkpoint: string;
  status: ConsumerRunStatus;
  retired: boolean;
  mine: boolean;
  control_seq: string;
  head: string;
}

/** What status reports add to the row: the head, the age of the oldest pending event, parked count. */
export interface ConsumerStatusRow extends ConsumerRow {
  head: string;
  oldest_pending_at: Date | null;
  parked: number;
  now: Date;
}

export interface ParkedRow {
  consumer_id: string;
  global_position: string;
  stream_id: string;
  event_id: string;
  event_type: string;
  reason: 'failed' | 'behind';
  error: string | null;
  attempts: number;
  retry_requested: boolean;
  parked_at: Date;
}

export function quoted(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}

/** The columns of `ConsumerRow`, from `consumers` aliased `c`; for other modules' joins too. */
export const CONSUMER_COLUMNS = `c.id::text AS consumer_id, c.name AS consumer_name, c.status, c.checkpoint::text AS checkpoint,
  c.lease_owner, c.lease_expires_at, (c.lease_owner IS NOT NULL AND c.lease_expires_at > clock_timestamp()) AS leased,
  c.failed_position::text AS failed_position, c.last_error, c.last_error_position::text AS last_error_position,
  c.last_error_at, c.events_per_s, c.control_seq::text AS control_seq, c.retired_at IS NOT NULL AS retired, c.created_at`;

export function consumerSql(schema: string) {
  const s = quoted(schema);
  const consumers = `${s}.consumers`;
  const parked = `${s}.consumer_parked_events`;
  const lease = `c.lease_owner = $2 AND c.lease_expires_at > clock_timestamp()`;
  // The last committed position (the store's head_position(): docs/global-order.md).
  const head = `SELECT ${s}.head_position() AS last_position`;
  /** Status columns: the consumer, the head, the age of the oldest event not yet handled, parked count. */
  const statusColumns = `${CONSUMER_COLUMNS}, h.last_position::text AS head,
    (SELECT e.recorded_at FROM ${s}.events e WHERE e.global_position = c.checkpoint + 1) AS oldest_pending_at,
    (SELECT count(*) FROM ${parked} x WHERE x.consumer_id = c.id)::int AS parked, clock_timestamp() AS now`;
  return {
    /** Channel on which admin calls (resume, retry, rebuild) wake the runners of every process. */
    controlChannel: `${schema}_consumers`,
    notify: `SELECT pg_notify($1, $2)`,
    statusColumns,
    headSql: head,

    /**
     * $1 name: creates the consumer if it is new; returns it either way, except when another process
     * created it at the same moment (the statement's snapshot predates that row): then read `byName`.
     */
    /** $2: a new consumer starts at the head of the global order (true) or at its beginning. */
    ensure: `WITH made AS (
        INSERT INTO ${consumers} (name, checkpoint) VALUES ($1, CASE WHEN $2::boolean THEN ${s}.head_position() ELSE 0 END)
        ON CONFLICT (name) DO NOTHING RETURNING *)
      SELECT ${CONSUMER_COLUMNS} FROM made c UNION ALL SELECT ${CONSUMER_COLUMNS} FROM ${consumers} c WHERE c.name = $1`,
    byName: `SELECT ${CONSUMER_COLUMNS} FROM ${consumers} c WHERE c.name = $1`,
    byId: `SELECT ${CONSUMER_COLUMNS} FROM ${consumers} c WHERE c.id = $1`,
    idsByName: `SELECT id::text AS id FROM ${consumers} WHERE name = $1 AND retired_at IS NULL`,

    // Leases: $1 consumer id, $2 owner, $3 time to live (ms). The database's clock decides expiry.
    /** Takes the lease if it is free, expired or ours; never waits for a row another process has locked. */
    acquire: `UPDATE ${consumers} c SET lease_owner = $2, lease_expires_at = clock_timestamp() + $3 * interval '1 millisecond'
      WHERE c.id = (SELECT id FROM ${consumers} WHERE id = $1 AND retired_at IS NULL
                      AND (lease_owner IS NULL OR lease_owner = $2 OR lease_expires_at <= clock_timestamp())
                    FOR UPDATE SKIP LOCKED)
      RETURNING ${CONSUMER_COLUMNS}`,
    /** Renews a lease still ours (even if it lapsed while no one took it); $4 the current rate. */
    renew: `UPDATE ${consumers} c SET lease_expires_at = clock_timestamp() + $3 * interval '1 millisecond', events_per_s = $4
      WHERE c.id = $1 AND c.lease_owner = $2 RETURNING c.id`,
    release: `UPDATE ${consumers} SET lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND lease_owner = $2`,
    runnerState: `SELECT c.checkpoint::text AS checkpoint, c.status, c.retired_at IS NOT NULL AS retired, (${lease}) AS mine,
        c.control_seq::text AS control_seq, h.last_position::text AS head
      FROM ${consumers} c CROSS JOIN (${head}) h WHERE c.id = $1`,

    // Batches. The checkpoint moves first in each transactional batch: that locks the consumer row (one
    // writer at a time), fences it with the lease, and checks nobody moved it since we read it.
    /** $1 id, $2 owner, $3 expected checkpoint, $4 new checkpoint. */
    advance: `UPDATE ${consumers} c SET checkpoint = $4, updated_at = clock_timestamp()
      WHERE c.id = $1 AND ${lease} AND c.checkpoint = $3 AND c.status = 'running' AND c.retired_at IS NULL
      RETURNING c.id`,
    /** Locks the consumer row for work that does not move the checkpoint (parked retries). */
    fence: `UPDATE ${consumers} c SET updated_at = clock_timestamp() WHERE c.id = $1 AND ${lease} AND c.retired_at IS NULL
      RETURNING c.checkpoint::text AS checkpoint`,
    /**
     * Holds appends back while a consumer closes its last gap: the store's append lock taken shared
     * (src/store/sql/functions/hold_appends.sql); appends take it exclusively. Then the head, read after
     * the lock, is final until commit.
     */
    holdAppends: `SELECT ${s}.hold_appends()`,
    head: `SELECT last_position::text AS position FROM (${head}) h`,
    idleTimeout: `SELECT set_config('idle_in_transaction_session_timeout', $1, true)`,
    lockTimeout: `SELECT set_config('lock_timeout', $1, true)`,
    /** $1 id, $2 owner, $3 position, $4 error. */
    fail: `UPDATE ${consumers} c SET status = 'failed', failed_position = $3, last_error = $4, last_error_position = $3,
        last_error_at = clock_timestamp(), updated_at = clock_timestamp()
      WHERE c.id = $1 AND ${lease} AND c.retired_at IS NULL RETURNING c.id`,
    /** $1 id, $2 error, $3 position (nullable). */
    recordError: `UPDATE ${consumers} SET last_error = $2, last_error_position = $3, last_error_at = clock_timestamp() WHERE id = $1`,
    deleteParkedOf: `DELETE FROM ${parked} WHERE consumer_id = $1`,

    // Parked events.
    parkedStreams: `SELECT DISTINCT stream_id FROM ${parked} WHERE consumer_id = $1`,
    parkedStreamsAmong: `SELECT DISTINCT stream_id FROM ${parked} WHERE consumer_id = $1 AND stream_id = ANY($2::text[])`,
    /** $1 id, $2 position, $3 stream, $4 event id, $5 type, $6 reason, $7 error, $8 attempts. */
    park: `INSERT INTO ${parked} (consumer_id, global_position, stream_id, event_id, event_type, reason, error, attempts)
      VALUES ($1, $2, $3, $4::uuid, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
    /** $1 id, $2 JSON array of {position, streamId, id, type}: parked behind an earlier event of their stream. */
    parkBehind: `INSERT INTO ${parked} (consumer_id, global_position, stream_id, event_id, event_type, reason)
      SELECT $1, (e->>'position')::bigint, e->>'streamId', (e->>'id')::uuid, e->>'type', 'behind'
      FROM jsonb_array_elements($2::jsonb) AS e ON CONFLICT DO NOTHING`,
    streamsToRetry: `SELECT DISTINCT stream_id FROM ${parked} WHERE consumer_id = $1 AND retry_requested`,
    parkedOfStream: `SELECT x.global_position::text AS global_position FROM ${parked} x
      WHERE x.consumer_id = $1 AND x.stream_id = $2 ORDER BY x.global_position`,
    unpark: `DELETE FROM ${parked} WHERE consumer_id = $1 AND global_position = $2`,
    /** $1 id, $2 position, $3 error: a retried event failed again; it heads its stream's queue. */
    failAgain: `UPDATE ${parked} SET reason = 'failed', error = $3, attempts = attempts + 1, retry_requested = false
      WHERE consumer_id = $1 AND global_position = $2`,
    endRetry: `UPDATE ${parked} SET retry_requested = false WHERE consumer_id = $1 AND stream_id = $2`,

    // Admin, by consumer ids ($1, never retired ones).
    resume: `UPDATE ${consumers} SET status = 'running', failed_position = NULL, control_seq = control_seq + 1,
        updated_at = clock_timestamp()
      WHERE id = ANY($1::bigint[]) AND retired_at IS NULL AND status IN ('failed', 'paused') RETURNING id::text AS id`,
    /** $2 position: a consumer stopped failed at exactly this event moves past it (the event is never handled). */
    skipFailed: `UPDATE ${consumers} SET status = 'running', failed_position = NULL, checkpoint = $2,
        control_seq = control_seq + 1, updated_at = clock_timestamp()
      WHERE id = ANY($1::bigint[]) AND retired_at IS NULL AND status = 'failed' AND failed_position = $2
      RETURNING id::text AS id`,
    pause: `UPDATE ${consumers} SET status = 'paused', control_seq = control_seq + 1, updated_at = clock_timestamp()
      WHERE id = ANY($1::bigint[]) AND retired_at IS NULL AND status = 'running' RETURNING id::text AS id`,
    /** $2 stream id (nullable: all streams). */
    requestRetry: `UPDATE ${parked} x SET retry_requested = true
      WHERE x.consumer_id = ANY($1::bigint[]) AND ($2::text IS NULL OR x.stream_id = $2)
      RETURNING x.global_position::text AS position`,
    bumpControl: `UPDATE ${consumers} SET control_seq = control_seq + 1 WHERE id = ANY($1::bigint[]) AND retired_at IS NULL`,
    /** $2 position: drops a parked event that failed and lets the ones behind it go. */
    skipParked: `WITH skipped AS (
        DELETE FROM ${parked} x WHERE x.consumer_id = ANY($1::bigint[]) AND x.global_position = $2 AND x.reason = 'failed'
        RETURNING x.consumer_id, x.stream_id)
      UPDATE ${parked} x SET retry_requested = true FROM skipped
      WHERE x.consumer_id = skipped.consumer_id AND x.stream_id = skipped.stream_id`,
    skippedExists: `SELECT count(*)::int AS n FROM ${parked} x
      WHERE x.consumer_id = ANY($1::bigint[]) AND x.global_position = $2 AND x.reason = 'failed'`,
    listParked: `SELECT x.consumer_id::text AS consumer_id, x.global_position::text AS global_position, x.stream_id,
        x.event_id::text AS event_id, x.event_type, x.reason, x.error, x.attempts, x.retry_requested, x.parked_at
      FROM ${parked} x WHERE x.consumer_id = ANY($1::bigint[]) ORDER BY x.consumer_id, x.global_position`,
    /** $1 name (nullable: every consumer that is not retired). */
    status: `SELECT ${statusColumns} FROM ${consumers} c CROSS JOIN (${head}) h
      WHERE c.retired_at IS NULL AND ($1::text IS NULL OR c.name = $1) ORDER BY c.name`,
  };
}

export type ConsumerSql = ReturnType<typeof consumerSql>;
