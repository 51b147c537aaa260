import { describe, expect, it } from 'vitest';
import { listOrdersForCustomer, ordersForDisplay, readOrderForDisplay } from '../../examples/orders/orders-for-display.js';
import { DEFAULT_TENANT } from '../../src/index.js';
import { drivers } from '../support/drivers.js';
import { projectionsFactory } from './support.js';

describe.each(drivers)('read model orders-for-display (%s)', (driver) => {
  const factory = projectionsFactory(driver);

  it('shows each order as a list screen does, following placed, item changes, shipping and cancelling', async () => {
    const store = await factory.open();
    const projections = await factory.projections([ordersForDisplay]).start(store);
    const read = (id: string) => readOrderForDisplay(projections, store.sql, DEFAULT_TENANT, id);
    const widget = { sku: 'WIDGET-A', quantity: 2, priceCents: 1999 };
    const gadget = { sku: 'GADGET-B', quantity: 1, priceCents: 500 };

    await store.append('order-o1', [
      { type: 'OrderPlaced', data: { orderId: 'o1', customerId: 'c1', items: [widget], totalCents: 3998 } },
      { type: 'ItemAdded', data: { orderId: 'o1', item: gadget } },
      { type: 'ItemAdded', data: { orderId: 'o1', item: { sku: 'WIDGET-A', quantity: 1, priceCents: 1999 } } },
    ]);
    await store.append('order-o2', [
      { type: 'OrderPlaced', data: { orderId: 'o2', customerId: 'c1', items: [gadget, widget], totalCents: 4498 } },
    ]);
    let last = await store.append('order-o1', [{ type: 'ItemRemoved', data: { orderId: 'o1', sku: 'WIDGET-A' } }]);
    await projections.waitFor('orders-for-display', last.lastPosition);
    const placedAt = (await store.readStream('order-o1'))[0]!.recordedAt;
    expect(await read('o1')).toEqual({
      orderId: 'o1',
      customerId: 'c1',
      totalCents: 500,
      itemCount: 1,
      items: [gadget],
      status: 'placed',
      placedAt,
      shippedAt: null,
      cancelledAt: null,
      carrier: null,
      trackingNumber: null,
      cancelReason: null,
      version: 4,
    });

    last = await store.append('order-o1', [
      { type: 'OrderShipped', data: { orderId: 'o1', carrier: 'DHL', trackingNumber: 'T-1' } },
    ]);
    await store.append('order-o2', [{ type: 'OrderCancelled', data: { orderId: 'o2', reason: 'changed my mind' } }]);
    last = await store.append('order-o3', [
      { type: 'OrderPlaced', data: { orderId: 'o3', customerId: 'c2', items: [gadget], totalCents: 500 } },
      { type: 'OrderShipped', data: { orderId: 'o3' } },
    ]);
    await projections.waitFor('orders-for-display', last.lastPosition);
    const shippedAt = (await store.readStream('order-o1'))[4]!.recordedAt;
    expect(await read('o1')).toMatchObject({ status: 'shipped', shippedAt, carrier: 'DHL', trackingNumber: 'T-1', version: 5 });
    expect(await read('o2')).toMatchObject({
      status: 'cancelled',
      cancelReason: 'changed my mind',
      totalCents: 4498,
      itemCount: 2,
    });
    expect(await read('o3')).toMatchObject({ status: 'shipped', carrier: null, trackingNumber: null });
    const listed = await listOrdersForCustomer(projections, store.sql, DEFAULT_TENANT, 'c1');
    expect(listed.map((o) => [o.orderId, o.status])).toEqual([
      ['o2', 'cancelled'],
      ['o1', 'shipped'],
    ]);
  });
});
