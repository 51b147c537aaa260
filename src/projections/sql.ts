/**
 * The read side's own SQL statements, for one store schema: instances (joined to the consumers that
 * hold their checkpoints, leases and parked events: src/processing/sql.ts), inline appends, status and
 * the documents helper. Identifiers interpolated here are validated schema names;
 * everything else is a parameter. Bigints are selected as text (see src/store/sql-client.ts).
 */
import { CONSUMER_COLUMNS, consumerSql, type ConsumerRow, type ConsumerStatusRow, type ParkedRow } from '../processing/sql.js';
import { quoted } from './naming.js';

/** One projection instance (one build of one version), as read from `projections` and its consumer. */
export interface InstanceRow extends ConsumerRow {
  id: string;
  name: string;
  version: number;
  build: number;
  mode: 'inline' | 'async';
  handles: string[];
  schema_name: string;
  phase: 'building' | 'active' | 'retired';
  set_up: boolean;
  activated_at: Date | null;
}

export interface StatusRow extends InstanceRow, ConsumerStatusRow {}

export interface ParkedInstanceRow extends ParkedRow {
  name: string;
  version: number;
  build: number;
}

const INSTANCE_COLUMNS = `p.id::text AS id, p.name, p.version, p.build, p.mode, p.handles, p.schema_name, p.phase,
  p.set_up_at IS NOT NULL AS set_up, p.activated_at, ${CONSUMER_COLUMNS}`;

/** The consumer that holds an instance's checkpoint, lease and parked events. */
export function consumerName(name: string, version: number, build: number): string {
  return `projection:${name}:v${version}:b${build}`;
}

