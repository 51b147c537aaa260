/**
 * The read side of one process: the projections it defines, the inline handler to give the store, the
 * daemon that runs the async ones (and catches up inline ones that fell behind), and the calls to
 * observe and operate them (status, waitFor, rebuild, resume, parked events).
 */
import { EventEmitter } from 'node:events';
import {
  ProjectionBuildingError,
  ProjectionFailedError,
  ProjectionNotFoundError,
  ProjectionTimeoutError,
  ValidationError,
} from '../core/errors.js';
import { validatePosition, validatePositiveInteger, validateStreamId } from '../core/validation.js';
import type { EventStore, StoreInlineHandler } from '../store/event-store.js';
import { Wakeup } from '../store/wakeup.js';
import {
  notifyControl,
  pauseConsumers,
  requestParkedRetry,
  resumeConsumers,
  skipFailedEvent,
  skipParkedEvent,
} from '../processing/control.js';
import { ConsumerDaemon, validateDaemonOptions } from '../processing/daemon.js';
import { waitForCheckpoint } from '../processing/wait-for-checkpoint.js';
import type { RunnerSettings } from '../processing/runner.js';
import { consumerSql, type ConsumerSql } from '../processing/sql.js';
import { validateProjectionName, type ProjectionDefinition, type ProjectionInfo } from './define.js';
import { readDocuments, type ReadDocuments } from './documents.js';
import { inlineHandler } from './inline.js';
import { currentEvents, type CurrentEvents } from './current-events.js';
import type { EventRegistry } from '../core/event-registry.js';
import { DEFAULT_TENANT } from '../core/events.js';
import { instanceSchemaName, qualifiedTable } from './naming.js';
import { createRebuild, register } from './registry.js';
import { runInstance, type InstanceRef, type RunnerEvent } from './instance.js';
import { projectionSql, type InstanceRow, type ParkedInstanceRow, type ProjectionSql, type StatusRow } from './sql.js';
import { toStatus, type ProjectionStatus } from './status.js';

export interface ProjectionsOptions {
  /** Events applied per transaction by the daemon. Default 500. */
  batchSize?: number;
  /** How often an idle daemon looks for work when no notification came. Default 1,000 ms. */
  pollIntervalMs?: number;
  /**
   * How long a daemon's hold on a projection lasts without renewal (renewed every third of it). A daemon
   * that dies is replaced after at most this long. Default 5,000 ms.
   */
  leaseTtlMs?: number;
  /** How long a replaced version's tables stay for readers that looked them up just before. Default 10,000 ms. */
  retiredDropDelayMs?: number;
  /** Names this daemon in leases and status. Default host:pid:random. */
  owner?: string;
  /**
   * The application's event registry: stored events reach the handlers upcast to their current version.
   * Needed once any event has a version above 1 (a projection given such an event without one fails,
   * saying so); a projection defined with a registry of its own uses that. `defineApp` passes its own.
   */
  registry?: EventRegistry;
}

export type ProgressEvent = Extract<RunnerEvent, { kind: 'progress' }>;
export type CheckpointEvent = Extract<RunnerEvent, { kind: 'checkpoint' }>;

/** Events of `Projections` (an EventEmitter). `error` is only emitted when someone listens for it. */
export interface ProjectionEvents {
  /** A batch committed. */
  checkpoint: [CheckpointEvent];
  /** A build or catch-up moved on: events done / total, rate, ETA (for progress bars). */
  progress: [ProgressEvent];
  /** A build caught up and now serves reads; older instances were retired. */
  activated: [InstanceRef];
  /** A projection stopped in status `failed`. */
  failed: [Extract<RunnerEvent, { kind: 'failed' }>];
  /** An event went to the dead-letter table. */
  parked: [Extract<RunnerEvent, { kind: 'parked' }>];
  /** A database or connection fault; the daemon retries with backoff. */
  error: [Extract<RunnerEvent, { kind: 'error' }>];
}

export interface ParkedEvent {
  projection: string;
  version: number;
  build: number;
  position: bigint;
  streamId: string;
  eventId: string;
  eventType: string;
  /** `failed`: could not be applied; `behind`: waits for an earlier parked event of its stream. */
  reason: 'failed' | 'behind';
  error: string | null;
  attempts: number;
  retryRequested: boolean;
  parkedAt: Date;
}

const DEFAULT_RETIRED_DROP_DELAY_MS = 10_000;

export class Projections extends EventEmitter<ProjectionEvents> {
  readonly definitions: readonly ProjectionDefinition[];
  /** Give this to `openEventStore({ inlineHandlers: [...] })` when any projection is inline. */
  readonly inlineHandler: StoreInlineHandler;
  readonly owner: string;
  private readonly settings: RunnerSettings;
  private readonly retiredDropDelayMs: number;
  private store: EventStore | null = null;
  private sql: ProjectionSql | null = null;
  private consumerSql: ConsumerSql | null = null;
  private running: { daemon: ConsumerDaemon; done: Promise<void> } | null = null;
  private readonly checkpoints = new Wakeup();
  private readonly registry: EventRegistry | undefined;

