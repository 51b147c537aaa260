/**
 * Runs process managers: each one's events come through a transactional consumer of the global order
 * (`process:<name>`: leases, checkpoints, retries, parking from src/processing), whose step commits with
 * the checkpoint; the dispatcher sends the commands the steps decided and fires due timeouts.
 *
 *   const processes = await createProcesses([transfers], { commands, registry }).start(store);
 *   await processes.stop();
 */
import { EventEmitter } from 'node:events';
import { ValidationError } from '../core/errors.js';
import type { EventRegistry, StoredDomainEvent } from '../core/event-registry.js';
import type { RecordedEvent } from '../core/events.js';
import { defineTransactionalConsumer, type ConsumerDefinition } from '../processing/consumer.js';
import { createConsumers, type Consumers } from '../processing/consumers.js';
import type { DaemonOptions } from '../processing/daemon.js';
import type { ConsumerStatus } from '../processing/status.js';
import type { EventStore } from '../store/event-store.js';
import type { CommandBus } from '../write/command-bus.js';
import type { ProcessDefinition } from './define.js';
import { Dispatcher, type DispatcherError } from './dispatcher.js';
import { processSql, type ProcessSql } from './sql.js';
import { runStep } from './step.js';

export interface ProcessesOptions {
  /** The bus the processes' commands are sent on (with the application's handlers registered). */
  commands: CommandBus;
  /** Upcasts events to their current version before `on` and `react` see them. */
  registry?: EventRegistry;
  /** A claim on a command older than this is taken over (its sender died). Default 10,000 ms. */
  claimTimeoutMs?: number;
  /** How often the dispatcher looks for commands and timeouts without a wake-up. Default 500 ms. */
  pollIntervalMs?: number;
  /** Commands sent at once (of different instances; each holds a slot until its outcome is recorded). Default 64. */
  concurrency?: number;
  /** Settings of the consumers that feed the processes events. */
  consumers?: DaemonOptions;
}

export interface ProcessStatus {
  name: string;
  /** The consumer feeding it events (checkpoint, lag, failures). */
  consumer: ConsumerStatus | null;
  activeInstances: number;
  endedInstances: number;
  /** Commands decided and not yet answered. */
  openCommands: number;
  scheduledTimeouts: number;
}

export interface ProcessInstance {
  process: string;
  instanceId: string;
  state: unknown;
  ended: boolean;
  correlationId: string;
  steps: number;
  createdAt: Date;
  updatedAt: Date;
  commands: Array<{
    id: string;
    step: string | null;
    type: string;
    data: unknown;
    status: 'pending' | 'dispatching' | 'completed' | 'rejected' | 'withdrawn';
    attempts: number;
    outcome: unknown;
    lastError: string | null;
  }>;
  timeouts: Array<{ name: string; dueAt: Date }>;
}

export interface ProcessesEvents {
  /** A step or a send failed; it is retried (see docs/processes.md). */
  error: [DispatcherError];
}

export class Processes extends EventEmitter<ProcessesEvents> {
  readonly definitions: ReadonlyMap<string, ProcessDefinition>;
  private readonly consumers: Consumers;
  private store: EventStore | null = null;
  private sql: ProcessSql | null = null;
  private dispatcher: Dispatcher | null = null;

  constructor(
    definitions: readonly ProcessDefinition[],
    private readonly options: ProcessesOptions,
  ) {
    super();
    if (!Array.isArray(definitions)) throw new ValidationError('processes', 'must be an array of defineProcess(...) definitions');
    if (!options?.commands || typeof options.commands.execute !== 'function')
      throw new ValidationError('commands', 'processes need the command bus their commands are sent on');
    const byName = new Map<string, ProcessDefinition>();
    definitions.forEach((d, i) => {
      if (typeof d !== 'object' || d === null || !(d.routes instanceof Map))
        throw new ValidationError(`processes[${i}]`, 'is not a process: make it with defineProcess()');
      if (byName.has(d.name)) throw new ValidationError(`processes[${i}].name`, `"${d.name}" is registered twice`);
      byName.set(d.name, d);
    });
    this.definitions = byName;
    for (const [field, value] of Object.entries({
      claimTimeoutMs: options.claimTimeoutMs,
      pollIntervalMs: options.pollIntervalMs,
      concurrency: options.concurrency,
    })) {
      if (value !== undefined && (!Number.isSafeInteger(value) || value < 1))
        throw new ValidationError(field, `${String(value)} is not valid: use an integer >= 1`);
    }
    this.consumers = createConsumers(
      [...byName.values()].map((d) => this.consumerOf(d)),
      options.consumers,
    );
  }

  /** Registers the processes' consumers and runs them and the dispatcher; resolves once registered. */
  async start(store: EventStore): Promise<this> {
    if (this.dispatcher) throw new ValidationError('store', 'these processes are already started; call stop() first');
    this.attach(store);
    if (this.definitions.size === 0) return this; // nothing to run (an application without processes)
    const dispatcher = new Dispatcher(
      store,
      this.sql!,
      this.definitions,
      this.options.commands,
      {
        claimTimeoutMs: this.options.claimTimeoutMs ?? 10_000,
        pollIntervalMs: this.options.pollIntervalMs ?? 500,
        concurrency: this.options.concurrency ?? 64,
      },
      (error) => {
        if (this.listenerCount('error') > 0) this.emit('error', error);
      },
    );
    this.dispatcher = dispatcher;
    // A step that decided commands has committed with its checkpoint: send them now.
    this.consumers.on('checkpoint', () => dispatcher.wakeup.signal());
    await this.consumers.start(store);
    dispatcher.start();
    return this;
  }

