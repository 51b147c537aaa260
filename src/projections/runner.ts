/**
 * Runs one projection instance in a daemon: takes its lease, then tails the global order from its
 * checkpoint, applying each batch and moving the checkpoint in one transaction.
 *
 * Exactly once in effect: the checkpoint is moved first in every batch transaction, with
 * `WHERE checkpoint = <what we read> AND lease still ours`; that row lock makes batches of one instance
 * strictly one at a time across all processes, and a batch whose premise is stale (a zombie daemon that
 * lost its lease, an inline append that got there first) changes nothing and rolls back.
 */
import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises';
import type { RecordedEvent } from '../core/events.js';
import type { EventStore } from '../store/event-store.js';
import type { SqlExecutor } from '../store/sql-client.js';
import { statements, toRecordedEvent, type EventRow } from '../store/statements.js';
import type { Wakeup } from '../store/wakeup.js';
import { ensureSetUp, projectionContext } from './context.js';
import { retryDelay, type ProjectionDefinition } from './define.js';
import { ApplyError, LostRace, describeError, isTransient } from './failures.js';
import { parkedJson } from './inline.js';
import { RateMeter } from './rate.js';
import type { InstanceRow, ProjectionSql, RunnerStateRow } from './sql.js';

export interface RunnerSettings {
  batchSize: number;
  pollIntervalMs: number;
  leaseTtlMs: number;
  retiredDropDelayMs: number;
}

/** What a runner needs from the daemon that owns it. */
export interface RunnerHost {
  store: EventStore;
  sql: ProjectionSql;
  owner: string;
  settings: RunnerSettings;
  appended: Wakeup;
  control: Wakeup;
  emit(event: RunnerEvent): void;
}

export interface InstanceRef {
  projection: string;
  version: number;
  build: number;
}

export type RunnerEvent =
  | ({ kind: 'checkpoint'; position: bigint; events: number } & InstanceRef)
  | ({
      kind: 'progress';
      phase: 'building' | 'active';
      done: bigint;
      total: bigint;
      eventsPerSecond: number;
      etaSeconds: number | null;
    } & InstanceRef)
  | ({ kind: 'activated'; retired: number } & InstanceRef)
  | ({ kind: 'failed'; position: bigint; error: string } & InstanceRef)
  | ({ kind: 'parked'; position: bigint; streamId: string; error: string } & InstanceRef)
  | ({ kind: 'error'; error: unknown } & InstanceRef);

type Outcome =
  | { kind: 'applied'; events: number; target: bigint; promoted: boolean }
  | { kind: 'lost' }
  | { kind: 'failed'; events: readonly RecordedEvent[]; index: number; error: unknown };

const HOUSEKEEPING_INTERVAL_MS = 2_000;

export class InstanceRunner {
  readonly id: string;
  readonly done: Promise<void>;
  private checkpoint = 0n;
  private head = 0n;
  private status: InstanceRow['status'] = 'running';
  private phase: InstanceRow['phase'];
  private controlSeq = '';
  private parkedStreams = new Set<string>();
  private retryPending = false;
  private leased = false;
  private retired = false;
  private heartbeat: NodeJS.Timeout | null = null;
  private lastHousekeeping = 0;
  private readonly rate = new RateMeter();
  private readonly positionRate = new RateMeter();
  private readonly ref: InstanceRef;
  private readonly readAllSql: string;
  private readonly handles: Set<string>;

  constructor(
    private readonly host: RunnerHost,
    private readonly definition: ProjectionDefinition,
    private readonly row: InstanceRow,
    private readonly signal: AbortSignal,
  ) {
    this.id = row.id;
    this.phase = row.phase;
    this.ref = { projection: row.name, version: row.version, build: row.build };
    this.readAllSql = statements(host.store.schema).readAll({ eventTypes: false, streamTypes: false });
    this.handles = new Set(definition.handles);
    this.done = this.loop();
  }

  private get sql() {
    return this.host.sql;
  }

  private get store() {
    return this.host.store;
  }

