/**
 * What a checkpointed consumer is: a name, the events it handles, its failure policy, and how it
 * handles a batch, in one of two ways:
 *
 * - `transactional`: `handle(event, tx)` writes the event's effects in the transaction that moves the
 *   checkpoint, so they commit together (exactly once in effect): projections, process managers that
 *   write their state and the commands they issue.
 * - `delivery`: `deliver(events)` sends a batch elsewhere (a broker) and resolves once it is
 *   acknowledged; only then is the checkpoint moved, fenced by the lease (at least once: a batch whose
 *   checkpoint did not commit is delivered again, so the receiver dedupes by event id).
 *
 * Validation only; `runConsumers` (daemon.ts) runs them.
 */
import { ValidationError } from '../core/errors.js';
import type { RecordedEvent } from '../core/events.js';
import { validateEventType } from '../core/validation.js';
import type { SqlExecutor } from '../store/sql-client.js';
import { validateFailurePolicy, validateRetry, type FailurePolicy, type RetryPolicy } from './policy.js';

export interface ConsumerOptionsBase {
  /** Unique in the store: lower-case words, digits, '-', ':' or '.', at most 120 characters. */
  name: string;
  /** Event types handled; others only move the checkpoint. Omit to handle every event. */
  handles?: readonly string[];
  /** After its retries, an event that still fails stops the consumer (default) or is parked. */
  onFailure?: FailurePolicy;
  retry?: Partial<RetryPolicy>;
  /**
   * Where a consumer seen for the first time starts: at the beginning of the global order (default:
   * every event ever recorded), or at its head (only events recorded from now on). Later starts
   * resume from the checkpoint either way.
   */
  startAt?: 'beginning' | 'head';
}

export interface TransactionalConsumerOptions extends ConsumerOptionsBase {
  /** Handles one event inside the transaction that moves the checkpoint; throw to fail the event. */
  handle: (event: RecordedEvent, tx: SqlExecutor) => Promise<void>;
}

export interface DeliveryConsumerOptions extends ConsumerOptionsBase {
  /**
   * Delivers a batch (in global order) and resolves once the receiver acknowledged all of it. Throw
   * `EventRejected(index, cause)` to blame one event; any other error is retried with backoff, without
   * end. `signal` aborts when the consumer stops.
   */
  deliver: (events: readonly RecordedEvent[], signal: AbortSignal) => Promise<void>;
  /** Events per delivery at most (the daemon's batch size otherwise). */
  maxBatch?: number;
}

export type ConsumerDefinition = Readonly<{
  name: string;
  handles: readonly string[] | null;
  startAt: 'beginning' | 'head';
  onFailure: FailurePolicy;
  retry: RetryPolicy;
}> &
  (
    | Readonly<{ kind: 'transactional'; handle: TransactionalConsumerOptions['handle'] }>
    | Readonly<{ kind: 'delivery'; deliver: DeliveryConsumerOptions['deliver']; maxBatch: number | null }>
  );

const CONSUMER_NAME = /^[a-z][a-z0-9]*(?:[-:.][a-z0-9]+)*$/;

export function validateConsumerName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string' || !CONSUMER_NAME.test(name) || name.length > 120) {
    throw new ValidationError(
      field,
      `${JSON.stringify(name)} is not a valid consumer name: lower-case letters and digits in words joined by '-', ':' or '.', at most 120 characters`,
    );
  }
  // Projections name their consumers `projection:<name>:v<version>:b<build>` (src/projections/sql.ts).
  if (name.startsWith('projection:')) throw new ValidationError(field, `"projection:" names are kept for projections`);
  return name;
}

function base(options: ConsumerOptionsBase) {
  if (typeof options !== 'object' || options === null) throw new ValidationError('consumer', 'must be an object');
  const handles =
    options.handles === undefined ? null : Object.freeze(options.handles.map((t, i) => validateEventType(t, `handles[${i}]`)));
  const startAt = options.startAt ?? 'beginning';
  if (startAt !== 'beginning' && startAt !== 'head')
    throw new ValidationError('startAt', `${JSON.stringify(startAt)} is not valid: use 'beginning' or 'head'`);
  return {
    name: validateConsumerName(options.name),
    handles,
    startAt,
    onFailure: validateFailurePolicy(options.onFailure),
    retry: validateRetry(options.retry),
  };
}

/**
 * A consumer whose effects commit with its checkpoint.
 * @example
 * const shipping = defineTransactionalConsumer({
 *   name: 'shipping-manager',
 *   handles: ['OrderPaid'],
 *   async handle(event, tx) {
 *     await tx.query('INSERT INTO shipments (order_id) VALUES ($1) ON CONFLICT DO NOTHING', [event.streamId]);
 *   },
 * });
 */
export function defineTransactionalConsumer(options: TransactionalConsumerOptions): ConsumerDefinition {
  const common = base(options);
  if (typeof options.handle !== 'function')
    throw new ValidationError('handle', 'must be a function (event, tx) => Promise<void>');
  return Object.freeze({ ...common, kind: 'transactional', handle: options.handle });
}

/**
 * A consumer that delivers batches elsewhere and checkpoints after the acknowledgement (at least once).
 * @example
 * const outbox = defineDeliveryConsumer({
 *   name: 'outbox',
 *   async deliver(events) {
 *     await Promise.all(events.map((e) => broker.publish(`events.${e.type}`, e, { msgId: e.id })));
 *   },
 * });
 */
export function defineDeliveryConsumer(options: DeliveryConsumerOptions): ConsumerDefinition {
  const common = base(options);
  if (typeof options.deliver !== 'function')
    throw new ValidationError('deliver', 'must be a function (events, signal) => Promise<void>');
  const maxBatch = options.maxBatch ?? null;
  if (maxBatch !== null && (!Number.isSafeInteger(maxBatch) || maxBatch < 1)) {
    throw new ValidationError('maxBatch', `${String(maxBatch)} is not valid: use an integer >= 1`);
  }
  return Object.freeze({ ...common, kind: 'delivery', deliver: options.deliver, maxBatch });
}