  /** Uses `store` for status and inspection without running anything. */
  attach(store: EventStore): this {
    if (this.store && this.store !== store) throw new ValidationError('store', 'these processes are attached to another store');
    this.store = store;
    this.sql = processSql(store.schema);
    this.consumers.attach(store);
    return this;
  }

  async stop(): Promise<void> {
    const dispatcher = this.dispatcher;
    this.dispatcher = null;
    await Promise.all([this.consumers.stop(), dispatcher?.stop()]);
  }

  /** Resolves once the process named has handled the events up to `position` (its steps committed). */
  waitFor(name: string, position: bigint, options: { timeout?: number } = {}): Promise<void> {
    this.definition(name);
    return this.consumers.waitFor(consumerName(name), position, options);
  }

  async status(): Promise<ProcessStatus[]> {
    const { store, sql } = this.attached();
    const names = [...this.definitions.keys()];
    const consumers = new Map((await this.consumers.status()).map((c) => [c.name, c]));
    const rows = await store.sql.query<{
      process: string;
      active: number;
      ended: number;
      commands_open: number;
      timeouts: number;
    }>(sql.status, [names]);
    return rows.map((r) => ({
      name: r.process,
      consumer: consumers.get(consumerName(r.process)) ?? null,
      activeInstances: r.active,
      endedInstances: r.ended,
      openCommands: r.commands_open,
      scheduledTimeouts: r.timeouts,
    }));
  }

  /** One instance: its state, the commands it sent with their outcomes, its timeouts; null if unknown. */
  async instance(name: string, instanceId: string): Promise<ProcessInstance | null> {
    const { store, sql } = this.attached();
    this.definition(name);
    const key = [name, instanceId];
    const row = (
      await store.sql.query<{
        state: unknown;
        ended: boolean;
        correlation_id: string;
        steps: number;
        created_at: Date;
        updated_at: Date;
      }>(sql.instance, key)
    )[0];
    if (!row) return null;
    const commands = await store.sql.query<{
      command_id: string;
      step: string | null;
      command_type: string;
      data: unknown;
      status: ProcessInstance['commands'][number]['status'];
      attempts: number;
      outcome: unknown;
      last_error: string | null;
    }>(sql.instanceCommands, key);
    const timeouts = await store.sql.query<{ name: string; due_at: Date }>(sql.instanceTimeouts, key);
    return {
      process: name,
      instanceId,
      state: row.state,
      ended: row.ended,
      correlationId: row.correlation_id,
      steps: row.steps,
      createdAt: new Date(row.created_at),
      updatedAt: new Date(row.updated_at),
      commands: commands.map((c) => ({
        id: c.command_id,
        step: c.step,
        type: c.command_type,
        data: c.data,
        status: c.status,
        attempts: c.attempts,
        outcome: c.outcome,
        lastError: c.last_error,
      })),
      timeouts: timeouts.map((t) => ({ name: t.name, dueAt: new Date(t.due_at) })),
    };
  }

  private definition(name: string): ProcessDefinition {
    const definition = this.definitions.get(name);
    if (!definition)
      throw new ValidationError(
        'process',
        `no process named ${JSON.stringify(name)}; known: ${[...this.definitions.keys()].join(', ') || 'none'}`,
      );
    return definition;
  }

  private attached(): { store: EventStore; sql: ProcessSql } {
    if (!this.store || !this.sql) throw new ValidationError('store', 'call start(store) or attach(store) first');
    return { store: this.store, sql: this.sql };
  }

  private consumerOf(definition: ProcessDefinition): ConsumerDefinition {
    return defineTransactionalConsumer({
      name: consumerName(definition.name),
      handles: [...definition.routes.keys()],
      startAt: definition.startAt,
      onFailure: definition.onFailure,
      retry: definition.retry,
      handle: async (event, tx) => {
        const decoded = this.options.registry ? this.options.registry.decode(event) : asStored(event);
        const instanceId = definition.routes.get(event.type)!(decoded);
        if (instanceId === null || instanceId === undefined) return;
        if (typeof instanceId !== 'string' || instanceId.length === 0 || instanceId.length > 200)
          throw new ValidationError(
            `process ${definition.name}: on.${event.type}`,
            `returned ${JSON.stringify(instanceId)}: an instance id is a non-empty string of at most 200 characters (or null to ignore the event)`,
          );
        await runStep(tx, this.sql!, {
          definition,
          instanceId,
          message: { kind: 'event', event: decoded },
          cause: event.id,
          correlationId: typeof event.metadata.correlationId === 'string' ? event.metadata.correlationId : event.id,
          commands: this.options.commands,
          tenantId: event.tenantId,
        });
      },
    });
  }
}

export function createProcesses(definitions: readonly ProcessDefinition[], options: ProcessesOptions): Processes {
  return new Processes(definitions, options);
}

/** The consumer that feeds a process its events. */
export function consumerName(process: string): string {
  return `process:${process}`;
}

/** A stored event in the shape `react` gets, without a registry (data as stored). */
function asStored(event: RecordedEvent): StoredDomainEvent {
  const { schemaVersion, ...rest } = event;
  return { ...rest, storedSchemaVersion: schemaVersion } as StoredDomainEvent;
}
