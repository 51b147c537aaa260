/**
 * What a process manager (saga) is: it reacts to events of the global order, to the outcomes of the
 * commands it sent, and to its timeouts; it keeps a state per instance, and answers each message with a
 * reaction (new state, commands to send, timeouts to schedule or cancel, pending commands to withdraw,
 * the end). `react` is a pure function of the state and the message, so a process is tested without a
 * store (`processSpec` in `fabula/testing`) and a step replayed after a crash decides the same thing.
 * Validation only; `createProcesses` (processes.ts) runs them.
 */
import { ValidationError } from '../core/errors.js';
import type { DomainEvent, StoredDomainEvent } from '../core/event-registry.js';
import { validateEventType } from '../core/validation.js';
import { validateFailurePolicy, validateRetry, type FailurePolicy, type RetryPolicy } from '../processing/policy.js';

/** A command an instance sent: its deterministic id, and the step name it was given, if any. */
export interface SentCommand {
  id: string;
  type: string;
  data: unknown;
  step: string | null;
}

/** What the command bus answered for a sent command that succeeded. */
export interface SentCommandResult {
  streamId: string;
  events: Array<{ id: string; type: string; streamVersion: number; globalPosition: string }>;
  nextExpectedVersion: number;
}

export type ProcessMessage<E extends DomainEvent = DomainEvent> =
  /** An event of the global order that `on` routed to this instance (current version: upcast). */
  | { kind: 'event'; event: StoredDomainEvent<E> }
  /** A command this instance sent succeeded (or had succeeded before a crash: same id, same outcome). */
  | { kind: 'completed'; command: SentCommand; result: SentCommandResult }
  /** A command this instance sent was refused for good (a DomainError, a validation or authorisation error). */
  | { kind: 'rejected'; command: SentCommand; error: { code: string; message: string } }
  /**
   * A timeout came due. It never fires while a command of this instance is being sent (its outcome
   * would be unknown): `outstanding` are the commands decided but not sent yet, which the reaction may
   * `withdraw` so that they are never sent.
   */
  | { kind: 'timeout'; name: string; outstanding: SentCommand[] };

export interface ProcessCommand {
  type: string;
  data: unknown;
  /** Names the step, for `withdraw` and for the outcome's `command.step`. */
  step?: string;
}

export interface ProcessReaction<S> {
  /** The instance's new state (JSON). Omitted: unchanged. */
  state?: S;
  /** Commands to send, in this order, after the step commits; each gets a deterministic id. */
  send?: readonly ProcessCommand[];
  /** Timeouts to (re)schedule: after `after` ms, or at `at`. A name already scheduled is moved. */
  schedule?: ReadonlyArray<{ name: string; after?: number; at?: Date }>;
  /** Scheduled timeouts to drop, by name. */
  cancel?: readonly string[];
  /** Commands decided earlier and not sent yet, by step name, never to be sent. */
  withdraw?: readonly string[];
  /** The instance has ended: its timeouts are dropped, and later messages are not handed to it. */
  end?: boolean;
}

export interface ProcessContext {
  processName: string;
  instanceId: string;
  /** The time of the step (the database's clock). Use it, not `Date.now()`, to stay replayable. */
  now: Date;
}

/** The member of the union `E` with type `T`; `E` itself when `E` is not a union of literal types. */
type EventOfType<E extends DomainEvent, T> = [Extract<E, { type: T }>] extends [never] ? E : Extract<E, { type: T }>;

/** Routes an event to an instance: its id, or null/undefined to ignore the event. */
type Router<E extends DomainEvent> = (event: StoredDomainEvent<E>) => string | null | undefined;

