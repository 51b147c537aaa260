/**
 * Read model `transfers`: one row per transfer with its status (`pending`, `completed`, `rejected`,
 * `compensated`). Inline, so the status read after `TransferMoney` includes the request.
 *
 * Tenant-scoped (docs/tenancy.md): rows are keyed by (tenant_id, transfer_id) and written in the event's
 * tenant (a transfer saga runs in the tenant that requested it); every read takes the tenant it reads
 * for. Version 2: version 1 was keyed by transfer id alone.
 */
import { defineProjection, type Projections, type SqlExecutor } from '../../src/index.js';

type TransferEventData = {
  TransferRequested: { transferId: string; fromAccountId: string; toAccountId: string; amount: number };
  TransferCompleted: { transferId: string };
  TransferRejected: { transferId: string; reason: string };
  TransferCompensated: { transferId: string; reason: string };
};

export type TransferStatus = 'pending' | 'completed' | 'rejected' | 'compensated';

export interface TransferView {
  transferId: string;
  fromAccountId: string;
  toAccountId: string;
  amount: number;
  status: TransferStatus;
  reason: string | null;
  requestedAt: Date;
  updatedAt: Date;
}

export const transfers = defineProjection<TransferEventData>({
  name: 'transfers',
  version: 2,
  mode: 'inline',
  description: 'One row per money transfer: accounts, amount, status and why it ended so.',
  handles: ['TransferRequested', 'TransferCompleted', 'TransferRejected', 'TransferCompensated'],
  async setup(ctx) {
    await ctx.sql.exec(`
      CREATE TABLE ${ctx.table('transfers')} (
        tenant_id       text NOT NULL,
        transfer_id     text NOT NULL,
        from_account_id text NOT NULL,
        to_account_id   text NOT NULL,
        amount          bigint NOT NULL,
        status          text NOT NULL CHECK (status IN ('pending', 'completed', 'rejected', 'compensated')),
        reason          text,
        requested_at    timestamptz NOT NULL,
        updated_at      timestamptz NOT NULL,
        PRIMARY KEY (tenant_id, transfer_id)
      );
      CREATE INDEX transfers_by_from ON ${ctx.table('transfers')} (tenant_id, from_account_id);
      CREATE INDEX transfers_by_to ON ${ctx.table('transfers')} (tenant_id, to_account_id);`);
  },
  async apply(event, ctx) {
    const table = ctx.table('transfers');
    if (event.type === 'TransferRequested') {
      const d = event.data;
      await ctx.sql.query(
        `INSERT INTO ${table} (tenant_id, transfer_id, from_account_id, to_account_id, amount, status, requested_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)`,
        [event.tenantId, d.transferId, d.fromAccountId, d.toAccountId, d.amount, event.recordedAt],
      );
      return;
    }
    const status = { TransferCompleted: 'completed', TransferRejected: 'rejected', TransferCompensated: 'compensated' }[
      event.type
    ];
    const reason = 'reason' in event.data ? event.data.reason : null;
    await ctx.sql.query(
      `UPDATE ${table} SET status = $3, reason = $4, updated_at = $5 WHERE tenant_id = $1 AND transfer_id = $2`,
      [event.tenantId, event.data.transferId, status, reason, event.recordedAt],
    );
  },
});

interface Row {
  tenant_id: string;
  transfer_id: string;
  from_account_id: string;
  to_account_id: string;
  amount: string | number;
  status: TransferStatus;
  reason: string | null;
  requested_at: Date;
  updated_at: Date;
}

const toView = (r: Row): TransferView => ({
  transferId: r.transfer_id,
  fromAccountId: r.from_account_id,
  toAccountId: r.to_account_id,
  amount: Number(r.amount),
  status: r.status,
  reason: r.reason,
  requestedAt: new Date(r.requested_at),
  updatedAt: new Date(r.updated_at),
});

/** One transfer of `tenantId`, or null (also when only another tenant has the id). */
export async function readTransfer(
  projections: Projections,
  sql: SqlExecutor,
  tenantId: string,
  transferId: string,
): Promise<TransferView | null> {
  const table = await projections.table('transfers', 'transfers');
  const rows = await sql.query<Row>(`SELECT * FROM ${table} WHERE tenant_id = $1 AND transfer_id = $2`, [tenantId, transferId]);
  return rows[0] ? toView(rows[0]) : null;
}

/** The transfers from or to an account of `tenantId`, newest first. */
export async function listTransfers(
  projections: Projections,
  sql: SqlExecutor,
  tenantId: string,
  accountId: string,
  limit = 100,
): Promise<TransferView[]> {
  const table = await projections.table('transfers', 'transfers');
  const rows = await sql.query<Row>(
    `SELECT * FROM ${table} WHERE tenant_id = $1 AND (from_account_id = $2 OR to_account_id = $2)
     ORDER BY requested_at DESC, transfer_id LIMIT $3`,
    [tenantId, accountId, limit],
  );
  return rows.map(toView);
}
