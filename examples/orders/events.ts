/** The orders domain's events (from the seed). Stream id: `order-<orderId>`. Prices in cents. */
import { z } from 'zod';
import { defineEvent, EventRegistry, type EventOf } from '../../src/index.js';

const orderId = z.string().min(1).max(100);
export const orderItem = z.object({
  sku: z.string().min(1).max(100),
  quantity: z.number().int().positive(),
  priceCents: z.number().int().nonnegative(),
});
export type OrderItem = z.infer<typeof orderItem>;

export const OrderPlaced = defineEvent('OrderPlaced', {
  description: 'A customer placed an order with its first items.',
  schema: z.object({
    orderId,
    customerId: z.string().min(1),
    items: z.array(orderItem).min(1),
    totalCents: z.number().int().nonnegative(),
  }),
});
export const ItemAdded = defineEvent('ItemAdded', {
  description: 'An item was added to a placed order.',
  schema: z.object({ orderId, item: orderItem }),
});
export const ItemRemoved = defineEvent('ItemRemoved', {
  description: 'An item (all of its quantity) was removed from a placed order.',
  schema: z.object({ orderId, sku: z.string() }),
});
export const OrderShipped = defineEvent('OrderShipped', {
  description: 'The order left the warehouse.',
  schema: z.object({ orderId, carrier: z.string().optional(), trackingNumber: z.string().optional() }),
});
export const OrderCancelled = defineEvent('OrderCancelled', {
  description: 'Compensating event: the order was cancelled before shipping; nothing is deleted.',
  schema: z.object({ orderId, reason: z.string().min(1).max(500) }),
});

export const orderEvents = [OrderPlaced, ItemAdded, ItemRemoved, OrderShipped, OrderCancelled] as const;
export type OrderEvent = EventOf<(typeof orderEvents)[number]>;

export function registerOrderEvents(registry: EventRegistry): EventRegistry {
  return registry.register(...orderEvents);
}
