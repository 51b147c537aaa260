/** The orders reference domain, wired onto a command bus with a decider repository. */
import {
  CommandBus,
  DeciderRepository,
  EventRegistry,
  type EventStore,
  type SnapshotPolicy,
  type StateReader,
} from '../../src/index.js';
import { AddItem, CancelOrder, PlaceOrder, RemoveItem, ShipOrder } from './commands.js';
import { orderDecider } from './decider.js';
import { registerOrderEvents } from './events.js';

export * from './commands.js';
export * from './decider.js';
export * from './events.js';

export function registerOrders({
  store,
  bus,
  registry = registerOrderEvents(new EventRegistry()),
  snapshots,
}: {
  store: EventStore;
  bus: CommandBus;
  registry?: EventRegistry;
  snapshots?: SnapshotPolicy;
}) {
  const orders = new DeciderRepository(store, orderDecider, { name: 'order', registry, snapshots });
  const streamId = (command: { orderId: string }) => `order-${command.orderId}`;
  for (const definition of [PlaceOrder, AddItem, RemoveItem, ShipOrder, CancelOrder]) {
    bus.registerDecider(definition as typeof PlaceOrder, { repository: orders, streamId });
  }
  /** An order's state now, or as of a time or version (for temporal queries). */
  const readState: StateReader = (orderId, options) =>
    (options.tenantId === undefined ? orders : orders.forTenant(options.tenantId)).load(streamId({ orderId }), options);
  return { orders, registry, readState };
}
