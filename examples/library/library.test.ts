/**
 * The library's rules as specifications, and the whole application served over HTTP on both drivers:
 * commands, a refused one (422), the loans read model through its query, state readers, and a
 * `BookBorrowed` stored at version 1 read through the upcaster.
 */
import { describe, expect, it } from 'vitest';
import { defineApp, defineEvent, EventRegistry } from '../../src/index.js';
import { DomainError, startServiceForTests } from './test-support.js';
import { aggregateSpec, commandSpec, deciderSpec } from '../../src/testing/index.js';
import { Book } from './book.js';
import { BookAdded, BookBorrowed, BookReturned, MemberJoined, MemberSuspended } from './events.js';
import { member } from './member.js';
import app from './app.js';
import { drivers } from '../../test/support/drivers.js';
import { storeLocations } from '../../test/support/locations.js';

const added = BookAdded.create({ bookId: 'b1', title: 'Middlemarch' });
const borrowed = BookBorrowed.create({ bookId: 'b1', memberId: 'm1', loanDays: 14 });

describe('library rules', () => {
  it('lends a book to one member at a time', () => {
    aggregateSpec(Book, 'b1')
      .given([added])
      .when((book) => book.borrow('m1', 14))
      .then([borrowed]);
    aggregateSpec(Book, 'b1')
      .given([added, borrowed])
      .when((book) => book.borrow('m2', 14))
      .thenThrows((e) => e instanceof DomainError && e.code === 'book_on_loan');
    aggregateSpec(Book, 'b1')
      .given([added, borrowed])
      .when((book) => book.giveBack())
      .then([BookReturned.create({ bookId: 'b1', memberId: 'm1' })]);
  });

  it('suspends only active members', () => {
    const joined = MemberJoined.create({ memberId: 'm1', name: 'Ada' });
    const suspend = { type: 'SuspendMember' as const, data: { memberId: 'm1', reason: 'late returns' } };
    deciderSpec(member)
      .given([joined])
      .when(suspend)
      .then([MemberSuspended.create(suspend.data)]);
    deciderSpec(member).given([]).when(suspend).thenThrows(DomainError);
  });

  it('borrows through the real command bus and store, with the default loan period', async () => {
    await commandSpec(app)
      .given('book-b1', [added])
      .when('BorrowBook', { bookId: 'b1', memberId: 'm1' })
      .then([BookBorrowed.create({ bookId: 'b1', memberId: 'm1', loanDays: 21 })]);
  });
});

describe('start-up', () => {
  it('refuses an app whose registry misses an upcaster, naming the event and the version, before opening anything', async () => {
    const BookBorrowedV3 = defineEvent('BookBorrowed', { version: 3, schema: BookBorrowed.schema });
    const registry = new EventRegistry().register(BookBorrowedV3).upcast('BookBorrowed', 1, (d) => d);
    const broken = defineApp({ ...app, registry });
    await expect(startServiceForTests(broken, { dataDir: '/nonexistent/never-opened', schema: 'fabula' })).rejects.toThrow(
      "event BookBorrowed is at version 3 but has no upcaster from version 2; add registry.upcast('BookBorrowed', 2, ...)",
    );
  });
});

const location = storeLocations('library');

describe.each(drivers)('the library app served (%s)', (driver) => {
  it('takes commands, refuses a broken rule with 422, answers the loans query, reads old events upcast', async () => {
    const service = await startServiceForTests(app, location(driver));
    try {
      const post = (type: string, body: unknown) => service.call('POST', `/commands/${type}`, body);
      expect((await post('AddBook', { bookId: 'b1', title: 'Middlemarch' })).status).toBe(202);
      expect((await post('AddBook', { bookId: 'b2', title: 'Persuasion' })).status).toBe(202);
      expect((await post('JoinLibrary', { memberId: 'm1', name: 'Ada' })).status).toBe(202);
      const lent = await post('BorrowBook', { bookId: 'b1', memberId: 'm1', loanDays: 7 });
      expect(lent.status).toBe(202);
      const refused = await post('BorrowBook', { bookId: 'b1', memberId: 'm2' });
      expect(refused).toMatchObject({ status: 422, json: { code: 'book_on_loan', message: 'book b1 is on loan to m1' } });
      expect((await post('BorrowBook', { bookId: 'b2', memberId: 'm1', loanDays: 0 })).status).toBe(400);

      // A loan recorded by the app's first release, before BookBorrowed had loanDays.
      const old = await service.store.append('book-b2', [
        { type: 'BookBorrowed', data: { bookId: 'b2', memberId: 'm1' }, schemaVersion: 1 },
      ]);
      const loans = await service.call('GET', `/queries/loans-of-member?memberId=m1&minPosition=${old.lastPosition}`);
      expect(loans.status).toBe(200);
      const days = (loans.json as Array<{ bookId: string; dueAt: string }>).map((l) => [
        l.bookId,
        Math.round((Date.parse(l.dueAt) - Date.now()) / 86_400_000),
      ]);
      expect(days).toEqual([
        ['b1', 7],
        ['b2', 21], // the upcaster's default
      ]);
      expect((await service.call('GET', '/aggregates/book/b2')).json).toMatchObject({ state: { onLoanTo: 'm1' } });
      expect((await service.call('GET', '/aggregates/member/m1')).json).toMatchObject({
        state: { status: 'active', name: 'Ada' },
      });
    } finally {
      await service.close();
    }
  });
});
