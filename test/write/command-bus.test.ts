import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  AggregateRepository,
  CommandBus,
  EventRegistry,
  defineCommand,
  ForbiddenError,
  IdempotencyError,
  IllegalStateError,
  UnknownMessageError,
  ValidationError,
} from '../../src/index.js';
import { BankAccount, registerBank, registerBankEvents } from '../../examples/bank/index.js';
import { registerOrders } from '../../examples/orders/index.js';
import { drivers, storeFactory } from '../support/drivers.js';

describe.each(drivers)('command bus (%s)', (driver) => {
  const stores = storeFactory(driver);

  async function bank(options: { retry?: { maxRetries?: number } } = {}) {
    const store = await stores.open();
    const bus = new CommandBus({ store, retry: options.retry });
    const { accounts } = registerBank({ store, bus });
    return { store, bus, accounts };
  }

  it('runs a command: loads, decides, appends with metadata, and returns positions', async () => {
    const { store, bus } = await bank();
    const opened = await bus.execute(
      'OpenAccount',
      { accountId: 'a1', owner: 'Ada', currency: 'EUR' },
      { userId: 'u-7', tenantId: 't-1', correlationId: 'corr-1' },
    );
    expect(opened).toMatchObject({
      commandType: 'OpenAccount',
      streamId: 'account-a1',
      nextExpectedVersion: 1,
      firstPosition: 1n,
      lastPosition: 1n,
      replayed: false,
      attempts: 1,
    });
    const deposit = await bus.execute(
      'DepositMoney',
      { accountId: 'a1', amount: 250 },
      { userId: 'u-7', tenantId: 't-1', metadata: { source: 'test' } },
    );
    expect(deposit.events).toEqual([{ id: expect.any(String), type: 'MoneyDeposited', streamVersion: 2, globalPosition: 2n }]);

    // A command runs in its tenant (docs/tenancy.md): account-a1 is tenant t-1's stream.
    expect(await store.readStream('account-a1')).toEqual([]);
    const [first, second] = await store.forTenant('t-1').readStream('account-a1');
    expect(first!.tenantId).toBe('t-1');
    expect(first!.metadata).toEqual({
      causationId: opened.commandId,
      correlationId: 'corr-1',
      commandType: 'OpenAccount',
      userId: 'u-7',
      tenantId: 't-1',
    });
    expect(second!.metadata).toMatchObject({
      causationId: deposit.commandId,
      correlationId: deposit.correlationId,
      userId: 'u-7',
      tenantId: 't-1',
      source: 'test',
    });
    expect(second!.id).toBe(deposit.events[0]!.id);
  });

  it('refuses invalid commands before any I/O, naming the field', async () => {
    const { store, bus } = await bank();
    const cases: Array<[string, unknown, string]> = [
      ['OpenAccount', { accountId: 'a1', owner: 'Ada', currency: 'euro' }, 'OpenAccount.currency'],
      ['OpenAccount', { accountId: '', owner: 'Ada', currency: 'EUR' }, 'OpenAccount.accountId'],
      ['DepositMoney', { accountId: 'a1', amount: 1.5 }, 'DepositMoney.amount'],
      ['DepositMoney', { accountId: 'a1', amount: '10' }, 'DepositMoney.amount'],
      ['DepositMoney', { accountId: 'a1' }, 'DepositMoney.amount'],
      ['DepositMoney', null, 'DepositMoney'],
      ['WithdrawMoney', { accountId: 'a1', amount: 0 }, 'WithdrawMoney.amount'],
    ];
    for (const [type, payload, field] of cases) {
      const error = await bus.execute(type, payload).catch((e: unknown) => e);
      expect(error, field).toBeInstanceOf(ValidationError);
      expect(error).toMatchObject({ field });
    }
    await expect(bus.execute('Teleport', {})).rejects.toBeInstanceOf(UnknownMessageError);
    await expect(bus.execute('DepositMoney', { accountId: 'a1', amount: 1 }, { commandId: '' })).rejects.toMatchObject({
      field: 'commandId',
    });
    expect(await store.headPosition()).toBe(0n);
  });

  it('asks the authorisation hook first', async () => {
    const store = await stores.open();
    const bus = new CommandBus({ store });
    const accounts = new AggregateRepository(store, BankAccount, { registry: registerBankEvents(new EventRegistry()) });
    const Ping = defineCommand('Ping', { schema: z.object({ accountId: z.string() }) });
    bus.registerAggregate(Ping, {
      repository: accounts,
      id: (c) => c.accountId,
      handle: (a) => a.open('x', 'EUR'),
      authorize: (_command, context) => context.userId === 'admin',
    });
    await expect(bus.execute('Ping', { accountId: 'p' }, { userId: 'mallory' })).rejects.toBeInstanceOf(ForbiddenError);
    expect(await store.headPosition()).toBe(0n);
    await expect(bus.execute('Ping', { accountId: 'p' }, { userId: 'admin' })).resolves.toMatchObject({ nextExpectedVersion: 1 });
  });

  it('surfaces domain errors without writing', async () => {
    const { store, bus } = await bank();
    await expect(bus.execute('DepositMoney', { accountId: 'nobody', amount: 5 })).rejects.toBeInstanceOf(IllegalStateError);
    await bus.execute('OpenAccount', { accountId: 'a1', owner: 'Ada', currency: 'EUR' });
    await expect(bus.execute('WithdrawMoney', { accountId: 'a1', amount: 5 })).rejects.toMatchObject({
      code: 'insufficient_funds',
    });
    expect(await store.headPosition()).toBe(1n);
  });

  it('converges under 20 concurrent writers of one account from 4 processes: no lost update', async () => {
    const store = await stores.open();
    // Four buses: four processes' worth of command handling (on the server, each with its own pool).
    const buses = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const own = driver === 'postgres' ? await stores.openSeparate(store.schema) : store;
        const bus = new CommandBus({ store: own, retry: { maxRetries: 50 } });
        registerBank({ store: own, bus });
        return bus;
      }),
    );
    const accounts = new AggregateRepository(store, BankAccount, { registry: registerBankEvents(new EventRegistry()) });
    await buses[0]!.execute('OpenAccount', { accountId: 'hot', owner: 'Ada', currency: 'EUR' });
    const amounts = Array.from({ length: 20 }, (_, i) => (i + 1) * 10);
    const results = await Promise.allSettled(
      amounts.map((amount, i) => buses[i % 4]!.execute('DepositMoney', { accountId: 'hot', amount })),
    );
    const accepted = amounts.filter((_, i) => results[i]!.status === 'fulfilled');
    expect(accepted).toHaveLength(20);
    const account = await accounts.load('hot');
    expect(account.balance).toBe(accepted.reduce((a, b) => a + b, 0));
    expect(account.version).toBe(21);
    // Conflicts between the processes really happened and were retried.
    const attempts = results.map((r) => (r.status === 'fulfilled' ? r.value.attempts : 0));
    if (driver === 'postgres') expect(Math.max(...attempts)).toBeGreaterThan(1);
  });

  it('runs commands for one stream one at a time within a process: no conflicts to retry', async () => {
    const { bus } = await bank({ retry: { maxRetries: 0 } });
    await bus.execute('OpenAccount', { accountId: 'hot', owner: 'Ada', currency: 'EUR' });
    const results = await Promise.all(
      Array.from({ length: 20 }, () => bus.execute('DepositMoney', { accountId: 'hot', amount: 1 })),
    );
    expect(results.map((r) => r.attempts)).toEqual(Array(20).fill(1));
    expect(results.map((r) => r.nextExpectedVersion).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
  });

  it('gives up after its retries and surfaces the ConcurrencyError', async () => {
    const store = await stores.open();
    const buses = Array.from({ length: 5 }, () => {
      const bus = new CommandBus({ store, retry: { maxRetries: 0 } });
      registerBank({ store, bus });
      return bus;
    });
    await buses[0]!.execute('OpenAccount', { accountId: 'hot', owner: 'Ada', currency: 'EUR' });
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => buses[i % 5]!.execute('DepositMoney', { accountId: 'hot', amount: 1 })),
    );
    const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(failed.length).toBeGreaterThan(0);
    for (const f of failed) expect(f.reason.name).toBe('ConcurrencyError');
  });

  it('handles a command id once: a retry returns the recorded outcome, even after other commands', async () => {
    const { store, bus, accounts } = await bank();
    await bus.execute('OpenAccount', { accountId: 'a1', owner: 'Ada', currency: 'EUR' });
    const commandId = randomUUID();
    const first = await bus.execute('DepositMoney', { accountId: 'a1', amount: 100 }, { commandId });
    await bus.execute('WithdrawMoney', { accountId: 'a1', amount: 30 });
    const retry = await bus.execute('DepositMoney', { accountId: 'a1', amount: 100 }, { commandId });
    expect(retry).toMatchObject({
      replayed: true,
      commandId,
      streamId: 'account-a1',
      firstPosition: first.firstPosition,
      lastPosition: first.lastPosition,
      nextExpectedVersion: 2,
    });
    expect(retry.events).toEqual(first.events);
    expect((await accounts.load('a1')).balance).toBe(70);
    expect(await store.headPosition()).toBe(3n);
    await expect(bus.execute('WithdrawMoney', { accountId: 'a1', amount: 1 }, { commandId })).rejects.toBeInstanceOf(
      IdempotencyError,
    );
  });

  it('handles the same command id sent 10 times at once exactly once', async () => {
    const { store, bus, accounts } = await bank();
    await bus.execute('OpenAccount', { accountId: 'a1', owner: 'Ada', currency: 'EUR' });
    const commandId = 'client-key-42';
    const results = await Promise.all(
      Array.from({ length: 10 }, () => bus.execute('DepositMoney', { accountId: 'a1', amount: 5 }, { commandId })),
    );
    expect(new Set(results.map((r) => r.lastPosition))).toEqual(new Set([2n]));
    expect((await accounts.load('a1')).balance).toBe(5);
    expect(await store.headPosition()).toBe(2n);
  });

  it('runs decider commands (orders) the same way', async () => {
    const store = await stores.open();
    const bus = new CommandBus({ store });
    registerOrders({ store, bus });
    const item = { sku: 'A', quantity: 2, priceCents: 300 };
    await bus.execute('PlaceOrder', { orderId: 'o1', customerId: 'c1', items: [item] });
    await bus.execute('AddItem', { orderId: 'o1', item: { sku: 'B', quantity: 1, priceCents: 50 } });
    const shipped = await bus.execute('ShipOrder', { orderId: 'o1', carrier: 'DHL' });
    expect(shipped).toMatchObject({ streamId: 'order-o1', nextExpectedVersion: 3 });
    await expect(bus.execute('CancelOrder', { orderId: 'o1', reason: 'late' })).rejects.toBeInstanceOf(IllegalStateError);
    expect((await store.readStream('order-o1')).map((e) => e.type)).toEqual(['OrderPlaced', 'ItemAdded', 'OrderShipped']);
  });

  it("runs a command in its tenant: the same id in two tenants is two aggregates, never decided on the other's cached state", async () => {
    const store = await stores.open();
    const bus = new CommandBus({ store });
    registerOrders({ store, bus }); // deciders: state cached by default
    const item = (sku: string) => ({ sku, quantity: 1, priceCents: 100 });
    const a = { tenantId: 'tenant-a' };
    const b = { tenantId: 'tenant-b' };
    await bus.execute('PlaceOrder', { orderId: 'o1', customerId: 'ca', items: [item('secret'), item('a2')] }, a);
    await bus.execute('PlaceOrder', { orderId: 'o1', customerId: 'cb', items: [item('mine')] }, b);
    // Both at version 1: a cache shared across tenants would let A decide on B's state and succeed.
    await bus.execute('AddItem', { orderId: 'o1', item: item('a3') }, a);
    await expect(bus.execute('RemoveItem', { orderId: 'o1', sku: 'mine' }, a)).rejects.toMatchObject({ code: 'unknown_sku' });
    await expect(bus.execute('RemoveItem', { orderId: 'o1', sku: 'secret' }, b)).rejects.toMatchObject({ code: 'unknown_sku' });
    expect((await store.forTenant('tenant-a').readStream('order-o1')).map((e) => e.type)).toEqual(['OrderPlaced', 'ItemAdded']);
    expect((await store.forTenant('tenant-b').readStream('order-o1')).map((e) => e.type)).toEqual(['OrderPlaced']);
    expect(await store.readStream('order-o1')).toEqual([]);
  });
});
