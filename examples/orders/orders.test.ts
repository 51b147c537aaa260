/** The order's rules, as decider specifications: pure, no store. */
import { describe, it } from 'vitest';
import { DomainError, IllegalStateError } from '../../src/index.js';
import { deciderSpec } from '../../src/testing/index.js';
import { orderDecider, type OrderCommand } from './decider.js';
import type { OrderEvent } from './events.js';

const order = deciderSpec(orderDecider);
const widget = { sku: 'WIDGET-A', quantity: 2, priceCents: 1999 };
const gadget = { sku: 'GADGET-B', quantity: 1, priceCents: 500 };
const placed: OrderEvent = { type: 'OrderPlaced', data: { orderId: 'o1', customerId: 'c1', items: [widget], totalCents: 3998 } };
const place: OrderCommand = { type: 'PlaceOrder', data: { orderId: 'o1', customerId: 'c1', items: [widget] } };

describe('order', () => {
  it('is placed with its total', () => {
    order.given([]).when(place).then([placed]);
    order.given([placed]).when(place).thenThrows(IllegalStateError);
    order
      .given([])
      .when({ type: 'PlaceOrder', data: { orderId: 'o1', customerId: 'c1', items: [widget, widget] } })
      .thenThrows((e) => e instanceof DomainError && e.code === 'duplicate_sku');
  });

  it('adds and removes items while placed, keeping at least one', () => {
    order
      .given([placed])
      .when({ type: 'AddItem', data: { orderId: 'o1', item: gadget } })
      .then([{ type: 'ItemAdded', data: { orderId: 'o1', item: gadget } }]);
    const added: OrderEvent = { type: 'ItemAdded', data: { orderId: 'o1', item: gadget } };
    order
      .given([placed, added])
      .when({ type: 'RemoveItem', data: { orderId: 'o1', sku: 'WIDGET-A' } })
      .then([{ type: 'ItemRemoved', data: { orderId: 'o1', sku: 'WIDGET-A' } }]);
    order
      .given([placed])
      .when({ type: 'RemoveItem', data: { orderId: 'o1', sku: 'WIDGET-A' } })
      .thenThrows((e) => e instanceof DomainError && e.code === 'last_item');
    order
      .given([placed])
      .when({ type: 'RemoveItem', data: { orderId: 'o1', sku: 'NOPE' } })
      .thenThrows((e) => e instanceof DomainError && e.code === 'unknown_sku');
  });

  it('ships, or is cancelled with a compensating event, but not after shipping', () => {
    const shipped: OrderEvent = { type: 'OrderShipped', data: { orderId: 'o1', carrier: 'DHL' } };
    order
      .given([placed])
      .when({ type: 'ShipOrder', data: { orderId: 'o1', carrier: 'DHL' } })
      .then([shipped]);
    order
      .given([placed])
      .when({ type: 'CancelOrder', data: { orderId: 'o1', reason: 'changed mind' } })
      .then([{ type: 'OrderCancelled', data: { orderId: 'o1', reason: 'changed mind' } }]);
    order
      .given([placed, shipped])
      .when({ type: 'CancelOrder', data: { orderId: 'o1', reason: 'too late' } })
      .thenThrows((e) => e instanceof IllegalStateError && e.state === 'shipped' && e.action === 'CancelOrder');
  });
});