export function projectionSql(schema: string) {
  const s = quoted(schema);
  const projections = `${s}.projections`;
  const consumers = `${s}.consumers`;
  const parked = `${s}.consumer_parked_events`;
  const joined = `${projections} p JOIN ${consumers} c ON c.id = p.consumer_id`;
  const generic = consumerSql(schema);
  return {
    /** Serialises registration of one projection name across processes (transaction-scoped). */
    lockName: `SELECT pg_advisory_xact_lock(hashtext($1))`,

    instancesOf: `SELECT ${INSTANCE_COLUMNS} FROM ${joined} WHERE p.name = $1 ORDER BY p.version, p.build`,
    instance: `SELECT ${INSTANCE_COLUMNS} FROM ${joined} WHERE p.id = $1`,
    /** $1 name, $2 version, $3 build, $4 mode, $5 handles, $6 schema name, $7 phase, $8 consumer name. */
    insertInstance: `WITH c AS (INSERT INTO ${consumers} (name) VALUES ($8) RETURNING id)
      INSERT INTO ${projections} (name, version, build, mode, handles, schema_name, phase, activated_at, consumer_id)
      SELECT $1, $2, $3, $4, $5::jsonb, $6, $7, CASE WHEN $7 = 'active' THEN clock_timestamp() END, c.id FROM c
      RETURNING id::text AS id`,
    /** Claims the one-time set-up of an instance; no row when it is done already. */
    claimSetup: `UPDATE ${projections} SET set_up_at = clock_timestamp() WHERE id = $1 AND set_up_at IS NULL RETURNING id`,
    createInstanceSchema: (schemaName: string) => `CREATE SCHEMA IF NOT EXISTS ${quoted(schemaName)};
      CREATE TABLE IF NOT EXISTS ${quoted(schemaName)}.documents (
        tenant_id  text NOT NULL,
        collection text NOT NULL,
        id         text NOT NULL,
        data       jsonb NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (tenant_id, collection, id)
      );`,
    dropInstanceSchema: (schemaName: string) => `DROP SCHEMA IF EXISTS ${quoted(schemaName)} CASCADE`,
    phaseOf: `SELECT phase FROM ${projections} WHERE id = $1`,

    /** $1 name, $2 version, $3 build: retires every older instance of the name, and its consumer. */
    retireOlder: `WITH retired AS (
        UPDATE ${projections} SET phase = 'retired', retired_at = clock_timestamp(), updated_at = clock_timestamp()
        WHERE name = $1 AND phase <> 'retired' AND (version, build) < ($2::int, $3::int) RETURNING consumer_id)
      UPDATE ${consumers} SET retired_at = clock_timestamp(), updated_at = clock_timestamp()
      WHERE id IN (SELECT consumer_id FROM retired)`,
    activate: `UPDATE ${projections} SET phase = 'active', activated_at = clock_timestamp(), updated_at = clock_timestamp() WHERE id = $1`,
    /** $1 name, $2 delay (ms). */
    retiredToDrop: `SELECT id::text AS id, consumer_id::text AS consumer_id, schema_name FROM ${projections}
      WHERE name = $1 AND phase = 'retired' AND dropped_at IS NULL AND retired_at <= clock_timestamp() - $2 * interval '1 millisecond'`,
    markDropped: `UPDATE ${projections} SET dropped_at = clock_timestamp() WHERE id = $1`,

    // Inline: $1 names, $2 versions, $3 position before the append's first event, $4 its last event.
    inlineAdvance: `UPDATE ${consumers} c SET checkpoint = $4, updated_at = clock_timestamp()
      FROM ${projections} p, unnest($1::text[], $2::int[]) AS d(name, version)
      WHERE p.consumer_id = c.id AND p.name = d.name AND p.version = d.version AND p.phase <> 'retired'
        AND c.status = 'running' AND c.checkpoint = $3
      RETURNING ${INSTANCE_COLUMNS}, EXISTS (SELECT 1 FROM ${parked} x WHERE x.consumer_id = c.id) AS has_parked`,
    /** Which of $1 names / $2 versions have an instance at all. */
    existingVersions: `SELECT DISTINCT p.name, p.version FROM ${projections} p
      JOIN unnest($1::text[], $2::int[]) AS d(name, version) ON p.name = d.name AND p.version = d.version`,

    // By projection name ($1).
    /** The consumers of the instances that are not retired: what admin calls act on. */
    liveConsumers: `SELECT consumer_id::text AS id FROM ${projections} WHERE name = $1 AND phase <> 'retired' ORDER BY version, build`,
    listParked: `SELECT p.name, p.version, p.build, x.consumer_id::text AS consumer_id, x.global_position::text AS global_position,
        x.stream_id, x.event_id::text AS event_id, x.event_type, x.reason, x.error, x.attempts, x.retry_requested, x.parked_at
      FROM ${parked} x JOIN ${projections} p ON p.consumer_id = x.consumer_id
      WHERE p.name = $1 AND p.phase <> 'retired' ORDER BY p.version, p.build, x.global_position`,
    activeOf: `SELECT ${INSTANCE_COLUMNS} FROM ${joined} WHERE p.name = $1 AND p.phase = 'active'`,
    anyOf: `SELECT count(*)::int AS n FROM ${projections} WHERE name = $1`,
    /** Deleting the consumers deletes their instances and parked events (ON DELETE CASCADE). */
    remove: `DELETE FROM ${consumers} c USING ${projections} p WHERE p.consumer_id = c.id AND p.name = $1 RETURNING p.schema_name`,
    status: `SELECT ${INSTANCE_COLUMNS.replace(CONSUMER_COLUMNS, generic.statusColumns)}
      FROM ${joined} CROSS JOIN (${generic.headSql}) h
      WHERE p.phase <> 'retired' ORDER BY p.name, p.version, p.build`,
  };
}

export type ProjectionSql = ReturnType<typeof projectionSql>;

/** The documents helper's statements, for one instance schema: $1 is always the tenant, $2 the collection. */
export function documentSql(schemaName: string) {
  const table = `${quoted(schemaName)}.documents`;
  return {
    get: `SELECT data FROM ${table} WHERE tenant_id = $1 AND collection = $2 AND id = $3`,
    upsert: `INSERT INTO ${table} (tenant_id, collection, id, data) VALUES ($1, $2, $3, $4::jsonb)
      ON CONFLICT (tenant_id, collection, id) DO UPDATE SET data = excluded.data, updated_at = clock_timestamp()`,
    delete: `DELETE FROM ${table} WHERE tenant_id = $1 AND collection = $2 AND id = $3 RETURNING id`,
    /** $3 after id (nullable), $4 limit. */
    list: `SELECT id, data FROM ${table} WHERE tenant_id = $1 AND collection = $2 AND ($3::text IS NULL OR id > $3)
      ORDER BY id LIMIT $4`,
  };
}
