/**
 * Loading and saving event-sourced state, for both styles of aggregate.
 *
 * Load = the latest usable snapshot (same snapshot version, at or below the wanted version) plus the
 * events after it, upcast to their current versions by the registry. Save = append the pending events
 * with the loaded version as `expectedVersion`, so a concurrent writer makes the save fail with
 * `ConcurrencyError` instead of overwriting.
 */
import { decideEvents, evolveAll, initialStateOf, type Aggregate, type AggregateClass, type Decider } from '../core/aggregate.js';
import { ConcurrencyError, StreamDeletedError, ValidationError } from '../core/errors.js';
import type { DomainEvent, EventRegistry, StoredDomainEvent } from '../core/event-registry.js';
import { DEFAULT_TENANT, type AppendResult, type EventMetadata } from '../core/events.js';
import type { EventStore } from '../store/event-store.js';
import { SnapshotStore } from '../store/snapshot-store.js';
import { StateCache } from './state-cache.js';

export interface SnapshotPolicy {
  /** Snapshot whenever a save crosses a multiple of this many events. */
  every?: number;
  /** Snapshot after a load that had to replay more than this many events. */
  whenReplayExceeds?: number;
}

/**
 * Commands decide on the state this process saw last, without reading the stream, when it has one
 * (see state-cache.ts for why that stays correct); 10,000 streams per repository by default, `false`
 * turns it off. States are cached in their snapshot form, so the snapshot must hold the whole state:
 * on by default for deciders (their state is data), and for class-style aggregates only when the
 * repository has a snapshot policy (a class's `#private` fields, say, are not in its default snapshot)
 * or `cache` is given. Needs a snapshot version above 0.
 */
export type StateCacheOption = { maxEntries: number } | false;

export interface LoadOptions {
  /** The state as it was at this moment (temporal load). */
  asOf?: Date;
  /** The state after this stream version. */
  atVersion?: number;
}

export interface SaveOptions {
  metadata?: EventMetadata;
  /** Ids for the events, by index (the command bus derives them from the command id). */
  eventId?: (index: number) => string;
  /** The ids are new (see AppendOptions.newIds). */
  newIds?: boolean;
}

interface Model<State> {
  /** Name in the snapshots table. */
  snapshotType: string;
  snapshotVersion: number;
  /** `id` is what the caller loads by (the aggregate id, or the stream id). */
  initial(id: string): State;
  evolve(state: State, events: readonly StoredDomainEvent[], id: string): State;
  toSnapshot(state: State): unknown;
  fromSnapshot(snapshot: unknown, version: number, id: string): State;
}

/**
 * Shared by both repositories: snapshots, replay, temporal loads. One per tenant view of a repository;
 * the views share one cache, whose keys name the tenant (a stream's identity is its id and its tenant).
 */
class StateLoader<State> {
  private readonly snapshots: SnapshotStore;
  private readonly cache: StateCache | null;
  private readonly tenant: string;
  private forgetGeneration: number;

  constructor(
    private readonly store: EventStore,
    private readonly registry: EventRegistry,
    private readonly model: Model<State>,
    private readonly policy: SnapshotPolicy = {},
    cache: StateCacheOption | StateCache | null = { maxEntries: 10_000 },
  ) {
    this.snapshots = new SnapshotStore(store.sql, store.schema, store.tenantId);
    this.tenant = store.tenantId ?? DEFAULT_TENANT;
    this.forgetGeneration = store.forgetGeneration;
    this.cache =
      cache instanceof StateCache || cache === null
        ? cache
        : cache && model.snapshotVersion > 0
          ? new StateCache(cache.maxEntries)
          : null;
  }

  /** The same loader in `store`, a tenant's view of this one's store, sharing the cache. */
  forStore(store: EventStore): StateLoader<State> {
    return new StateLoader(store, this.registry, this.model, this.policy, this.cache);
  }

  private key(streamId: string): string {
    return `${this.tenant}\u0000${streamId}`;
  }

  /** The current state for a command: from the cache when this process has it (`cached`), else loaded. */
  async loadForCommand(
    streamId: string,
    id: string,
    fresh: boolean,
  ): Promise<{ state: State; version: number; cached: boolean }> {
    if (this.cache && this.store.forgetGeneration !== this.forgetGeneration) {
      // A subject was forgotten: cached states may hold its personal data in clear.
      this.cache.clear();
      this.forgetGeneration = this.store.forgetGeneration;
    }
    const entry = fresh ? undefined : this.cache?.get(this.key(streamId));
    if (entry) {
      const state = this.model.fromSnapshot(this.registry.transcoder.decode(entry.encoded), entry.version, id);
      return { state, version: entry.version, cached: true };
    }
    return { ...(await this.load(streamId, {}, id)), cached: false };
  }

  /** After a successful append: this is the stream's state now. */
  remember(streamId: string, state: State, version: number): void {
    this.cache?.set(this.key(streamId), version, this.registry.transcoder.encode(this.model.toSnapshot(state)));
  }