  private async loop(): Promise<void> {
    let backoffMs = 0;
    while (!this.signal.aborted && !this.retired && !this.store.isClosed) {
      const appended = this.host.appended.generation;
      const control = this.host.control.generation;
      let progressed = false;
      try {
        if (!this.leased) this.leased = await this.acquire();
        if (this.leased) progressed = await this.step();
        backoffMs = 0;
      } catch (error) {
        if (this.signal.aborted || this.store.isClosed) break;
        this.host.emit({ kind: 'error', error, ...this.ref });
        await this.store.sql.query(this.sql.recordError, [this.id, describeError(error), null]).catch(() => {});
        this.leased = false; // re-acquiring re-reads everything from the database
        backoffMs = Math.min(Math.max(backoffMs * 2, 100), 10_000);
        await sleep(backoffMs, undefined, { signal: this.signal }).catch(() => {});
        continue;
      }
      if (!progressed) await this.waitForWork(appended, control);
      // PGlite answers without I/O: let timers (the heartbeat, the application's) run between batches.
      else await yieldToEventLoop();
    }
    this.stopHeartbeat();
    if (!this.store.isClosed) await this.store.sql.query(this.sql.release, [this.id, this.host.owner]).catch(() => {});
  }

  /** Waits for appends (async instances), admin calls, or the poll interval. */
  private async waitForWork(appended: number, control: number) {
    if (this.signal.aborted) return;
    const stop = new AbortController();
    const signal = AbortSignal.any([stop.signal, this.signal]);
    // An inline instance is kept current by appends; it only needs to look now and then.
    const waits = [
      this.host.control.wait(control, this.leased ? this.host.settings.pollIntervalMs : this.leaseRetryMs(), signal),
    ];
    if (this.definition.mode === 'async' && this.leased)
      waits.push(this.host.appended.wait(appended, this.host.settings.pollIntervalMs, signal));
    await Promise.race(waits);
    stop.abort();
  }

  private leaseRetryMs() {
    return Math.max(50, Math.round(this.host.settings.leaseTtlMs / 3));
  }

  private async acquire(): Promise<boolean> {
    const rows = await this.store.sql.query<InstanceRow>(this.sql.acquire, [
      this.id,
      this.host.owner,
      this.host.settings.leaseTtlMs,
    ]);
    const row = rows[0];
    if (!row) {
      const current = (await this.store.sql.query<InstanceRow>(this.sql.instance, [this.id]))[0];
      if (!current || current.phase === 'retired') this.retired = true;
      return false;
    }
    this.checkpoint = BigInt(row.checkpoint);
    this.status = row.status;
    this.phase = row.phase;
    this.controlSeq = row.control_seq;
    if (!row.set_up) await this.store.sql.transaction((tx) => ensureSetUp(tx, this.sql, row, this.definition));
    await this.refreshParked();
    this.startHeartbeat();
    return true;
  }

  private startHeartbeat() {
    if (this.heartbeat) return;
    let beating = false;
    this.heartbeat = setInterval(async () => {
      if (beating || this.store.isClosed) return;
      beating = true;
      try {
        const rows = await this.store.sql.query(this.sql.renew, [
          this.id,
          this.host.owner,
          this.host.settings.leaseTtlMs,
          Math.round(this.rate.perSecond() * 10) / 10,
        ]);
        if (rows.length === 0) this.leased = false;
      } catch {
        // The next step finds out whether the lease is still ours.
      } finally {
        beating = false;
      }
    }, this.leaseRetryMs());
    this.heartbeat.unref();
  }

