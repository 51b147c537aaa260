/**
 * Read model `orders-for-display`: one row per order as a list screen shows it (customer, total, item
 * count, status, when it was placed, shipped or cancelled). Async: the projection daemon keeps it, a few
 * milliseconds behind the appends; use `projections.waitFor('orders-for-display', position)` to read
 * your own writes.
 *
 * Tenant-scoped (docs/tenancy.md): rows are keyed by (tenant_id, order_id) and written in the event's
 * tenant; every read takes the tenant it reads for. Version 2: version 1 was keyed by order id alone.
 */
import { defineProjection, type Projections, type SqlExecutor } from '../../src/index.js';

interface OrderItem {
  sku: string;
  quantity: number;
  priceCents: number;
}

/** The orders event contract (data shapes of examples/orders/events.ts). */
type OrderEventData = {
  OrderPlaced: { orderId: string; customerId: string; items: OrderItem[]; totalCents: number };
  ItemAdded: { orderId: string; item: OrderItem };
  ItemRemoved: { orderId: string; sku: string };
  OrderShipped: { orderId: string; carrier?: string; trackingNumber?: string };
  OrderCancelled: { orderId: string; reason: string };
};

export type OrderStatus = 'placed' | 'shipped' | 'cancelled';

export interface OrderForDisplay {
  orderId: string;
  customerId: string;
  totalCents: number;
  /** Order lines (an ItemAdded adds one; an ItemRemoved removes every line of its sku). */
  itemCount: number;
  items: OrderItem[];
  status: OrderStatus;
  placedAt: Date;
  shippedAt: Date | null;
  cancelledAt: Date | null;
  carrier: string | null;
  trackingNumber: string | null;
  cancelReason: string | null;
  version: number;
}

export const ordersForDisplay = defineProjection<OrderEventData>({
  name: 'orders-for-display',
  version: 2,
  mode: 'async',
  description: 'One row per order for list screens: customer, total, item count, status and its times.',
  handles: ['OrderPlaced', 'ItemAdded', 'ItemRemoved', 'OrderShipped', 'OrderCancelled'],
  async setup(ctx) {
    await ctx.sql.exec(`
      CREATE TABLE ${ctx.table('orders')} (
        tenant_id       text NOT NULL,
        order_id        text NOT NULL,
        customer_id     text NOT NULL,
        total_cents     bigint NOT NULL,
        item_count      int NOT NULL,
        items           jsonb NOT NULL,
        status          text NOT NULL CHECK (status IN ('placed', 'shipped', 'cancelled')),
        placed_at       timestamptz NOT NULL,
        shipped_at      timestamptz,
        cancelled_at    timestamptz,
        carrier         text,
        tracking_number text,
        cancel_reason   text,
        version         int NOT NULL,
        PRIMARY KEY (tenant_id, order_id)
      );
      CREATE INDEX orders_by_customer ON ${ctx.table('orders')} (tenant_id, customer_id, placed_at DESC, order_id);`);
  },
  async apply(event, ctx) {
    const orders = ctx.table('orders');
    // $1 tenant, $2 order, $3 version: every statement stays within the event's tenant.
    const key = [event.tenantId, event.data.orderId, event.streamVersion] as const;
    let updated: unknown[];
    switch (event.type) {
      case 'OrderPlaced':
        await ctx.sql.query(
          `INSERT INTO ${orders} (tenant_id, order_id, version, customer_id, total_cents, item_count, items, status, placed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, 'placed', $8)`,
          [
            ...key,
            event.data.customerId,
            event.data.totalCents,
            event.data.items.length,
            JSON.stringify(event.data.items),
            event.recordedAt,
          ],
        );
        return;
      case 'ItemAdded':
        updated = await ctx.sql.query(
          `UPDATE ${orders} SET items = items || jsonb_build_array($4::jsonb), item_count = item_count + 1,
             total_cents = total_cents + $5, version = $3
           WHERE tenant_id = $1 AND order_id = $2 RETURNING 1`,
          [...key, JSON.stringify(event.data.item), event.data.item.quantity * event.data.item.priceCents],
        );
        break;
      case 'ItemRemoved':
        // Every line of the sku goes; the total drops by what those lines cost.
        updated = await ctx.sql.query(
          `UPDATE ${orders} o SET items = r.kept, item_count = r.kept_count, total_cents = o.total_cents - r.removed, version = $3
           FROM (SELECT coalesce(jsonb_agg(x) FILTER (WHERE x->>'sku' <> $4), '[]'::jsonb) AS kept,
                        count(*) FILTER (WHERE x->>'sku' <> $4) AS kept_count,
                        coalesce(sum((x->>'quantity')::bigint * (x->>'priceCents')::bigint) FILTER (WHERE x->>'sku' = $4), 0) AS removed
                 FROM ${orders} i CROSS JOIN LATERAL jsonb_array_elements(i.items) AS x
                 WHERE i.tenant_id = $1 AND i.order_id = $2) r
           WHERE o.tenant_id = $1 AND o.order_id = $2 RETURNING 1`,
          [...key, event.data.sku],
        );
        break;
      case 'OrderShipped':
        updated = await ctx.sql.query(
          `UPDATE ${orders} SET status = 'shipped', shipped_at = $4, carrier = $5, tracking_number = $6, version = $3
           WHERE tenant_id = $1 AND order_id = $2 RETURNING 1`,
          [...key, event.recordedAt, event.data.carrier ?? null, event.data.trackingNumber ?? null],
        );
        break;
      default:
        updated = await ctx.sql.query(
          `UPDATE ${orders} SET status = 'cancelled', cancelled_at = $4, cancel_reason = $5, version = $3
           WHERE tenant_id = $1 AND order_id = $2 RETURNING 1`,
          [...key, event.recordedAt, (event.data as OrderEventData['OrderCancelled']).reason],
        );
    }
    if (updated.length === 0) throw new Error(`order ${event.data.orderId} has no row: its OrderPlaced was not seen`);
  },
});

