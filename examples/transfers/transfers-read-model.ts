/**
 * Read model `transfers`: one row per transfer with its status (`pending`, `completed`, `rejected`,
 * `compensated`). Inline, so the status read after `TransferMoney` includes the request.
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
  version: 1,
  mode: 'inline',
  description: 'One row per money transfer: accounts, amount, status and why it ended so.',
  handles: ['TransferRequested', 'TransferCompleted', 'TransferRejected', 'TransferCompensated'],
  async setup(ctx) {
    await ctx.sql.exec(`
      CREATE TABLE ${ctx.table('transfers')} (
        transfer_id     text PRIMARY KEY,
        from_account_id text NOT NULL,
        to_account_id   text NOT NULL,
        amount          bigint NOT NULL,
        status          text NOT NULL CHECK (status IN ('pending', 'completed', 'rejected', 'compensated')),
        reason          text,
        requested_at    timestamptz NOT NULL,
        updated_at      timestamptz NOT NULL
      );
      CREATE INDEX transfers_by_from ON ${ctx.table('transfers')} (from_account_id);
      CREATE INDEX transfers_by_to ON ${ctx.table('transfers')} (to_account_id);`);
  },
  async apply(event, ctx) {
    const table = ctx.table('transfers');
    if (event.type === 'TransferRequested') {
      const d = event.data;
      await ctx.sql.query(
        `INSERT INTO ${table} (transfer_id, from_account_id, to_account_id, amount, status, requested_at, updated_at)
         VALUES ($1, $2, $3, $4, 'pending', $5, $5)`,
        [d.transferId, d.fromAccountId, d.toAccountId, d.amount, event.recordedAt],
      );
      return;
    }
    const status = { TransferCompleted: 'completed', TransferRejected: 'rejected', TransferCompensated: 'compensated' }[event.type];
    const reason = 'reason' in event.data ? event.data.reason : null;
    await ctx.sql.query(`UPDATE ${table} SET status = $2, reason = $3, updated_at = $4 WHERE transfer_id = $1`, [
      event.data.transferId,
      status,
      reason,
      event.recordedAt,
    ]);
  },
});

interface Row {
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

export async function readTransfer(projections: Projections, sql: SqlExecutor, transferId: string): Promise<TransferView | null> {
  const table = await projections.table('transfers', 'transfers');
  const rows = await sql.query<Row>(`SELECT * FROM ${table} WHERE transfer_id = $1`, [transferId]);
  return rows[0] ? toView(rows[0]) : null;
}

/** The transfers from or to an account, newest first. */
export async function listTransfers(
  projections: Projections,
  sql: SqlExecutor,
  accountId: string,
  limit = 100,
): Promise<TransferView[]> {
  const table = await projections.table('transfers', 'transfers');
  const rows = await sql.query<Row>(
    `SELECT * FROM ${table} WHERE from_account_id = $1 OR to_account_id = $1 ORDER BY requested_at DESC, transfer_id LIMIT $2`,
    [accountId, limit],
  );
  return rows.map(toView);
}
