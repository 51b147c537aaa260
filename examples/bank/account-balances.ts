/**
 * Read model `account-balances`: one row per account (owner, currency, balance, status, version, last
 * update). Inline: it commits in the same transaction as the bank's appends, so a balance read after an
 * append always includes it. Give the store its handler:
 *
 *   const projections = createProjections([accountBalances]);
 *   const store = await openEventStore({ inlineHandlers: [projections.inlineHandler] });
 *   await projections.start(store);
 *   const balance = await readAccountBalance(projections, store.sql, DEFAULT_TENANT, 'acc-1');
 *
 * Tenant-scoped (docs/tenancy.md): rows are keyed by (tenant_id, account_id), written in the event's
 * tenant, and every read takes the tenant it reads for, so two tenants' `acc-1` are two accounts and a
 * tenant never reads another's. Version 2: version 1 was keyed by account id alone.
 */
import { defineProjection, EventRegistry, type Projections, type SqlExecutor } from '../../src/index.js';
import { registerBankEvents } from './events.js';

/** The bank's event contract (data shapes of examples/bank/events.ts). */
type BankEventData = {
  AccountOpened: { accountId: string; owner: string; currency: string; overdraftLimit: number };
  MoneyDeposited: { accountId: string; amount: number };
  MoneyWithdrawn: { accountId: string; amount: number };
  AccountFrozen: { accountId: string; reason?: string };
  AccountUnfrozen: { accountId: string };
  AccountClosed: { accountId: string };
};

export type AccountStatus = 'open' | 'frozen' | 'closed';

export interface AccountBalance {
  accountId: string;
  owner: string;
  currency: string;
  /** Minor units (cents); negative within the overdraft limit. */
  balance: number;
  overdraftLimit: number;
  status: AccountStatus;
  /** The account stream's version this row reflects. */
  version: number;
  updatedAt: Date;
}

export const accountBalances = defineProjection<BankEventData>({
  name: 'account-balances',
  version: 2,
  mode: 'inline',
  description: 'One row per bank account: owner, currency, balance, status; consistent with every append.',
  // AccountOpened is at version 2: the bank's registry upcasts version-1 events for `apply`.
  registry: registerBankEvents(new EventRegistry()),
  handles: ['AccountOpened', 'MoneyDeposited', 'MoneyWithdrawn', 'AccountFrozen', 'AccountUnfrozen', 'AccountClosed'],
  async setup(ctx) {
    await ctx.sql.exec(`
      CREATE TABLE ${ctx.table('accounts')} (
        tenant_id       text NOT NULL,
        account_id      text NOT NULL,
        owner           text NOT NULL,
        currency        text NOT NULL,
        balance         bigint NOT NULL,
        overdraft_limit bigint NOT NULL,
        status          text NOT NULL CHECK (status IN ('open', 'frozen', 'closed')),
        version         int NOT NULL,
        updated_at      timestamptz NOT NULL,
        PRIMARY KEY (tenant_id, account_id)
      );
      CREATE INDEX accounts_by_owner ON ${ctx.table('accounts')} (tenant_id, owner, account_id);`);
  },
  async apply(event, ctx) {
    const accounts = ctx.table('accounts');
    // Every statement is keyed by the event's tenant: its own account, never another tenant's same id.
    const at = [event.tenantId, event.data.accountId, event.streamVersion, event.recordedAt] as const;
    let updated: unknown[];
    switch (event.type) {
      case 'AccountOpened':
        await ctx.sql.query(
          `INSERT INTO ${accounts} (tenant_id, account_id, version, updated_at, owner, currency, balance, overdraft_limit, status)
           VALUES ($1, $2, $3, $4, $5, $6, 0, $7, 'open')`,
          [...at, event.data.owner, event.data.currency, event.data.overdraftLimit ?? 0],
        );
        return;
      case 'MoneyDeposited':
      case 'MoneyWithdrawn': {
        const delta = event.type === 'MoneyDeposited' ? event.data.amount : -event.data.amount;
        updated = await ctx.sql.query(
          `UPDATE ${accounts} SET balance = balance + $5, version = $3, updated_at = $4
           WHERE tenant_id = $1 AND account_id = $2 RETURNING 1`,
          [...at, delta],
        );
        break;
      }
      default: {
        const status: AccountStatus =
          event.type === 'AccountFrozen' ? 'frozen' : event.type === 'AccountClosed' ? 'closed' : 'open';
        updated = await ctx.sql.query(
          `UPDATE ${accounts} SET status = $5, version = $3, updated_at = $4
           WHERE tenant_id = $1 AND account_id = $2 RETURNING 1`,
          [...at, status],
        );
      }
    }
    // An account event without its AccountOpened is a broken stream: fail loudly, never invent a row.
    if (updated.length === 0) throw new Error(`account ${event.data.accountId} has no row: its AccountOpened was not seen`);
  },
});

interface AccountRow {
  account_id: string;
  owner: string;
  currency: string;
  balance: string;
  overdraft_limit: string;
  status: AccountStatus;
  version: number;
  updated_at: Date;
}

const COLUMNS = `account_id, owner, currency, balance::text AS balance, overdraft_limit::text AS overdraft_limit, status, version, updated_at`;

function toBalance(row: AccountRow): AccountBalance {
  return {
    accountId: row.account_id,
    owner: row.owner,
    currency: row.currency,
    balance: Number(row.balance),
    overdraftLimit: Number(row.overdraft_limit),
    status: row.status,
    version: row.version,
    updatedAt: row.updated_at,
  };
}

/** One account of `tenantId`, or null (also when only another tenant has the id). */
export async function readAccountBalance(
  projections: Projections,
  sql: SqlExecutor,
  tenantId: string,
  accountId: string,
): Promise<AccountBalance | null> {
  const table = await projections.table('account-balances', 'accounts');
  const rows = await sql.query<AccountRow>(`SELECT ${COLUMNS} FROM ${table} WHERE tenant_id = $1 AND account_id = $2`, [
    tenantId,
    accountId,
  ]);
  return rows[0] ? toBalance(rows[0]) : null;
}

/** All accounts of `tenantId` by account id, a page at a time: pass the last id of a page as `after`. */
export async function pageAccountBalances(
  projections: Projections,
  sql: SqlExecutor,
  tenantId: string,
  options: { after?: string; limit?: number } = {},
): Promise<AccountBalance[]> {
  const table = await projections.table('account-balances', 'accounts');
  const rows = await sql.query<AccountRow>(
    `SELECT ${COLUMNS} FROM ${table} a WHERE a.tenant_id = $1 AND ($2::text IS NULL OR a.account_id > $2)
     ORDER BY a.account_id LIMIT $3`,
    [tenantId, options.after ?? null, options.limit ?? 100],
  );
  return rows.map(toBalance);
}

/** An owner's accounts in `tenantId`, by account id. */
export async function listAccountBalances(
  projections: Projections,
  sql: SqlExecutor,
  tenantId: string,
  owner: string,
): Promise<AccountBalance[]> {
  const table = await projections.table('account-balances', 'accounts');
  const rows = await sql.query<AccountRow>(
    `SELECT ${COLUMNS} FROM ${table} WHERE tenant_id = $1 AND owner = $2 ORDER BY account_id`,
    [tenantId, owner],
  );
  return rows.map(toBalance);
}