export interface ProcessOptions<S, E extends DomainEvent = DomainEvent> {
  /** Unique among processes: lower-case words, digits and '-'. Its consumer is `process:<name>`. */
  name: string;
  description?: string;
  /** The event types the process reacts to, each with the instance it belongs to. */
  on: { [T in E['type']]?: Router<EventOfType<E, T>> };
  /** A new instance's state (a function, so instances never share an object). */
  initialState: () => S;
  react: (state: S, message: ProcessMessage<E>, context: ProcessContext) => ProcessReaction<S> | void;
  /** After its retries, a step that still fails on an event stops the process (default) or parks the event. */
  onFailure?: FailurePolicy;
  retry?: Partial<RetryPolicy>;
  /**
   * Which events a process started for the first time reacts to: those recorded from then on (`'head'`,
   * the default, as Axon's sagas: deploying a saga on a store with history does not replay that history
   * into commands), or every event ever recorded (`'beginning'`).
   */
  startAt?: 'head' | 'beginning';
}

export interface ProcessDefinition<S = any, E extends DomainEvent = any> {
  readonly name: string;
  readonly description?: string;
  readonly routes: ReadonlyMap<string, Router<any>>;
  readonly initialState: () => S;
  readonly react: ProcessOptions<S, E>['react'];
  readonly onFailure: FailurePolicy;
  readonly retry: RetryPolicy;
  readonly startAt: 'head' | 'beginning';
}

const PROCESS_NAME = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;

/**
 * Declares a process manager.
 * @example
 * ```ts
 * import { defineProcess } from 'fabula';
 *
 * // Ships an order once it is paid; gives up (and refunds) if shipping is refused.
 * const shipping = defineProcess({
 *   name: 'shipping',
 *   on: { OrderPaid: (event) => (event.data as { orderId: string }).orderId },
 *   initialState: () => ({ orderId: '' }),
 *   react(state, message, { instanceId }) {
 *     switch (message.kind) {
 *       case 'event':
 *         return { state: { orderId: instanceId }, send: [{ type: 'ShipOrder', data: { orderId: instanceId }, step: 'ship' }] };
 *       case 'completed':
 *         return { end: true };
 *       case 'rejected':
 *         return { send: [{ type: 'RefundOrder', data: { orderId: state.orderId } }], end: true };
 *     }
 *   },
 * });
 * ```
 */
export function defineProcess<S, E extends DomainEvent = DomainEvent>(options: ProcessOptions<S, E>): ProcessDefinition<S, E> {
  if (typeof options !== 'object' || options === null) throw new ValidationError('process', 'must be an object');
  if (typeof options.name !== 'string' || !PROCESS_NAME.test(options.name) || options.name.length > 100) {
    throw new ValidationError(
      'name',
      `${JSON.stringify(options.name)} is not a valid process name: lower-case letters and digits in words joined by '-', at most 100 characters`,
    );
  }
  if (typeof options.on !== 'object' || options.on === null)
    throw new ValidationError('on', 'must map event types to instance routers');
  const routes = new Map<string, Router<any>>();
  for (const [type, route] of Object.entries(options.on)) {
    validateEventType(type, `on.${type}`);
    if (typeof route !== 'function') throw new ValidationError(`on.${type}`, 'must be a function (event) => instance id');
    routes.set(type, route as Router<any>);
  }
  if (routes.size === 0) throw new ValidationError('on', 'must name at least one event type the process starts from');
  if (typeof options.initialState !== 'function')
    throw new ValidationError('initialState', 'must be a function returning a new instance state');
  if (typeof options.react !== 'function')
    throw new ValidationError('react', 'must be a function (state, message, context) => reaction');
  return Object.freeze({
    name: options.name,
    ...(options.description !== undefined ? { description: options.description } : {}),
    routes,
    initialState: options.initialState,
    react: options.react,
    onFailure: validateFailurePolicy(options.onFailure),
    retry: validateRetry(options.retry),
    startAt: validateStartAt(options.startAt),
  });
}

function validateStartAt(value: unknown): 'head' | 'beginning' {
  if (value === undefined) return 'head';
  if (value !== 'head' && value !== 'beginning')
    throw new ValidationError('startAt', `${JSON.stringify(value)} is not valid: use 'head' or 'beginning'`);
  return value;
}
