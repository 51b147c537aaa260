import { ConcurrencyError, FabulaError, IdempotencyError, StoreClosedError, StreamDeletedError, ValidationError } from '../core/errors.js';
import {
  DEFAULT_TENANT,
  streamTypeOf,
  type AppendOptions,
  type AppendResult,
  type DeleteStreamOptions,
  type ExpectedVersion,
  type ListStreamsOptions,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type StreamInfo,
  type SubscribeOptions,
} from '../core/events.js';
import {
  isUuid,
  prepareEvents,
  validateDate,
  validateEventType,
  validateExpectedVersion,
  validateNameList,
  validatePosition,
  validatePositiveInteger,
  validateStreamId,
  validateTenantId,
  type StoreLimits,
} from '../core/validation.js';
import { AppendBatcher, type AppendOutcome, type InlineHandler } from './append-batcher.js';
import type { SqlClient, SqlExecutor } from './sql-client.js';
import {
  enterTenant,
  statements,
  toRecordedEvent,
  toStreamInfo,
  type EventRow,
  type Statements,
  type StreamRow,
} from './statements.js';
import { Wakeup } from './wakeup.js';
import type { ForgetResult, PersonalDataProtection } from './personal-data/protection.js';

const MAX_VERSION = Number.MAX_SAFE_INTEGER;

/** One stream's part of `appendMany`. */
export interface StreamAppend {
  streamId: string;
  events: readonly NewEvent[];
  expectedVersion?: ExpectedVersion;
}

/**
 * An inline handler as the store calls it: with the store it runs for as a third argument, so that a
 * handler made before the store was opened (inline projections) knows the store's schema.
 */
export type StoreInlineHandler = (events: RecordedEvent[], tx: SqlExecutor, store: { schema: string }) => Promise<void>;

export interface EventStoreParts {
  sql: SqlClient;
  /** Run in each append's transaction (inline projections). */
  inlineHandlers?: readonly StoreInlineHandler[];
  schema: string;
  limits: StoreLimits;
  /** Called by close() after the store has stopped using `sql` (closes what the store owns). */
  onClose: () => Promise<void>;
  /** See OpenEventStoreOptions.appendWritersInFlight. */
  appendWritersInFlight?: number;
  /** Encryption of declared personal data (OpenEventStoreOptions.personalData). */
  personalData?: PersonalDataProtection;
}

/** What a store and its tenant views share. */
interface Shared {
  statements: Statements;
  batcher: AppendBatcher;
  wakeup: Wakeup;
  closing: AbortController;
  unlisten: Promise<() => Promise<void>> | null;
  closed: Promise<void> | null;
}

/**
 * The event store: append-only streams with optimistic concurrency and idempotent appends, and a global
 * order in which one position is a complete checkpoint. Open one with `openEventStore()`.
 *
 * The store opened is the *system view*: streams it appends to, reads and lists are the `default`
 * tenant's, while `readAll`, `subscribe` and `readEvent` see every tenant's events (what projections and
 * other consumers need). `forTenant(id)` gives a view confined to one tenant by row-level security
 * (docs/tenancy.md).
 */
export class EventStore {
  readonly schema: string;
  readonly limits: StoreLimits;
  /** Which driver is underneath: the embedded PGlite or a PostgreSQL server. */
  readonly driver: 'pglite' | 'postgres';
  /** The store's SQL client (advanced: projections and tools share the store's database through it). */
  readonly sql: SqlClient;
  /** The handlers every append runs in its transaction (so projections can check theirs is there). */
  readonly inlineHandlers: readonly StoreInlineHandler[];
  /** The tenant this view is confined to; null for the store's system view. */
  readonly tenantId: string | null;
  private readonly shared: Shared;
  private readonly personalData: PersonalDataProtection | null;