  constructor(definitions: readonly ProjectionDefinition[] = [], options: ProjectionsOptions = {}) {
    super();
    if (!Array.isArray(definitions)) throw new ValidationError('projections', 'must be an array of defineProjection() results');
    definitions.forEach((d, i) => {
      if (typeof d !== 'object' || d === null || typeof d.apply !== 'function' || typeof d.describe !== 'function') {
        throw new ValidationError(`projections[${i}]`, 'is not a projection: make it with defineProjection()');
      }
      if (definitions.findIndex((o) => o.name === d.name && o.version === d.version) !== i) {
        throw new ValidationError(`projections[${i}].name`, `"${d.name}" v${d.version} is registered twice`);
      }
    });
    this.definitions = [...definitions];
    const { settings, owner } = validateDaemonOptions(options);
    this.settings = settings;
    this.retiredDropDelayMs =
      validatePositiveInteger(options.retiredDropDelayMs, 'retiredDropDelayMs', 0) ?? DEFAULT_RETIRED_DROP_DELAY_MS;
    this.owner = owner;
    this.registry = options.registry;
    this.inlineHandler = inlineHandler(this.definitions, (d) => this.currentEvents(d));
  }

  /** How `definition`'s handler is given stored events: upcast by its registry, or this one's. */
  currentEvents(definition: ProjectionDefinition): CurrentEvents {
    return currentEvents(definition.registry ?? this.registry, definition.name);
  }

  /** Who consumes which events, as plain data. */
  catalog(): ProjectionInfo[] {
    return this.definitions.map((d) => d.describe());
  }

  /**
   * Registers the projections in the store (creating the instances a new version needs) and starts the
   * daemon: one runner per instance, each taking the instance's lease before it does anything. Resolves
   * once registered; catching up goes on in the background (see `waitFor`, `status`, 'progress').
   */
  async start(store: EventStore): Promise<this> {
    if (this.running) throw new ValidationError('store', 'these projections are already started; call stop() first');
    if (this.definitions.some((d) => d.mode === 'inline') && !store.inlineHandlers.includes(this.inlineHandler)) {
      throw new ValidationError(
        'inlineHandlers',
        'inline projections need their handler in the store: openEventStore({ inlineHandlers: [projections.inlineHandler] })',
      );
    }
    for (const d of this.definitions) instanceSchemaName(store.schema, d.name, d.version, 0);
    this.attach(store);
    const sql = this.sql!;
    for (const definition of this.definitions) {
      const plan = await store.sql.transaction((tx) => register(tx, sql, store.schema, definition));
      if (plan.superseded) {
        this.emitError(
          { projection: definition.name, version: definition.version, build: 0 },
          new Error(
            `a newer version of projection "${definition.name}" than ${definition.version} exists; this process does not run it`,
          ),
        );
      }
    }
    const daemon = await ConsumerDaemon.start(store, this.owner, this.settings);
    await this.discover(daemon);
    this.running = { daemon, done: this.supervise(daemon) };
    return this;
  }

  /** Uses `store` for status and admin calls without running anything (a CLI, a web server). */
  attach(store: EventStore): this {
    if (this.store && this.store !== store) throw new ValidationError('store', 'these projections are attached to another store');
    this.store = store;
    this.sql = projectionSql(store.schema);
    this.consumerSql = consumerSql(store.schema);
    return this;
  }

  /** Stops the daemon: lets batches in flight finish, then releases the leases so others take over at once. */
  async stop(): Promise<void> {
    const running = this.running;
    if (!running) return;
    const stopped = running.daemon.stop();
    await running.done;
    await stopped;
    this.running = null;
  }

  /** Starts runners for new instances (a rebuild asked for elsewhere) as they appear. */
  private async supervise(daemon: ConsumerDaemon) {
    const { signal, control } = daemon;
    while (!signal.aborted) {
      const generation = control.generation;
      await control.wait(generation, this.settings.leaseTtlMs, signal);
      if (signal.aborted || this.store?.isClosed) return;
      await this.discover(daemon).catch((error: unknown) => this.emitError({ projection: '*', version: 0, build: 0 }, error));
    }
  }

  private async discover(daemon: ConsumerDaemon) {
    const store = this.store!;
    for (const definition of this.definitions) {
      const rows = await store.sql.query<InstanceRow>(this.sql!.instancesOf, [definition.name]);
      for (const row of rows) {
        if (row.version !== definition.version || row.phase === 'retired' || daemon.has(row.consumer_id)) continue;
        if (daemon.signal.aborted) return;
        runInstance(daemon, this.sql!, definition, row, this.retiredDropDelayMs, this.currentEvents(definition), (event) =>
          this.forward(event),
        );
      }
    }
  }

