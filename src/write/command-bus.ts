/**
 * The command bus: validates a command against its zod schema (before any I/O), authorises it, loads the
 * aggregate, decides, and appends, with the loaded version as `expectedVersion`.
 *
 * - Conflicts (`ConcurrencyError`) are retried a bounded number of times with jittered backoff: the
 *   command is decided again on fresh state.
 * - Commands are idempotent by command id: the events a command writes get ids derived from it, so a
 *   command id that was already handled returns the recorded outcome instead of running again, even
 *   when the first attempt's reply was lost or two attempts race.
 * - Every event gets `causationId` = the command id, the command's `correlationId` (generated when
 *   absent), `userId`, `tenantId` and `commandType`.
 * - A command with a `tenantId` runs in that tenant (`EventStore.forTenant`, docs/tenancy.md): it loads
 *   and appends that tenant's streams only; without one, in the store's system view (tenant `default`).
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { v5 as uuidv5, v7 as uuidv7 } from 'uuid';
import type { z } from 'zod';
import { Access, hasRole, type AccessControl } from '../core/access.js';
import type { Aggregate } from '../core/aggregate.js';
import { ConcurrencyError, ForbiddenError, IdempotencyError, UnknownMessageError, ValidationError } from '../core/errors.js';
import type { DomainEvent } from '../core/event-registry.js';
import { DEFAULT_TENANT, streamTypeOf, type AppendResult, type EventMetadata } from '../core/events.js';
import { validateTenantId } from '../core/validation.js';
import type { EventStore } from '../store/event-store.js';
import type { AggregateRepository, DeciderRepository } from './repository.js';
import { zodIssueToValidationError } from '../core/zod-errors.js';

export interface CommandDefinition<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly schema: z.ZodType<Data>;
  readonly description?: string;
  /** Roles that may send it (one of them suffices); checked when the caller's roles are known (HTTP). */
  readonly roles?: readonly string[];
}

export function defineCommand<Type extends string, Data>(
  type: Type,
  options: { schema: z.ZodType<Data>; description?: string; roles?: readonly string[] },
): CommandDefinition<Type, Data> {
  return { type, schema: options.schema, description: options.description, ...(options.roles ? { roles: options.roles } : {}) };
}

/** A command as deciders receive it. */
export interface Command<Type extends string = string, Data = unknown> {
  type: Type;
  data: Data;
}

export interface CommandContext {
  commandId: string;
  correlationId: string;
  userId?: string;
  tenantId?: string;
  /** The caller's roles, when it is known (HTTP); absent for in-process senders (process managers, tests). */
  roles?: readonly string[];
}

export interface ExecuteOptions {
  /** Makes the command idempotent (an HTTP Idempotency-Key maps here). Generated when absent. */
  commandId?: string;
  correlationId?: string;
  userId?: string;
  tenantId?: string;
  /**
   * The caller's roles. Given, they are checked against the command's `roles` and, with `access`, the
   * write permission on the command's stream type; absent, the sender is trusted (in-process code).
   */
  roles?: readonly string[];
  /** Stream access control to check the write against (with `roles`). */
  access?: AccessControl;
  /** More metadata for every event the command writes. */
  metadata?: EventMetadata;
}

export interface CommandResult {
  commandType: string;
  commandId: string;
  correlationId: string;
  streamId: string;
  /** The events written (none when the command changed nothing). */
  events: Array<{ id: string; type: string; streamVersion: number; globalPosition: bigint }>;
  /** The stream's version after the command. */
  nextExpectedVersion: number;
  /** Positions of the first and last event written: wait for read models to pass `lastPosition`. */
  firstPosition: bigint | null;
  lastPosition: bigint | null;
  /** True when this command id had already been handled and this is its recorded outcome. */
  replayed: boolean;
  /** How many times it was decided (more than 1 after concurrency conflicts). */
  attempts: number;
}

type Authorize<Data> = (command: Data, context: CommandContext) => boolean | void | Promise<boolean | void>;

