/**
 * The library application: serve it with `fabula serve --app examples/library/app.ts`.
 */
import { AggregateRepository, DeciderRepository, defineApp } from '../../src/index.js';
import { Book } from './book.js';
import { AddBook, BorrowBook, JoinLibrary, ReturnBook, SuspendMember } from './commands.js';
import { libraryEvents } from './events.js';
import { LoansOfMember, loans, loansOfMember } from './loans.js';
import { member } from './member.js';

export default defineApp({
  name: 'library',
  registry: libraryEvents(),
  projections: [loans],
  setup({ store, commands, queries, registry, projections }) {
    const books = new AggregateRepository(store, Book, { registry });
    const members = new DeciderRepository(store, member, { name: 'member', registry });
    commands
      .registerAggregate(AddBook, { repository: books, id: (c) => c.bookId, handle: (book, c) => book.add(c.title) })
      .registerAggregate(BorrowBook, {
        repository: books,
        id: (c) => c.bookId,
        handle: (book, c) => book.borrow(c.memberId, c.loanDays),
      })
      .registerAggregate(ReturnBook, { repository: books, id: (c) => c.bookId, handle: (book) => book.giveBack() })
      .registerDecider([JoinLibrary, SuspendMember], { repository: members, streamId: (c) => `member-${c.memberId}` });
    // The query's tenant: a member's loans in another tenant are not theirs to see.
    queries.register(LoansOfMember, ({ memberId }, { tenantId }) => loansOfMember(projections, store.sql, tenantId, memberId));
    return {
      // For GET /aggregates/{type}/{id} and `fabula state <type> <id>`, now or as of a time.
      aggregates: {
        book: async (id, options) => {
          const book = await (options.tenantId === undefined ? books : books.forTenant(options.tenantId)).load(id, options);
          return { version: book.version, state: { title: book.title, onLoanTo: book.onLoanTo } };
        },
        member: (id, options) =>
          (options.tenantId === undefined ? members : members.forTenant(options.tenantId)).load(`member-${id}`, options),
      },
    };
  },
});
