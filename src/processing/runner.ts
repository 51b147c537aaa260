/**
 * Runs one consumer: takes its lease, then tails the global order from its checkpoint.
 *
 * Transactional consumers: the checkpoint is moved first in every batch transaction, with `WHERE
 * checkpoint = <what we read> AND lease still ours`, then the handler writes its effects in the same
 * transaction. The row lock makes batches of one consumer strictly one at a time across processes, and
 * a batch whose premise is stale (a zombie that lost its lease, an inline append that got there first)
 * changes nothing and rolls back: exactly once in effect.
 *
 * Delivery consumers: the batch is delivered first, and the checkpoint moved (fenced the same way) only
 * after the receiver acknowledged it. A runner that loses its lease mid-delivery cannot move the
 * checkpoint, so its successor delivers the batch again: at least once, never a skipped event.
 */
import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises';
import type { RecordedEvent } from '../core/events.js';
import type { SqlExecutor } from '../store/sql-client.js';
import { statements } from '../store/statements.js';
import type { ConsumerDefinition } from './consumer.js';
import { HandlerError, LostRace, describeError, isTransient } from './failures.js';
import { Heartbeat, leaseRetryMs } from './lease.js';
import { applyBatch, deliverBatch } from './batch.js';
import { handleFailure, retryParked } from './parking.js';
import { RateMeter } from './rate.js';
import type { ConsumerEvent, Outcome, RunnerContext, RunnerHooks, RunnerHost } from './runner-contract.js';
import type { ConsumerRow, RunnerStateRow } from './sql.js';

export type { ConsumerEvent, Outcome, RunnerHooks, RunnerHost, RunnerSettings } from './runner-contract.js';

export class ConsumerRunner implements RunnerContext {
  readonly id: string;
  readonly name: string;
  readonly done: Promise<void>;
  checkpoint = 0n;
  private head = 0n;
  status: ConsumerRow['status'] = 'running';
  private controlSeq = '';
  parkedStreams = new Set<string>();
  private retryPending = false;
  private leased = false;
  private retired = false;
  private readonly heartbeat: Heartbeat;
  readonly rate = new RateMeter();
  private readonly positionRate = new RateMeter();
  readonly readAllSql: string;
  private readonly handles: Set<string> | null;

  constructor(
    readonly host: RunnerHost,
    readonly definition: ConsumerDefinition,
    row: Pick<ConsumerRow, 'consumer_id' | 'consumer_name'>,
    readonly signal: AbortSignal,
    readonly hooks: RunnerHooks = {},
  ) {
    this.id = row.consumer_id;
    this.name = row.consumer_name;
    this.readAllSql = statements(host.store.schema).readAll({ eventTypes: false, streamTypes: false, tenant: false });
    this.handles = definition.handles ? new Set(definition.handles) : null;
    this.heartbeat = new Heartbeat(
      host.store,
      host.sql,
      this.id,
      host.owner,
      host.settings.leaseTtlMs,
      () => this.rate.perSecond(),
      () => {
        this.leased = false;
      },
    );
    this.done = this.loop();
  }

  get sql() {
    return this.host.sql;
  }

  get store() {
    return this.host.store;
  }

  /** Where this runner believes the consumer is. */
  get position(): bigint {
    return this.checkpoint;
  }

  emit(event: ConsumerEvent): void {
    this.host.emit(event);
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
        this.emit({ kind: 'error', consumer: this.name, error });
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
    this.heartbeat.stop();
    if (!this.store.isClosed) await this.store.sql.query(this.sql.release, [this.id, this.host.owner]).catch(() => {});
  }

  /** Waits for appends, admin calls, or the poll interval: a lost notification only costs latency. */
  private async waitForWork(appended: number, control: number) {
    if (this.signal.aborted) return;
    const stop = new AbortController();
    const signal = AbortSignal.any([stop.signal, this.signal]);
    const { pollIntervalMs, leaseTtlMs } = this.host.settings;
    const waits = [this.host.control.wait(control, this.leased ? pollIntervalMs : leaseRetryMs(leaseTtlMs), signal)];
    if (this.hooks.followsAppends !== false && this.leased) waits.push(this.host.appended.wait(appended, pollIntervalMs, signal));
    await Promise.race(waits);
    stop.abort();
  }

  private async acquire(): Promise<boolean> {
    const rows = await this.store.sql.query<ConsumerRow>(this.sql.acquire, [
      this.id,
      this.host.owner,
      this.host.settings.leaseTtlMs,
    ]);
    const row = rows[0];
    if (!row) {
      const current = (await this.store.sql.query<ConsumerRow>(this.sql.byId, [this.id]))[0];
      if (!current || current.retired) this.retired = true;
      return false;
    }
    this.checkpoint = BigInt(row.checkpoint);
    this.status = row.status;
    this.controlSeq = row.control_seq;
    await this.hooks.acquired?.(row);
    await this.refreshParked();
    this.heartbeat.start();
    return true;
  }

