/**
 * Live projections: state computed on demand from events, stored nowhere. A pure `evolve` folds the
 * events of one stream (optionally as it was at a moment) or of a filtered read of the global order.
 */
import { ValidationError } from '../core/errors.js';
import type { RecordedEvent } from '../core/events.js';
import { validateEventType } from '../core/validation.js';
import type { EventStore } from '../store/event-store.js';
import type { EventRegistry } from '../core/event-registry.js';
import { currentEvents } from './current-events.js';
import { validateProjectionName, type EventDataMap, type RecordedEventOf } from './define.js';

export interface LiveProjection<State, M extends EventDataMap = EventDataMap> {
  readonly name: string;
  /** Upcasts stored events to their current version before `evolve` (or pass it to `runLiveProjection`). */
  readonly registry?: EventRegistry;
  readonly handles: readonly (keyof M & string)[];
  initial(): State;
  evolve(state: State, event: RecordedEventOf<M>): State;
}

export type LiveSource =
  /** One stream, in stream order; `asOf` gives the state as it was then. */
  | { streamId: string; asOf?: Date }
  /** The global order, strictly after `after` and up to `until` (inclusive), optionally by stream type. */
  | { after?: bigint; until?: bigint; streamTypes?: string[] };

export interface LiveResult<State> {
  state: State;
  /** Events folded. */
  events: number;
  /** Global position of the last event folded (or where the read started when there was none). */
  position: bigint;
}

const PAGE = 1_000;

export function defineLiveProjection<State, M extends EventDataMap = EventDataMap>(
  options: LiveProjection<State, M>,
): LiveProjection<State, M> {
  validateProjectionName(options.name);
  if (!Array.isArray(options.handles) || options.handles.length === 0) {
    throw new ValidationError('handles', 'must be a non-empty array of event types');
  }
  options.handles.forEach((type, i) => validateEventType(type, `handles[${i}]`));
  if (typeof options.initial !== 'function') throw new ValidationError('initial', 'must be a function () => State');
  if (typeof options.evolve !== 'function') throw new ValidationError('evolve', 'must be a function (state, event) => State');
  return Object.freeze({ ...options, handles: Object.freeze([...options.handles]) });
}

export async function runLiveProjection<State, M extends EventDataMap>(
  store: EventStore,
  projection: LiveProjection<State, M>,
  source: LiveSource,
  options: { registry?: EventRegistry } = {},
): Promise<LiveResult<State>> {
  const handles = new Set<string>(projection.handles);
  const current = currentEvents(projection.registry ?? options.registry, projection.name);
  let state = projection.initial();
  let events = 0;
  const fold = (event: RecordedEvent) => {
    state = projection.evolve(state, current(event) as RecordedEventOf<M>);
    events++;
  };
  if ('streamId' in source) {
    let position = 0n;
    for (const event of await store.readStream(source.streamId, source.asOf ? { asOf: source.asOf } : {})) {
      position = event.globalPosition;
      if (handles.has(event.type)) fold(event);
    }
    return { state, events, position };
  }
  let position = source.after ?? 0n;
  const until = source.until ?? (await store.headPosition());
  while (position < until) {
    const page = await store.readAll({
      after: position,
      maxCount: PAGE,
      eventTypes: [...handles],
      streamTypes: source.streamTypes,
    });
    for (const event of page) {
      if (event.globalPosition > until) return { state, events, position };
      fold(event);
      position = event.globalPosition;
    }
    if (page.length < PAGE) break;
  }
  return { state, events, position };
}
