/**
 * Consumers of one process that are not projections (an outbox publisher, process managers): registers
 * them in the store, runs them, and operates them (status, waitFor, pause, resume, parked events).
 *
 *   const consumers = await createConsumers([outbox]).start(store);
 *   await consumers.waitFor('outbox', position);
 *   await consumers.stop();
 */
import { EventEmitter } from 'node:events';
import { ValidationError } from '../core/errors.js';
import { validatePosition, validateStreamId } from '../core/validation.js';
import type { EventStore } from '../store/event-store.js';
import { Wakeup } from '../store/wakeup.js';
import type { ConsumerDefinition } from './consumer.js';
import {
  listParked,
  notifyControl,
  pauseConsumers,
  requestParkedRetry,
  resumeConsumers,
  skipParkedEvent,
  type ParkedConsumerEvent,
} from './control.js';
import { ConsumerDaemon, validateDaemonOptions, type DaemonOptions } from './daemon.js';
import { ConsumerFailedError, ConsumerNotFoundError, ConsumerTimeoutError } from './errors.js';
import { waitForCheckpoint } from './wait-for-checkpoint.js';
import type { ConsumerEvent, RunnerSettings } from './runner.js';
import { consumerSql, type ConsumerRow, type ConsumerSql, type ConsumerStatusRow } from './sql.js';
import { toConsumerStatus, type ConsumerStatus } from './status.js';

type EventOf<K extends ConsumerEvent['kind']> = Extract<ConsumerEvent, { kind: K }>;

/** Events of `Consumers` (an EventEmitter). `error` is only emitted when someone listens for it. */
export interface ConsumerEvents {
  checkpoint: [EventOf<'checkpoint'>];
  progress: [EventOf<'progress'>];
  failed: [EventOf<'failed'>];
  parked: [EventOf<'parked'>];
  error: [EventOf<'error'>];
}

export class Consumers extends EventEmitter<ConsumerEvents> {
  readonly definitions: readonly ConsumerDefinition[];
  readonly owner: string;
  private readonly settings: RunnerSettings;
  private store: EventStore | null = null;
  private sql: ConsumerSql | null = null;
  private daemon: ConsumerDaemon | null = null;
  private readonly checkpoints = new Wakeup();

  constructor(definitions: readonly ConsumerDefinition[], options: DaemonOptions = {}) {
    super();
    if (!Array.isArray(definitions)) throw new ValidationError('consumers', 'must be an array of consumer definitions');
    definitions.forEach((d, i) => {
      if (typeof d !== 'object' || d === null || (d.kind !== 'transactional' && d.kind !== 'delivery')) {
        throw new ValidationError(
          `consumers[${i}]`,
          'is not a consumer: make it with defineTransactionalConsumer() or defineDeliveryConsumer()',
        );
      }
      if (definitions.findIndex((o) => o.name === d.name) !== i)
        throw new ValidationError(`consumers[${i}].name`, `"${d.name}" is registered twice`);
    });
    this.definitions = [...definitions];
    const { settings, owner } = validateDaemonOptions(options);
    this.settings = settings;
    this.owner = owner;
  }

  /** Registers the consumers (a new one starts where its `startAt` says) and runs them; resolves once registered. */
  async start(store: EventStore): Promise<this> {
    if (this.daemon) throw new ValidationError('store', 'these consumers are already started; call stop() first');
    const sql = this.attach(store).sql!;
    const daemon = await ConsumerDaemon.start(store, this.owner, this.settings);
    this.daemon = daemon;
    for (const definition of this.definitions) {
      const row =
        (await store.sql.query<ConsumerRow>(sql.ensure, [definition.name, definition.startAt === 'head']))[0] ??
        (await store.sql.query<ConsumerRow>(sql.byName, [definition.name]))[0]!;
      daemon.run(definition, row, (event) => this.forward(event));
    }
    return this;
  }