  /** One unit of work; false when there was nothing to do. */
  private async step(): Promise<boolean> {
    const state = (await this.store.sql.query<RunnerStateRow>(this.sql.runnerState, [this.id, this.host.owner]))[0];
    if (!state || state.retired) {
      this.retired = true;
      return false;
    }
    if (!state.mine) {
      this.leased = false;
      this.heartbeat.stop();
      return false;
    }
    if (state.control_seq !== this.controlSeq) {
      this.controlSeq = state.control_seq;
      await this.refreshParked();
    }
    this.status = state.status;
    this.checkpoint = BigInt(state.checkpoint);
    this.head = BigInt(state.head);
    if (this.status !== 'running') return false; // failed, or paused by an operator
    if (this.retryPending) {
      this.retryPending = false;
      await retryParked(this);
      return true;
    }
    const pendingAtHead = this.hooks.pendingAtHead?.() ?? false;
    if (this.head <= this.checkpoint) {
      if (!pendingAtHead) {
        await this.hooks.idle?.();
        return false;
      }
      // Nothing left to read, but the client has work to do at the head (a build taking over).
      await this.settle(await this.tryProcess([], this.checkpoint, { last: true }));
      return true;
    }
    // Pages of the whole log, filtered here: a range scan of the primary key that stops at the page
    // size whatever the statistics say. (`readAll` with `eventTypes` can make PostgreSQL fetch and sort
    // every later event of those types for each page, which makes a catch-up quadratic.)
    const page = await this.store.readAll({ after: this.checkpoint, maxCount: this.host.settings.batchSize });
    let events = this.filter(page);
    let full = page.length === this.host.settings.batchSize;
    const lastRead = page.length > 0 ? page[page.length - 1]!.globalPosition : 0n;
    // A page that is not full saw everything up to the head read before it, and the read itself saw a
    // complete prefix of the log up to its last event (docs/global-order.md): the later of the two.
    let target = full || lastRead > this.head ? lastRead : this.head;
    const max = this.definition.kind === 'delivery' ? this.definition.maxBatch : null;
    if (max !== null && events.length > max) {
      events = events.slice(0, max);
      target = events[max - 1]!.globalPosition;
      full = true;
    }
    await this.settle(await this.tryProcess(events, target, { last: !full }));
    return true;
  }

  filter(page: readonly RecordedEvent[]): RecordedEvent[] {
    const handles = this.handles;
    return handles ? page.filter((e) => handles.has(e.type)) : [...page];
  }

  /**
   * Handles `events` and moves the checkpoint to `target`; `last` when nothing was left after them.
   * Handler failures come back as an outcome; anything else (the database, the broker) is thrown.
   */
  async tryProcess(events: readonly RecordedEvent[], target: bigint, options: { last: boolean }): Promise<Outcome> {
    try {
      if (this.definition.kind === 'delivery') return await deliverBatch(this, this.definition, events, target);
      return await applyBatch(this, this.definition, events, target, options.last);
    } catch (error) {
      if (error instanceof LostRace) return { kind: 'lost' };
      if (error instanceof HandlerError && !isTransient(error.cause)) {
        return { kind: 'failed', events: error.events, index: error.index, error: error.cause };
      }
      throw error instanceof HandlerError ? error.cause : error;
    }
  }

  /** A zombie (a paused process) must not hold row locks for ever: the server ends such a session. */
  async limitIdleTime(tx: SqlExecutor) {
    if (this.store.driver === 'postgres') await tx.query(this.sql.idleTimeout, [String(this.host.settings.leaseTtlMs)]);
  }

  async settle(outcome: Outcome): Promise<void> {
    switch (outcome.kind) {
      case 'lost':
        return; // the next step re-reads where the consumer is
      case 'failed':
        return handleFailure(this, outcome);
      case 'applied': {
        const advanced = Number(outcome.target - this.checkpoint);
        this.checkpoint = outcome.target;
        if (this.head < outcome.target) this.head = outcome.target;
        this.rate.add(outcome.events);
        this.positionRate.add(advanced);
        this.emit({ kind: 'checkpoint', consumer: this.name, position: outcome.target, events: outcome.events });
        if (outcome.atHead) this.hooks.reachedHead?.();
        else if (this.hooks.pendingAtHead?.() || this.head - this.checkpoint > 0n) {
          const rate = this.positionRate.perSecond();
          const remaining = Number(this.head - this.checkpoint);
          this.emit({
            kind: 'progress',
            consumer: this.name,
            done: this.checkpoint,
            total: this.head,
            eventsPerSecond: Math.round(rate),
            etaSeconds: rate > 0 ? Math.round((remaining / rate) * 10) / 10 : null,
          });
        }
      }
    }
  }

  async refreshParked() {
    const streams = await this.store.sql.query<{ stream_id: string }>(this.sql.parkedStreams, [this.id]);
    this.parkedStreams = new Set(streams.map((r) => r.stream_id));
    this.retryPending = (await this.store.sql.query(this.sql.streamsToRetry, [this.id])).length > 0;
  }
}
