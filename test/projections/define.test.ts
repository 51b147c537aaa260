import { describe, expect, it } from 'vitest';
import {
  createProjections,
  defineLiveProjection,
  defineProjection,
  runLiveProjection,
  ValidationError,
} from '../../src/index.js';
import { instanceSchemaName } from '../../src/projections/naming.js';
import { planRegistration } from '../../src/projections/registry.js';
import { drivers } from '../support/drivers.js';
import { projectionsFactory } from './support.js';

const apply = async () => {};

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError) return error.field;
    throw error;
  }
  return undefined;
}

describe('defineProjection', () => {
  it('describes itself as plain data for catalogs', () => {
    const p = defineProjection({ name: 'orders-for-display', version: 3, handles: ['OrderPlaced', 'OrderShipped'], apply });
    expect(p.describe()).toEqual({
      name: 'orders-for-display',
      version: 3,
      mode: 'async',
      handles: ['OrderPlaced', 'OrderShipped'],
      onFailure: 'stop',
      description: null,
    });
    expect(JSON.parse(JSON.stringify(p.describe()))).toEqual(p.describe());
    expect(p.retry).toEqual({ attempts: 3, backoffMs: 100, maxBackoffMs: 5_000 });
  });

  it('refuses bad definitions, naming the field', () => {
    const ok = { name: 'p', version: 1, handles: ['E'], apply };
    expect(fieldOf(() => defineProjection({ ...ok, name: 'Orders' }))).toBe('name');
    expect(fieldOf(() => defineProjection({ ...ok, name: 'a_b' }))).toBe('name');
    expect(fieldOf(() => defineProjection({ ...ok, name: 'x'.repeat(41) }))).toBe('name');
    expect(fieldOf(() => defineProjection({ ...ok, version: 0 }))).toBe('version');
    expect(fieldOf(() => defineProjection({ ...ok, version: 1.5 }))).toBe('version');
    expect(fieldOf(() => defineProjection({ ...ok, mode: 'sometimes' as 'async' }))).toBe('mode');
    expect(fieldOf(() => defineProjection({ ...ok, handles: [] }))).toBe('handles');
    expect(fieldOf(() => defineProjection({ ...ok, handles: ['E', 'no spaces'] }))).toBe('handles[1]');
    expect(fieldOf(() => defineProjection({ ...ok, handles: ['E', 'E'] }))).toBe('handles[1]');
    expect(fieldOf(() => defineProjection({ ...ok, apply: 'x' as never }))).toBe('apply');
    expect(fieldOf(() => defineProjection({ ...ok, setup: 1 as never }))).toBe('setup');
    expect(fieldOf(() => defineProjection({ ...ok, onFailure: 'ignore' as 'stop' }))).toBe('onFailure');
    expect(fieldOf(() => defineProjection({ ...ok, retry: { attempts: 0 } }))).toBe('retry.attempts');
    expect(fieldOf(() => defineProjection({ ...ok, retry: { backoffMs: -1 } }))).toBe('retry.backoffMs');
  });

  it('refuses bad daemon options and duplicate registrations', () => {
    const p = defineProjection({ name: 'p', version: 1, handles: ['E'], apply });
    expect(fieldOf(() => createProjections([p, p]))).toBe('projections[1].name');
    expect(fieldOf(() => createProjections([{} as never]))).toBe('projections[0]');
    expect(fieldOf(() => createProjections([p], { batchSize: 0 }))).toBe('batchSize');
    expect(fieldOf(() => createProjections([p], { leaseTtlMs: 10 }))).toBe('leaseTtlMs');
    expect(fieldOf(() => createProjections([p], { owner: '' }))).toBe('owner');
    expect(fieldOf(() => instanceSchemaName('s'.repeat(30), 'x'.repeat(40), 1, 0))).toBe('name');
    expect(instanceSchemaName('fabula', 'orders-for-display', 2, 1)).toBe('fabula_p_orders_for_display_v2_r1');
  });
});

describe('planRegistration', () => {
  const row = (version: number, build: number, phase: 'building' | 'active' | 'retired') => ({ version, build, phase });

  it('makes the first version active at once and builds newer versions beside the active one', () => {
    expect(planRegistration([], 1)).toEqual({ create: { version: 1, build: 0, phase: 'active' }, superseded: false });
    expect(planRegistration([row(1, 0, 'active')], 1)).toEqual({ create: null, superseded: false });
    expect(planRegistration([row(1, 0, 'active')], 2)).toEqual({
      create: { version: 2, build: 0, phase: 'building' },
      superseded: false,
    });
    expect(planRegistration([row(1, 0, 'retired'), row(2, 0, 'active')], 1)).toEqual({ create: null, superseded: true });
    expect(planRegistration([row(1, 0, 'active'), row(2, 0, 'building')], 1)).toEqual({ create: null, superseded: false });
    // A version that was retired and comes back (a removed projection, a rollback past it) gets a new build.
    expect(planRegistration([row(1, 0, 'retired')], 1)).toEqual({
      create: { version: 1, build: 1, phase: 'active' },
      superseded: false,
    });
  });
});

describe.each(drivers)('live projections (%s)', (driver) => {
  const factory = projectionsFactory(driver);
  const balance = defineLiveProjection<number, { Deposited: { amount: number }; Withdrawn: { amount: number } }>({
    name: 'balance',
    handles: ['Deposited', 'Withdrawn'],
    initial: () => 0,
    evolve: (state, event) => (event.type === 'Deposited' ? state + event.data.amount : state - event.data.amount),
  });

  it('fold a stream (also as it was at a moment) or a filtered read of the global order, storing nothing', async () => {
    const store = await factory.open();
    await store.append('acct-1', [
      { type: 'Deposited', data: { amount: 100 } },
      { type: 'Noted', data: {} },
    ]);
    const moment = new Date();
    await new Promise((r) => setTimeout(r, 5));
    await store.append('acct-1', [{ type: 'Withdrawn', data: { amount: 30 } }]);
    const last = await store.append('other-1', [{ type: 'Deposited', data: { amount: 5 } }]);
    expect(await runLiveProjection(store, balance, { streamId: 'acct-1' })).toEqual({ state: 70, events: 2, position: 3n });
    expect((await runLiveProjection(store, balance, { streamId: 'acct-1', asOf: moment })).state).toBe(100);
    expect(await runLiveProjection(store, balance, {})).toEqual({ state: 75, events: 3, position: last.lastPosition });
    expect((await runLiveProjection(store, balance, { streamTypes: ['acct'] })).state).toBe(70);
    expect((await runLiveProjection(store, balance, { after: 1n, until: 3n })).state).toBe(-30);
    expect(fieldOf(() => defineLiveProjection({ ...balance, evolve: undefined as never }))).toBe('evolve');
  });
});