  private stopHeartbeat() {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  /** One unit of work; false when there was nothing to do. */
  private async step(): Promise<boolean> {
    const state = (await this.store.sql.query<RunnerStateRow>(this.sql.runnerState, [this.id, this.host.owner]))[0];
    if (!state || state.phase === 'retired') {
      this.retired = true;
      return false;
    }
    if (!state.mine) {
      this.leased = false;
      this.stopHeartbeat();
      return false;
    }
    if (state.control_seq !== this.controlSeq) {
      this.controlSeq = state.control_seq;
      await this.refreshParked();
    }
    this.status = state.status;
    this.phase = state.phase;
    this.checkpoint = BigInt(state.checkpoint);
    this.head = BigInt(state.head);
    if (this.status !== 'running') return false; // failed, or paused by an operator
    if (this.retryPending) {
      await this.retryParked();
      return true;
    }
    if (this.head <= this.checkpoint) {
      if (this.phase === 'building') {
        // Nothing left to read: caught up, so take over from the active instance.
        await this.settle(
          await this.tryApply([], this.checkpoint, { holdAppends: this.definition.mode === 'inline', promote: true }),
        );
        return true;
      }
      await this.housekeeping();
      return false;
    }
    // Pages of the whole log, filtered here: a range scan of the primary key that stops at the page
    // size whatever the statistics say. (`readAll` with `eventTypes` can make PostgreSQL fetch and sort
    // every later event of those types for each page, which makes a catch-up quadratic.)
    const page = await this.store.readAll({ after: this.checkpoint, maxCount: this.host.settings.batchSize });
    const events = page.filter((e) => this.handles.has(e.type));
    const full = page.length === this.host.settings.batchSize;
    const lastRead = page.length > 0 ? page[page.length - 1]!.globalPosition : 0n;
    // A page that is not full saw everything up to the head read before it, and the read itself saw a
    // complete prefix of the log up to its last event (docs/global-order.md): the later of the two.
    const target = full || lastRead > this.head ? lastRead : this.head;
    const outcome = await this.tryApply(events, target, {
      // The last stretch of an inline projection holds appends back for a moment, so that it ends
      // exactly at the head and the next append finds it current.
      holdAppends: this.definition.mode === 'inline' && !full,
      promote: this.phase === 'building' && !full,
    });
    await this.settle(outcome);
    return true;
  }

  /**
   * Applies `events` and moves the checkpoint to `target` in one transaction. Apply errors come back as
   * an outcome; anything else (the database, the connection) is thrown.
   */
  private async tryApply(
    events: readonly RecordedEvent[],
    target: bigint,
    options: { holdAppends: boolean; promote: boolean },
  ): Promise<Outcome> {
    const from = this.checkpoint;
    try {
      return await this.store.sql.transaction(async (tx) => {
        await this.limitIdleTime(tx);
        let batch = events;
        let to = target;
        let promote = options.promote;
        if (options.holdAppends) {
          await tx.query(this.sql.holdAppends);
          const head = BigInt((await tx.query<{ position: string }>(this.sql.head))[0]!.position);
          const page = await this.readInside(tx, from);
          batch = page.filter((e) => this.handles.has(e.type));
          const full = page.length === this.host.settings.batchSize;
          const lastRead = page.length > 0 ? page[page.length - 1]!.globalPosition : 0n;
          to = full || lastRead > head ? lastRead : head;
          promote &&= !full;
        }
        const moved = await tx.query(this.sql.advance, [this.id, this.host.owner, from, to]);
        if (moved.length === 0) throw new LostRace();
        await this.applyEvents(tx, batch);
        if (promote) await this.promote(tx);
        return { kind: 'applied', events: batch.length, target: to, promoted: promote } as const;
      });
    } catch (error) {
      if (error instanceof LostRace) return { kind: 'lost' };
      if (error instanceof ApplyError && !isTransient(error.cause)) {
        return { kind: 'failed', events: error.events, index: error.index, error: error.cause };
      }
      throw error instanceof ApplyError ? error.cause : error;
    }
  }

  /** A zombie (a paused daemon) must not hold row locks for ever: the server ends such a session. */
  private async limitIdleTime(tx: SqlExecutor) {
    if (this.store.driver === 'postgres') await tx.query(this.sql.idleTimeout, [String(this.host.settings.leaseTtlMs)]);
  }

  private async readInside(tx: SqlExecutor, after: bigint): Promise<RecordedEvent[]> {
    const rows = await tx.query<EventRow>(this.readAllSql, [after, this.host.settings.batchSize]);
    return rows.map(toRecordedEvent);
  }

  private async applyEvents(tx: SqlExecutor, events: readonly RecordedEvent[]) {
    const ctx = projectionContext(tx, this.row);
    const behind: RecordedEvent[] = [];
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      if (this.parkedStreams.has(event.streamId)) {
        behind.push(event); // an earlier event of its stream is parked: keep the stream's order
        continue;
      }
      try {
        await this.definition.apply(event, ctx);
      } catch (error) {
        throw new ApplyError(events, i, error);
      }
    }
    if (behind.length > 0) await tx.query(this.sql.parkBehind, [this.id, parkedJson(behind)]);
  }

