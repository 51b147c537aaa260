/**
 * The reference application served by `npm start` / `fabula serve`: the bank and the orders domains,
 * with their read models.
 */
import { defineApp, EventRegistry } from '../src/index.js';
import { registerBank, registerBankEvents } from './bank/index.js';
import { registerOrderEvents, registerOrders } from './orders/index.js';

const registry = registerOrderEvents(registerBankEvents(new EventRegistry()));

export default defineApp({
  name: 'Fabula bank and orders',
  registry,
  projections: [],
  setup({ store, commands }) {
    const { accounts } = registerBank({ store, bus: commands, registry, snapshots: { whenReplayExceeds: 200 } });
    const { orders } = registerOrders({ store, bus: commands, registry, snapshots: { whenReplayExceeds: 200 } });
    return {
      aggregates: {
        account: async (id, options) => {
          const account = await accounts.load(id, options);
          return { version: account.version, state: { ...account.snapshotState().fields, status: account.status } };
        },
        order: (id, options) => orders.load(`order-${id}`, options),
      },
    };
  },
});
