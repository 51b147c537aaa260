/**
 * The bank reference domain, wired: events in a registry, the account aggregate, its repository, and
 * its commands on a command bus.
 */
import {
  AggregateRepository,
  CommandBus,
  EventRegistry,
  type EventStore,
  type SnapshotPolicy,
  type StateReader,
} from '../../src/index.js';
import { BankAccount } from './account.js';
import {
  CloseAccount,
  DepositMoney,
  FreezeAccount,
  OpenAccount,
  ReceiveTransfer,
  RefundTransfer,
  SendTransfer,
  UnfreezeAccount,
  WithdrawMoney,
} from './commands.js';
import { registerBankEvents } from './events.js';

export { BankAccount } from './account.js';
export * from './commands.js';
export * from './events.js';

export interface BankOptions {
  store: EventStore;
  bus: CommandBus;
  registry?: EventRegistry;
  snapshots?: SnapshotPolicy;
}

export function registerBank({ store, bus, registry = registerBankEvents(new EventRegistry()), snapshots }: BankOptions) {
  const accounts = new AggregateRepository(store, BankAccount, { registry, snapshots });
  const id = (command: { accountId: string }) => command.accountId;
  bus
    .registerAggregate(OpenAccount, {
      repository: accounts,
      id,
      handle: (a, c) => a.open(c.owner, c.currency, c.overdraftLimit ?? 0),
    })
    .registerAggregate(DepositMoney, { repository: accounts, id, handle: (a, c) => a.deposit(c.amount) })
    .registerAggregate(WithdrawMoney, { repository: accounts, id, handle: (a, c) => a.withdraw(c.amount) })
    .registerAggregate(FreezeAccount, { repository: accounts, id, handle: (a, c) => a.freeze(c.reason) })
    .registerAggregate(UnfreezeAccount, { repository: accounts, id, handle: (a) => a.unfreeze() })
    .registerAggregate(CloseAccount, { repository: accounts, id, handle: (a) => a.close() })
    .registerAggregate(SendTransfer, { repository: accounts, id, handle: (a, c) => a.sendTransfer(c.amount, c.transferId) })
    .registerAggregate(ReceiveTransfer, { repository: accounts, id, handle: (a, c) => a.receiveTransfer(c.amount, c.transferId) })
    .registerAggregate(RefundTransfer, { repository: accounts, id, handle: (a, c) => a.refundTransfer(c.amount, c.transferId) });
  /** An account's state now, or as of a time or version (for temporal queries). */
  const readState: StateReader = async (accountId, options) => {
    const repository = options.tenantId === undefined ? accounts : accounts.forTenant(options.tenantId);
    const account = await repository.load(accountId, options);
    return { version: account.version, state: { ...account.snapshotState().fields, status: account.status } };
  };
  return { accounts, registry, readState };
}