  constructor(
    private readonly parts: EventStoreParts,
    view?: { shared: Shared; tenantId: string },
  ) {
    this.sql = parts.sql;
    this.schema = parts.schema;
    this.limits = parts.limits;
    this.driver = parts.sql.kind;
    this.inlineHandlers = parts.inlineHandlers ?? [];
    this.tenantId = view?.tenantId ?? null;
    this.personalData = parts.personalData ?? null;
    if (view) {
      this.shared = view.shared;
      return;
    }
    const wakeup = new Wakeup();
    const sqlOf = statements(parts.schema);
    this.shared = {
      statements: sqlOf,
      wakeup,
      closing: new AbortController(),
      unlisten: null,
      closed: null,
      batcher: new AppendBatcher(
        this.sql,
        { system: sqlOf.appendBatch, asTenant: sqlOf.appendBatchAsTenant },
        () => wakeup.signal(),
        this.inlineHandlers.map(
          (handler): InlineHandler =>
            (events, tx) =>
              handler(events, tx, { schema: parts.schema }),
        ),
        parts.sql.kind === 'pglite' ? 1 : (parts.appendWritersInFlight ?? 2),
      ),
    };
  }

  /**
   * The store as one tenant sees it: the same methods, and every statement runs in a transaction that
   * row-level security confines to `tenantId` (its streams, its events, nothing of any other tenant).
   * Stream ids are per tenant: two tenants may both have `account-a1`. Cheap: views share the store.
   */
  forTenant(tenantId: string): EventStore {
    validateTenantId(tenantId);
    return new EventStore(this.parts, { shared: this.shared, tenantId });
  }

  private get statements(): Statements {
    return this.shared.statements;
  }
  private get batcher(): AppendBatcher {
    return this.shared.batcher;
  }
  private get wakeup(): Wakeup {
    return this.shared.wakeup;
  }
  private get closing(): AbortController {
    return this.shared.closing;
  }

  /** The tenant that stream operations address: this view's, or the default one for the system view. */
  private get streamTenant(): string {
    return this.tenantId ?? DEFAULT_TENANT;
  }

  /** A read: as the owner for the system view, in a transaction confined to the tenant for a tenant's view. */
  private read<Row>(text: string, params: readonly unknown[]): Promise<Row[]> {
    const tenant = this.tenantId;
    if (tenant === null) return this.sql.query<Row>(text, params);
    return this.sql.transaction(async (tx) => {
      await tx.query(enterTenant, [tenant]);
      return tx.query<Row>(text, params);
    });
  }

  /**
   * Appends events to a stream, atomically: all of them or none. Give events an `id` to make a retry
   * safe: the same ids appended again to the same stream are not written twice and get the first answer.
   */
  async append(streamId: string, events: readonly NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    this.assertOpen();
    validateStreamId(streamId, this.limits);
    const expected = validateExpectedVersion(options.expectedVersion ?? 'any');
    let prepared = prepareEvents(events, this.limits);
    const bytes = prepared.reduce((sum, e) => sum + e.bytes, 0);
    if (this.personalData) prepared = await this.personalData.protect(this.sql, this.streamTenant, prepared, 'events');
    const outcome = await this.batcher.submit({
      tenant: this.tenantId,
      streamId,
      streamType: streamTypeOf(streamId),
      expected,
      events: prepared,
      bytes,
      newIds: options.newIds === true,
    });
    return this.toResult(streamId, expected, outcome);
  }