  private forward(event: RunnerEvent) {
    switch (event.kind) {
      case 'checkpoint':
        this.checkpoints.signal();
        this.emit('checkpoint', event);
        return;
      case 'progress':
        this.emit('progress', event);
        return;
      case 'activated':
        this.checkpoints.signal();
        this.emit('activated', { projection: event.projection, version: event.version, build: event.build });
        return;
      case 'failed':
        this.checkpoints.signal();
        this.emit('failed', event);
        return;
      case 'parked':
        this.emit('parked', event);
        return;
      case 'error':
        if (this.listenerCount('error') > 0) this.emit('error', event);
    }
  }

  private emitError(ref: InstanceRef, error: unknown) {
    this.forward({ kind: 'error', error, ...ref });
  }

  private attached(): { store: EventStore; sql: ProjectionSql; consumers: ConsumerSql } {
    if (!this.store || !this.sql || !this.consumerSql)
      throw new ValidationError('store', 'call start(store) or attach(store) first');
    return { store: this.store, sql: this.sql, consumers: this.consumerSql };
  }

  /** Every projection instance in the store that is not retired: status, checkpoint, lag, errors. */
  async status(): Promise<ProjectionStatus[]> {
    const { store, sql } = this.attached();
    return (await store.sql.query<StatusRow>(sql.status)).map(toStatus);
  }

  /**
   * Resolves once the projection's active version has passed `position` (for read-your-writes after an
   * append). Rejects with `ProjectionFailedError` if it stopped failed at or before that position, and
   * with `ProjectionTimeoutError` after `timeout` ms (default 5,000).
   */
  async waitFor(projection: string, position: bigint, options: { timeout?: number } = {}): Promise<void> {
    const { store, sql } = this.attached();
    validateProjectionName(projection, 'projection');
    await waitForCheckpoint({
      position,
      options,
      checkpoints: this.checkpoints,
      read: async () => (await store.sql.query<InstanceRow>(sql.activeOf, [projection]))[0],
      notFound: () => new ProjectionNotFoundError(projection),
      failed: (active, at, target) =>
        new ProjectionFailedError({
          projection,
          version: active.version,
          position: at,
          streamId: null,
          eventType: null,
          reason: `stopped in status failed before reaching position ${target}: ${active.last_error ?? 'unknown error'}`,
        }),
      timedOut: (target, checkpoint, timeout) => new ProjectionTimeoutError(projection, target, checkpoint, timeout),
    });
  }

  /**
   * Builds the active version again from position 0 beside the current tables, and switches to it once
   * it has caught up (blue/green). A daemon that runs this projection does the work; follow it with
   * 'progress' events or `status()`. Returns the new build's number.
   */
  async rebuild(projection: string): Promise<{ version: number; build: number }> {
    const { store, sql } = this.attached();
    validateProjectionName(projection, 'projection');
    const row = await store.sql.transaction((tx) => createRebuild(tx, sql, store.schema, projection));
    await this.notify(projection);
    return { version: row.version, build: row.build };
  }

  /** Clears status `failed`: the daemon tries the failed event again (after a fix). */
  async resume(projection: string): Promise<number> {
    const { store, consumers } = this.attached();
    const count = await resumeConsumers(store.sql, consumers, await this.consumerIds(projection));
    await this.notify(projection);
    return count;
  }
  /** Stops applying events to `projection` (all its versions) until `resume`. Returns the instances paused. */
  async pause(projection: string): Promise<number> {
    const { store, consumers } = this.attached();
    const count = await pauseConsumers(store.sql, consumers, await this.consumerIds(projection));
    await this.notify(projection);
    return count;
  }

  /** Asks the daemon to apply parked events again (all, or one stream's), oldest first. Returns how many. */
  async retryParked(projection: string, options: { streamId?: string } = {}): Promise<number> {
    const { store, consumers } = this.attached();
    const ids = await this.consumerIds(projection);
    if (options.streamId !== undefined) validateStreamId(options.streamId, store.limits);
    const count = await requestParkedRetry(store.sql, consumers, ids, options.streamId ?? null);
    await this.notify(projection);
    return count;
  }

  /** Gives up on a parked event that failed (it is never applied); the events behind it go ahead. */
  async skipParked(projection: string, position: bigint): Promise<void> {
    const { store, consumers } = this.attached();
    const ids = await this.consumerIds(projection);
    const at = validatePosition(position, 'position')!;
    await skipParkedEvent(store.sql, consumers, ids, at, projection);
    await this.notify(projection);
  }