  /** Uses `store` for status and admin calls without running anything. */
  attach(store: EventStore): this {
    if (this.store && this.store !== store) throw new ValidationError('store', 'these consumers are attached to another store');
    this.store = store;
    this.sql = consumerSql(store.schema);
    return this;
  }

  async stop(): Promise<void> {
    const daemon = this.daemon;
    this.daemon = null;
    await daemon?.stop();
  }

  private forward(event: ConsumerEvent) {
    if (event.kind === 'checkpoint' || event.kind === 'failed') this.checkpoints.signal();
    if (event.kind === 'error' && this.listenerCount('error') === 0) return;
    (this.emit as (kind: string, event: ConsumerEvent) => boolean)(event.kind, event);
  }

  private attached(): { store: EventStore; sql: ConsumerSql } {
    if (!this.store || !this.sql) throw new ValidationError('store', 'call start(store) or attach(store) first');
    return { store: this.store, sql: this.sql };
  }

  /** Every consumer in the store that is not retired (projections' included), or the one named. */
  async status(name?: string): Promise<ConsumerStatus[]> {
    const { store, sql } = this.attached();
    return (await store.sql.query<ConsumerStatusRow>(sql.status, [name ?? null])).map((row) => toConsumerStatus(row));
  }

  /** Resolves once `name` has passed `position`; rejects if it stopped failed before it, or after `timeout` ms. */
  async waitFor(name: string, position: bigint, options: { timeout?: number } = {}): Promise<void> {
    const { store, sql } = this.attached();
    await waitForCheckpoint({
      position,
      options,
      checkpoints: this.checkpoints,
      read: async () => (await store.sql.query<ConsumerStatusRow>(sql.status, [name]))[0],
      notFound: () => new ConsumerNotFoundError(name),
      failed: (row, at) => new ConsumerFailedError(name, at, row.last_error ?? 'unknown error'),
      timedOut: (target, checkpoint, timeout) => new ConsumerTimeoutError(name, target, checkpoint, timeout),
    });
  }

  async pause(name: string): Promise<number> {
    return this.control(name, (sql, statements, ids) => pauseConsumers(sql, statements, ids));
  }

  async resume(name: string): Promise<number> {
    return this.control(name, (sql, statements, ids) => resumeConsumers(sql, statements, ids));
  }

  async retryParked(name: string, options: { streamId?: string } = {}): Promise<number> {
    const { store } = this.attached();
    if (options.streamId !== undefined) validateStreamId(options.streamId, store.limits);
    return this.control(name, (sql, statements, ids) => requestParkedRetry(sql, statements, ids, options.streamId ?? null));
  }

  async skipParked(name: string, position: bigint): Promise<void> {
    const at = validatePosition(position, 'position')!;
    await this.control(name, (sql, statements, ids) => skipParkedEvent(sql, statements, ids, at, name));
  }

  /** The consumer's dead-letter table, oldest first. */
  async parkedEvents(name: string): Promise<ParkedConsumerEvent[]> {
    const { store, sql } = this.attached();
    return listParked(store.sql, sql, await this.ids(name));
  }

  private async ids(name: string): Promise<string[]> {
    const { store, sql } = this.attached();
    const ids = (await store.sql.query<{ id: string }>(sql.idsByName, [name])).map((r) => r.id);
    if (ids.length === 0) throw new ConsumerNotFoundError(name);
    return ids;
  }

  private async control<T>(name: string, call: (sql: EventStore['sql'], statements: ConsumerSql, ids: string[]) => Promise<T>) {
    const { store, sql } = this.attached();
    const result = await call(store.sql, sql, await this.ids(name));
    await notifyControl(store.sql, sql, name);
    this.daemon?.control.signal();
    return result;
  }
}

export function createConsumers(definitions: readonly ConsumerDefinition[], options: DaemonOptions = {}): Consumers {
  return new Consumers(definitions, options);
}
