/**
 * The transfer saga. From `TransferRequested`:
 *
 *   debit the source ─ refused ─> RejectTransfer                        (no money moved)
 *        │ done
 *   credit the target (timeout armed) ─ refused, or timed out ─> refund the source ─> CompensateTransfer
 *        │ done
 *   CompleteTransfer
 *
 * Money is conserved: the refund is only sent once the credit is certainly refused or certainly never
 * sent (a timeout fires only while the credit is not being sent, and withdraws it), and the refund is
 * never refused by the account.
 */
import { defineProcess, type ProcessReaction } from '../../src/index.js';
import type { TransferEvent } from './events.js';

export interface TransferProcessState {
  step: 'new' | 'debiting' | 'crediting' | 'refunding' | 'recording';
  transferId: string;
  fromAccountId: string;
  toAccountId: string;
  amount: number;
  reason: string | null;
}

export interface TransferProcessOptions {
  /** How long the credit may take before the transfer is refunded. Default 30 s. */
  creditTimeoutMs?: number;
}

export function transferProcess({ creditTimeoutMs = 30_000 }: TransferProcessOptions = {}) {
  return defineProcess<TransferProcessState, TransferEvent>({
    name: 'transfer',
    description: 'Moves money between two accounts: debit, credit, and a refund when the credit is refused or times out.',
    on: { TransferRequested: (event) => event.data.transferId },
    initialState: () => ({ step: 'new', transferId: '', fromAccountId: '', toAccountId: '', amount: 0, reason: null }),
    react(state, message): ProcessReaction<TransferProcessState> | void {
      const money = (accountId: string) => ({ accountId, amount: state.amount, transferId: state.transferId });
      const refund = (reason: string): ProcessReaction<TransferProcessState> => ({
        state: { ...state, step: 'refunding', reason },
        send: [{ type: 'RefundTransfer', data: money(state.fromAccountId), step: 'refund' }],
        cancel: ['credit-timeout'],
      });
      switch (message.kind) {
        case 'event': {
          if (state.step !== 'new') return; // the same request again: already under way
          const { transferId, fromAccountId, toAccountId, amount } = message.event.data as {
            transferId: string;
            fromAccountId: string;
            toAccountId: string;
            amount: number;
          };
          return {
            state: { ...state, step: 'debiting', transferId, fromAccountId, toAccountId, amount },
            send: [{ type: 'SendTransfer', data: { accountId: fromAccountId, amount, transferId }, step: 'debit' }],
          };
        }
        case 'completed':
          switch (message.command.step) {
            case 'debit':
              return {
                state: { ...state, step: 'crediting' },
                send: [{ type: 'ReceiveTransfer', data: money(state.toAccountId), step: 'credit' }],
                schedule: [{ name: 'credit-timeout', after: creditTimeoutMs }],
              };
            case 'credit':
              return {
                state: { ...state, step: 'recording' },
                send: [{ type: 'CompleteTransfer', data: { transferId: state.transferId }, step: 'record' }],
                cancel: ['credit-timeout'],
              };
            case 'refund':
              return {
                state: { ...state, step: 'recording' },
                send: [{ type: 'CompensateTransfer', data: { transferId: state.transferId, reason: state.reason ?? '' }, step: 'record' }],
              };
            case 'record':
              return { end: true };
          }
          return;
        case 'rejected': {
          const why = `${message.error.code}: ${message.error.message}`;
          switch (message.command.step) {
            case 'debit':
              return {
                state: { ...state, step: 'recording', reason: why },
                send: [{ type: 'RejectTransfer', data: { transferId: state.transferId, reason: why }, step: 'record' }],
              };
            case 'credit':
              return refund(why);
            case 'refund':
              // Refunds are never refused by an account; should one be (an unknown account), try again later.
              return { schedule: [{ name: 'retry-refund', after: 5_000 }] };
            case 'record':
              return { end: true }; // already recorded (a transfer ends once)
          }
          return;
        }
        case 'timeout':
          if (message.name === 'retry-refund') return refund(state.reason ?? 'refund retried');
          // Only while the credit is still waiting to be sent: withdrawn, it is certainly never sent.
          if (message.name === 'credit-timeout' && message.outstanding.some((c) => c.step === 'credit'))
            return { ...refund(`the credit was not made within ${creditTimeoutMs} ms`), withdraw: ['credit'] };
          return;
      }
    },
  });
}