  private async promote(tx: SqlExecutor) {
    await tx.query(this.sql.retireOlder, [this.row.name, this.row.version, this.row.build]);
    await tx.query(this.sql.activate, [this.id]);
  }

  private async settle(outcome: Outcome): Promise<void> {
    switch (outcome.kind) {
      case 'lost':
        return; // the next step re-reads where the instance is
      case 'failed':
        return this.handleFailure(outcome);
      case 'applied': {
        const advanced = Number(outcome.target - this.checkpoint);
        this.checkpoint = outcome.target;
        if (this.head < outcome.target) this.head = outcome.target;
        this.rate.add(outcome.events);
        this.positionRate.add(advanced);
        this.host.emit({ kind: 'checkpoint', position: outcome.target, events: outcome.events, ...this.ref });
        if (outcome.promoted) {
          this.phase = 'active';
          this.host.emit({ kind: 'activated', retired: 0, ...this.ref });
        } else if (this.phase === 'building' || this.head - this.checkpoint > 0n) {
          const rate = this.positionRate.perSecond();
          const remaining = Number(this.head - this.checkpoint);
          this.host.emit({
            kind: 'progress',
            phase: this.phase === 'building' ? 'building' : 'active',
            done: this.checkpoint,
            total: this.head,
            eventsPerSecond: Math.round(rate),
            etaSeconds: rate > 0 ? Math.round((remaining / rate) * 10) / 10 : null,
            ...this.ref,
          });
        }
      }
    }
  }

  /**
   * `events[index]` could not be applied. Apply what came before it, retry it with backoff, then stop
   * (status `failed`) or park it, as the projection's policy says.
   */
  private async handleFailure(failure: { events: readonly RecordedEvent[]; index: number; error: unknown }): Promise<void> {
    const { events, index } = failure;
    if (index > 0) {
      const before = events.slice(0, index);
      const outcome = await this.tryApply(before, before[before.length - 1]!.globalPosition, {
        holdAppends: false,
        promote: false,
      });
      await this.settle(outcome);
      if (outcome.kind !== 'applied') return;
    }
    const event = events[index]!;
    let error = failure.error;
    let attempts = 1;
    while (attempts < this.definition.retry.attempts) {
      attempts++;
      await sleep(retryDelay(this.definition.retry, attempts), undefined, { signal: this.signal }).catch(() => {});
      if (this.signal.aborted) return;
      const outcome = await this.tryApply([event], event.globalPosition, { holdAppends: false, promote: false });
      if (outcome.kind !== 'failed') return this.settle(outcome);
      error = outcome.error;
    }
    const message = `${event.type} at position ${event.globalPosition} (stream "${event.streamId}", version ${event.streamVersion}) failed ${attempts} time(s): ${describeError(error)}`;
    if (this.definition.onFailure === 'stop') {
      const rows = await this.store.sql.query(this.sql.fail, [this.id, this.host.owner, event.globalPosition, message]);
      if (rows.length === 0) return;
      this.status = 'failed';
      this.host.emit({ kind: 'failed', position: event.globalPosition, error: message, ...this.ref });
      return;
    }
    try {
      await this.store.sql.transaction(async (tx) => {
        const moved = await tx.query(this.sql.advance, [this.id, this.host.owner, this.checkpoint, event.globalPosition]);
        if (moved.length === 0) throw new LostRace();
        await tx.query(this.sql.park, [
          this.id,
          event.globalPosition,
          event.streamId,
          event.id,
          event.type,
          'failed',
          message,
          attempts,
        ]);
        await tx.query(this.sql.recordError, [this.id, message, event.globalPosition]);
      });
    } catch (e) {
      if (e instanceof LostRace) return;
      throw e;
    }
    this.checkpoint = event.globalPosition;
    this.parkedStreams.add(event.streamId);
    this.host.emit({ kind: 'parked', position: event.globalPosition, streamId: event.streamId, error: message, ...this.ref });
    this.host.emit({ kind: 'checkpoint', position: event.globalPosition, events: 0, ...this.ref });
  }