  /** After a failed append: what we had is not the stream's state. */
  forget(streamId: string): void {
    this.cache?.delete(this.key(streamId));
  }

  async load(streamId: string, options: LoadOptions = {}, id = streamId): Promise<{ state: State; version: number }> {
    if (options.atVersion !== undefined && (!Number.isSafeInteger(options.atVersion) || options.atVersion < 0)) {
      throw new ValidationError('atVersion', `${String(options.atVersion)} is not a stream version (an integer >= 0)`);
    }
    // Without a snapshot policy there are none to read. A snapshot knows its version, not its time:
    // temporal loads by time replay from the start.
    const usesSnapshots = this.policy.every !== undefined || this.policy.whenReplayExceeds !== undefined;
    const snapshot =
      usesSnapshots && options.asOf === undefined && this.model.snapshotVersion > 0
        ? await this.snapshots.latest(streamId, this.model.snapshotType, this.model.snapshotVersion, options.atVersion)
        : null;
    let state = snapshot
      ? this.model.fromSnapshot(this.registry.transcoder.decode(snapshot.state), snapshot.streamVersion, id)
      : this.model.initial(id);
    let version = snapshot?.streamVersion ?? 0;
    const recorded = await this.store.readStream(streamId, {
      from: version + 1,
      ...(options.atVersion !== undefined ? { to: options.atVersion } : {}),
      ...(options.asOf ? { asOf: options.asOf } : {}),
    });
    if (recorded.length > 0) {
      state = this.model.evolve(
        state,
        recorded.map((e) => this.registry.decode(e)),
        id,
      );
      version = recorded[recorded.length - 1]!.streamVersion;
    }
    const isCurrent = options.asOf === undefined && options.atVersion === undefined;
    if (isCurrent && this.policy.whenReplayExceeds !== undefined && recorded.length > this.policy.whenReplayExceeds) {
      await this.saveSnapshot(streamId, state, version);
    }
    if (isCurrent) this.remember(streamId, state, version);
    return { state, version };
  }

  async afterSave(streamId: string, state: State, fromVersion: number, toVersion: number): Promise<void> {
    const every = this.policy.every;
    if (every !== undefined && Math.floor(toVersion / every) > Math.floor(fromVersion / every)) {
      await this.saveSnapshot(streamId, state, toVersion);
    }
  }

  private async saveSnapshot(streamId: string, state: State, version: number) {
    try {
      await this.snapshots.save({
        streamId,
        aggregateType: this.model.snapshotType,
        schemaVersion: this.model.snapshotVersion,
        streamVersion: version,
        state: this.registry.transcoder.encode(this.model.toSnapshot(state)),
      });
    } catch {
      // A snapshot is a cache: failing to write one must not fail the command that triggered it.
    }
  }
}

/** Repository for class-style aggregates. */
export class AggregateRepository<A extends Aggregate<any>> {
  private readonly loader: StateLoader<A>;

  constructor(
    private readonly store: EventStore,
    private readonly aggregateClass: AggregateClass<A>,
    private readonly options: { registry: EventRegistry; snapshots?: SnapshotPolicy; cache?: StateCacheOption },
  ) {
    if (typeof aggregateClass.streamType !== 'string' || aggregateClass.streamType.length === 0) {
      throw new ValidationError('streamType', `${aggregateClass.name} must declare static readonly streamType = '...'`);
    }
    // A class's snapshot may not hold all of its state: cache it only when snapshots are in use or asked for.
    const cache = options.cache ?? (options.snapshots ? undefined : false);
    this.loader = new StateLoader<A>(
      store,
      options.registry,
      {
        snapshotType: aggregateClass.streamType,
        snapshotVersion: aggregateClass.snapshotVersion,
        initial: (id) => new aggregateClass(id),
        evolve: (aggregate, events) => {
          aggregate.replayHistory(events);
          return aggregate;
        },
        toSnapshot: (aggregate) => aggregate.snapshotState(),
        fromSnapshot: (snapshot, version, id) => {
          const aggregate = new aggregateClass(id);
          aggregate.restoreFrom(snapshot as { fields: Record<string, unknown>; status?: string }, version);
          return aggregate;
        },
      },
      options.snapshots,
      cache,
    );
  }

  streamId(id: string): string {
    return `${this.aggregateClass.streamType}-${id}`;
  }

  /** This repository in one tenant (`EventStore.forTenant`): its streams, its snapshots. */
  forTenant(tenantId: string): AggregateRepository<A> {
    return tenantView(this, this.store.forTenant(tenantId), this.loader);
  }

  /** The aggregate with its history applied; a fresh one (version 0) when the stream has no events. */
  async load(id: string, options: LoadOptions = {}): Promise<A> {
    const { state } = await this.loader.load(this.streamId(id), options, id);
    return state;
  }

  /**
   * For the command bus: the aggregate as this process last saw it (`cached`: the stream is not read;
   * the save's expected version checks it), or loaded (`fresh`, or nothing cached).
   */
  async loadForCommand(id: string, fresh = false): Promise<{ aggregate: A; cached: boolean }> {
    const { state, cached } = await this.loader.loadForCommand(this.streamId(id), id, fresh);
    return { aggregate: state, cached };
  }

