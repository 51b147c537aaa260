/**
 * The process side of running consumers: one owner name for the leases, the wake-ups (this process's
 * appends and admin calls at once, other processes' through LISTEN/NOTIFY, polling as the backstop) and
 * the runners started under it. Shared by `Consumers` and `Projections`.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { ValidationError } from '../core/errors.js';
import { validatePositiveInteger } from '../core/validation.js';
import type { EventStore } from '../store/event-store.js';
import { statements } from '../store/statements.js';
import { Wakeup } from '../store/wakeup.js';
import type { ConsumerDefinition } from './consumer.js';
import { ConsumerRunner, type ConsumerEvent, type RunnerHooks, type RunnerSettings } from './runner.js';
import { consumerSql, type ConsumerRow, type ConsumerSql } from './sql.js';

export interface DaemonOptions {
  /** Events read per batch. Default 500. */
  batchSize?: number;
  /** How often an idle runner looks for work when no notification came. Default 1,000 ms. */
  pollIntervalMs?: number;
  /**
   * How long a hold on a consumer lasts without renewal (renewed every third of it). A process that dies
   * is replaced after at most this long. Default 5,000 ms.
   */
  leaseTtlMs?: number;
  /** Names this process in leases and status. Default host:pid:random. */
  owner?: string;
}

export const DEFAULT_SETTINGS: RunnerSettings = { batchSize: 500, pollIntervalMs: 1_000, leaseTtlMs: 5_000 };

export function validateDaemonOptions(options: DaemonOptions): { settings: RunnerSettings; owner: string } {
  const settings = {
    batchSize: validatePositiveInteger(options.batchSize, 'batchSize') ?? DEFAULT_SETTINGS.batchSize,
    pollIntervalMs: validatePositiveInteger(options.pollIntervalMs, 'pollIntervalMs') ?? DEFAULT_SETTINGS.pollIntervalMs,
    leaseTtlMs: validatePositiveInteger(options.leaseTtlMs, 'leaseTtlMs', 300) ?? DEFAULT_SETTINGS.leaseTtlMs,
  };
  if (
    options.owner !== undefined &&
    (typeof options.owner !== 'string' || options.owner.length === 0 || options.owner.length > 200)
  ) {
    throw new ValidationError('owner', 'must be a non-empty string of at most 200 characters');
  }
  return { settings, owner: options.owner ?? `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}` };
}

export class ConsumerDaemon {
  readonly appended = new Wakeup();
  readonly control = new Wakeup();
  readonly sql: ConsumerSql;
  private readonly stopper = new AbortController();
  private readonly runners = new Map<string, ConsumerRunner>();
  private unlisten: Array<() => Promise<void>> = [];

  private constructor(
    readonly store: EventStore,
    readonly owner: string,
    readonly settings: RunnerSettings,
  ) {
    this.sql = consumerSql(store.schema);
  }

  /** Listens for appends and admin calls of other processes. */
  static async start(store: EventStore, owner: string, settings: RunnerSettings): Promise<ConsumerDaemon> {
    const daemon = new ConsumerDaemon(store, owner, settings);
    daemon.unlisten = [
      await store.sql.listen(statements(store.schema).notificationChannel, () => daemon.appended.signal()),
      await store.sql.listen(daemon.sql.controlChannel, () => daemon.control.signal()),
    ];
    return daemon;
  }

  get signal(): AbortSignal {
    return this.stopper.signal;
  }

  has(consumerId: string): boolean {
    return this.runners.has(consumerId);
  }

  /** Starts a runner for a consumer, unless one runs here already. */
  run(
    definition: ConsumerDefinition,
    row: Pick<ConsumerRow, 'consumer_id' | 'consumer_name'>,
    emit: (event: ConsumerEvent) => void,
    hooks?: RunnerHooks,
  ): ConsumerRunner {
    const existing = this.runners.get(row.consumer_id);
    if (existing) return existing;
    const host = {
      store: this.store,
      sql: this.sql,
      owner: this.owner,
      settings: this.settings,
      appended: this.appended,
      control: this.control,
      emit,
    };
    const runner = new ConsumerRunner(host, definition, row, this.stopper.signal, hooks);
    this.runners.set(row.consumer_id, runner);
    void runner.done.finally(() => {
      if (this.runners.get(row.consumer_id) === runner && !this.signal.aborted) this.runners.delete(row.consumer_id);
    });
    return runner;
  }

  /** Lets batches in flight finish, then releases the leases so that others take over at once. */
  async stop(): Promise<void> {
    this.stopper.abort();
    this.control.signal();
    await Promise.all([...this.runners.values()].map((r) => r.done));
    this.runners.clear();
    for (const unlisten of this.unlisten) await unlisten().catch(() => {});
  }
}
