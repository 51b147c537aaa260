/**
 * A bank account, in the class style: methods decide and `trigger` events; `apply` changes state.
 * The lifecycle says which commands each state accepts and which events move between states.
 */
import { Aggregate, defineLifecycle, DomainError } from '../../src/index.js';
import type { BankEvent } from './events.js';

type Status = 'new' | 'open' | 'frozen' | 'closed';
type CommandName =
  | 'OpenAccount'
  | 'DepositMoney'
  | 'WithdrawMoney'
  | 'FreezeAccount'
  | 'UnfreezeAccount'
  | 'CloseAccount'
  | 'SendTransfer'
  | 'ReceiveTransfer'
  | 'RefundTransfer';

const lifecycle = defineLifecycle<Status, CommandName, BankEvent['type']>('account', {
  initial: 'new',
  accepts: {
    new: ['OpenAccount'],
    open: ['DepositMoney', 'WithdrawMoney', 'FreezeAccount', 'CloseAccount', 'SendTransfer', 'ReceiveTransfer', 'RefundTransfer'],
    frozen: ['DepositMoney', 'UnfreezeAccount', 'CloseAccount', 'RefundTransfer'],
    // A refund compensates a transfer that took money out: it is booked even on a closed account, so
    // that no money disappears.
    closed: ['RefundTransfer'],
  },
  transitions: {
    AccountOpened: { from: ['new'], to: 'open' },
    AccountFrozen: { from: ['open'], to: 'frozen' },
    AccountUnfrozen: { from: ['frozen'], to: 'open' },
    AccountClosed: { from: ['open', 'frozen'], to: 'closed' },
  },
});

export class BankAccount extends Aggregate<BankEvent> {
  static override readonly streamType = 'account';
  static override readonly snapshotVersion = 1;

  owner = '';
  currency = '';
  balance = 0;
  overdraftLimit = 0;

  protected override get lifecycle() {
    return lifecycle;
  }

  open(owner: string, currency: string, overdraftLimit = 0) {
    this.assertAccepts('OpenAccount');
    this.trigger({ type: 'AccountOpened', data: { accountId: this.id, owner, currency, overdraftLimit } });
  }

  deposit(amount: number) {
    this.assertAccepts('DepositMoney');
    this.trigger({ type: 'MoneyDeposited', data: { accountId: this.id, amount } });
  }

  withdraw(amount: number) {
    this.assertAccepts('WithdrawMoney');
    this.assertFunds(amount);
    this.trigger({ type: 'MoneyWithdrawn', data: { accountId: this.id, amount } });
  }

  /** A transfer's debit. */
  sendTransfer(amount: number, transferId: string) {
    this.assertAccepts('SendTransfer');
    this.assertFunds(amount);
    this.trigger({ type: 'MoneyWithdrawn', data: { accountId: this.id, amount, transferId } });
  }

  /** A transfer's credit. */
  receiveTransfer(amount: number, transferId: string) {
    this.assertAccepts('ReceiveTransfer');
    this.trigger({ type: 'MoneyDeposited', data: { accountId: this.id, amount, transferId } });
  }

  /** A transfer's compensation: the debit given back. */
  refundTransfer(amount: number, transferId: string) {
    this.assertAccepts('RefundTransfer');
    this.trigger({ type: 'MoneyDeposited', data: { accountId: this.id, amount, transferId } });
  }

  private assertFunds(amount: number) {
    if (amount > this.balance + this.overdraftLimit) {
      throw new DomainError(
        `insufficient funds: account ${this.id} has ${this.balance} ${this.currency} and an overdraft limit of ${this.overdraftLimit}; cannot withdraw ${amount}`,
        'insufficient_funds',
      );
    }
  }

  freeze(reason?: string) {
    this.assertAccepts('FreezeAccount');
    this.trigger({ type: 'AccountFrozen', data: { accountId: this.id, ...(reason ? { reason } : {}) } });
  }

  unfreeze() {
    this.assertAccepts('UnfreezeAccount');
    this.trigger({ type: 'AccountUnfrozen', data: { accountId: this.id } });
  }

  close() {
    this.assertAccepts('CloseAccount');
    if (this.balance !== 0)
      throw new DomainError(
        `account ${this.id} has a balance of ${this.balance}: only an empty account can be closed`,
        'balance_not_zero',
      );
    this.trigger({ type: 'AccountClosed', data: { accountId: this.id } });
  }

  protected apply(event: BankEvent): void {
    switch (event.type) {
      case 'AccountOpened':
        this.owner = event.data.owner;
        this.currency = event.data.currency;
        this.overdraftLimit = event.data.overdraftLimit;
        break;
      case 'MoneyDeposited':
        this.balance += event.data.amount;
        break;
      case 'MoneyWithdrawn':
        this.balance -= event.data.amount;
        break;
      default:
        break; // freeze, unfreeze and close change only the lifecycle state
    }
  }
}
