import { ValidationError } from '../core/errors.js';

/**
 * The one seam between Fabula's SQL and a PostgreSQL connection. The store's SQL is written once against
 * this interface; `drivers/` implements it for PGlite (embedded) and node-postgres (a server).
 *
 * Conventions every caller keeps, so both drivers return the same values:
 * - JSON parameters are passed as strings and cast in SQL (`$1::jsonb`).
 * - bigint columns are selected as text (`global_position::text`) and converted with `BigInt()`,
 *   because PGlite returns int8 as a lossy JavaScript number and node-postgres as a string.
 */
export interface SqlExecutor {
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Several statements, no parameters (migrations). */
  exec(text: string): Promise<void>;
}

export interface SqlClient extends SqlExecutor {
  readonly kind: 'pglite' | 'postgres';
  /** Runs `fn` in one transaction: commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /**
   * Calls `onNotification` for every NOTIFY on `channel`. After a lost connection is restored it calls
   * `onNotification(null)`: notifications may have been missed, so listeners should re-read.
   */
  listen(channel: string, onNotification: (payload: string | null) => void): Promise<() => Promise<void>>;
  /** Server version, for reports. */
  serverVersion(): Promise<string>;
  close(): Promise<void>;
}

/** bigint parameters travel as text on both drivers. */
export function toDriverParams(params: readonly unknown[] | undefined): unknown[] {
  return params ? params.map((p) => (typeof p === 'bigint' ? p.toString() : p)) : [];
}

/** A PostgreSQL identifier we are about to interpolate into SQL (schemas, tables). */
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,47}$/; // 48 at most: channel names add a suffix within 63
export function validIdentifier(name: unknown, field: string): string {
  if (typeof name !== 'string' || !IDENTIFIER.test(name)) {
    throw new ValidationError(
      field,
      `${JSON.stringify(name)} is not a valid identifier: use lower-case letters, digits and '_', starting with a letter or '_' (at most 48 characters)`,
    );
  }
  return name;
}
