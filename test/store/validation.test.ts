import { describe, expect, it } from 'vitest';
import { ValidationError, type EventStore } from '../../src/index.js';
import { drivers, storeFactory } from '../support/drivers.js';

const cyclic: Record<string, unknown> = { a: 1 };
cyclic.self = cyclic;

/** [what, stream id, events, options, field the error must name] */
const badAppends: Array<[string, unknown, unknown, unknown, string]> = [
  ['an empty stream id', '', [{ type: 'E', data: {} }], {}, 'streamId'],
  ['a stream id over 256 characters', 'a'.repeat(257), [{ type: 'E', data: {} }], {}, 'streamId'],
  ['a stream id with a control character', 'account-\n1', [{ type: 'E', data: {} }], {}, 'streamId'],
  ['a stream id with NUL', 'account-\u00001', [{ type: 'E', data: {} }], {}, 'streamId'],
  ['a stream id that is not a string', 42, [{ type: 'E', data: {} }], {}, 'streamId'],
  ['a stream id with surrounding spaces', ' account-1', [{ type: 'E', data: {} }], {}, 'streamId'],
  ['an empty append', 's-1', [], {}, 'events'],
  ['events that are not an array', 's-1', { type: 'E', data: {} }, {}, 'events'],
  ['an event that is not an object', 's-1', ['E'], {}, 'events[0]'],
  ['a missing type', 's-1', [{ data: {} }], {}, 'events[0].type'],
  ['an empty type', 's-1', [{ type: '', data: {} }], {}, 'events[0].type'],
  ['a type with spaces', 's-1', [{ type: 'Money Deposited', data: {} }], {}, 'events[0].type'],
  ['a type starting with a digit', 's-1', [{ type: '1Thing', data: {} }], {}, 'events[0].type'],
  ['a type over 200 characters', 's-1', [{ type: 'E'.repeat(201), data: {} }], {}, 'events[0].type'],
  ['missing data', 's-1', [{ type: 'E' }], {}, 'events[0].data'],
  ['a function in data', 's-1', [{ type: 'E', data: { f: () => 1 } }], {}, 'events[0].data.f'],
  ['NaN in data', 's-1', [{ type: 'E', data: { n: Number.NaN } }], {}, 'events[0].data.n'],
  ['Infinity in data', 's-1', [{ type: 'E', data: [1, Infinity] }], {}, 'events[0].data[1]'],
  ['a bigint in data', 's-1', [{ type: 'E', data: { n: 1n } }], {}, 'events[0].data.n'],
  ['a Date in data', 's-1', [{ type: 'E', data: { at: new Date() } }], {}, 'events[0].data.at'],
  ['a Map in data', 's-1', [{ type: 'E', data: new Map() }], {}, 'events[0].data'],
  ['a cycle in data', 's-1', [{ type: 'E', data: cyclic }], {}, 'events[0].data.self'],
  ['NUL in a string', 's-1', [{ type: 'E', data: { s: 'a\u0000b' } }], {}, 'events[0].data.s'],
  ['a lone surrogate', 's-1', [{ type: 'E', data: { s: '\ud800' } }], {}, 'events[0].data.s'],
  ['metadata that is not an object', 's-1', [{ type: 'E', data: {}, metadata: 'x' }], {}, 'events[0].metadata'],
  ['a userId that is not a string', 's-1', [{ type: 'E', data: {}, metadata: { userId: 7 } }], {}, 'events[0].metadata.userId'],
  ['an id that is not a UUID', 's-1', [{ id: 'abc', type: 'E', data: {} }], {}, 'events[0].id'],
  [
    'the same id twice',
    's-1',
    [
      { id: '00000000-0000-4000-8000-000000000001', type: 'E', data: {} },
      { id: '00000000-0000-4000-8000-000000000001', type: 'E', data: {} },
    ],
    {},
    'events[1].id',
  ],
  ['a schema version of 0', 's-1', [{ type: 'E', data: {}, schemaVersion: 0 }], {}, 'events[0].schemaVersion'],
  ['a fractional schema version', 's-1', [{ type: 'E', data: {}, schemaVersion: 1.5 }], {}, 'events[0].schemaVersion'],
  ['an event over the size limit', 's-1', [{ type: 'E', data: { s: 'x'.repeat(1024 * 1024) } }], {}, 'events[0]'],
  ['an unknown expectedVersion', 's-1', [{ type: 'E', data: {} }], { expectedVersion: 'latest' }, 'expectedVersion'],
  ['a negative expectedVersion', 's-1', [{ type: 'E', data: {} }], { expectedVersion: -1 }, 'expectedVersion'],
  ['a fractional expectedVersion', 's-1', [{ type: 'E', data: {} }], { expectedVersion: 1.5 }, 'expectedVersion'],
];

describe.each(drivers)('validation (%s)', (driver) => {
  const stores = storeFactory(driver);
  let store: EventStore;

  it.each(badAppends)('refuses %s, naming the field, and writes nothing', async (_what, streamId, events, options, field) => {
    store ??= await stores.open();
    await store.append('s-1', [{ type: 'Seed', data: {} }]);
    const head = await store.headPosition();
    const error = await store.append(streamId as string, events as never, options as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ field, code: 'validation_failed' });
    expect((error as Error).message.startsWith(`${field}: `)).toBe(true);
    expect(await store.headPosition()).toBe(head);
  });

  it('applies a configured event size limit', async () => {
    const small = await stores.open({ limits: { maxEventBytes: 100, maxStreamIdLength: 10 } });
    await expect(small.append('s-1', [{ type: 'E', data: { s: 'x'.repeat(100) } }])).rejects.toMatchObject({
      field: 'events[0]',
    });
    await expect(small.append('s-123456789', [{ type: 'E', data: {} }])).rejects.toMatchObject({ field: 'streamId' });
    await expect(small.append('s-1', [{ type: 'E', data: { s: 'x'.repeat(50) } }])).resolves.toBeDefined();
  });

  it('accepts undefined object members by dropping them, as JSON does', async () => {
    const s = await stores.open();
    await s.append('s-1', [{ type: 'E', data: { a: 1, b: undefined } }]);
    expect((await s.readStream('s-1'))[0]!.data).toEqual({ a: 1 });
  });

  it('refuses bad read options, naming them', async () => {
    const s = await stores.open();
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => s.readStream('', {}), 'streamId'],
      [() => s.readStream('s-1', { from: -1 }), 'from'],
      [() => s.readStream('s-1', { maxCount: 0 }), 'maxCount'],
      [() => s.readStream('s-1', { direction: 'sideways' as never }), 'direction'],
      [() => s.readStream('s-1', { asOf: new Date('nope') }), 'asOf'],
      [() => s.readStream('s-1', { asOf: '2020-01-01' as never }), 'asOf'],
      [() => s.readAll({ after: -1n }), 'after'],
      [() => s.readAll({ after: 'x' as never }), 'after'],
      [() => s.readAll({ eventTypes: ['not a type'] }), 'eventTypes[0]'],
      [() => s.readAll({ eventTypes: 'E' as never }), 'eventTypes'],
      [() => s.readAll({ streamTypes: [''] }), 'streamTypes[0]'],
      [() => s.listStreams({ limit: 0 }), 'limit'],
      [() => s.deleteStream('s-1', { expectedVersion: 'x' as never }), 'expectedVersion'],
      [() => s.subscribe({ after: -5n }).next(), 'after'],
    ];
    for (const [call, field] of cases) {
      const error = await call().catch((e: unknown) => e);
      expect(error, field).toBeInstanceOf(ValidationError);
      expect(error).toMatchObject({ field });
    }
  });
});
