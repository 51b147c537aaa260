import { z } from 'zod';
import { defineCommand } from '../../src/index.js';
import { orderItem } from './events.js';

const orderId = z.string().min(1).max(100);

export const PlaceOrder = defineCommand('PlaceOrder', {
  description: 'Place an order with at least one item.',
  schema: z.object({ orderId, customerId: z.string().min(1).max(100), items: z.array(orderItem).min(1).max(100) }),
});
export const AddItem = defineCommand('AddItem', {
  description: 'Add an item to a placed order.',
  schema: z.object({ orderId, item: orderItem }),
});
export const RemoveItem = defineCommand('RemoveItem', {
  description: 'Remove an item from a placed order.',
  schema: z.object({ orderId, sku: z.string().min(1) }),
});
export const ShipOrder = defineCommand('ShipOrder', {
  description: 'Ship a placed order.',
  schema: z.object({ orderId, carrier: z.string().max(100).optional(), trackingNumber: z.string().max(100).optional() }),
});
export const CancelOrder = defineCommand('CancelOrder', {
  description: 'Cancel a placed order (a compensating event; shipped orders cannot be cancelled).',
  schema: z.object({ orderId, reason: z.string().min(1).max(500) }),
});
export const orderCommands = [PlaceOrder, AddItem, RemoveItem, ShipOrder, CancelOrder] as const;
