/** The bank's commands. The names and fields are a contract: the HTTP API and docs use them. */
import { z } from 'zod';
import { defineCommand } from '../../src/index.js';

const accountId = z.string().min(1).max(100);
const amount = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

export const OpenAccount = defineCommand('OpenAccount', {
  description: 'Open a new account.',
  schema: z.object({
    accountId,
    owner: z.string().min(1).max(200),
    currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as EUR'),
    overdraftLimit: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  }),
});
export const DepositMoney = defineCommand('DepositMoney', {
  description: 'Pay money in.',
  schema: z.object({ accountId, amount }),
});
export const WithdrawMoney = defineCommand('WithdrawMoney', {
  description: 'Take money out (not beyond balance + overdraft limit).',
  schema: z.object({ accountId, amount }),
});
export const FreezeAccount = defineCommand('FreezeAccount', {
  description: 'Stop withdrawals.',
  schema: z.object({ accountId, reason: z.string().max(500).optional() }),
});
export const UnfreezeAccount = defineCommand('UnfreezeAccount', {
  description: 'Allow withdrawals again.',
  schema: z.object({ accountId }),
});
export const CloseAccount = defineCommand('CloseAccount', {
  description: 'Close the account (balance must be zero).',
  schema: z.object({ accountId }),
});

const transferId = z.string().min(1).max(100);
export const SendTransfer = defineCommand('SendTransfer', {
  description: "A transfer's debit: take the amount out of the source account (refused when frozen, closed or short of funds).",
  schema: z.object({ accountId, amount, transferId }),
});
export const ReceiveTransfer = defineCommand('ReceiveTransfer', {
  description: "A transfer's credit: pay the amount into the target account (refused when it is frozen or closed).",
  schema: z.object({ accountId, amount, transferId }),
});
export const RefundTransfer = defineCommand('RefundTransfer', {
  description: "A transfer's compensation: give the amount back to the source account (never refused: money is conserved).",
  schema: z.object({ accountId, amount, transferId }),
});

export const bankCommands = [
  OpenAccount,
  DepositMoney,
  WithdrawMoney,
  FreezeAccount,
  UnfreezeAccount,
  CloseAccount,
  SendTransfer,
  ReceiveTransfer,
  RefundTransfer,
] as const;
