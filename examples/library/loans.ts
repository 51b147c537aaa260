/**
 * The `loans` read model: which book is on loan to whom, until when. Version 2 added `due_at` (from
 * `loanDays`, which `BookBorrowed` v2 added): bumping the version built it beside version 1 from all the
 * events, old ones upcast, and it took over once it had caught up.
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
  version: 2,
  handles: ['BookBorrowed', 'BookReturned'],
  setup: (ctx) =>
    ctx.sql.exec(`CREATE TABLE ${ctx.table('loans')} (
      book_id text PRIMARY KEY, member_id text NOT NULL, due_at timestamptz NOT NULL)`),
  async apply(event, ctx) {
    if (event.type === 'BookBorrowed') {
      const due = new Date(event.recordedAt.getTime() + event.data.loanDays * 86_400_000);
      await ctx.sql.query(`INSERT INTO ${ctx.table('loans')} VALUES ($1, $2, $3)`, [event.data.bookId, event.data.memberId, due]);
    } else {
      await ctx.sql.query(`DELETE FROM ${ctx.table('loans')} WHERE book_id = $1`, [event.data.bookId]);
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

export async function loansOfMember(projections: Projections, sql: SqlExecutor, memberId: string): Promise<Loan[]> {
  const table = await projections.table('loans', 'loans'); // per query: a new version moves it
  return sql.query<Loan>(`SELECT book_id AS "bookId", due_at AS "dueAt" FROM ${table} WHERE member_id = $1 ORDER BY due_at`, [
    memberId,
  ]);
}
