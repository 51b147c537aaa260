/**
 * Stores and restores what JSON cannot: `Date`, `bigint`, `Map`, `Set`, `Uint8Array`, `undefined`,
 * non-finite numbers and -0, plus types you register. The round trip is exact.
 *
 * A value JSON cannot hold becomes a tagged object `{ "$type": "Date", "value": "2024-..." }`. A plain
 * object of the user's that happens to have a `$type` key is escaped (`{ "$type": "$object", value }`), so
 * user data can never be mistaken for a tag.
 */
import { ValidationError } from './errors.js';

export interface CustomType<T> {
  /** The tag stored in `$type`. Must not start with `$` and must not clash with a built-in tag. */
  name: string;
  is(value: unknown): value is T;
  /** To JSON-able data (may contain other transcodable values). */
  encode(value: T): unknown;
  decode(data: unknown): T;
}

const TAG = '$type';
const BUILT_IN = new Set(['Date', 'bigint', 'Map', 'Set', 'Uint8Array', 'undefined', 'number', '$object']);

export class Transcoder {
  private readonly custom = new Map<string, CustomType<unknown>>();

  /** Registers a type of your own (a value object, a Money class, ...). */
  register<T>(type: CustomType<T>): this {
    if (!/^[A-Za-z][A-Za-z0-9_.:-]*$/.test(type.name) || BUILT_IN.has(type.name)) {
      throw new ValidationError('name', `${JSON.stringify(type.name)} cannot be used as a transcoder type name`);
    }
    if (this.custom.has(type.name))
      throw new ValidationError('name', `a transcoder type named ${type.name} is already registered`);
    this.custom.set(type.name, type as CustomType<unknown>);
    return this;
  }

  /** A value → plain JSON data. */
  encode(value: unknown): unknown {
    switch (typeof value) {
      case 'undefined':
        return { [TAG]: 'undefined' };
      case 'bigint':
        return { [TAG]: 'bigint', value: value.toString() };
      case 'number':
        if (Number.isFinite(value) && !Object.is(value, -0)) return value;
        return { [TAG]: 'number', value: Object.is(value, -0) ? '-0' : String(value) };
      case 'string':
      case 'boolean':
        return value;
      case 'object':
        break;
      default:
        throw new ValidationError('value', `a ${typeof value} cannot be stored in an event`);
    }
    if (value === null) return null;
    for (const [name, type] of this.custom) {
      if (type.is(value)) return { [TAG]: name, value: this.encode(type.encode(value)) };
    }
    if (Array.isArray(value)) return value.map((item) => this.encode(item));
    if (value instanceof Date) return { [TAG]: 'Date', value: Number.isNaN(value.getTime()) ? null : value.toISOString() };
    if (value instanceof Map) return { [TAG]: 'Map', value: [...value].map(([k, v]) => [this.encode(k), this.encode(v)]) };
    if (value instanceof Set) return { [TAG]: 'Set', value: [...value].map((v) => this.encode(v)) };
    if (value instanceof Uint8Array) return { [TAG]: 'Uint8Array', value: Buffer.from(value).toString('base64') };
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new ValidationError(
        'value',
        `a ${proto?.constructor?.name ?? 'class instance'} cannot be stored: register a transcoder type for it`,
      );
    }
    const encoded: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) defineData(encoded, key, this.encode(item));
    return TAG in encoded ? { [TAG]: '$object', value: encoded } : encoded;
  }

  /** Plain JSON data → the value that was encoded. */
  decode(data: unknown): unknown {
    if (data === null || typeof data !== 'object') return data;
    if (Array.isArray(data)) return data.map((item) => this.decode(item));
    const record = data as Record<string, unknown>;
    if (!(TAG in record)) return this.decodeObject(record);
    const tag = record[TAG];
    const value = record.value;
    switch (tag) {
      case 'undefined':
        return undefined;
      case 'bigint':
        return BigInt(value as string);
      case 'number':
        return value === '-0' ? -0 : Number(value);
      case 'Date':
        return new Date(value === null ? Number.NaN : (value as string));
      case 'Map':
        return new Map((value as unknown[][]).map(([k, v]) => [this.decode(k), this.decode(v)]));
      case 'Set':
        return new Set((value as unknown[]).map((v) => this.decode(v)));
      case 'Uint8Array':
        return new Uint8Array(Buffer.from(value as string, 'base64'));
      case '$object':
        return this.decodeObject(value as Record<string, unknown>);
      default: {
        const type = this.custom.get(tag as string);
        if (!type)
          throw new ValidationError('$type', `unknown transcoder type ${JSON.stringify(tag)}: register it before reading`);
        return type.decode(this.decode(value));
      }
    }
  }

  private decodeObject(record: Record<string, unknown>): Record<string, unknown> {
    const decoded: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(record)) defineData(decoded, key, this.decode(item));
    return decoded;
  }
}

/**
 * Sets a key as plain data, so that a key named "__proto__" stays data and does not change the prototype.
 * Only that key needs defineProperty (the one setter on Object.prototype); for the others a plain
 * assignment is the same and far cheaper (defineProperty for every key took a quarter of a command's CPU).
 */
function defineData(target: Record<string, unknown>, key: string, value: unknown) {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}
