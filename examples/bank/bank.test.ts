/** The bank's rules, as specifications. */
import { describe, expect, it } from 'vitest';
import { CommandBus, DomainError, IllegalStateError, ValidationError } from '../../src/index.js';
import { aggregateSpec, commandSpec, openTestStore } from '../../src/testing/index.js';
import { BankAccount, registerBank } from './index.js';

const opened = { type: 'AccountOpened', data: { accountId: 'spec', owner: 'Ada', currency: 'EUR', overdraftLimit: 100 } };
const deposited = (amount: number) => ({ type: 'MoneyDeposited', data: { accountId: 'spec', amount } });
const withdrawn = (amount: number) => ({ type: 'MoneyWithdrawn', data: { accountId: 'spec', amount } });
const account = aggregateSpec(BankAccount);

describe('bank account', () => {
  it('opens once', () => {
    account
      .given([])
      .when((a) => a.open('Ada', 'EUR', 100))
      .then([opened]);
    account
      .given([opened])
      .when((a) => a.open('Ada', 'EUR'))
      .thenThrows(IllegalStateError);
  });

  it('takes deposits and withdrawals up to balance plus overdraft', () => {
    account
      .given([opened, deposited(50)])
      .when((a) => a.withdraw(150))
      .then([withdrawn(150)]);
    account
      .given([opened, deposited(50)])
      .when((a) => a.withdraw(151))
      .thenThrows((e) => e instanceof DomainError && e.code === 'insufficient_funds');
  });

  it('refuses anything before it is opened, naming the state', () => {
    account
      .given([])
      .when((a) => a.deposit(10))
      .thenThrows((e) => e instanceof IllegalStateError && e.state === 'new' && e.action === 'DepositMoney');
  });

  it('refuses withdrawals while frozen but takes deposits, and unfreezes', () => {
    const frozen = { type: 'AccountFrozen', data: { accountId: 'spec', reason: 'fraud check' } };
    account
      .given([opened, deposited(50), frozen])
      .when((a) => a.withdraw(10))
      .thenThrows(IllegalStateError);
    account
      .given([opened, frozen])
      .when((a) => a.deposit(10))
      .then([deposited(10)]);
    account
      .given([opened, frozen])
      .when((a) => a.unfreeze())
      .then([{ type: 'AccountUnfrozen', data: { accountId: 'spec' } }]);
  });

  it('closes only at a zero balance, and then accepts nothing', () => {
    const closed = { type: 'AccountClosed', data: { accountId: 'spec' } };
    account
      .given([opened, deposited(5)])
      .when((a) => a.close())
      .thenThrows((e) => e instanceof DomainError && e.code === 'balance_not_zero');
    account
      .given([opened, deposited(5), withdrawn(5)])
      .when((a) => a.close())
      .then([closed]);
    account
      .given([opened, closed])
      .when((a) => a.deposit(1))
      .thenThrows((e) => e instanceof IllegalStateError && e.state === 'closed');
  });

  describe('through the command bus', () => {
    const bank = commandSpec(({ store, bus }) => registerBank({ store, bus }));

    it('withdraws with the real store and bus', async () => {
      await bank
        .given('account-a1', [
          { ...opened, data: { ...opened.data, accountId: 'a1' } },
          { type: 'MoneyDeposited', data: { accountId: 'a1', amount: 70 } },
        ])
        .when('WithdrawMoney', { accountId: 'a1', amount: 20 })
        .then([{ type: 'MoneyWithdrawn', data: { accountId: 'a1', amount: 20 } }]);
    });

    it('refuses an invalid command before any I/O, naming the field', async () => {
      await bank
        .given('account-a1', [])
        .when('DepositMoney', { accountId: 'a1', amount: -5 })
        .thenThrows((e) => e instanceof ValidationError && e.field === 'DepositMoney.amount');
    });

    it('opens an account without an overdraft limit by default', async () => {
      await bank
        .given('account-old', [])
        .when('OpenAccount', { accountId: 'old', owner: 'Old', currency: 'EUR' })
        .then([{ type: 'AccountOpened', data: { accountId: 'old', owner: 'Old', currency: 'EUR', overdraftLimit: 0 } }]);
    });
  });
});

describe('bank events as versioned contracts', () => {
  it('reads an AccountOpened stored at version 1 (before overdraft limits) as version 2 with a limit of 0', async () => {
    const store = await openTestStore();
    try {
      const bus = new CommandBus({ store });
      const { accounts } = registerBank({ store, bus });
      // Written years ago by the v1 code: no overdraftLimit, schemaVersion 1. Never migrated.
      await store.append('account-legacy', [
        { type: 'AccountOpened', schemaVersion: 1, data: { accountId: 'legacy', owner: 'Old', currency: 'EUR' } },
      ]);
      const account = await accounts.load('legacy');
      expect({ owner: account.owner, overdraftLimit: account.overdraftLimit, status: account.status }).toEqual({
        owner: 'Old',
        overdraftLimit: 0,
        status: 'open',
      });
      await expect(bus.execute('WithdrawMoney', { accountId: 'legacy', amount: 1 })).rejects.toMatchObject({
        code: 'insufficient_funds',
      });
      const [stored] = await store.readStream('account-legacy');
      expect(stored).toMatchObject({ schemaVersion: 1, data: { accountId: 'legacy', owner: 'Old', currency: 'EUR' } });
    } finally {
      await store.close();
    }
  });
});
