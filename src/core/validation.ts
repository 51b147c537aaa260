/**
 * Checks on everything a caller hands to the store, done before any I/O so that bad input never reaches
 * the database and the error names the field that was wrong.
 */
import { v7 as uuidv7 } from 'uuid';
import { ValidationError } from './errors.js';
import type { EventMetadata, ExpectedVersion, NewEvent } from './events.js';

export interface StoreLimits {
  /** Longest stream id accepted, in characters. Default 256. */
  maxStreamIdLength: number;
  /** Largest event accepted: bytes of its JSON data plus metadata. Default 1 MiB. */
  maxEventBytes: number;
  /** Most events accepted in one append. Default 10,000. */
  maxEventsPerAppend: number;
}

export const defaultLimits: StoreLimits = {
  maxStreamIdLength: 256,
  maxEventBytes: 1024 * 1024,
  maxEventsPerAppend: 10_000,
};

const EVENT_TYPE = /^[A-Za-z][A-Za-z0-9_.:-]{0,199}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// eslint-disable-next-line no-control-regex
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

export function validateStreamId(streamId: unknown, limits: StoreLimits, field = 'streamId'): string {
  if (typeof streamId !== 'string') throw new ValidationError(field, `must be a string, got ${describe(streamId)}`);
  if (streamId.length === 0) throw new ValidationError(field, 'must not be empty');
  if (streamId.length > limits.maxStreamIdLength) {
    throw new ValidationError(field, `is ${streamId.length} characters long; the limit is ${limits.maxStreamIdLength}`);
  }
  if (CONTROL_CHARS.test(streamId)) throw new ValidationError(field, 'must not contain control characters');
  if (!streamId.isWellFormed()) throw new ValidationError(field, 'must be well-formed Unicode (no lone surrogates)');
  if (streamId.trim() !== streamId) throw new ValidationError(field, 'must not start or end with whitespace');
  return streamId;
}

/** A tenant id (docs/tenancy.md): a non-empty name, as a stream id, of at most 100 characters. */
export function validateTenantId(tenantId: unknown, field = 'tenantId'): string {
  if (typeof tenantId !== 'string') throw new ValidationError(field, `must be a string, got ${describe(tenantId)}`);
  if (tenantId.length === 0) throw new ValidationError(field, 'must not be empty');
  if (tenantId.length > 100) throw new ValidationError(field, `is ${tenantId.length} characters long; the limit is 100`);
  if (CONTROL_CHARS.test(tenantId)) throw new ValidationError(field, 'must not contain control characters');
  if (!tenantId.isWellFormed()) throw new ValidationError(field, 'must be well-formed Unicode (no lone surrogates)');
  if (tenantId.trim() !== tenantId) throw new ValidationError(field, 'must not start or end with whitespace');
  return tenantId;
}

export function validateEventType(type: unknown, field: string): string {
  if (typeof type !== 'string' || !EVENT_TYPE.test(type)) {
    throw new ValidationError(
      field,
      `${describe(type)} is not a valid event type: use a letter followed by up to 199 letters, digits, '_', '.', ':' or '-' (for example "MoneyDeposited")`,
    );
  }
  return type;
}

export function validateExpectedVersion(value: unknown, field = 'expectedVersion'): ExpectedVersion {
  if (value === 'any' || value === 'no_stream' || value === 'stream_exists') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  throw new ValidationError(
    field,
    `${describe(value)} is not valid: use 'any', 'no_stream', 'stream_exists' or a stream version (an integer >= 0)`,
  );
}

/** A validated event, ready to be written: id assigned, JSON serialised once. */
export interface PreparedEvent {
  id: string;
  /** Whether the caller gave the id (and it may be a retry), or the store generated it. */
  callerId: boolean;
  type: string;
  schemaVersion: number;
  data: unknown;
  metadata: EventMetadata;
  dataJson: string;
  metadataJson: string;
  /** UTF-8 bytes of the two. */
  bytes: number;
}