  /** Appends the pending events (expected version: the loaded one). Nothing to save: null. */
  async save(aggregate: A, options: SaveOptions = {}): Promise<AppendResult | null> {
    const pending = aggregate.pendingEvents as readonly DomainEvent[];
    if (pending.length === 0) return null;
    const from = aggregate.savedVersion;
    const events = encodeForAppend(this.options.registry, pending, options);
    const streamId = this.streamId(aggregate.id);
    const result = await appendOrForget(this.loader, streamId, () =>
      this.store.append(streamId, events, { expectedVersion: from === 0 ? 'no_stream' : from, newIds: options.newIds }),
    );
    aggregate.markSaved(result.nextExpectedVersion);
    this.loader.remember(streamId, aggregate, result.nextExpectedVersion);
    await this.loader.afterSave(streamId, aggregate, from, result.nextExpectedVersion);
    return result;
  }
}

/** Repository for functional deciders: state by stream id. */
export class DeciderRepository<Command, Event extends DomainEvent, State> {
  private readonly loader: StateLoader<State>;

  constructor(
    private readonly store: EventStore,
    private readonly decider: Decider<Command, Event, State>,
    private readonly options: { name: string; registry: EventRegistry; snapshots?: SnapshotPolicy; cache?: StateCacheOption },
  ) {
    this.loader = new StateLoader<State>(
      store,
      options.registry,
      {
        snapshotType: options.name,
        snapshotVersion: decider.snapshotVersion ?? 1,
        initial: () => initialStateOf(decider),
        evolve: (state, events) => evolveAll(decider, state, events as unknown as Event[]),
        toSnapshot: (state) => state,
        fromSnapshot: (snapshot) => snapshot as State,
      },
      options.snapshots,
      options.cache,
    );
  }

  load(streamId: string, options: LoadOptions = {}): Promise<{ state: State; version: number }> {
    return this.loader.load(streamId, options);
  }

  /** This repository in one tenant (`EventStore.forTenant`): its streams, its snapshots. */
  forTenant(tenantId: string): DeciderRepository<Command, Event, State> {
    return tenantView(this, this.store.forTenant(tenantId), this.loader);
  }

  /**
   * Decides on the current state and appends the result; the events and the append result. The state is
   * this process's cached one when it has it; a decision on it that the append cannot check (no events,
   * or a refusal) is made again on state read from the store.
   */
  async handle(
    streamId: string,
    command: Command,
    options: SaveOptions = {},
  ): Promise<{ events: Event[]; result: AppendResult | null; state: State }> {
    // First on the state this process cached, if any. Whatever that attempt cannot be sure of (a
    // refusal, no events, or a conflict that only says the cache was stale) is decided again on state
    // read from the store, at once: a stale cache is not a conflict (see state-cache.ts).
    const attempt = async (fresh: boolean) => {
      const { state, version, cached } = await this.loader.loadForCommand(streamId, streamId, fresh);
      let events: Event[];
      try {
        events = decideEvents(this.decider, command, state);
      } catch (error) {
        if (cached) return null;
        throw error;
      }
      if (events.length === 0) return cached ? null : { events, result: null, state };
      const encoded = encodeForAppend(this.options.registry, events, options);
      let result: AppendResult;
      try {
        result = await appendOrForget(this.loader, streamId, () =>
          this.store.append(streamId, encoded, {
            expectedVersion: version === 0 ? 'no_stream' : version,
            newIds: options.newIds,
          }),
        );
      } catch (error) {
        if (cached && error instanceof ConcurrencyError) return null;
        throw error;
      }
      const next = evolveAll(this.decider, state, events);
      this.loader.remember(streamId, next, result.nextExpectedVersion);
      await this.loader.afterSave(streamId, next, version, result.nextExpectedVersion);
      return { events, result, state: next };
    };
    return (await attempt(false)) ?? (await attempt(true))!;
  }
}

/** Domain events as the store takes them: the save's metadata under each event's own, ids by index. */
function encodeForAppend(registry: EventRegistry, events: readonly DomainEvent[], options: SaveOptions) {
  return events.map((event, i) =>
    registry.encode(
      { ...event, metadata: { ...options.metadata, ...event.metadata }, ...(options.eventId ? { id: options.eventId(i) } : {}) },
      `events[${i}]`,
    ),
  );
}

/** An append whose failure means the cached state (if any) was not the stream's: drop it. */
async function appendOrForget(loader: StateLoader<any>, streamId: string, append: () => Promise<AppendResult>) {
  try {
    return await append();
  } catch (error) {
    if (error instanceof ConcurrencyError || error instanceof StreamDeletedError) loader.forget(streamId);
    throw error;
  }
}

/** A repository that works in `store` (a tenant's view) instead of its own store, with the same cache. */
function tenantView<R extends object>(repository: R, store: EventStore, loader: StateLoader<any>): R {
  return Object.assign(Object.create(repository) as R, { store, loader: loader.forStore(store) });
}
