/**
 * Two ways to model a consistency boundary, over the same store:
 *
 * - Class style: extend `Aggregate`, make decisions in methods that call `this.trigger(event)`, and
 *   change state only in `apply(event)`. `trigger` records the event and applies it at once.
 * - Functional style: a `Decider` of three pure parts, `initialState`, `decide(command, state)` and
 *   `evolve(state, event)`.
 *
 * Both are pure: loading and saving is the repository's job (`write/`).
 */
import type { DomainEvent } from './event-registry.js';
import type { Lifecycle } from './lifecycle.js';

export abstract class Aggregate<E extends DomainEvent = DomainEvent> {
  /**
   * The stream type of this aggregate's streams: the aggregate with id `42` lives in stream
   * `<streamType>-42`. Override in each subclass.
   */
  static readonly streamType: string;
  /** Version of the snapshot shape (the class's own fields). Bump it when they change. */
  static readonly snapshotVersion: number = 1;

  readonly #id: string;
  #version = 0;
  #savedVersion = 0;
  #pending: E[] = [];
  #status: string | undefined;

  constructor(id: string) {
    this.#id = id;
    this.#status = this.lifecycle?.initial;
  }

  /** The aggregate's lifecycle, if it has one (see `defineLifecycle`). */
  protected get lifecycle(): Lifecycle<string, string, string> | undefined {
    return undefined;
  }

  /** Changes state for one event. Called for history on load and for each new event on trigger. */
  protected abstract apply(event: E): void;

  get id(): string {
    return this.#id;
  }

  /** Number of events applied: stored ones plus pending ones. */
  get version(): number {
    return this.#version;
  }

  /** The stream version this aggregate was loaded at (or last saved at): the expected version on save. */
  get savedVersion(): number {
    return this.#savedVersion;
  }

  /** Events triggered since load or the last save. */
  get pendingEvents(): readonly E[] {
    return this.#pending;
  }

  /** The lifecycle state (`undefined` without a lifecycle). */
  get status(): string | undefined {
    return this.#status;
  }

  /** Records a new event and applies it. Throws `IllegalStateError` if the lifecycle forbids it. */
  protected trigger(event: E): void {
    this.applyEvent(event);
    this.#pending.push(event);
  }

  /** Throws `IllegalStateError` unless the current state accepts `command`. */
  protected assertAccepts(command: string): void {
    if (this.lifecycle && this.#status !== undefined) this.lifecycle.assertAccepts(this.#status, command);
  }

  private applyEvent(event: E) {
    if (this.lifecycle && this.#status !== undefined) this.#status = this.lifecycle.next(this.#status, event.type);
    this.apply(event);
    this.#version++;
  }

  /** @internal Repository use: applies stored history. */
  replayHistory(events: readonly E[]): void {
    for (const event of events) this.applyEvent(event);
    this.#savedVersion = this.#version;
  }

  /** @internal Repository use: the pending events were appended. */
  markSaved(version: number): void {
    this.#pending = [];
    this.#version = version;
    this.#savedVersion = version;
  }

  /**
   * The state to snapshot. By default the instance's own fields (the transcoder keeps Dates, Maps and
   * Sets). Override with `restoreSnapshot` for anything else.
   */
  takeSnapshot(): Record<string, unknown> {
    return { ...(this as unknown as Record<string, unknown>) };
  }

  restoreSnapshot(state: Record<string, unknown>): void {
    Object.assign(this, state);
  }

  /** @internal Repository use: restores a snapshot taken at `version`. */
  restoreFrom(state: { fields: Record<string, unknown>; status?: string }, version: number): void {
    this.restoreSnapshot(state.fields);
    this.#status = state.status ?? this.#status;
    this.#version = version;
    this.#savedVersion = version;
  }

  /** @internal Repository use. */
  snapshotState(): { fields: Record<string, unknown>; status?: string } {
    return this.#status === undefined ? { fields: this.takeSnapshot() } : { fields: this.takeSnapshot(), status: this.#status };
  }
}

/** The class of an aggregate, as repositories need it. */
export interface AggregateClass<A extends Aggregate<any>> {
  new (id: string): A;
  readonly streamType: string;
  readonly snapshotVersion: number;
  readonly name: string;
}

/** The functional style: pure decisions and pure state changes. */
export interface Decider<Command, Event extends DomainEvent, State> {
  /**
   * The state of a stream with no events: a factory `() => State` (a fresh state each time), or a plain
   * value, which every stream then starts from as its own deep copy (`structuredClone`), so an `evolve`
   * that mutates its state cannot leak into another stream's.
   */
  initialState: State | (() => State);
  /** Decides which events a command causes, or throws a `DomainError`. */
  decide(command: Command, state: State): Event | readonly Event[];
  /** The state after one event. Must not mutate `state`. */
  evolve(state: State, event: Event): State;
  /** Version of the state's shape, for snapshots. Bump it when the shape changes. Default 1. */
  snapshotVersion?: number;
}

export function defineDecider<Command, Event extends DomainEvent, State>(decider: Decider<Command, Event, State>) {
  return decider;
}

/** A fresh initial state of `decider`: its factory's result, or a deep copy of its plain value. */
export function initialStateOf<State>(decider: Pick<Decider<unknown, never, State>, 'initialState'>): State {
  const initial = decider.initialState;
  return typeof initial === 'function' ? (initial as () => State)() : structuredClone(initial);
}

/** Folds events into a state. */
export function evolveAll<Event extends DomainEvent, State>(
  decider: Pick<Decider<unknown, Event, State>, 'evolve'>,
  state: State,
  events: readonly Event[],
) {
  return events.reduce((s, e) => decider.evolve(s, e), state);
}

export function decideEvents<Command, Event extends DomainEvent, State>(
  decider: Decider<Command, Event, State>,
  command: Command,
  state: State,
): Event[] {
  const decided = decider.decide(command, state);
  return Array.isArray(decided) ? [...decided] : [decided as Event];
}