export function prepareEvents(events: unknown, limits: StoreLimits, field = 'events'): PreparedEvent[] {
  if (!Array.isArray(events)) throw new ValidationError(field, `must be an array, got ${describe(events)}`);
  if (events.length === 0) throw new ValidationError(field, 'must contain at least one event');
  if (events.length > limits.maxEventsPerAppend) {
    throw new ValidationError(field, `holds ${events.length} events; the limit per append is ${limits.maxEventsPerAppend}`);
  }
  const seen = new Set<string>();
  return events.map((event: unknown, i) => {
    const at = `${field}[${i}]`;
    if (!isPlainObject(event)) throw new ValidationError(at, `must be an object, got ${describe(event)}`);
    const e = event as Partial<NewEvent> & Record<string, unknown>;
    const type = validateEventType(e.type, `${at}.type`);
    let id: string;
    // Time-ordered (UUIDv7): new ids land at the right edge of the event-id index instead of on random
    // pages of it, which keeps appends as cheap on a store of millions of events as on an empty one.
    if (e.id === undefined || e.id === null) id = uuidv7();
    else if (isUuid(e.id)) id = e.id.toLowerCase();
    else throw new ValidationError(`${at}.id`, `${describe(e.id)} is not a UUID`);
    if (seen.has(id)) throw new ValidationError(`${at}.id`, `${id} appears twice in this append`);
    seen.add(id);
    const schemaVersion = e.schemaVersion ?? 1;
    if (typeof schemaVersion !== 'number' || !Number.isInteger(schemaVersion) || schemaVersion < 1 || schemaVersion > 32767) {
      throw new ValidationError(`${at}.schemaVersion`, `${describe(schemaVersion)} is not valid: use an integer from 1 to 32767`);
    }
    if (!('data' in e) || e.data === undefined) throw new ValidationError(`${at}.data`, 'is required (use null for no data)');
    assertJson(e.data, `${at}.data`);
    const metadata = e.metadata ?? {};
    if (!isPlainObject(metadata)) throw new ValidationError(`${at}.metadata`, `must be an object, got ${describe(metadata)}`);
    assertJson(metadata, `${at}.metadata`);
    for (const key of ['correlationId', 'causationId', 'userId', 'tenantId'] as const) {
      const value = (metadata as Record<string, unknown>)[key];
      if (value !== undefined && typeof value !== 'string') {
        throw new ValidationError(`${at}.metadata.${key}`, `must be a string, got ${describe(value)}`);
      }
    }
    const dataJson = JSON.stringify(e.data);
    const metadataJson = JSON.stringify(metadata);
    const bytes = Buffer.byteLength(dataJson) + Buffer.byteLength(metadataJson);
    if (bytes > limits.maxEventBytes) {
      throw new ValidationError(at, `is ${bytes} bytes of JSON; the limit is ${limits.maxEventBytes} bytes (maxEventBytes)`);
    }
    const callerId = e.id !== undefined && e.id !== null;
    return {
      id,
      callerId,
      type,
      schemaVersion,
      data: e.data,
      metadata: metadata as EventMetadata,
      dataJson,
      metadataJson,
      bytes,
    };
  });
}

/**
 * Accepts exactly what survives a JSON round trip unchanged and what PostgreSQL's jsonb can store:
 * plain objects, arrays, well-formed strings without NUL, finite numbers, booleans and null.
 */
export function assertJson(value: unknown, field: string, depth = 0, seen = new Set<object>()): void {
  if (depth > 100) throw new ValidationError(field, 'is nested more than 100 levels deep');
  switch (typeof value) {
    case 'string':
      if (value.includes('\u0000'))
        throw new ValidationError(field, 'contains the character U+0000, which PostgreSQL cannot store');
      if (!value.isWellFormed()) throw new ValidationError(field, 'is not well-formed Unicode (lone surrogate)');
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new ValidationError(field, `${value} is not a JSON number`);
      return;
    case 'boolean':
      return;
    case 'object': {
      if (value === null) return;
      if (seen.has(value)) throw new ValidationError(field, 'contains a cycle');
      seen.add(value);
      if (Array.isArray(value)) {
        value.forEach((item, i) => assertJson(item, `${field}[${i}]`, depth + 1, seen));
      } else if (isPlainObject(value)) {
        for (const [key, item] of Object.entries(value)) {
          if (key.includes('\u0000') || !key.isWellFormed())
            throw new ValidationError(field, `has an invalid key ${JSON.stringify(key)}`);
          if (item === undefined) continue; // dropped by JSON, as users expect
          assertJson(item, `${field}.${key}`, depth + 1, seen);
        }
      } else {
        throw new ValidationError(
          field,
          `${describe(value)} is not JSON; convert it to plain data (string, number, object, array)`,
        );
      }
      seen.delete(value);
      return;
    }
    default:
      throw new ValidationError(field, `${describe(value)} is not JSON`);
  }
}

export function validatePositiveInteger(value: unknown, field: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new ValidationError(field, `${describe(value)} is not valid: use an integer >= ${min}`);
  }
  return value;
}

export function validatePosition(value: unknown, field: string): bigint | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'bigint' && value >= 0n) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  throw new ValidationError(field, `${describe(value)} is not a global position (a bigint >= 0)`);
}

export function validateNameList(
  value: unknown,
  field: string,
  check: (name: unknown, field: string) => string,
): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new ValidationError(field, `must be an array of names, got ${describe(value)}`);
  return value.map((name, i) => check(name, `${field}[${i}]`));
}

export function validateDate(value: unknown, field: string): Date | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value;
  throw new ValidationError(field, `${describe(value)} is not a valid Date`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  if (typeof value === 'function') return 'a function';
  return String(value);
}
