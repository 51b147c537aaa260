/**
 * Snapshots of aggregate state (table `snapshots`, migration 2). A cache: any snapshot may be deleted;
 * loads then replay more events.
 */
import { DEFAULT_TENANT } from '../core/events.js';
import type { SqlClient, SqlExecutor } from './sql-client.js';
import { enterTenant } from './statements.js';

export interface Snapshot {
  streamId: string;
  aggregateType: string;
  schemaVersion: number;
  streamVersion: number;
  /** JSON (already transcoded). */
  state: unknown;
}

/**
 * The snapshots of one tenant (`tenantId`), in a transaction confined to it by row-level security; with
 * no tenant, the store's system view, whose streams are the `default` tenant's.
 */
export class SnapshotStore {
  private readonly tenant: string;

  constructor(
    private readonly sql: SqlClient,
    private readonly schema: string,
    private readonly tenantId: string | null = null,
  ) {
    this.tenant = tenantId ?? DEFAULT_TENANT;
  }

  private run<T>(work: (sql: SqlExecutor) => Promise<T>): Promise<T> {
    const tenant = this.tenantId;
    if (tenant === null) return work(this.sql);
    return this.sql.transaction(async (tx) => {
      await tx.query(enterTenant, [tenant]);
      return work(tx);
    });
  }

  /** The latest snapshot of `schemaVersion` at or below `maxVersion`. Older shapes are ignored. */
  async latest(streamId: string, aggregateType: string, schemaVersion: number, maxVersion?: number): Promise<Snapshot | null> {
    // ORDER BY names the table's column: the text alias would sort '9000' after '10000'.
    const rows = await this.run((sql) =>
      sql.query<{ stream_version: string; state: unknown }>(
        `SELECT stream_version::text AS stream_version, state FROM "${this.schema}".snapshots
          WHERE stream_id = $1 AND aggregate_type = $2 AND schema_version = $3 AND ($4::bigint IS NULL OR stream_version <= $4)
            AND tenant_id = $5
          ORDER BY snapshots.stream_version DESC LIMIT 1`,
        [streamId, aggregateType, schemaVersion, maxVersion ?? null, this.tenant],
      ),
    );
    const row = rows[0];
    return row ? { streamId, aggregateType, schemaVersion, streamVersion: Number(row.stream_version), state: row.state } : null;
  }

  /** Saves a snapshot and keeps only the latest few per stream and type. */
  async save(snapshot: Snapshot, keep = 3): Promise<void> {
    await this.run(async (sql) => {
      await sql.query(
        `INSERT INTO "${this.schema}".snapshots (stream_id, aggregate_type, schema_version, stream_version, state, tenant_id)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6)
         ON CONFLICT (stream_id, aggregate_type, stream_version, tenant_id)
           DO UPDATE SET schema_version = excluded.schema_version, state = excluded.state, created_at = now()`,
        [
          snapshot.streamId,
          snapshot.aggregateType,
          snapshot.schemaVersion,
          snapshot.streamVersion,
          JSON.stringify(snapshot.state),
          this.tenant,
        ],
      );
      await sql.query(
        `DELETE FROM "${this.schema}".snapshots WHERE stream_id = $1 AND aggregate_type = $2 AND tenant_id = $4 AND stream_version < (
           SELECT min(stream_version) FROM (SELECT stream_version FROM "${this.schema}".snapshots
             WHERE stream_id = $1 AND aggregate_type = $2 AND tenant_id = $4 ORDER BY stream_version DESC LIMIT $3) kept)`,
        [snapshot.streamId, snapshot.aggregateType, keep, this.tenant],
      );
    });
  }
}