  /**
   * Appends to several streams in one transaction: all of the appends or none. Each stream's
   * `expectedVersion` is checked; when one is refused, nothing is written and its error is thrown
   * (`ConcurrencyError`, `StreamDeletedError`, `IdempotencyError`, naming the stream). The appends
   * take consecutive global positions in the order given. A stream may appear once.
   *
   * @example
   * ```ts
   * import { openEventStore } from 'fabula';
   *
   * const store = await openEventStore({ dataDir: '.fabula/data' });
   * const [from, to] = await store.appendMany([
   *   { streamId: 'account-a', events: [{ type: 'MoneyWithdrawn', data: { amount: 5 } }], expectedVersion: 3 },
   *   { streamId: 'account-b', events: [{ type: 'MoneyDeposited', data: { amount: 5 } }], expectedVersion: 7 },
   * ]);
   * ```
   */
  async appendMany(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    this.assertOpen();
    if (!Array.isArray(appends) || appends.length === 0)
      throw new ValidationError('appends', 'must be a non-empty array of { streamId, events, expectedVersion? }');
    const seen = new Set<string>();
    const ids = new Set<string>();
    const requests = appends.map((a, i) => {
      if (typeof a !== 'object' || a === null) throw new ValidationError(`appends[${i}]`, 'must be { streamId, events, expectedVersion? }');
      validateStreamId(a.streamId, this.limits, `appends[${i}].streamId`);
      if (seen.has(a.streamId))
        throw new ValidationError(`appends[${i}].streamId`, `"${a.streamId}" appears twice: put all of a stream's events in one append`);
      seen.add(a.streamId);
      const expected = validateExpectedVersion(a.expectedVersion ?? 'any', `appends[${i}].expectedVersion`);
      const prepared = prepareEvents(a.events, this.limits, `appends[${i}].events`);
      prepared.forEach((e, k) => {
        if (ids.has(e.id)) throw new ValidationError(`appends[${i}].events[${k}].id`, `${e.id} appears twice in this appendMany`);
        ids.add(e.id);
      });
      return {
        tenant: this.tenantId,
        streamId: a.streamId,
        streamType: streamTypeOf(a.streamId),
        expected,
        events: prepared,
        bytes: prepared.reduce((sum, e) => sum + e.bytes, 0),
      };
    });
    if (this.personalData) {
      for (const [i, request] of requests.entries())
        request.events = await this.personalData.protect(this.sql, this.streamTenant, request.events, `appends[${i}].events`);
    }
    const outcomes = await this.batcher.submitGroup(requests);
    const refused = outcomes.findIndex((o) => !('ok' in o));
    if (refused >= 0) this.toResult(requests[refused]!.streamId, requests[refused]!.expected, outcomes[refused]!);
    return outcomes.map((o, i) => this.toResult(requests[i]!.streamId, requests[i]!.expected, o));
  }

  private toResult(streamId: string, expected: string | number, outcome: AppendOutcome): AppendResult {
    if ('ok' in outcome) {
      return {
        streamId,
        nextExpectedVersion: Number(outcome.nextExpectedVersion),
        firstPosition: BigInt(outcome.firstPosition),
        lastPosition: BigInt(outcome.lastPosition),
      };
    }
    switch (outcome.error) {
      case 'concurrency':
        throw new ConcurrencyError(streamId, expected, Number(outcome.actual));
      case 'idempotency':
        throw new IdempotencyError(outcome.eventId, streamId, outcome.reason);
      case 'deleted':
        throw new StreamDeletedError(streamId);
    }
  }

