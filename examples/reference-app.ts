/**
 * The reference application served by `npm start` / `fabula serve`: the bank and the orders domains,
 * money transfers between accounts (a saga), their read models (`account-balances` and `transfers`,
 * inline; `orders-for-display`, async) and queries on them.
 */
import { z } from 'zod';
import { defineApp, defineQuery, EventRegistry, NotFoundError } from '../src/index.js';
import { accountBalances, listAccountBalances, pageAccountBalances, readAccountBalance } from './bank/account-balances.js';
import { registerBank, registerBankEvents } from './bank/index.js';
import { registerOrderEvents, registerOrders } from './orders/index.js';
import { listOrdersForCustomer, ordersForDisplay, readOrderForDisplay } from './orders/orders-for-display.js';
import {
  listTransfers,
  readTransfer,
  registerTransferEvents,
  registerTransfers,
  transferProcess,
  transfers,
} from './transfers/index.js';

const registry = registerTransferEvents(registerOrderEvents(registerBankEvents(new EventRegistry())));
const page = z.coerce.number().int().min(1).max(1000).optional();

// What the queries answer, as JSON: the HTTP API documents it, so a generated client is typed.
const accountBalance = z.object({
  accountId: z.string(),
  owner: z.string(),
  currency: z.string(),
  balance: z.number().describe('Minor units (cents); negative within the overdraft limit'),
  overdraftLimit: z.number(),
  status: z.enum(['open', 'frozen', 'closed']),
  version: z.number().int(),
  updatedAt: z.string(),
});
const orderForDisplay = z.object({
  orderId: z.string(),
  customerId: z.string(),
  totalCents: z.number(),
  itemCount: z.number().int(),
  items: z.array(z.object({ sku: z.string(), quantity: z.number(), priceCents: z.number() })),
  status: z.enum(['placed', 'shipped', 'cancelled']),
  placedAt: z.string(),
  shippedAt: z.string().nullable(),
  cancelledAt: z.string().nullable(),
  carrier: z.string().nullable(),
  trackingNumber: z.string().nullable(),
  cancelReason: z.string().nullable(),
  version: z.number().int(),
});

const transfer = z.object({
  transferId: z.string(),
  fromAccountId: z.string(),
  toAccountId: z.string(),
  amount: z.number(),
  status: z.enum(['pending', 'completed', 'rejected', 'compensated']),
  reason: z.string().nullable().describe('Why it was rejected or compensated'),
  requestedAt: z.string(),
  updatedAt: z.string(),
});

export const AccountBalancesQuery = defineQuery('account-balances', {
  projection: 'account-balances',
  description: 'One account by accountId; or the accounts of an owner; or all accounts, a page at a time (after, limit).',
  schema: z.object({
    accountId: z.string().min(1).max(100).optional(),
    owner: z.string().min(1).max(200).optional(),
    after: z.string().max(100).optional(),
    limit: page,
  }),
  result: z.union([accountBalance, z.object({ items: z.array(accountBalance), next: z.string().nullable() })]),
});

export const OrdersForDisplayQuery = defineQuery('orders-for-display', {
  projection: 'orders-for-display',
  description: 'One order by orderId, or the orders of a customer (newest first).',
  schema: z
    .object({ orderId: z.string().min(1).max(100).optional(), customerId: z.string().min(1).max(100).optional(), limit: page })
    .refine((q) => (q.orderId === undefined) !== (q.customerId === undefined), {
      message: 'give exactly one of orderId or customerId',
    }),
  result: z.union([orderForDisplay, z.object({ items: z.array(orderForDisplay) })]),
});

export const TransfersQuery = defineQuery('transfers', {
  projection: 'transfers',
  description: "One transfer by transferId (status pending, completed, rejected or compensated); or an account's transfers.",
  schema: z
    .object({ transferId: z.string().min(1).max(100).optional(), accountId: z.string().min(1).max(100).optional(), limit: page })
    .refine((q) => (q.transferId === undefined) !== (q.accountId === undefined), {
      message: 'give exactly one of transferId or accountId',
    }),
  result: z.union([transfer, z.object({ items: z.array(transfer) })]),
});

/** The credit of a transfer may take this long before the transfer is refunded (FABULA_TRANSFER_TIMEOUT_MS for tests). */
const creditTimeoutMs = Number(process.env.FABULA_TRANSFER_TIMEOUT_MS) || 30_000;

export default defineApp({
  name: 'Fabula bank and orders',
  registry,
  projections: [accountBalances, ordersForDisplay, transfers],
  processes: [transferProcess({ creditTimeoutMs })],
  setup({ store, commands, queries, projections }) {
    const bank = registerBank({ store, bus: commands, registry, snapshots: { whenReplayExceeds: 200 } });
    const orders = registerOrders({ store, bus: commands, registry, snapshots: { whenReplayExceeds: 200 } });
    registerTransfers({ store, bus: commands, registry });

    // Every query answers from the caller's tenant only (`tenantId`: the default tenant for a caller
    // without one): another tenant's account, order or transfer is "not found", as one that does not exist.
    queries.register(AccountBalancesQuery, async ({ accountId, owner, after, limit }, { tenantId }) => {
      if (accountId !== undefined) {
        const account = await readAccountBalance(projections, store.sql, tenantId, accountId);
        if (!account) throw new NotFoundError(`no account ${JSON.stringify(accountId)}`);
        return account;
      }
      const items =
        owner !== undefined
          ? await listAccountBalances(projections, store.sql, tenantId, owner)
          : await pageAccountBalances(projections, store.sql, tenantId, { after, limit });
      return { items, next: owner === undefined && items.length === (limit ?? 100) ? items[items.length - 1]!.accountId : null };
    });
    queries.register(OrdersForDisplayQuery, async ({ orderId, customerId, limit }, { tenantId }) => {
      if (orderId !== undefined) {
        const order = await readOrderForDisplay(projections, store.sql, tenantId, orderId);
        if (!order)
          throw new NotFoundError(`no order ${JSON.stringify(orderId)} (yet: pass minPosition to wait for your own write)`);
        return order;
      }
      return { items: await listOrdersForCustomer(projections, store.sql, tenantId, customerId!, { limit }) };
    });

    queries.register(TransfersQuery, async ({ transferId, accountId, limit }, { tenantId }) => {
      if (transferId !== undefined) {
        const transfer = await readTransfer(projections, store.sql, tenantId, transferId);
        if (!transfer) throw new NotFoundError(`no transfer ${JSON.stringify(transferId)}`);
        return transfer;
      }
      return { items: await listTransfers(projections, store.sql, tenantId, accountId!, limit) };
    });

    return { aggregates: { account: bank.readState, order: orders.readState } };
  },
});
