/**
 * Every SQL statement of the read side, for one store schema: instances, leases, checkpoints, parked
 * events, status and the documents helper. Identifiers interpolated here are validated schema names;
 * everything else is a parameter. Bigints are selected as text (see src/store/sql-client.ts).
 */
import { quoted } from './naming.js';

/** One projection instance (one build of one version), as read from `projections`. */
export interface InstanceRow {
  id: string;
  name: string;
  version: number;
  build: number;
  mode: 'inline' | 'async';
  handles: string[];
  schema_name: string;
  phase: 'building' | 'active' | 'retired';
  status: 'running' | 'failed' | 'paused';
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
  set_up: boolean;
  created_at: Date;
  activated_at: Date | null;
}

/** A runner's view before each step: where it is, where the log is, and whether it still holds the lease. */
export interface RunnerStateRow {
  checkpoint: string;
  status: 'running' | 'failed' | 'paused';
  phase: 'building' | 'active' | 'retired';
  mine: boolean;
  control_seq: string;
  head: string;
}

export interface StatusRow extends InstanceRow {
  head: string;
  oldest_pending_at: Date | null;
  parked: number;
  now: Date;
}

export interface ParkedRow {
  name: string;
  version: number;
  build: number;
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

const INSTANCE_COLUMNS = `p.id::text AS id, p.name, p.version, p.build, p.mode, p.handles, p.schema_name, p.phase, p.status,
  p.checkpoint::text AS checkpoint, p.lease_owner, p.lease_expires_at,
  (p.lease_owner IS NOT NULL AND p.lease_expires_at > clock_timestamp()) AS leased,
  p.failed_position::text AS failed_position, p.last_error, p.last_error_position::text AS last_error_position,
  p.last_error_at, p.events_per_s, p.control_seq::text AS control_seq, p.set_up_at IS NOT NULL AS set_up,
  p.created_at, p.activated_at`;

export function projectionSql(schema: string) {
  const s = quoted(schema);
  const projections = `${s}.projections`;
  const parked = `${s}.projection_parked_events`;
  const lease = `p.lease_owner = $2 AND p.lease_expires_at > clock_timestamp()`;
  // The last committed position (positions are dense and committed in order: docs/global-order.md).
  const head = `SELECT coalesce(max(global_position), 0) AS last_position FROM ${s}.events`;
  return {
    /** Channel on which admin calls (resume, retry, rebuild) wake the daemons. */
    controlChannel: `${schema}_projections`,
    notify: `SELECT pg_notify($1, $2)`,
    /** Serialises registration of one projection name across processes (transaction-scoped). */
    lockName: `SELECT pg_advisory_xact_lock(hashtext($1))`,

    instancesOf: `SELECT ${INSTANCE_COLUMNS} FROM ${projections} p WHERE p.name = $1 ORDER BY p.version, p.build`,
    instance: `SELECT ${INSTANCE_COLUMNS} FROM ${projections} p WHERE p.id = $1`,
    /** $1 name, $2 version, $3 build, $4 mode, $5 handles, $6 schema name, $7 phase. */
    insertInstance: `INSERT INTO ${projections} AS p (name, version, build, mode, handles, schema_name, phase, activated_at)
      VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, CASE WHEN $7 = 'active' THEN clock_timestamp() END)
      RETURNING ${INSTANCE_COLUMNS}`,
    /** Claims the one-time set-up of an instance; no row when it is done already. */
    claimSetup: `UPDATE ${projections} SET set_up_at = clock_timestamp() WHERE id = $1 AND set_up_at IS NULL RETURNING id`,
    createInstanceSchema: (schemaName: string) => `CREATE SCHEMA IF NOT EXISTS ${quoted(schemaName)};
      CREATE TABLE IF NOT EXISTS ${quoted(schemaName)}.documents (
        collection text NOT NULL,
        id         text NOT NULL,
        data       jsonb NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (collection, id)
      );`,
    dropInstanceSchema: (schemaName: string) => `DROP SCHEMA IF EXISTS ${quoted(schemaName)} CASCADE`,

    // Leases: $1 instance id, $2 owner, $3 time to live (ms). The database's clock decides expiry.
    /** Takes the lease if it is free, expired or ours; never waits for a row another daemon has locked. */
    acquire: `UPDATE ${projections} p SET lease_owner = $2, lease_expires_at = clock_timestamp() + $3 * interval '1 millisecond'
      WHERE p.id = (SELECT id FROM ${projections} WHERE id = $1 AND phase <> 'retired'
                      AND (lease_owner IS NULL OR lease_owner = $2 OR lease_expires_at <= clock_timestamp())
                    FOR UPDATE SKIP LOCKED)
      RETURNING ${INSTANCE_COLUMNS}`,
    /** Renews a lease still ours (even if it lapsed while no one took it); $4 the current rate. */
    renew: `UPDATE ${projections} p SET lease_expires_at = clock_timestamp() + $3 * interval '1 millisecond', events_per_s = $4
      WHERE p.id = $1 AND p.lease_owner = $2 RETURNING p.id`,
    release: `UPDATE ${projections} SET lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND lease_owner = $2`,
    runnerState: `SELECT p.checkpoint::text AS checkpoint, p.status, p.phase, (${lease}) AS mine,
        p.control_seq::text AS control_seq, h.last_position::text AS head
      FROM ${projections} p CROSS JOIN (${head}) h WHERE p.id = $1`,

    // Batches. The checkpoint moves first in each batch transaction: that locks the instance row (one
    // writer at a time), fences it with the lease, and checks nobody moved it since we read it.
    /** $1 id, $2 owner, $3 expected checkpoint, $4 new checkpoint. */
    advance: `UPDATE ${projections} p SET checkpoint = $4, updated_at = clock_timestamp()
      WHERE p.id = $1 AND ${lease} AND p.checkpoint = $3 AND p.status = 'running' AND p.phase <> 'retired'
      RETURNING p.id`,
    /** Locks the instance row for work that does not move the checkpoint (parked retries). */
    fence: `UPDATE ${projections} p SET updated_at = clock_timestamp() WHERE p.id = $1 AND ${lease} AND p.phase <> 'retired' RETURNING p.checkpoint::text AS checkpoint`,
    /**
     * Holds appends back while an inline projection closes its last gap: the store's append lock (see
     * src/store/sql/functions/hold_appends.sql), taken shared; appends take it exclusively.
     * Then the head, read after the lock, is final until commit.
     */
    holdAppends: `SELECT ${s}.hold_appends()`,
    head: `SELECT last_position::text AS position FROM (${head}) h`,
    idleTimeout: `SELECT set_config('idle_in_transaction_session_timeout', $1, true)`,
    lockTimeout: `SELECT set_config('lock_timeout', $1, true)`,
    /** $1 name, $2 version, $3 build: retires every older instance of the name. */
    retireOlder: `UPDATE ${projections} SET phase = 'retired', retired_at = clock_timestamp(), updated_at = clock_timestamp()
      WHERE name = $1 AND phase <> 'retired' AND (version, build) < ($2::int, $3::int) RETURNING id::text AS id`,
    activate: `UPDATE ${projections} SET phase = 'active', activated_at = clock_timestamp(), updated_at = clock_timestamp() WHERE id = $1`,
    /** $1 id, $2 owner, $3 position, $4 error. */
    fail: `UPDATE ${projections} p SET status = 'failed', failed_position = $3, last_error = $4, last_error_position = $3,
        last_error_at = clock_timestamp(), updated_at = clock_timestamp()
      WHERE p.id = $1 AND ${lease} AND p.phase <> 'retired' RETURNING p.id`,
    /** $1 id, $2 error, $3 position (nullable). */
    recordError: `UPDATE ${projections} SET last_error = $2, last_error_position = $3, last_error_at = clock_timestamp() WHERE id = $1`,
    /** $1 name, $2 delay (ms). */
    retiredToDrop: `SELECT id::text AS id, schema_name FROM ${projections}
      WHERE name = $1 AND phase = 'retired' AND dropped_at IS NULL AND retired_at <= clock_timestamp() - $2 * interval '1 millisecond'`,
    markDropped: `UPDATE ${projections} SET dropped_at = clock_timestamp() WHERE id = $1`,
    deleteParkedOf: `DELETE FROM ${parked} WHERE projection_id = $1`,

    // Inline: $1 names, $2 versions, $3 position before the append's first event, $4 its last event.
    inlineAdvance: `UPDATE ${projections} p SET checkpoint = $4, updated_at = clock_timestamp()
      FROM unnest($1::text[], $2::int[]) AS d(name, version)
      WHERE p.name = d.name AND p.version = d.version AND p.phase <> 'retired' AND p.status = 'running' AND p.checkpoint = $3
      RETURNING ${INSTANCE_COLUMNS}, EXISTS (SELECT 1 FROM ${parked} x WHERE x.projection_id = p.id) AS has_parked`,
    /** Which of $1 names / $2 versions have an instance at all. */
    existingVersions: `SELECT DISTINCT p.name, p.version FROM ${projections} p
      JOIN unnest($1::text[], $2::int[]) AS d(name, version) ON p.name = d.name AND p.version = d.version`,

    // Parked events.
    parkedStreams: `SELECT DISTINCT stream_id FROM ${parked} WHERE projection_id = $1`,
    parkedStreamsAmong: `SELECT DISTINCT stream_id FROM ${parked} WHERE projection_id = $1 AND stream_id = ANY($2::text[])`,
    /** $1 id, $2 position, $3 stream, $4 event id, $5 type, $6 reason, $7 error, $8 attempts. */
    park: `INSERT INTO ${parked} (projection_id, global_position, stream_id, event_id, event_type, reason, error, attempts)
      VALUES ($1, $2, $3, $4::uuid, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
    /** $1 id, $2 JSON array of {position, streamId, id, type}: parked behind an earlier event of their stream. */
    parkBehind: `INSERT INTO ${parked} (projection_id, global_position, stream_id, event_id, event_type, reason)
      SELECT $1, (e->>'position')::bigint, e->>'streamId', (e->>'id')::uuid, e->>'type', 'behind'
      FROM jsonb_array_elements($2::jsonb) AS e ON CONFLICT DO NOTHING`,
    streamsToRetry: `SELECT DISTINCT stream_id FROM ${parked} WHERE projection_id = $1 AND retry_requested`,
    parkedOfStream: `SELECT x.global_position::text AS global_position FROM ${parked} x
      WHERE x.projection_id = $1 AND x.stream_id = $2 ORDER BY x.global_position`,
    unpark: `DELETE FROM ${parked} WHERE projection_id = $1 AND global_position = $2`,
    /** $1 id, $2 position, $3 error: a retried event failed again; it heads its stream's queue. */
    failAgain: `UPDATE ${parked} SET reason = 'failed', error = $3, attempts = attempts + 1, retry_requested = false
      WHERE projection_id = $1 AND global_position = $2`,
    endRetry: `UPDATE ${parked} SET retry_requested = false WHERE projection_id = $1 AND stream_id = $2`,

    // Admin, by projection name ($1).
    resume: `UPDATE ${projections} SET status = 'running', failed_position = NULL, control_seq = control_seq + 1,
        updated_at = clock_timestamp()
      WHERE name = $1 AND phase <> 'retired' AND status IN ('failed', 'paused') RETURNING id::text AS id`,
    pause: `UPDATE ${projections} SET status = 'paused', control_seq = control_seq + 1, updated_at = clock_timestamp()
      WHERE name = $1 AND phase <> 'retired' AND status = 'running' RETURNING id::text AS id`,
    /** $2 stream id (nullable: all streams). */
    requestRetry: `UPDATE ${parked} x SET retry_requested = true FROM ${projections} p
      WHERE x.projection_id = p.id AND p.name = $1 AND p.phase <> 'retired' AND ($2::text IS NULL OR x.stream_id = $2)
      RETURNING x.global_position::text AS position`,
    bumpControl: `UPDATE ${projections} SET control_seq = control_seq + 1 WHERE name = $1 AND phase <> 'retired'`,
    /** $2 position: drops a parked event that failed and lets the ones behind it go. */
    skipParked: `WITH skipped AS (
        DELETE FROM ${parked} x USING ${projections} p
        WHERE x.projection_id = p.id AND p.name = $1 AND p.phase <> 'retired' AND x.global_position = $2 AND x.reason = 'failed'
        RETURNING x.projection_id, x.stream_id)
      UPDATE ${parked} x SET retry_requested = true FROM skipped
      WHERE x.projection_id = skipped.projection_id AND x.stream_id = skipped.stream_id`,
    skippedExists: `SELECT count(*)::int AS n FROM ${parked} x JOIN ${projections} p ON p.id = x.projection_id
      WHERE p.name = $1 AND p.phase <> 'retired' AND x.global_position = $2 AND x.reason = 'failed'`,
    listParked: `SELECT p.name, p.version, p.build, x.global_position::text AS global_position, x.stream_id,
        x.event_id::text AS event_id, x.event_type, x.reason, x.error, x.attempts, x.retry_requested, x.parked_at
      FROM ${parked} x JOIN ${projections} p ON p.id = x.projection_id
      WHERE p.name = $1 AND p.phase <> 'retired' ORDER BY p.version, p.build, x.global_position`,
    activeOf: `SELECT ${INSTANCE_COLUMNS} FROM ${projections} p WHERE p.name = $1 AND p.phase = 'active'`,
    anyOf: `SELECT count(*)::int AS n FROM ${projections} WHERE name = $1`,
    remove: `DELETE FROM ${projections} WHERE name = $1 RETURNING schema_name`,
    status: `SELECT ${INSTANCE_COLUMNS}, h.last_position::text AS head,
        (SELECT e.recorded_at FROM ${s}.events e WHERE e.global_position = p.checkpoint + 1) AS oldest_pending_at,
        (SELECT count(*) FROM ${parked} x WHERE x.projection_id = p.id)::int AS parked,
        clock_timestamp() AS now
      FROM ${projections} p CROSS JOIN (${head}) h
      WHERE p.phase <> 'retired' ORDER BY p.name, p.version, p.build`,
  };
}

export type ProjectionSql = ReturnType<typeof projectionSql>;

/** The documents helper's statements, for one instance schema. */
export function documentSql(schemaName: string) {
  const table = `${quoted(schemaName)}.documents`;
  return {
    get: `SELECT data FROM ${table} WHERE collection = $1 AND id = $2`,
    upsert: `INSERT INTO ${table} (collection, id, data) VALUES ($1, $2, $3::jsonb)
      ON CONFLICT (collection, id) DO UPDATE SET data = excluded.data, updated_at = clock_timestamp()`,
    delete: `DELETE FROM ${table} WHERE collection = $1 AND id = $2 RETURNING id`,
    /** $2 after id (nullable), $3 limit. */
    list: `SELECT id, data FROM ${table} WHERE collection = $1 AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3`,
  };
}