  /**
   * Gives up on a poison event: the one the projection (policy `stop`) is stopped failed at, which it
   * then moves past and runs on, or a parked event that failed (as `skipParked`). The event is never
   * applied; its read model goes on without it.
   */
  async skip(projection: string, position: bigint): Promise<'failed' | 'parked'> {
    const { store, consumers } = this.attached();
    const ids = await this.consumerIds(projection);
    const at = validatePosition(position, 'position')!;
    if ((await skipFailedEvent(store.sql, consumers, ids, at)) > 0) {
      await this.notify(projection);
      return 'failed';
    }
    const failedAt = (await this.status()).filter((s) => s.name === projection && s.failedPosition !== null);
    try {
      await skipParkedEvent(store.sql, consumers, ids, at, projection);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      const hint =
        failedAt.length > 0 ? `it is stopped at ${failedAt.map((s) => s.failedPosition).join(', ')}` : 'it is not stopped failed';
      throw new ValidationError(
        'position',
        `${at} is neither the event "${projection}" is stopped failed at nor a parked event that failed (${hint}; see fabula projections status)`,
      );
    }
    await this.notify(projection);
    return 'parked';
  }

  /** The dead-letter table of a projection, oldest first. */
  async parkedEvents(projection: string): Promise<ParkedEvent[]> {
    const { store, sql } = this.attached();
    await this.mustExist(projection);
    const rows = await store.sql.query<ParkedInstanceRow>(sql.listParked, [projection]);
    return rows.map((r) => ({
      projection: r.name,
      version: r.version,
      build: r.build,
      position: BigInt(r.global_position),
      streamId: r.stream_id,
      eventId: r.event_id,
      eventType: r.event_type,
      reason: r.reason,
      error: r.error,
      attempts: r.attempts,
      retryRequested: r.retry_requested,
      parkedAt: r.parked_at,
    }));
  }

  /**
   * A table of the projection's active version, schema-qualified and quoted, for queries:
   * `SELECT ... FROM ${await projections.table('orders-for-display', 'orders')}`. Look it up per query:
   * it changes when a rebuild takes over. When this process defines a newer version of the projection
   * than the active one (new code during a blue/green build), its queries are written for tables that
   * do not serve yet: this throws `ProjectionBuildingError` (HTTP 503) until the new version takes over.
   */
  async table(projection: string, table: string): Promise<string> {
    return qualifiedTable(await this.activeSchema(projection), table);
  }

  /**
   * Read access to a documents collection of the projection's active version: the documents of
   * `tenantId` (default: the default tenant). In a query handler, pass the query's `context.tenantId`.
   */
  documents<T = unknown>(projection: string, collection: string, options: { tenantId?: string } = {}): ReadDocuments<T> {
    const { store } = this.attached();
    validateProjectionName(projection, 'projection');
    return readDocuments<T>(store.sql, () => this.activeSchema(projection), options.tenantId ?? DEFAULT_TENANT, collection);
  }

  /** Removes a projection entirely: every version's tables, checkpoints and parked events. */
  async remove(projection: string): Promise<void> {
    const { store, sql } = this.attached();
    validateProjectionName(projection, 'projection');
    await store.sql.transaction(async (tx) => {
      const rows = await tx.query<{ schema_name: string }>(sql.remove, [projection]);
      for (const row of rows) await tx.exec(sql.dropInstanceSchema(row.schema_name));
    });
    await this.notify(projection);
  }

  private async activeSchema(projection: string): Promise<string> {
    const { store, sql } = this.attached();
    validateProjectionName(projection, 'projection');
    const active = (await store.sql.query<InstanceRow>(sql.activeOf, [projection]))[0];
    if (!active) throw new ProjectionNotFoundError(projection);
    // The version this code's queries are written for; older code reads the newer active version.
    const mine = Math.max(0, ...this.definitions.filter((d) => d.name === projection).map((d) => d.version));
    if (mine > active.version) throw new ProjectionBuildingError(projection, mine, active.version);
    return active.schema_name;
  }

  private async mustExist(projection: string) {
    const { store, sql } = this.attached();
    validateProjectionName(projection, 'projection');
    const rows = await store.sql.query<{ n: number }>(sql.anyOf, [projection]);
    if (rows[0]!.n === 0) throw new ProjectionNotFoundError(projection);
  }

  /** The consumers of the projection's instances that are not retired: what admin calls act on. */
  private async consumerIds(projection: string): Promise<string[]> {
    const { store, sql } = this.attached();
    await this.mustExist(projection);
    return (await store.sql.query<{ id: string }>(sql.liveConsumers, [projection])).map((r) => r.id);
  }

  private async notify(projection: string) {
    const { store, consumers } = this.attached();
    await notifyControl(store.sql, consumers, projection);
    this.running?.daemon.control.signal();
  }
}

/** The read side of a process; see `Projections`. */
export function createProjections(definitions: readonly ProjectionDefinition[], options: ProjectionsOptions = {}): Projections {
  return new Projections(definitions, options);
}
