/** The bank and transfers wired in one process, with the transfer saga running: for the processes' tests. */
import { CommandBus, DEFAULT_TENANT, createProcesses, createProjections, EventRegistry, type EventStore } from '../../src/index.js';
import { accountBalances } from '../../examples/bank/account-balances.js';
import { registerBank, registerBankEvents } from '../../examples/bank/index.js';
import { readTransfer, registerTransferEvents, registerTransfers, transferProcess, transfers } from '../../examples/transfers/index.js';
import type { storeFactory } from '../support/drivers.js';

export async function startBank(stores: ReturnType<typeof storeFactory>, options: { creditTimeoutMs?: number } = {}) {
  const registry = registerTransferEvents(registerBankEvents(new EventRegistry()));
  const projections = createProjections([accountBalances, transfers], { pollIntervalMs: 50 });
  const store: EventStore = await stores.open({ inlineHandlers: [projections.inlineHandler] });
  await projections.start(store);
  const bus = new CommandBus({ store });
  registerBank({ store, bus, registry });
  registerTransfers({ store, bus, registry });
  const processes = await createProcesses([transferProcess(options)], {
    commands: bus,
    registry,
    pollIntervalMs: 50,
    consumers: { pollIntervalMs: 50 },
  }).start(store);
  const errors: unknown[] = [];
  processes.on('error', (e) => errors.push(e));
  return {
    store,
    bus,
    processes,
    projections,
    errors,
    async open(accountId: string, deposit: number) {
      await bus.execute('OpenAccount', { accountId, owner: accountId, currency: 'EUR' });
      if (deposit > 0) await bus.execute('DepositMoney', { accountId, amount: deposit });
    },
    /** Waits until the transfer has ended, and returns it. */
    async ended(transferId: string, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const transfer = await readTransfer(projections, store.sql, DEFAULT_TENANT, transferId);
        if (transfer && transfer.status !== 'pending') return transfer;
        if (Date.now() > deadline) throw new Error(`transfer ${transferId} still ${transfer?.status ?? 'unknown'} after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async balance(accountId: string) {
      const events = await store.readStream(`account-${accountId}`);
      return events.reduce(
        (sum, e) =>
          sum + (e.type === 'MoneyDeposited' ? (e.data as { amount: number }).amount : e.type === 'MoneyWithdrawn' ? -(e.data as { amount: number }).amount : 0),
        0,
      );
    },
    async stop() {
      await processes.stop();
      await projections.stop();
    },
  };
}