export interface AggregateHandler<Data, A extends Aggregate<any>> {
  repository: AggregateRepository<A>;
  /** The aggregate id the command is for. */
  id: (command: Data) => string;
  /** Calls the aggregate's methods; they trigger events or throw a DomainError. */
  handle: (aggregate: A, command: Data, context: CommandContext) => void | Promise<void>;
  authorize?: Authorize<Data>;
  /**
   * A policy on the loaded aggregate, before `handle`: return false (or throw `ForbiddenError`) to
   * refuse, e.g. only the account's owner may withdraw. Runs on the state the command is decided on.
   */
  authorizeState?: (aggregate: A, command: Data, context: CommandContext) => boolean | void | Promise<boolean | void>;
}

export interface DeciderHandler<Data, Type extends string> {
  repository: DeciderRepository<any, any, any>;
  streamId: (command: Data) => string;
  /** Builds the decider's command; default `{ type, data }`. */
  toCommand?: (command: Data, context: CommandContext) => Command<Type, Data> | unknown;
  authorize?: Authorize<Data>;
}

/** The data type of a command definition. */
export type DataOf<D> = D extends CommandDefinition<string, infer Data> ? Data : never;

export interface CommandRetryPolicy {
  /** Retries after a ConcurrencyError (another process wrote the stream first). Default 10. */
  maxRetries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

interface Outcome {
  result: AppendResult | null;
  events: readonly DomainEvent[];
}

interface Registration {
  definition: CommandDefinition;
  streamId: (data: unknown) => string;
  authorize?: Authorize<unknown>;
  /** `eventId` gives the events' ids; they are new (checked above, or derived from a fresh command id). */
  run: (data: unknown, context: CommandContext, metadata: EventMetadata, eventId: (index: number) => string) => Promise<Outcome>;
}

// Namespace for event ids derived from command ids (UUID v5). Never change it: ids must stay stable.
const COMMAND_EVENT_NAMESPACE = '6f3b8d2e-3c1a-4b7e-9a55-2f0d1c9e7a41';

/**
 * Routes each command type to its handler: an aggregate (`registerAggregate`) or a decider
 * (`registerDecider`). See the module comment for validation, retries, idempotency and metadata.
 *
 * @example
 * ```ts
 * import { z } from 'zod';
 * import { CommandBus, DeciderRepository, defineCommand, defineDecider, defineEvent, EventRegistry, openEventStore, type EventOf } from 'fabula';
 *
 * const Greeted = defineEvent('Greeted', { schema: z.object({ name: z.string() }) });
 * const Greet = defineCommand('Greet', { schema: z.object({ name: z.string().min(1) }) });
 * const greeter = defineDecider<{ type: 'Greet'; data: { name: string } }, EventOf<typeof Greeted>, number>({
 *   initialState: 0,
 *   decide: (command) => Greeted.create({ name: command.data.name }),
 *   evolve: (greetings) => greetings + 1,
 * });
 *
 * const store = await openEventStore({ dataDir: '.fabula/data' });
 * const registry = new EventRegistry().register(Greeted);
 * const bus = new CommandBus({ store }).registerDecider(Greet, {
 *   repository: new DeciderRepository(store, greeter, { name: 'greeter', registry }),
 *   streamId: (command) => `greeter-${command.name}`,
 * });
 * await bus.execute('Greet', { name: 'Ada' }); // appends Greeted to greeter-Ada
 * ```
 */
export class CommandBus {
  private readonly registrations = new Map<string, Registration>();
  private readonly retry: CommandRetryPolicy;
  private readonly streamQueues = new Map<string, Promise<void>>();

  constructor(private readonly options: { store: EventStore; retry?: Partial<CommandRetryPolicy> }) {
    this.retry = { maxRetries: 10, baseDelayMs: 5, maxDelayMs: 250, ...options.retry };
  }

