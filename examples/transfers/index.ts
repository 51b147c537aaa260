/**
 * Money transfers between bank accounts, as a saga: the `transfer` stream records the request and how
 * it ended, the `transfer` process moves the money on the accounts (examples/bank), and the `transfers`
 * read model answers a transfer's status.
 */
import { CommandBus, DeciderRepository, EventRegistry, type EventStore } from '../../src/index.js';
import { CompensateTransfer, CompleteTransfer, RejectTransfer, TransferMoney } from './commands.js';
import { transferDecider } from './decider.js';
import { registerTransferEvents } from './events.js';

export * from './commands.js';
export * from './decider.js';
export * from './events.js';
export * from './process.js';
export * from './transfers-read-model.js';

export function registerTransfers({
  store,
  bus,
  registry = registerTransferEvents(new EventRegistry()),
}: {
  store: EventStore;
  bus: CommandBus;
  registry?: EventRegistry;
}) {
  const transfers = new DeciderRepository(store, transferDecider, { name: 'transfer', registry });
  const streamId = (command: { transferId: string }) => `transfer-${command.transferId}`;
  for (const definition of [TransferMoney, CompleteTransfer, RejectTransfer, CompensateTransfer]) {
    bus.registerDecider(definition as typeof CompleteTransfer, { repository: transfers, streamId });
  }
  return { transfers, registry };
}
