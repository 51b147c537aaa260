/**
 * An order, in the functional style: `decide` turns a command and the current state into events (or a
 * DomainError); `evolve` folds one event into the state. Both are pure.
 */
import { defineDecider, DomainError, IllegalStateError } from '../../src/index.js';
import type { OrderEvent, OrderItem } from './events.js';

export type OrderStatus = 'none' | 'placed' | 'shipped' | 'cancelled';

export interface OrderState {
  status: OrderStatus;
  customerId: string | null;
  items: Record<string, OrderItem>;
}

export type OrderCommand =
  | { type: 'PlaceOrder'; data: { orderId: string; customerId: string; items: OrderItem[] } }
  | { type: 'AddItem'; data: { orderId: string; item: OrderItem } }
  | { type: 'RemoveItem'; data: { orderId: string; sku: string } }
  | { type: 'ShipOrder'; data: { orderId: string; carrier?: string; trackingNumber?: string } }
  | { type: 'CancelOrder'; data: { orderId: string; reason: string } };

const accepts: Record<OrderStatus, Array<OrderCommand['type']>> = {
  none: ['PlaceOrder'],
  placed: ['AddItem', 'RemoveItem', 'ShipOrder', 'CancelOrder'],
  shipped: [],
  cancelled: [],
};

export const total = (items: Iterable<OrderItem>) => [...items].reduce((sum, i) => sum + i.quantity * i.priceCents, 0);

export const orderDecider = defineDecider<OrderCommand, OrderEvent, OrderState>({
  initialState: { status: 'none', customerId: null, items: {} },

  decide(command, state) {
    if (!accepts[state.status].includes(command.type))
      throw new IllegalStateError('order', state.status, command.type, accepts[state.status]);
    switch (command.type) {
      case 'PlaceOrder': {
        const { orderId, customerId, items } = command.data;
        const skus = new Set(items.map((i) => i.sku));
        if (skus.size !== items.length)
          throw new DomainError('an order lists each sku once; merge the quantities', 'duplicate_sku');
        return { type: 'OrderPlaced', data: { orderId, customerId, items, totalCents: total(items) } };
      }
      case 'AddItem':
        if (state.items[command.data.item.sku])
          throw new DomainError(`sku ${command.data.item.sku} is already in the order`, 'duplicate_sku');
        return { type: 'ItemAdded', data: command.data };
      case 'RemoveItem':
        if (!state.items[command.data.sku]) throw new DomainError(`sku ${command.data.sku} is not in the order`, 'unknown_sku');
        if (Object.keys(state.items).length === 1)
          throw new DomainError('an order keeps at least one item; cancel it instead', 'last_item');
        return { type: 'ItemRemoved', data: command.data };
      case 'ShipOrder':
        return { type: 'OrderShipped', data: command.data };
      case 'CancelOrder':
        return { type: 'OrderCancelled', data: command.data };
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case 'OrderPlaced':
        return {
          status: 'placed',
          customerId: event.data.customerId,
          items: Object.fromEntries(event.data.items.map((i) => [i.sku, i])),
        };
      case 'ItemAdded':
        return { ...state, items: { ...state.items, [event.data.item.sku]: event.data.item } };
      case 'ItemRemoved': {
        const { [event.data.sku]: _removed, ...items } = state.items;
        return { ...state, items };
      }
      case 'OrderShipped':
        return { ...state, status: 'shipped' };
      case 'OrderCancelled':
        return { ...state, status: 'cancelled' };
    }
  },
});