  private async refreshParked() {
    const streams = await this.store.sql.query<{ stream_id: string }>(this.sql.parkedStreams, [this.id]);
    this.parkedStreams = new Set(streams.map((r) => r.stream_id));
    this.retryPending = (await this.store.sql.query(this.sql.streamsToRetry, [this.id])).length > 0;
  }

  /** Applies the parked events someone asked to retry, stream by stream, oldest first. */
  private async retryParked() {
    this.retryPending = false;
    const streams = await this.store.sql.query<{ stream_id: string }>(this.sql.streamsToRetry, [this.id]);
    for (const { stream_id: streamId } of streams) {
      for (;;) {
        if (this.signal.aborted) return;
        const queue = await this.store.sql.query<{ global_position: string }>(this.sql.parkedOfStream, [this.id, streamId]);
        if (queue.length === 0) {
          this.parkedStreams.delete(streamId);
          break;
        }
        const position = BigInt(queue[0]!.global_position);
        const [event] = await this.store.readAll({ after: position - 1n, maxCount: 1 });
        try {
          await this.store.sql.transaction(async (tx) => {
            await this.limitIdleTime(tx);
            // Inline appends check the parked table themselves; hold them back while it changes.
            if (this.definition.mode === 'inline') await tx.query(this.sql.holdAppends);
            if ((await tx.query(this.sql.fence, [this.id, this.host.owner])).length === 0) throw new LostRace();
            try {
              await this.definition.apply(event!, projectionContext(tx, this.row));
            } catch (error) {
              throw new ApplyError([event!], 0, error);
            }
            await tx.query(this.sql.unpark, [this.id, position]);
          });
          this.rate.add(1);
        } catch (error) {
          if (error instanceof LostRace) return;
          if (!(error instanceof ApplyError) || isTransient(error.cause)) throw error instanceof ApplyError ? error.cause : error;
          const message = `${event!.type} at position ${position} (stream "${streamId}") failed again on retry: ${describeError(error.cause)}`;
          await this.store.sql.query(this.sql.failAgain, [this.id, position, message]);
          await this.store.sql.query(this.sql.endRetry, [this.id, streamId]);
          this.host.emit({ kind: 'parked', position, streamId, error: message, ...this.ref });
          break;
        }
      }
    }
  }

  /** Drops the schemas of instances this one replaced, once readers have had time to move over. */
  private async housekeeping() {
    if (this.phase !== 'active' || Date.now() - this.lastHousekeeping < HOUSEKEEPING_INTERVAL_MS) return;
    this.lastHousekeeping = Date.now();
    const retired = await this.store.sql.query<{ id: string; schema_name: string }>(this.sql.retiredToDrop, [
      this.row.name,
      this.host.settings.retiredDropDelayMs,
    ]);
    for (const old of retired) {
      await this.store.sql
        .transaction(async (tx) => {
          await tx.query(this.sql.lockTimeout, ['2000']);
          await tx.exec(this.sql.dropInstanceSchema(old.schema_name));
          await tx.query(this.sql.deleteParkedOf, [old.id]);
          await tx.query(this.sql.markDropped, [old.id]);
        })
        .catch(() => {
          this.lastHousekeeping = 0; // busy: try again on the next idle step
        });
    }
  }

  /** Test and status hook: where this runner believes the instance is. */
  get position(): bigint {
    return this.checkpoint;
  }
}
