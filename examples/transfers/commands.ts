/** Commands on a transfer. `TransferMoney` is the public one; the others are the saga's bookkeeping. */
import { z } from 'zod';
import { defineCommand } from '../../src/index.js';

const transferId = z.string().min(1).max(100);
const reason = z.string().max(500);

export const TransferMoney = defineCommand('TransferMoney', {
  description: 'Move an amount from one account to another (a saga: debit, credit, refund on failure).',
  schema: z
    .object({
      transferId,
      fromAccountId: z.string().min(1).max(100),
      toAccountId: z.string().min(1).max(100),
      amount: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    })
    .refine((t) => t.fromAccountId !== t.toAccountId, { message: 'fromAccountId and toAccountId must differ', path: ['toAccountId'] }),
});
export const CompleteTransfer = defineCommand('CompleteTransfer', {
  description: 'Record that a transfer reached its target (sent by the transfer process).',
  schema: z.object({ transferId }),
});
export const RejectTransfer = defineCommand('RejectTransfer', {
  description: 'Record that the source refused the debit (sent by the transfer process).',
  schema: z.object({ transferId, reason }),
});
export const CompensateTransfer = defineCommand('CompensateTransfer', {
  description: 'Record that a transfer was refunded (sent by the transfer process).',
  schema: z.object({ transferId, reason }),
});

export const transferCommands = [TransferMoney, CompleteTransfer, RejectTransfer, CompensateTransfer] as const;
