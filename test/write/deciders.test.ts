/** Deciders: one registration for all of a decider's commands, and an initial state no stream shares. */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  CommandBus,
  DeciderRepository,
  defineCommand,
  defineDecider,
  defineEvent,
  DomainError,
  EventRegistry,
  ValidationError,
  type EventOf,
} from '../../src/index.js';
import { deciderSpec } from '../../src/testing/index.js';
import { drivers, storeFactory } from '../support/drivers.js';

const Borrowed = defineEvent('Borrowed', { schema: z.object({ bookId: z.string(), memberId: z.string() }) });
const Returned = defineEvent('Returned', { schema: z.object({ bookId: z.string() }) });
const Borrow = defineCommand('Borrow', { schema: z.object({ bookId: z.string(), memberId: z.string() }) });
const Return = defineCommand('Return', { schema: z.object({ bookId: z.string() }) });
type BookCommand =
  { type: 'Borrow'; data: z.infer<typeof Borrow.schema> } | { type: 'Return'; data: z.infer<typeof Return.schema> };
type BookEvent = EventOf<typeof Borrowed> | EventOf<typeof Returned>;
/** `history` is mutated in place by evolve: the shape a shared initial state would leak. */
type BookState = { history: string[]; onLoanTo: string | null };

const evolve = (state: BookState, event: BookEvent): BookState => {
  state.history.push(event.type); // mutates: deliberately careless
  return { ...state, onLoanTo: event.type === 'Borrowed' ? event.data.memberId : null };
};
const decide = (command: BookCommand, state: BookState): BookEvent => {
  if (command.type === 'Borrow') {
    if (state.onLoanTo) throw new DomainError(`book ${command.data.bookId} is on loan`, 'book_on_loan');
    return Borrowed.create(command.data);
  }
  if (!state.onLoanTo) throw new DomainError(`book ${command.data.bookId} is not on loan`, 'book_not_on_loan');
  return Returned.create(command.data);
};
const plainBook = defineDecider<BookCommand, BookEvent, BookState>({
  initialState: { history: [], onLoanTo: null },
  decide,
  evolve,
});
const factoryBook = defineDecider<BookCommand, BookEvent, BookState>({
  initialState: () => ({ history: [], onLoanTo: null }),
  decide,
  evolve,
});

describe.each(drivers)('deciders (%s)', (driver) => {
  const stores = storeFactory(driver);
  const registry = new EventRegistry().register(Borrowed, Returned);

  it('registers one decider for all its commands at once; the one-command form still works', async () => {
    const store = await stores.open();
    const books = new DeciderRepository(store, factoryBook, { name: 'book', registry });
    const bus = new CommandBus({ store }).registerDecider([Borrow, Return], {
      repository: books,
      streamId: (command) => `book-${command.bookId}`,
    });
    expect(bus.commands().map((c) => c.type)).toEqual(['Borrow', 'Return']);
    await bus.execute('Borrow', { bookId: 'b1', memberId: 'm1' });
    await expect(bus.execute('Borrow', { bookId: 'b1', memberId: 'm2' })).rejects.toMatchObject({ code: 'book_on_loan' });
    await bus.execute('Return', { bookId: 'b1' });
    expect((await books.load('book-b1')).state).toMatchObject({ onLoanTo: null, history: ['Borrowed', 'Returned'] });
    // Each command is still validated against its own schema.
    await expect(bus.execute('Return', { bookId: 7 })).rejects.toThrow(ValidationError);

    expect(() => bus.registerDecider([Return], { repository: books, streamId: (c) => `book-${c.bookId}` })).toThrow(
      /command Return already has a handler/,
    );
    expect(() => new CommandBus({ store }).registerDecider([], { repository: books, streamId: () => 'x' })).toThrow(
      ValidationError,
    );
    const single = new CommandBus({ store }).registerDecider(Borrow, { repository: books, streamId: (c) => `book-${c.bookId}` });
    expect((await single.execute('Borrow', { bookId: 'b2', memberId: 'm1' })).streamId).toBe('book-b2');
  });

  for (const [form, decider] of [
    ['a plain initial state', plainBook],
    ['an initial-state factory', factoryBook],
  ] as const) {
    it(`gives every stream its own initial state with ${form}, even when evolve mutates it`, async () => {
      const store = await stores.open();
      for (const cache of [false, undefined] as const) {
        const books = new DeciderRepository(store, decider, { name: 'book', registry, ...(cache === false ? { cache } : {}) });
        const bus = new CommandBus({ store }).registerDecider([Borrow, Return], {
          repository: books,
          streamId: (command) => `book-${command.bookId}-${String(cache)}`,
        });
        await bus.execute('Borrow', { bookId: 'a', memberId: 'm1' });
        await bus.execute('Return', { bookId: 'a' });
        await bus.execute('Borrow', { bookId: 'b', memberId: 'm2' });
        expect((await books.load(`book-a-${String(cache)}`)).state.history).toEqual(['Borrowed', 'Returned']);
        expect((await books.load(`book-b-${String(cache)}`)).state.history).toEqual(['Borrowed']);
        expect((await books.load(`book-c-${String(cache)}`)).state).toEqual({ history: [], onLoanTo: null });
      }
      expect(plainBook.initialState).toEqual({ history: [], onLoanTo: null });
      // The test kit starts from a fresh state too.
      deciderSpec(decider)
        .given([Borrowed.create({ bookId: 'x', memberId: 'm' })])
        .when({ type: 'Return', data: { bookId: 'x' } })
        .then([Returned.create({ bookId: 'x' })]);
      deciderSpec(decider)
        .given([])
        .when({ type: 'Borrow', data: { bookId: 'x', memberId: 'm' } })
        .then([Borrowed.create({ bookId: 'x', memberId: 'm' })]);
    });
  }
});