interface OrderRow {
  order_id: string;
  customer_id: string;
  total_cents: string;
  item_count: number;
  items: OrderItem[];
  status: OrderStatus;
  placed_at: Date;
  shipped_at: Date | null;
  cancelled_at: Date | null;
  carrier: string | null;
  tracking_number: string | null;
  cancel_reason: string | null;
  version: number;
}

const COLUMNS = `order_id, customer_id, total_cents::text AS total_cents, item_count, items, status, placed_at, shipped_at,
  cancelled_at, carrier, tracking_number, cancel_reason, version`;

function toOrder(row: OrderRow): OrderForDisplay {
  return {
    orderId: row.order_id,
    customerId: row.customer_id,
    totalCents: Number(row.total_cents),
    itemCount: row.item_count,
    items: row.items,
    status: row.status,
    placedAt: row.placed_at,
    shippedAt: row.shipped_at,
    cancelledAt: row.cancelled_at,
    carrier: row.carrier,
    trackingNumber: row.tracking_number,
    cancelReason: row.cancel_reason,
    version: row.version,
  };
}

/** One order of `tenantId`, or null (also when only another tenant has the id). */
export async function readOrderForDisplay(
  projections: Projections,
  sql: SqlExecutor,
  tenantId: string,
  orderId: string,
): Promise<OrderForDisplay | null> {
  const table = await projections.table('orders-for-display', 'orders');
  const rows = await sql.query<OrderRow>(`SELECT ${COLUMNS} FROM ${table} WHERE tenant_id = $1 AND order_id = $2`, [
    tenantId,
    orderId,
  ]);
  return rows[0] ? toOrder(rows[0]) : null;
}

/** A customer's orders in `tenantId`, newest first. */
export async function listOrdersForCustomer(
  projections: Projections,
  sql: SqlExecutor,
  tenantId: string,
  customerId: string,
  options: { limit?: number } = {},
): Promise<OrderForDisplay[]> {
  const table = await projections.table('orders-for-display', 'orders');
  const rows = await sql.query<OrderRow>(
    `SELECT ${COLUMNS} FROM ${table} o WHERE o.tenant_id = $1 AND o.customer_id = $2
     ORDER BY o.placed_at DESC, o.order_id LIMIT $3`,
    [tenantId, customerId, options.limit ?? 50],
  );
  return rows.map(toOrder);
}