  /** Handles `definition` with a class-style aggregate. */
  registerAggregate<Type extends string, Data, A extends Aggregate<any>>(
    definition: CommandDefinition<Type, Data>,
    handler: AggregateHandler<Data, A>,
  ): this {
    return this.add(definition, {
      streamId: (data) => handler.repository.streamId(handler.id(data as Data)),
      authorize: handler.authorize as Authorize<unknown> | undefined,
      run: async (data, context, metadata, eventId) => {
        const id = handler.id(data as Data);
        const repository = context.tenantId === undefined ? handler.repository : handler.repository.forTenant(context.tenantId);
        // First on the state this process cached, if any. Whatever that attempt cannot be sure of (a
        // refusal, no events, or a conflict that only says the cache was stale) is decided again on
        // state read from the store, at once: a stale cache is not a conflict (see state-cache.ts).
        const attempt = async (fresh: boolean): Promise<Outcome | null> => {
          const { aggregate, cached } = await repository.loadForCommand(id, fresh);
          try {
            if (handler.authorizeState && (await handler.authorizeState(aggregate, data as Data, context)) === false)
              throw new ForbiddenError(
                `${definition.type} is not allowed on ${id}${context.userId ? ` for user ${context.userId}` : ''}`,
              );
            await handler.handle(aggregate, data as Data, context);
          } catch (error) {
            if (cached) return null;
            throw error;
          }
          if (cached && aggregate.pendingEvents.length === 0) return null;
          const events = [...(aggregate.pendingEvents as readonly DomainEvent[])];
          try {
            return { result: await repository.save(aggregate, { metadata, eventId, newIds: true }), events };
          } catch (error) {
            if (cached && error instanceof ConcurrencyError) return null;
            throw error;
          }
        };
        return (await attempt(false)) ?? (await attempt(true))!;
      },
    });
  }

  /**
   * Handles `definition` with a functional decider; or every command of a list with one decider, said
   * once: `bus.registerDecider([BorrowBook, ReturnBook], { repository, streamId: (c) => \`book-${c.bookId}\` })`
   * (`streamId` and `toCommand` get the union of the commands' data).
   */
  registerDecider<Type extends string, Data>(
    definition: CommandDefinition<Type, Data>,
    handler: DeciderHandler<Data, Type>,
  ): this;
  registerDecider<const Definitions extends readonly CommandDefinition<string, any>[]>(
    definitions: Definitions,
    handler: DeciderHandler<DataOf<Definitions[number]>, Definitions[number]['type']>,
  ): this;
  registerDecider(definitions: CommandDefinition | readonly CommandDefinition[], handler: DeciderHandler<unknown, string>): this {
    if (!Array.isArray(definitions)) return this.registerOneDecider(definitions as CommandDefinition, handler);
    if (definitions.length === 0) throw new ValidationError('definitions', 'give at least one command definition');
    const taken = definitions.find((d) => this.registrations.has(d.type));
    if (taken) throw new ValidationError('type', `command ${taken.type} already has a handler`);
    for (const definition of definitions) this.registerOneDecider(definition, handler);
    return this;
  }

  private registerOneDecider<Type extends string, Data>(
    definition: CommandDefinition<Type, Data>,
    handler: DeciderHandler<Data, Type>,
  ): this {
    return this.add(definition, {
      streamId: (data) => handler.streamId(data as Data),
      authorize: handler.authorize as Authorize<unknown> | undefined,
      run: async (data, context, metadata, eventId) => {
        const command = handler.toCommand ? handler.toCommand(data as Data, context) : { type: definition.type, data };
        const repository = context.tenantId === undefined ? handler.repository : handler.repository.forTenant(context.tenantId);
        const { result, events } = await repository.handle(handler.streamId(data as Data), command, {
          metadata,
          eventId,
          newIds: true,
        });
        return { result, events };
      },
    });
  }

  private add(definition: CommandDefinition, registration: Omit<Registration, 'definition'>): this {
    if (this.registrations.has(definition.type)) {
      throw new ValidationError('type', `command ${definition.type} already has a handler`);
    }
    this.registrations.set(definition.type, { definition, ...registration });
    return this;
  }

  /** Whether a command type is registered. */
  has(type: string): boolean {
    return this.registrations.has(type);
  }

  /** The registered command definitions (for catalogs and HTTP routes). */
  commands(): CommandDefinition[] {
    return [...this.registrations.values()].map((r) => r.definition);
  }

