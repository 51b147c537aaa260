import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Transcoder } from '../../src/core/transcoder.js';
import { ValidationError } from '../../src/index.js';

class Money {
  constructor(
    readonly amount: bigint,
    readonly currency: string,
  ) {}
}

const transcoder = new Transcoder().register<Money>({
  name: 'Money',
  is: (v): v is Money => v instanceof Money,
  encode: (m) => ({ amount: m.amount, currency: m.currency }),
  decode: (d) => {
    const { amount, currency } = d as { amount: bigint; currency: string };
    return new Money(amount, currency);
  },
});

/** Everything the transcoder promises to round-trip, nested arbitrarily, with hostile keys. */
const key = fc.oneof(fc.string(), fc.constantFrom('$type', 'value', '__proto__', ''));
const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.constant(undefined),
    fc.boolean(),
    fc.string(),
    fc.double(),
    fc.integer(),
    fc.bigInt(),
    fc.date({ noInvalidDate: false }),
    fc.uint8Array(),
    fc.record({ amount: fc.bigInt(), currency: fc.constantFrom('EUR', 'USD') }).map((m) => new Money(m.amount, m.currency)),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(key, tie('value'), { maxKeys: 4, noNullPrototype: true }),
    fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 3 }).map((entries) => new Map(entries)),
    fc.array(tie('value'), { maxLength: 3 }).map((items) => new Set(items)),
  ),
}));

describe('transcoder', () => {
  it('round-trips every supported value exactly, through JSON text', () => {
    fc.assert(
      fc.property(value, (original) => {
        const stored = JSON.parse(JSON.stringify(transcoder.encode(original)));
        expect(transcoder.decode(stored)).toStrictEqual(original);
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps -0, NaN and Infinity, and a "__proto__" key as data', () => {
    const original = { n: [-0, Number.NaN, Infinity, -Infinity], ['__proto__']: { polluted: true } };
    const copy = { ...original };
    Object.defineProperty(copy, '__proto__', { value: { polluted: true }, enumerable: true });
    const decoded = transcoder.decode(JSON.parse(JSON.stringify(transcoder.encode(copy)))) as Record<string, unknown>;
    expect(Object.is((decoded.n as number[])[0], -0)).toBe(true);
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses class instances it does not know, and unknown tags on read, naming what to do', () => {
    class Unknown {}
    expect(() => transcoder.encode({ x: new Unknown() })).toThrow(/register a transcoder type/);
    expect(() => transcoder.decode({ $type: 'Nope', value: 1 })).toThrow(ValidationError);
    expect(() =>
      new Transcoder().register({ name: 'Date', is: (v): v is Date => false, encode: (x) => x, decode: (x) => x as Date }),
    ).toThrow(ValidationError);
  });
});
