/**
 * A money transfer's events: the request and how it ended. Stream id: `transfer-<transferId>`. The
 * money itself moves on the accounts (`MoneyWithdrawn` / `MoneyDeposited` with the transfer's id).
 */
import { z } from 'zod';
import { defineEvent, EventRegistry, type EventOf } from '../../src/index.js';

const transferId = z.string().min(1).max(100).describe('The transfer id; the stream is transfer-<transferId>');
const reason = z.string().max(500).describe('Why, in words');

export const TransferRequested = defineEvent('TransferRequested', {
  description: 'A transfer of an amount from one account to another was requested.',
  schema: z.object({
    transferId,
    fromAccountId: z.string().min(1).max(100),
    toAccountId: z.string().min(1).max(100),
    amount: z.number().int().positive().describe('Amount in minor units (cents)'),
  }),
});

export const TransferCompleted = defineEvent('TransferCompleted', {
  description: 'The amount left the source account and reached the target account.',
  schema: z.object({ transferId }),
});

export const TransferRejected = defineEvent('TransferRejected', {
  description: 'The source account refused the debit: no money moved.',
  schema: z.object({ transferId, reason }),
});

export const TransferCompensated = defineEvent('TransferCompensated', {
  description: 'The target account refused the credit (or it timed out): the debit was refunded to the source.',
  schema: z.object({ transferId, reason }),
});

export const transferEvents = [TransferRequested, TransferCompleted, TransferRejected, TransferCompensated] as const;
export type TransferEvent = EventOf<(typeof transferEvents)[number]>;

export function registerTransferEvents(registry: EventRegistry): EventRegistry {
  return registry.register(...transferEvents);
}