  /**
   * Validates `payload` against the command's schema, authorises it, decides and appends; retries on
   * concurrency conflicts. Throws `UnknownMessageError`, `ValidationError`, `ForbiddenError`, the
   * handler's `DomainError`, or `ConcurrencyError` once the retries are spent.
   *
   * @example
   * ```ts
   * import type { CommandBus } from 'fabula';
   * declare const bus: CommandBus;
   *
   * const result = await bus.execute(
   *   'DepositMoney',
   *   { accountId: 'a1', amount: 100 },
   *   // The same commandId again (a client's retry) returns this outcome instead of depositing twice.
   *   { commandId: '3f1c9a52-7d4e-4b8a-9c0e-5a6b7c8d9e0f', userId: 'u-1' },
   * );
   * result.lastPosition; // wait for read models to pass it (read your writes)
   * result.replayed; // true when this commandId had been handled before
   * ```
   */
  async execute(type: string, payload: unknown, options: ExecuteOptions = {}): Promise<CommandResult> {
    const registration = this.registrations.get(type);
    if (!registration) throw new UnknownMessageError('command', type, [...this.registrations.keys()]);
    const parsed = registration.definition.schema.safeParse(payload);
    if (!parsed.success) throw zodIssueToValidationError(parsed.error, type);
    const data = parsed.data;

    const commandId = checkId(options.commandId, 'commandId') ?? randomUUID();
    if (options.tenantId !== undefined) validateTenantId(options.tenantId);
    const context: CommandContext = {
      commandId,
      correlationId: checkId(options.correlationId, 'correlationId') ?? randomUUID(),
      ...(options.userId !== undefined ? { userId: options.userId } : {}),
      ...(options.tenantId !== undefined ? { tenantId: options.tenantId } : {}),
      ...(options.roles !== undefined ? { roles: options.roles } : {}),
    };
    if (options.roles !== undefined) this.checkRoles(registration, data, options.roles, options.access, context);
    if (registration.authorize) {
      const allowed = await registration.authorize(data, context);
      if (allowed === false)
        throw new ForbiddenError(`${type} is not allowed${context.userId ? ` for user ${context.userId}` : ''}`);
    }
    const streamId = registration.streamId(data);
    const eventId = eventIds(commandId, options.commandId !== undefined, context.tenantId);
    const metadata: EventMetadata = {
      ...options.metadata,
      correlationId: context.correlationId,
      causationId: commandId,
      commandType: type,
      ...(context.userId !== undefined ? { userId: context.userId } : {}),
      ...(context.tenantId !== undefined ? { tenantId: context.tenantId } : {}),
    };

    // A command id the caller gave may have been handled before; one generated here cannot have been.
    if (options.commandId !== undefined) {
      const recorded = await this.recordedOutcome(type, context, eventId(0));
      if (recorded) return recorded;
    }

    return this.oneAtATime(`${context.tenantId ?? ''}\u0000${streamId}`, () =>
      this.decideWithRetries(type, registration, data, context, metadata, eventId, streamId),
    );
  }

  /** The caller's roles against the command's `roles` and the write permission on its stream type. */
  private checkRoles(
    registration: Registration,
    data: unknown,
    roles: readonly string[],
    access: AccessControl | undefined,
    context: CommandContext,
  ) {
    const { type, roles: required } = registration.definition;
    const who = context.userId ? ` for user ${context.userId}` : '';
    if (!hasRole(roles, required)) throw new ForbiddenError(`${type} requires one of the roles ${required!.join(', ')}${who}`);
    if (access === undefined) return;
    const streamType = streamTypeOf(registration.streamId(data));
    if (!new Access(access, roles).may('write', streamType))
      throw new ForbiddenError(`${type} writes to ${streamType} streams, which your roles may not write${who}`);
  }

  /**
   * Commands for one stream run one after the other within this process: racing them would only make
   * all but one fail and retry. Conflicts with other processes are still retried.
   */
  private async oneAtATime<T>(streamId: string, run: () => Promise<T>): Promise<T> {
    const previous = this.streamQueues.get(streamId) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.streamQueues.set(streamId, tail);
    await previous;
    try {
      return await run();
    } finally {
      release();
      if (this.streamQueues.get(streamId) === tail) this.streamQueues.delete(streamId);
    }
  }

