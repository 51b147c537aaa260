/**
 * The library's events: contracts with zod schemas and versions. `BookBorrowed` is at version 2 (it
 * gained `loanDays`); events stored at version 1 are read through the upcaster, so every handler sees
 * version 2 only.
 */
import { z } from 'zod';
import { defineEvent, EventRegistry, type EventOf } from '../../src/index.js';

export const BookAdded = defineEvent('BookAdded', {
  description: 'A book joined the catalogue.',
  schema: z.object({ bookId: z.string(), title: z.string() }),
});
export const BookBorrowed = defineEvent('BookBorrowed', {
  description: 'A member borrowed a book for a number of days.',
  version: 2,
  schema: z.object({ bookId: z.string(), memberId: z.string(), loanDays: z.number().int().positive() }),
});
export const BookReturned = defineEvent('BookReturned', {
  description: 'A borrowed book came back.',
  schema: z.object({ bookId: z.string(), memberId: z.string() }),
});
export const MemberJoined = defineEvent('MemberJoined', {
  description: 'Someone became a member of the library.',
  schema: z.object({ memberId: z.string(), name: z.string() }),
});
export const MemberSuspended = defineEvent('MemberSuspended', {
  description: 'A member may not borrow any more.',
  schema: z.object({ memberId: z.string(), reason: z.string() }),
});

export type BookEvent = EventOf<typeof BookAdded> | EventOf<typeof BookBorrowed> | EventOf<typeof BookReturned>;
export type MemberEvent = EventOf<typeof MemberJoined> | EventOf<typeof MemberSuspended>;

/** The library's registry: its events, and how older versions are read. */
export function libraryEvents(): EventRegistry {
  return new EventRegistry()
    .register(BookAdded, BookBorrowed, BookReturned, MemberJoined, MemberSuspended)
    .upcast('BookBorrowed', 1, (data) => ({ loanDays: 21, ...(data as object) }), 'v2 added loanDays (loans were 21 days)');
}
