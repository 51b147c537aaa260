/**
 * The context a projection's `setup` and `apply` run with, and the one-time set-up of an instance
 * (its schema, its documents table, then the projection's own `setup`).
 */
import type { RecordedEvent } from '../core/events.js';
import type { SqlExecutor } from '../store/sql-client.js';
import type { ProjectionContext, ProjectionDefinition, SetupContext } from './define.js';
import { documents } from './documents.js';
import { qualifiedTable, quoted } from './naming.js';
import type { InstanceRow, ProjectionSql } from './sql.js';

type InstanceNaming = Pick<InstanceRow, 'name' | 'version' | 'build' | 'schema_name'>;

export function setupContext(tx: SqlExecutor, row: InstanceNaming): SetupContext {
  return {
    sql: tx,
    schema: quoted(row.schema_name),
    table: (name) => qualifiedTable(row.schema_name, name),
    projection: { name: row.name, version: row.version, build: row.build },
  };
}

/**
 * The contexts of one transaction: `apply` gets the one of its event's tenant, so `ctx.documents` are
 * that tenant's documents. One context per tenant, made when first needed.
 */
export function projectionContexts(tx: SqlExecutor, row: InstanceNaming): (event: RecordedEvent) => ProjectionContext {
  const setup = setupContext(tx, row);
  const byTenant = new Map<string, ProjectionContext>();
  return ({ tenantId }) => {
    let ctx = byTenant.get(tenantId);
    if (!ctx) {
      ctx = { ...setup, documents: (collection) => documents(tx, row.schema_name, tenantId, collection) };
      byTenant.set(tenantId, ctx);
    }
    return ctx;
  };
}

/**
 * Sets an instance up once, in the caller's transaction: whoever claims it first (a daemon, or the
 * first append of an inline projection) creates the schema and runs `setup`; the claim and the tables
 * commit or roll back together.
 */
export async function ensureSetUp(tx: SqlExecutor, sql: ProjectionSql, row: InstanceRow, definition: ProjectionDefinition) {
  if (row.set_up) return;
  const claimed = await tx.query(sql.claimSetup, [row.id]);
  if (claimed.length === 0) return;
  await tx.exec(sql.createInstanceSchema(row.schema_name));
  if (definition.setup) await definition.setup(setupContext(tx, row));
}
