/**
 * Defining a projection: what it is called, which version of its code this is, which events it consumes
 * and how it applies one. Pure: validation only, no I/O.
 */
import { ValidationError } from '../core/errors.js';
import type { EventRegistry } from '../core/event-registry.js';
import type { RecordedEvent } from '../core/events.js';
import { validateEventType } from '../core/validation.js';
import type { SqlExecutor } from '../store/sql-client.js';
import { validateFailurePolicy, validateRetry, type FailurePolicy, type RetryPolicy } from '../processing/policy.js';
import type { Documents } from './documents.js';

/** `inline`: applied in the append's transaction. `async`: applied by a projection daemon. */
export type ProjectionMode = 'inline' | 'async';

export { defaultRetry, type FailurePolicy, type RetryPolicy } from '../processing/policy.js';

/** Event types mapped to their data, to type `apply`: `{ MoneyDeposited: { accountId: string; amount: number } }`. */
export type EventDataMap = Record<string, unknown>;

/** The recorded events of a map, as a union discriminated by `type`. */
export type RecordedEventOf<M extends EventDataMap> = { [K in keyof M & string]: RecordedEvent<K, M[K]> }[keyof M & string];

/** What `setup` gets: the transaction, and the names of this projection version's own tables. */
export interface SetupContext {
  /** The transaction: write your read model with plain SQL. */
  sql: SqlExecutor;
  /** This projection version's PostgreSQL schema, quoted (`"fabula_p_orders_v2"`). Each version has its own. */
  schema: string;
  /** A table of this projection version, schema-qualified and quoted, ready for SQL: `ctx.table('orders')`. */
  table(name: string): string;
  /** Which projection, version and build (rebuilds of one version count up from 0) this is. */
  projection: { name: string; version: number; build: number };
}

/** What `apply` gets: the setup context plus JSON documents kept by id. */
export interface ProjectionContext extends SetupContext {
  /**
   * JSONB documents of one collection, keyed by id: the common case without writing SQL. They are the
   * documents of the applied event's tenant (`event.tenantId`): two tenants' same id are two documents.
   * Read them from outside with `projections.documents(name, collection, { tenantId })`.
   */
  documents<T = unknown>(collection: string): Documents<T>;
}

export interface ProjectionOptions<M extends EventDataMap = EventDataMap> {
  /** Lower-case words joined by '-', such as `orders-for-display` (at most 40 characters). */
  name: string;
  /** The version of this projection's code. Bump it to rebuild the read model beside the old one. */
  version: number;
  /** Default `async`. */
  mode?: ProjectionMode;
  /** The event types `apply` is given; others are never read. */
  handles: readonly (keyof M & string)[];
  /** Creates the read model's tables. Runs once per projection version (and build), in a transaction. */
  setup?: (ctx: SetupContext) => Promise<void>;
  /** Applies one event. Runs in the transaction that also moves the projection's checkpoint. */
  apply: (event: RecordedEventOf<M>, ctx: ProjectionContext) => Promise<void>;
  /** Default `stop`. */
  onFailure?: FailurePolicy;
  retry?: Partial<RetryPolicy>;
  description?: string;
  /**
   * The registry whose upcasters bring stored events to their current version before `apply` sees them.
   * `defineApp` gives its projections the application's registry; `createProjections(defs, { registry })`
   * gives it to all of them.
   */
  registry?: EventRegistry;
}

/** The plain-data description of a projection, for catalogs: who consumes which events. */
export interface ProjectionInfo {
  name: string;
  version: number;
  mode: ProjectionMode;
  handles: string[];
  onFailure: FailurePolicy;
  description: string | null;
}

export interface ProjectionDefinition extends ProjectionInfo {
  readonly retry: RetryPolicy;
  readonly setup: ((ctx: SetupContext) => Promise<void>) | null;
  readonly apply: (event: RecordedEvent, ctx: ProjectionContext) => Promise<void>;
  /** The registry that upcasts the events `apply` is given (null: the one `createProjections` was given). */
  readonly registry: EventRegistry | null;
  /** The definition as plain data (no functions). */
  describe(): ProjectionInfo;
}

