/**
 * The `loans` read model: which book is on loan to whom, until when. Version 2 added `due_at` (from
 * `loanDays`, which `BookBorrowed` v2 added): bumping the version built it beside version 1 from all the
 * events, old ones upcast, and it took over once it had caught up. Version 3 is tenant-scoped (docs/tenancy.md): rows
 * keyed by (tenant_id, book_id), written in the event's tenant, read for the query's tenant.
 */
import { z } from 'zod';
import { defineProjection, defineQuery, type Projections, type SqlExecutor } from '../../src/index.js';
import type { BookBorrowed, BookReturned } from './events.js';

type LoanEvents = {
  BookBorrowed: z.infer<typeof BookBorrowed.schema>;
  BookReturned: z.infer<typeof BookReturned.schema>;
};

export const loans = defineProjection<LoanEvents>({
  name: 'loans',
  version: 3,
  handles: ['BookBorrowed', 'BookReturned'],
  setup: (ctx) =>
    ctx.sql.exec(`CREATE TABLE ${ctx.table('loans')} (
      tenant_id text NOT NULL, book_id text NOT NULL, member_id text NOT NULL, due_at timestamptz NOT NULL,
      PRIMARY KEY (tenant_id, book_id));
      CREATE INDEX loans_by_member ON ${ctx.table('loans')} (tenant_id, member_id)`),
  async apply(event, ctx) {
    if (event.type === 'BookBorrowed') {
      const due = new Date(event.recordedAt.getTime() + event.data.loanDays * 86_400_000);
      await ctx.sql.query(`INSERT INTO ${ctx.table('loans')} VALUES ($1, $2, $3, $4)`, [
        event.tenantId,
        event.data.bookId,
        event.data.memberId,
        due,
      ]);
    } else {
      await ctx.sql.query(`DELETE FROM ${ctx.table('loans')} WHERE tenant_id = $1 AND book_id = $2`, [
        event.tenantId,
        event.data.bookId,
      ]);
    }
  },
});

export const LoansOfMember = defineQuery('loans-of-member', {
  description: 'The books a member has on loan, soonest due first.',
  projection: 'loans',
  schema: z.object({ memberId: z.string().min(1) }),
});

export interface Loan {
  bookId: string;
  dueAt: Date;
}

/** A member's loans in `tenantId` (a query handler's `context.tenantId`). */
export async function loansOfMember(
  projections: Projections,
  sql: SqlExecutor,
  tenantId: string,
  memberId: string,
): Promise<Loan[]> {
  const table = await projections.table('loans', 'loans'); // per query: a new version moves it
  return sql.query<Loan>(
    `SELECT book_id AS "bookId", due_at AS "dueAt" FROM ${table} WHERE tenant_id = $1 AND member_id = $2 ORDER BY due_at`,
    [tenantId, memberId],
  );
}
