/**
 * The bank's events: past-tense facts about an account. Stream id: `account-<accountId>`.
 * Amounts are positive integers in minor units (cents).
 */
import { z } from 'zod';
import { defineEvent, EventRegistry, type EventOf } from '../../src/index.js';

const accountId = z.string().min(1).max(100).describe('The account id; the stream is account-<accountId>');
const amount = z.number().int().positive().describe('Amount in minor units (cents)');

export const AccountOpened = defineEvent('AccountOpened', {
  version: 2,
  description: 'An account was opened for an owner in one currency.',
  // The owner's name is personal data of the account: encrypted under the account's key, erased by
  // `fabula forget <accountId>` (docs/personal-data.md).
  personalData: { subject: 'accountId', fields: ['owner'] },
  schema: z.object({
    accountId,
    owner: z.string().min(1).max(200).describe('Who owns the account'),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/)
      .describe('ISO 4217 currency code'),
    overdraftLimit: z.number().int().nonnegative().describe('How far below zero the balance may go, in minor units'),
  }),
});

const transferId = z.string().min(1).max(100).describe('The transfer this movement belongs to, if any');

export const MoneyDeposited = defineEvent('MoneyDeposited', {
  description: 'Money was paid into the account (by a transfer, or refunded to it, when transferId is set).',
  schema: z.object({ accountId, amount, transferId: transferId.optional() }),
});

export const MoneyWithdrawn = defineEvent('MoneyWithdrawn', {
  description: 'Money was taken out of the account (sent by a transfer, when transferId is set).',
  schema: z.object({ accountId, amount, transferId: transferId.optional() }),
});

export const AccountFrozen = defineEvent('AccountFrozen', {
  description: 'The account was frozen: no withdrawals until it is unfrozen.',
  schema: z.object({ accountId, reason: z.string().max(500).optional() }),
});

export const AccountUnfrozen = defineEvent('AccountUnfrozen', {
  description: 'A frozen account was unfrozen.',
  schema: z.object({ accountId }),
});

export const AccountClosed = defineEvent('AccountClosed', {
  description: 'The account was closed (only possible at a zero balance).',
  schema: z.object({ accountId }),
});

export const bankEvents = [AccountOpened, MoneyDeposited, MoneyWithdrawn, AccountFrozen, AccountUnfrozen, AccountClosed] as const;

export type BankEvent = EventOf<(typeof bankEvents)[number]>;

/** Registers the bank's events and upcasters in `registry`. */
export function registerBankEvents(registry: EventRegistry): EventRegistry {
  return registry
    .register(...bankEvents)
    .upcast(
      'AccountOpened',
      1,
      (data) => ({ overdraftLimit: 0, ...(data as object) }),
      'v2 added overdraftLimit; accounts opened at v1 had none (0)',
    );
}
