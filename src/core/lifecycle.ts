/**
 * A declarative lifecycle for an aggregate: its states, which commands each state accepts, and which
 * events move it from state to state. An illegal command or transition throws `IllegalStateError`
 * naming the state and the attempted action.
 */
import { IllegalStateError } from './errors.js';

export interface LifecycleDefinition<State extends string, Command extends string, EventType extends string> {
  /** The state of an aggregate with no events. */
  initial: State;
  /** The commands each state accepts. */
  accepts: Record<State, readonly Command[]>;
  /** The events that change state: from which states (or any) to which state. */
  transitions: Partial<Record<EventType, { from: readonly State[] | 'any'; to: State }>>;
}

export class Lifecycle<State extends string = string, Command extends string = string, EventType extends string = string> {
  constructor(
    /** Used in error messages ("account is closed: ..."). */
    readonly aggregate: string,
    readonly definition: LifecycleDefinition<State, Command, EventType>,
  ) {}

  get initial(): State {
    return this.definition.initial;
  }

  /** Throws unless `state` accepts `command`. */
  assertAccepts(state: State, command: Command): void {
    const accepted = this.definition.accepts[state] ?? [];
    if (!accepted.includes(command)) throw new IllegalStateError(this.aggregate, state, command, accepted);
  }

  /** The state after `eventType`; throws if the event is not allowed from `state`. */
  next(state: State, eventType: EventType): State {
    const transition = this.definition.transitions[eventType];
    if (!transition) return state;
    if (transition.from !== 'any' && !transition.from.includes(state)) {
      const allowed = Object.entries(this.definition.transitions)
        .filter(([, t]) => {
          const from = (t as { from: readonly State[] | 'any' }).from;
          return from === 'any' || from.includes(state);
        })
        .map(([event]) => event);
      throw new IllegalStateError(this.aggregate, state, eventType, allowed);
    }
    return transition.to;
  }
}

export function defineLifecycle<State extends string, Command extends string, EventType extends string>(
  aggregate: string,
  definition: LifecycleDefinition<State, Command, EventType>,
): Lifecycle<State, Command, EventType> {
  return new Lifecycle(aggregate, definition);
}