  /** Events of one stream in stream order (or reversed), optionally as the stream was at `asOf`. */
  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    validateStreamId(streamId, this.limits);
    const direction = options.direction ?? 'forwards';
    if (direction !== 'forwards' && direction !== 'backwards') {
      throw new ValidationError('direction', `${JSON.stringify(direction)} is not valid: use 'forwards' or 'backwards'`);
    }
    const from = validatePositiveInteger(options.from, 'from', 0);
    const to = validatePositiveInteger(options.to, 'to', 0);
    const maxCount = validatePositiveInteger(options.maxCount, 'maxCount');
    const asOf = validateDate(options.asOf, 'asOf');
    // `from` is where reading starts: the low end forwards, the high end backwards.
    const [low, high] = direction === 'forwards' ? [from ?? 1, to ?? MAX_VERSION] : [to ?? 0, from ?? MAX_VERSION];
    const rows =
      this.tenantId === null
        ? await this.sql.query<EventRow>(this.statements.readStream(direction === 'forwards' ? 'ASC' : 'DESC'), [
            streamId,
            low,
            high,
            asOf ?? null,
            maxCount ?? null,
            DEFAULT_TENANT,
          ])
        : // One statement that enters the tenant itself (read_stream_in_tenant.sql), in autocommit: the
          // hot read of commands and HTTP pays one round trip, not a transaction's three or four.
          await this.sql.query<EventRow>(this.statements.readStreamInTenant, [
            this.tenantId,
            streamId,
            low,
            high,
            asOf ?? null,
            maxCount ?? null,
            direction === 'backwards',
          ]);
    return this.revealPersonalData(rows.map(toRecordedEvent));
  }

  /**
   * Events of all streams in global order, strictly after `after` (a tenant's view: all its streams; its
   * positions have gaps where other tenants' events are). Every committed event is returned
   * exactly once across successive reads: no event at or below the last position read can appear later.
   */
  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    const after = validatePosition(options.after, 'after') ?? 0n;
    const maxCount = validatePositiveInteger(options.maxCount, 'maxCount');
    const eventTypes = validateNameList(options.eventTypes, 'eventTypes', validateEventType);
    const streamTypes = validateNameList(options.streamTypes, 'streamTypes', (name, field) =>
      validateStreamId(name, this.limits, field),
    );
    return this.readAllValidated(after, maxCount ?? null, eventTypes, streamTypes);
  }

  private async readAllValidated(after: bigint, maxCount: number | null, eventTypes?: string[], streamTypes?: string[]) {
    const params: unknown[] = [after, maxCount];
    if (eventTypes) params.push(eventTypes);
    if (streamTypes) params.push(streamTypes);
    if (this.tenantId !== null) params.push(this.tenantId);
    const sql = this.statements.readAll({ eventTypes: !!eventTypes, streamTypes: !!streamTypes, tenant: this.tenantId !== null });
    return this.revealPersonalData((await this.read<EventRow>(sql, params)).map(toRecordedEvent));
  }

  /** One event by its id, or null. */
  async readEvent(eventId: string): Promise<RecordedEvent | null> {
    this.assertOpen();
    if (!isUuid(eventId)) {
      throw new ValidationError('eventId', `${JSON.stringify(eventId)} is not a UUID`);
    }
    const rows = await this.read<EventRow>(this.statements.readEvent, [eventId, this.tenantId]);
    return rows[0] ? (await this.revealPersonalData([toRecordedEvent(rows[0])]))[0]! : null;
  }

  /**
   * Events read from the `events` table with their personal data decrypted (`ERASED` where the subject
   * was forgotten). The store's reads do this; code that reads the table itself (a consumer's batch, in
   * its transaction: pass it as `sql`) calls it. Events unchanged when the store has no protection.
   */
  revealPersonalData(events: RecordedEvent[], sql: SqlExecutor = this.sql): Promise<RecordedEvent[]> {
    if (!this.personalData || events.length === 0) return Promise.resolve(events);
    return this.personalData.reveal(sql, events);
  }

  /** Whether the store encrypts personal data (it was opened with `personalData`). */
  get protectsPersonalData(): boolean {
    return this.personalData !== null;
  }

  /**
   * Changes whenever a subject is forgotten (by this process or, through a notification, another one):
   * a cache of decrypted state (the repositories' state cache) drops its entries when it sees a new value.
   */
  get forgetGeneration(): number {
    return this.personalData?.generation ?? 0;
  }

  /**
   * Forgets a subject of personal data (crypto-shredding): destroys its data key, so its encrypted
   * values read as `ERASED` from then on; erases in place its values in events written before protection
   * was on; deletes the snapshots of the streams holding its events. Idempotent. Read models built from
   * these events still hold the values: rebuild them (`forgetSubject` in fabula does both).
   */
  async forget(subjectId: string): Promise<ForgetResult> {
    this.assertOpen();
    return this.requirePersonalData().forget(this.sql, this.streamTenant, subjectId);
  }

  /**
   * After a master key rotation (the new key current, the old one previous): re-wraps every data key
   * under the current master key. Returns how many were re-wrapped; the old key can go once this is done.
   */
  async rewrapDataKeys(): Promise<{ rewrapped: number; masterKeyId: string }> {
    this.assertOpen();
    const protection = this.requirePersonalData();
    return { rewrapped: await protection.rewrap(this.sql), masterKeyId: protection.masterKeyId };
  }

  private requirePersonalData(): PersonalDataProtection {
    if (!this.personalData)
      throw new FabulaError(
        'personal_data_off',
        'this store was opened without personal-data protection: give it a master key (FABULA_MASTER_KEY, or openEventStore({ personalData: { keys, registry } }))',
      );
    return this.personalData;
  }

  /** The position of the last committed event (0 when the store is empty); a tenant's view: its own last. */
  async headPosition(): Promise<bigint> {
    this.assertOpen();
    const rows = await this.read<{ position: string }>(this.statements.headPosition, []);
    return BigInt(rows[0]!.position);
  }

  /**
   * Every event after `after`, in global order, then live as they are appended. Stop it with `break`,
   * an AbortSignal, or by closing the store. Positions delivered are strictly ascending, so the last one
   * is a complete checkpoint to resume from.
   */
  async *subscribe(options: SubscribeOptions = {}): AsyncGenerator<RecordedEvent, void, undefined> {
    this.assertOpen();
    let after = validatePosition(options.after, 'after') ?? 0n;
    const eventTypes = validateNameList(options.eventTypes, 'eventTypes', validateEventType);
    const streamTypes = validateNameList(options.streamTypes, 'streamTypes', (name, field) =>
      validateStreamId(name, this.limits, field),
    );
    const batchSize = validatePositiveInteger(options.batchSize, 'batchSize') ?? 500;
    const pollIntervalMs = validatePositiveInteger(options.pollIntervalMs, 'pollIntervalMs') ?? 1000;
    const filtered = !!eventTypes || !!streamTypes || this.tenantId !== null;
    const stop = options.signal ? AbortSignal.any([options.signal, this.closing.signal]) : this.closing.signal;
    await this.listenForOtherProcesses();

    while (!stop.aborted) {
      const generation = this.wakeup.generation;
      // With filters, a read may match nothing; the head read first tells how far we have really looked
      // (every event at or below it is committed and visible to the read that follows).
      const head = filtered ? await this.headPosition() : 0n;
      const events = await this.readAllValidated(after, batchSize, eventTypes, streamTypes);
      for (const event of events) {
        if (stop.aborted) return;
        after = event.globalPosition;
        yield event;
      }
      if (events.length === batchSize) continue;
      if (head > after) after = head;
      await this.wakeup.wait(generation, pollIntervalMs, stop);
    }
  }

  private listenForOtherProcesses(): Promise<unknown> {
    this.shared.unlisten ??= this.sql.listen(this.statements.notificationChannel, () => this.wakeup.signal());
    return this.shared.unlisten;
  }

  async streamInfo(streamId: string): Promise<StreamInfo | null> {
    this.assertOpen();
    validateStreamId(streamId, this.limits);
    const rows = await this.read<StreamRow>(this.statements.streamInfo, [streamId, this.streamTenant]);
    return rows[0] ? toStreamInfo(rows[0]) : null;
  }

  /** Streams ordered by id, a page at a time: pass the last id of a page as `after` for the next. */
  async listStreams(options: ListStreamsOptions = {}): Promise<StreamInfo[]> {
    this.assertOpen();
    const type = options.type === undefined ? null : validateStreamId(options.type, this.limits, 'type');
    const after = options.after === undefined ? null : validateStreamId(options.after, this.limits, 'after');
    const limit = validatePositiveInteger(options.limit, 'limit') ?? 100;
    const rows = await this.read<StreamRow>(this.statements.listStreams, [
      type,
      after,
      limit,
      options.includeDeleted === true,
      this.streamTenant,
    ]);
    return rows.map(toStreamInfo);
  }

  /**
   * Soft-deletes a stream: its events stay (for audit and reads), further appends throw
   * `StreamDeletedError`.
   */
  async deleteStream(streamId: string, options: DeleteStreamOptions = {}): Promise<{ streamId: string; version: number }> {
    this.assertOpen();
    validateStreamId(streamId, this.limits);
    const expected = validateExpectedVersion(options.expectedVersion ?? 'any');
    const rows = await this.read<{ result: AppendOutcomeOfDelete }>(this.statements.deleteStream, [
      streamId,
      streamTypeOf(streamId),
      JSON.stringify(expected),
    ]);
    const result = rows[0]!.result;
    if ('ok' in result) return { streamId, version: Number(result.version) };
    if (result.error === 'deleted') throw new StreamDeletedError(streamId);
    throw new ConcurrencyError(streamId, expected, Number(result.actual));
  }

  /** Waits for appends in flight, ends subscriptions, and releases the connection or data folder. */
  close(): Promise<void> {
    this.shared.closed ??= (async () => {
      this.closing.abort();
      await this.batcher.idle();
      const unlisten = await this.shared.unlisten?.catch(() => null);
      await unlisten?.().catch(() => {});
      await this.personalData?.stop();
      await this.parts.onClose();
    })();
    return this.shared.closed;
  }

  get isClosed(): boolean {
    return this.shared.closed !== null;
  }

  private assertOpen() {
    if (this.shared.closed) throw new StoreClosedError();
  }
}

type AppendOutcomeOfDelete =
  { ok: true; version: number | string } | { error: 'deleted' } | { error: 'concurrency'; actual: number | string };
