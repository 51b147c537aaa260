/** The transfer saga's rules, as specifications: no store needed. */
import { describe, it } from 'vitest';
import { deciderSpec, processSpec } from '../../src/testing/index.js';
import { transferDecider } from './decider.js';
import { transferProcess } from './process.js';

const request = {
  event: { type: 'TransferRequested', data: { transferId: 't1', fromAccountId: 'a', toAccountId: 'b', amount: 25 } },
};
const money = (accountId: string) => ({ accountId, amount: 25, transferId: 't1' });
const saga = processSpec(transferProcess({ creditTimeoutMs: 1_000 }), { instanceId: 't1' });

describe('the transfer process', () => {
  it('debits the source first', () => {
    saga.given().when(request).then({ send: [{ type: 'SendTransfer', data: money('a'), step: 'debit' }] });
  });

  it('credits the target once the debit is done, with a timeout armed', () => {
    saga
      .given(request)
      .when({ completed: 'debit' })
      .then({
        send: [{ type: 'ReceiveTransfer', data: money('b'), step: 'credit' }],
        schedule: [{ name: 'credit-timeout', after: 1_000 }],
      });
  });

  it('records the rejection when the debit is refused: no money moved, nothing to undo', () => {
    saga
      .given(request)
      .when({ rejected: 'debit', code: 'insufficient_funds', message: 'no' })
      .then({ send: [{ type: 'RejectTransfer', data: { transferId: 't1', reason: 'insufficient_funds: no' }, step: 'record' }] });
  });

  it('refunds the source when the credit is refused', () => {
    saga
      .given(request, { completed: 'debit' })
      .when({ rejected: 'credit', code: 'illegal_state', message: 'frozen' })
      .then({ send: [{ type: 'RefundTransfer', data: money('a'), step: 'refund' }], cancel: ['credit-timeout'] });
  });

  it('withdraws the credit and refunds when it times out before it was sent', () => {
    saga
      .given(request, { completed: 'debit' })
      .when({ timeout: 'credit-timeout' })
      .then({ send: [{ type: 'RefundTransfer', data: money('a'), step: 'refund' }], withdraw: ['credit'] });
  });

  it('ignores a timeout once the credit has its outcome', () => {
    saga.given(request, { completed: 'debit' }, { completed: 'credit' }).when({ timeout: 'credit-timeout' }).thenIgnores();
  });

  it('records the compensation after the refund, and ends when it is recorded', () => {
    saga
      .given(request, { completed: 'debit' }, { rejected: 'credit', code: 'illegal_state' })
      .when({ completed: 'refund' })
      .then({ send: [{ type: 'CompensateTransfer', data: { transferId: 't1', reason: 'illegal_state: illegal_state' }, step: 'record' }] });
    saga
      .given(request, { completed: 'debit' }, { completed: 'credit' })
      .when({ completed: 'record' })
      .then({ end: true });
  });

  it('ignores the same request twice', () => {
    saga.given(request).when(request).thenIgnores();
  });
});

describe('the transfer stream', () => {
  it('is requested once and ends once', () => {
    const requested = { type: 'TransferRequested' as const, data: { transferId: 't1', fromAccountId: 'a', toAccountId: 'b', amount: 5 } };
    deciderSpec(transferDecider)
      .given([requested])
      .when({ type: 'TransferMoney', data: requested.data })
      .thenThrows((e) => (e as { code?: string }).code === 'transfer_exists');
    deciderSpec(transferDecider)
      .given([requested, { type: 'TransferCompleted', data: { transferId: 't1' } }])
      .when({ type: 'CompensateTransfer', data: { transferId: 't1', reason: 'late' } })
      .thenThrows((e) => (e as { code?: string }).code === 'transfer_not_pending');
  });
});
