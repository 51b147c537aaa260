import { describe, expect, it } from 'vitest';
import { accountBalances, listAccountBalances, readAccountBalance } from '../../examples/bank/account-balances.js';
import { DEFAULT_TENANT, ProjectionFailedError } from '../../src/index.js';
import { drivers } from '../support/drivers.js';
import { projectionsFactory } from './support.js';

describe.each(drivers)('read model account-balances (%s)', (driver) => {
  const factory = projectionsFactory(driver);

  async function setUp() {
    const projections = factory.projections([accountBalances]);
    const store = await factory.open({ inlineHandlers: [projections.inlineHandler] });
    await projections.start(store);
    return { projections, store, read: (id: string) => readAccountBalance(projections, store.sql, DEFAULT_TENANT, id) };
  }

  it('keeps one row per account, consistent with every append (no waiting)', async () => {
    const { projections, store, read } = await setUp();
    const opened = await store.append(
      'account-a1',
      [{ type: 'AccountOpened', data: { accountId: 'a1', owner: 'Ada', currency: 'EUR', overdraftLimit: 5_000 } }],
      { expectedVersion: 'no_stream' },
    );
    expect(await read('a1')).toEqual({
      accountId: 'a1',
      owner: 'Ada',
      currency: 'EUR',
      balance: 0,
      overdraftLimit: 5_000,
      status: 'open',
      version: 1,
      updatedAt: (await store.readStream('account-a1'))[0]!.recordedAt,
    });
    await store.append('account-a1', [{ type: 'MoneyDeposited', data: { accountId: 'a1', amount: 10_000 } }], {
      expectedVersion: opened.nextExpectedVersion,
    });
    expect(await read('a1')).toMatchObject({ balance: 10_000, version: 2 });
    await store.append('account-a1', [
      { type: 'MoneyWithdrawn', data: { accountId: 'a1', amount: 12_500 } },
      { type: 'AccountFrozen', data: { accountId: 'a1', reason: 'audit' } },
    ]);
    expect(await read('a1')).toMatchObject({ balance: -2_500, status: 'frozen', version: 4 });
    await store.append('account-a1', [{ type: 'AccountUnfrozen', data: { accountId: 'a1' } }]);
    expect(await read('a1')).toMatchObject({ status: 'open', version: 5 });
    await store.append('account-a1', [
      { type: 'MoneyDeposited', data: { accountId: 'a1', amount: 2_500 } },
      { type: 'AccountClosed', data: { accountId: 'a1' } },
    ]);
    expect(await read('a1')).toMatchObject({ balance: 0, status: 'closed', version: 7 });

    // An account opened by an older version of the event (no overdraftLimit) reads as 0.
    await store.append('account-a2', [
      { type: 'AccountOpened', data: { accountId: 'a2', owner: 'Ada', currency: 'USD' }, schemaVersion: 1 },
    ]);
    expect(
      (await listAccountBalances(projections, store.sql, DEFAULT_TENANT, 'Ada')).map((a) => [
        a.accountId,
        a.currency,
        a.overdraftLimit,
      ]),
    ).toEqual([
      ['a1', 'EUR', 5_000],
      ['a2', 'USD', 0],
    ]);
    expect(await read('nobody')).toBeNull();
  });

  it('refuses an append that would leave the read model wrong: money for an account never opened', async () => {
    const { store, read } = await setUp();
    const error = await store
      .append('account-ghost', [{ type: 'MoneyDeposited', data: { accountId: 'ghost', amount: 1 } }])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProjectionFailedError);
    expect((error as Error).message).toMatch(/account-balances.*account ghost has no row/);
    expect(await store.readStream('account-ghost')).toEqual([]);
    expect(await read('ghost')).toBeNull();
  });
});