const PROJECTION_NAME = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;
export const MAX_PROJECTION_NAME_LENGTH = 40;

export function validateProjectionName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string' || !PROJECTION_NAME.test(name) || name.length > MAX_PROJECTION_NAME_LENGTH) {
    throw new ValidationError(
      field,
      `${JSON.stringify(name)} is not a valid projection name: use lower-case letters and digits in words joined by '-', starting with a letter, at most ${MAX_PROJECTION_NAME_LENGTH} characters (for example "orders-for-display")`,
    );
  }
  return name;
}

/**
 * Defines a projection: a read model kept from the events it handles, with its checkpoint moved in the
 * same transaction as its writes.
 * @example
 * const balances = defineProjection<{ Deposited: { amount: number } }>({
 *   name: 'balances',
 *   version: 1,
 *   handles: ['Deposited'],
 *   async setup(ctx) {
 *     await ctx.sql.exec(`CREATE TABLE ${ctx.table('balances')} (account text PRIMARY KEY, total bigint NOT NULL)`);
 *   },
 *   async apply(event, ctx) {
 *     await ctx.sql.query(
 *       `INSERT INTO ${ctx.table('balances')} AS b VALUES ($1, $2)
 *        ON CONFLICT (account) DO UPDATE SET total = b.total + excluded.total`,
 *       [event.streamId, event.data.amount],
 *     );
 *   },
 * });
 * const projections = createProjections([balances]);
 * await projections.start(store);
 */
export function defineProjection<M extends EventDataMap = EventDataMap>(options: ProjectionOptions<M>): ProjectionDefinition {
  if (typeof options !== 'object' || options === null) throw new ValidationError('projection', 'must be an object');
  const name = validateProjectionName(options.name);
  const version = options.version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1 || version > 2_147_483_647) {
    throw new ValidationError('version', `${String(version)} is not valid: use an integer from 1`);
  }
  const mode = options.mode ?? 'async';
  if (mode !== 'inline' && mode !== 'async') {
    throw new ValidationError('mode', `${JSON.stringify(mode)} is not valid: use 'inline' or 'async'`);
  }
  if (!Array.isArray(options.handles) || options.handles.length === 0) {
    throw new ValidationError('handles', 'must be a non-empty array of event types');
  }
  const handles = options.handles.map((type, i) => validateEventType(type, `handles[${i}]`));
  handles.forEach((type, i) => {
    if (handles.indexOf(type) !== i) throw new ValidationError(`handles[${i}]`, `${JSON.stringify(type)} appears twice`);
  });
  if (typeof options.apply !== 'function') throw new ValidationError('apply', 'must be a function (event, ctx) => Promise<void>');
  if (options.setup !== undefined && typeof options.setup !== 'function') {
    throw new ValidationError('setup', 'must be a function (ctx) => Promise<void>');
  }
  const onFailure = validateFailurePolicy(options.onFailure);
  const retry = validateRetry(options.retry);
  const description = options.description ?? null;
  if (description !== null && typeof description !== 'string') throw new ValidationError('description', 'must be a string');
  if (
    options.registry !== undefined &&
    typeof (options.registry as Partial<EventRegistry> | null)?.toCurrentVersion !== 'function'
  ) {
    throw new ValidationError('registry', 'must be an EventRegistry');
  }

  const info: ProjectionInfo = { name, version, mode, handles, onFailure, description };
  return Object.freeze({
    ...info,
    handles: Object.freeze([...handles]) as string[],
    retry,
    setup: options.setup ?? null,
    apply: options.apply as (event: RecordedEvent, ctx: ProjectionContext) => Promise<void>,
    registry: options.registry ?? null,
    describe: () => ({ ...info, handles: [...handles] }),
  });
}

/** The definition with `registry` to upcast its events, unless it has a registry of its own already. */
export function withRegistry(definition: ProjectionDefinition, registry: EventRegistry): ProjectionDefinition {
  if (definition.registry) return definition;
  return Object.freeze({ ...definition, registry });
}
