/** The library's commands: what callers may ask for, validated before anything is read. */
import { z } from 'zod';
import { defineCommand } from '../../src/index.js';

const id = z.string().min(1).max(100);

export const AddBook = defineCommand('AddBook', { schema: z.object({ bookId: id, title: z.string().min(1) }) });
export const BorrowBook = defineCommand('BorrowBook', {
  schema: z.object({ bookId: id, memberId: id, loanDays: z.number().int().min(1).max(90).default(21) }),
});
export const ReturnBook = defineCommand('ReturnBook', { schema: z.object({ bookId: id }) });
export const JoinLibrary = defineCommand('JoinLibrary', { schema: z.object({ memberId: id, name: z.string().min(1) }) });
export const SuspendMember = defineCommand('SuspendMember', { schema: z.object({ memberId: id, reason: z.string().min(1) }) });
