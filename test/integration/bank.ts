/** The bank example on a store, and a load of commands over many accounts, for the integration tests. */
import { CommandBus, EventRegistry, type EventStore } from '../../src/index.js';
import { registerBank, registerBankEvents } from '../../examples/bank/index.js';

export function bankBus(store: EventStore) {
  const bus = new CommandBus({ store });
  const registry = registerBankEvents(new EventRegistry());
  registerBank({ store, bus, registry });
  return { bus, registry };
}

/**
 * Opens `accounts` accounts, then deposits until `events` events were written in total, one lane per
 * account (so lanes run concurrently); `pause` (if given) is awaited between commands of lane 0.
 */
export async function bankLoad(
  bus: CommandBus,
  events: number,
  options: { accounts?: number; prefix?: string; tick?: () => Promise<void> } = {},
) {
  const accounts = options.accounts ?? 20;
  const prefix = options.prefix ?? 'a';
  await Promise.all(
    Array.from({ length: accounts }, (_, i) =>
      bus.execute('OpenAccount', { accountId: `${prefix}${i}`, owner: `o${i}`, currency: 'EUR' }),
    ),
  );
  const deposits = events - accounts;
  await Promise.all(
    Array.from({ length: accounts }, async (_, lane) => {
      for (let n = lane; n < deposits; n += accounts) {
        await bus.execute('DepositMoney', { accountId: `${prefix}${lane}`, amount: n + 1 });
        if (lane === 0 && options.tick) await options.tick();
      }
    }),
  );
}