  private async decideWithRetries(
    type: string,
    registration: Registration,
    data: unknown,
    context: CommandContext,
    metadata: EventMetadata,
    eventId: (index: number) => string,
    streamId: string,
  ): Promise<CommandResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        const outcome = await registration.run(data, context, metadata, eventId);
        return this.toResult(type, context, streamId, outcome, eventId, attempt);
      } catch (error) {
        if (error instanceof ConcurrencyError && attempt <= this.retry.maxRetries) {
          const ceiling = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
          await sleep(Math.random() * ceiling); // full jitter: spreads the retries of racing writers
          continue;
        }
        if (error instanceof ConcurrencyError || error instanceof IdempotencyError) {
          // Another attempt of this same command may have won the race: then its outcome is ours.
          const outcome = await this.recordedOutcome(type, context, eventId(0));
          if (outcome) return outcome;
        }
        throw error;
      }
    }
  }

  private toResult(
    type: string,
    context: CommandContext,
    streamId: string,
    { result, events }: Outcome,
    eventId: (index: number) => string,
    attempts: number,
  ): CommandResult {
    const firstVersion = (result?.nextExpectedVersion ?? 0) - events.length + 1;
    return {
      commandType: type,
      commandId: context.commandId,
      correlationId: context.correlationId,
      streamId,
      events: result
        ? events.map((e, i) => ({
            id: eventId(i),
            type: e.type,
            streamVersion: firstVersion + i,
            globalPosition: result.firstPosition + BigInt(i),
          }))
        : [],
      nextExpectedVersion: result?.nextExpectedVersion ?? 0,
      firstPosition: result?.firstPosition ?? null,
      lastPosition: result?.lastPosition ?? null,
      replayed: false,
      attempts,
    };
  }

  /** The outcome of a command id that already wrote events, or null. */
  private async recordedOutcome(type: string, context: CommandContext, firstEventId: string): Promise<CommandResult | null> {
    const store = context.tenantId === undefined ? this.options.store : this.options.store.forTenant(context.tenantId);
    const first = await store.readEvent(firstEventId);
    if (!first) return null;
    if (first.metadata.commandType !== type) {
      throw new IdempotencyError(
        first.id,
        first.streamId,
        `command id ${context.commandId} was already used for a ${String(first.metadata.commandType)} command; use a new id for a new command`,
      );
    }
    const following = await store.readStream(first.streamId, { from: first.streamVersion });
    const end = following.findIndex((e) => e.metadata.causationId !== context.commandId);
    const events = end === -1 ? following : following.slice(0, end);
    const last = events[events.length - 1]!;
    return {
      commandType: type,
      commandId: context.commandId,
      correlationId: String(first.metadata.correlationId ?? context.correlationId),
      streamId: first.streamId,
      events: events.map((e) => ({ id: e.id, type: e.type, streamVersion: e.streamVersion, globalPosition: e.globalPosition })),
      nextExpectedVersion: last.streamVersion,
      firstPosition: first.globalPosition,
      lastPosition: last.globalPosition,
      replayed: true,
      attempts: 0,
    };
  }
}

/**
 * The ids of the events a command writes, by index. A caller's command id may come again (a retry):
 * its events get ids derived from it (UUIDv5), so that the repeat finds them. A command id generated
 * here cannot come again: its events get fresh time-ordered ids (UUIDv7), cheaper to index on big stores.
 * Event ids are unique across tenants: two tenants' same command id must not meet, so a tenant's own ids
 * derive from its id too (the default tenant's as before, so that ids already written stay valid).
 */
function eventIds(commandId: string, givenByCaller: boolean, tenantId: string | undefined): (index: number) => string {
  const scope = tenantId === undefined || tenantId === DEFAULT_TENANT ? '' : `${tenantId}/`;
  if (givenByCaller) return (index) => uuidv5(`${scope}${commandId}#${index}`, COMMAND_EVENT_NAMESPACE);
  const ids: string[] = [];
  return (index) => (ids[index] ??= uuidv7());
}

function checkId(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > 200 || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new ValidationError(field, 'must be a non-empty string of at most 200 printable characters');
  }
  return value;
}

export type { DomainEvent };
