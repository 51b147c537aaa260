/**
 * The store's SQL for reads and the calls into the append/delete functions, for one schema.
 * Writes happen in the PL/pgSQL functions of sql/functions/; everything here only reads.
 */
import type { EventMetadata, RecordedEvent, StreamInfo } from '../core/events.js';

// Positions and versions are selected as text (see sql-client.ts), under their own names; ORDER BY
// must name the table's columns (e.*), or PostgreSQL would sort by the text output columns.
const EVENT_COLUMNS = `event_id::text AS id, event_type AS type, data, metadata, schema_version,
  stream_id, stream_version::text AS stream_version, global_position::text AS global_position, recorded_at, tenant_id`;
const STREAM_COLUMNS = `stream_id, stream_type, version::text AS version, created_at, updated_at, deleted_at, metadata, tenant_id`;

/**
 * Starts a tenant's transaction (docs/tenancy.md): from here on, row-level security shows and accepts
 * only the rows of tenant $1, whatever the statements that follow ask for.
 */
export const TENANT_ROLE = 'fabula_tenant';
export const enterTenant = `SELECT set_config('role', '${TENANT_ROLE}', true), set_config('fabula.tenant', $1, true)`;
/** Back to the connection's own role and no tenant, within the same transaction (inline handlers). */
export const leaveTenant = `SELECT set_config('role', 'none', true), set_config('fabula.tenant', '', true)`;

export interface EventRow {
  id: string;
  type: string;
  data: unknown;
  metadata: EventMetadata;
  schema_version: number;
  stream_id: string;
  stream_version: string;
  global_position: string;
  recorded_at: Date;
  tenant_id: string;
}

export interface StreamRow {
  stream_id: string;
  stream_type: string;
  version: string;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
  metadata: Record<string, unknown>;
  tenant_id: string;
}

export function toRecordedEvent(row: EventRow): RecordedEvent {
  return {
    id: row.id,
    type: row.type,
    data: row.data,
    metadata: row.metadata,
    schemaVersion: Number(row.schema_version),
    streamId: row.stream_id,
    streamVersion: Number(row.stream_version),
    globalPosition: BigInt(row.global_position),
    recordedAt: row.recorded_at,
    tenantId: row.tenant_id,
  };
}

export function toStreamInfo(row: StreamRow): StreamInfo {
  return {
    streamId: row.stream_id,
    streamType: row.stream_type,
    version: Number(row.version),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deleted: row.deleted_at !== null,
    deletedAt: row.deleted_at,
    metadata: row.metadata,
    tenantId: row.tenant_id,
  };
}

export function statements(schema: string) {
  const s = `"${schema}"`;
  return {
    appendBatch: `SELECT ${s}.append_batch($1::jsonb) AS results`,
    /**
     * The same in tenant $2's transaction, in one statement: append_batch's statements are planned when
     * they run, after the subquery has switched role and tenant (row-level security applies to them).
     */
    appendBatchAsTenant: `SELECT ${s}.append_batch($1::jsonb) AS results
      FROM (SELECT set_config('role', '${TENANT_ROLE}', true), set_config('fabula.tenant', $2, true) OFFSET 0) tenant`,
    deleteStream: `SELECT ${s}.delete_stream($1, $2, $3::jsonb) AS result`,
    headPosition: `SELECT ${s}.head_position()::text AS position`,
    notificationChannel: `${schema}_appended`,

    /** $1 stream, $2 lowest version, $3 highest version, $4 recorded at or before (nullable), $5 limit (nullable), $6 tenant. */
    readStream: (direction: 'ASC' | 'DESC') => `SELECT ${EVENT_COLUMNS} FROM ${s}.events e
      WHERE e.stream_id = $1 AND e.stream_version BETWEEN $2 AND $3 AND e.tenant_id = $6
        AND ($4::timestamptz IS NULL OR recorded_at <= $4)
      ORDER BY e.stream_version ${direction} LIMIT $5`,

    /** The same for a tenant's view, in one statement: $1 tenant, $2..$6 as above, $7 descending. */
    readStreamInTenant: `SELECT ${EVENT_COLUMNS} FROM ${s}.read_stream_in_tenant($1, $2, $3, $4, $5, $6, $7) e`,

    /** $1 after position, $2 limit (nullable), then the filters that are present, the tenant last. */
    readAll: (filters: { eventTypes: boolean; streamTypes: boolean; tenant: boolean }) => {
      const where = ['e.global_position > $1'];
      let n = 3;
      if (filters.eventTypes) where.push(`event_type = ANY($${n++}::text[])`);
      if (filters.streamTypes) where.push(`stream_type = ANY($${n++}::text[])`);
      if (filters.tenant) where.push(`e.tenant_id = $${n++}`);
      return `SELECT ${EVENT_COLUMNS} FROM ${s}.events e WHERE ${where.join(' AND ')} ORDER BY e.global_position LIMIT $2`;
    },

    /** $1 event id, $2 tenant (null: any). */
    readEvent: `SELECT ${EVENT_COLUMNS} FROM ${s}.events e WHERE e.event_id = $1::uuid AND ($2::text IS NULL OR e.tenant_id = $2)`,

    /** $1 stream, $2 tenant. */
    streamInfo: `SELECT ${STREAM_COLUMNS} FROM ${s}.streams WHERE stream_id = $1 AND tenant_id = $2`,

    /** $1 type (nullable), $2 after stream id (nullable), $3 limit, $4 include deleted, $5 tenant. */
    listStreams: `SELECT ${STREAM_COLUMNS}
      FROM ${s}.streams
      WHERE ($1::text IS NULL OR stream_type = $1) AND ($2::text IS NULL OR stream_id > $2)
        AND ($4 OR deleted_at IS NULL) AND tenant_id = $5
      ORDER BY stream_id LIMIT $3`,
  };
}

export type Statements = ReturnType<typeof statements>;
