/**
 * Group commit for appends made through one store.
 *
 * Appends to the whole store are serialised by the append lock (see docs/global-order.md), so
 * several transactions in flight from one process would only queue behind each other. Instead, appends
 * that arrive while one batch is being written are collected and written together, in one transaction
 * and one round trip, as the next batch. Each append keeps its own checks and result: one append's
 * conflict does not fail the others.
 *
 * A batch holds the appends of one tenant (docs/tenancy.md): it is then one statement that sets the
 * tenant and appends. Appends of other tenants wait for the next batch (their order relative to each
 * other is kept; appends of different tenants are independent, so no order between them is promised).
 */
import { DEFAULT_TENANT, type ExpectedVersion, type RecordedEvent } from '../core/events.js';
import type { PreparedEvent } from '../core/validation.js';
import type { SqlClient, SqlExecutor } from './sql-client.js';
import { leaveTenant } from './statements.js';

export interface AppendRequest {
  /** The tenant to append in, under row-level security; null: the store's system view (tenant `default`). */
  tenant: string | null;
  streamId: string;
  streamType: string;
  expected: ExpectedVersion;
  events: PreparedEvent[];
  /** JSON size, to keep batches to a sensible size. */
  bytes: number;
  /** Set when re-sent after an unknown outcome: look its ids up even if the store generated them. */
  mayBeRetry?: boolean;
  /** The caller vouches its ids are new (see AppendOptions.newIds). */
  newIds?: boolean;
}

/**
 * Runs inside the append's transaction, after the events are written and before commit: what inline
 * projections build on. Throwing rolls the append back.
 */
export type InlineHandler = (events: RecordedEvent[], tx: SqlExecutor) => Promise<void>;

export type AppendOutcome =
  | { ok: true; nextExpectedVersion: number; firstPosition: string; lastPosition: string; recordedAt: string; replayed?: boolean }
  | { error: 'concurrency'; actual: number }
  | { error: 'idempotency'; eventId: string; reason: string }
  | { error: 'deleted' };

interface Pending {
  request: AppendRequest;
  resolve: (outcome: AppendOutcome) => void;
  reject: (error: unknown) => void;
}

/** Appends to several streams that commit together or not at all (`EventStore.appendMany`). */
interface PendingGroup {
  requests: AppendRequest[];
  resolve: (outcomes: AppendOutcome[]) => void;
  reject: (error: unknown) => void;
}

/** Thrown inside an atomic group's transaction to roll it back when one of its appends failed its checks. */
class GroupRefused extends Error {
  constructor(readonly outcomes: AppendOutcome[]) {
    super('an append of the group was refused');
  }
}

const MAX_APPENDS_PER_BATCH = 256;
const MAX_BYTES_PER_BATCH = 8 * 1024 * 1024;

export class AppendBatcher {
  private readonly queue: Array<Pending | PendingGroup> = [];
  private readonly writers = new Set<Promise<void>>();

  /**
   * @param maxWritersInFlight batches written at once. They queue at the append lock in the
   *   database, but a second one in flight hides the round trip and this process's own work behind the
   *   first one's commit. PGlite is one connection: 1.
   */
  constructor(
    private readonly sql: SqlClient,
    private readonly appendBatchSql: { system: string; asTenant: string },
    private readonly onAppended: () => void,
    private readonly inlineHandlers: readonly InlineHandler[],
    private readonly maxWritersInFlight: number,
  ) {}

  submit(request: AppendRequest): Promise<AppendOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      this.kick();
    });
  }

  /**
   * Appends that commit together or not at all, in one transaction of their own (never batched with
   * others, so that another caller's failure cannot roll them back, nor theirs another's). When one is
   * refused (conflict, deleted stream, id reused), nothing is written and every outcome is returned:
   * the refused ones say why.
   */
  submitGroup(requests: AppendRequest[]): Promise<AppendOutcome[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ requests, resolve, reject });
      this.kick();
    });
  }

  /** Resolves once every append submitted so far has been answered. */
  async idle(): Promise<void> {
    while (this.writers.size > 0) await Promise.all(this.writers);
  }

  private kick() {
    while (this.writers.size < this.maxWritersInFlight && this.queue.length > this.writers.size - 1) {
      const writer: Promise<void> = this.writeQueued().finally(() => {
        this.writers.delete(writer);
        // An append may have arrived after the loop saw an empty queue.
        if (this.queue.length > 0) this.kick();
      });
      this.writers.add(writer);
      if (this.queue.length === 0) break;
    }
  }

  private async writeQueued() {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if ('requests' in head) {
        this.queue.shift();
        await this.writeGroup(head);
        continue;
      }
      const batch = this.takeBatch();
      try {
        const outcomes = await this.write(batch.map((p) => p.request));
        batch.forEach((p, i) => p.resolve(outcomes[i]!));
      } catch {
        // Something failed the whole transaction: a trigger or inline handler, a lost connection, or ids
        // promised new that were not. Write each append alone so that only the culprit fails. If the batch
        // did commit before its connection was lost, these retries must be answered idempotently, so
        // their ids are looked up even where the store generated them.
        for (const p of batch) {
          try {
            p.resolve((await this.write([{ ...p.request, mayBeRetry: true }]))[0]!);
          } catch (single) {
            p.reject(single);
          }
        }
      }
    }
  }

  private async writeGroup(group: PendingGroup) {
    const attempt = (mayBeRetry: boolean) =>
      this.write(
        group.requests.map((r) => (mayBeRetry ? { ...r, mayBeRetry } : r)),
        true,
      );
    try {
      group.resolve(await attempt(false));
    } catch (error) {
      if (error instanceof GroupRefused) return group.resolve(error.outcomes);
      // As for a batch: the connection may have been lost after the commit, so look the ids up once more.
      try {
        group.resolve(await attempt(true));
      } catch (again) {
        if (again instanceof GroupRefused) group.resolve(again.outcomes);
        else group.reject(again);
      }
    }
  }

  /**
   * The next appends to write together: those of the first one's tenant, up to the first group, within
   * the batch limits.
   */
  private takeBatch(): Pending[] {
    const tenant = (this.queue[0] as Pending).request.tenant;
    const taken: Pending[] = [];
    const left: Array<Pending | PendingGroup> = [];
    let bytes = 0;
    let i = 0;
    // Looks a bounded way down the queue: a long queue of other tenants' appends must not make every batch slow.
    const end = Math.min(this.queue.length, MAX_APPENDS_PER_BATCH * 4);
    for (; i < end && taken.length < MAX_APPENDS_PER_BATCH; i++) {
      const next = this.queue[i]!;
      if ('requests' in next) break;
      if (next.request.tenant !== tenant) {
        left.push(next);
        continue;
      }
      bytes += next.request.bytes;
      if (taken.length > 0 && bytes > MAX_BYTES_PER_BATCH) break;
      taken.push(next);
    }
    this.queue.splice(0, i, ...left);
    return taken;
  }

  /** Writes appends of one tenant. */
  private async write(requests: AppendRequest[], allOrNothing = false): Promise<AppendOutcome[]> {
    const payload = batchJson(requests);
    const tenant = requests[0]!.tenant;
    // Without inline handlers an append is one autocommit statement: one round trip.
    const outcomes =
      this.inlineHandlers.length === 0 && !allOrNothing
        ? await this.appendBatch(this.sql, payload, tenant)
        : await this.sql.transaction(async (tx) => {
            const results = await this.appendBatch(tx, payload, tenant);
            if (allOrNothing && results.some((o) => !('ok' in o))) throw new GroupRefused(results);
            // Inline handlers work across tenants, as the store's owner (their rows carry each event's tenant).
            if (tenant !== null && this.inlineHandlers.length > 0) await tx.query(leaveTenant);
            const recorded = recordedEvents(requests, results);
            if (recorded.length > 0) for (const handler of this.inlineHandlers) await handler(recorded, tx);
            return results;
          });
    if (outcomes.some((o) => 'ok' in o && !o.replayed)) this.onAppended();
    return outcomes;
  }

  private async appendBatch(sql: SqlExecutor, payload: string, tenant: string | null): Promise<AppendOutcome[]> {
    const rows =
      tenant === null
        ? await sql.query<{ results: AppendOutcome[] }>(this.appendBatchSql.system, [payload])
        : await sql.query<{ results: AppendOutcome[] }>(this.appendBatchSql.asTenant, [payload, tenant]);
    return rows[0]!.results;
  }
}

/** The batch as append_batch's JSON argument, built from each event's JSON serialised once in validation. */
function batchJson(requests: AppendRequest[]): string {
  const appends = requests.map((r) => {
    const events = r.events.map(
      (e) =>
        `{"id":"${e.id}","type":${JSON.stringify(e.type)},"schemaVersion":${e.schemaVersion},"data":${e.dataJson},"metadata":${e.metadataJson}}`,
    );
    const callerIds = r.mayBeRetry === true || (r.newIds !== true && r.events.some((e) => e.callerId));
    return `{"streamId":${JSON.stringify(r.streamId)},"streamType":${JSON.stringify(r.streamType)},"expected":${JSON.stringify(r.expected)},"callerIds":${callerIds},"events":[${events.join(',')}]}`;
  });
  return `[${appends.join(',')}]`;
}

/** The events just written, as readers will see them, built from the requests and the positions given. */
function recordedEvents(requests: AppendRequest[], outcomes: AppendOutcome[]): RecordedEvent[] {
  return requests.flatMap((request, i) => {
    const outcome = outcomes[i]!;
    if (!('ok' in outcome) || outcome.replayed) return [];
    const firstPosition = BigInt(outcome.firstPosition);
    const firstVersion = Number(outcome.nextExpectedVersion) - request.events.length + 1;
    const recordedAt = new Date(outcome.recordedAt);
    return request.events.map((event, k) => ({
      id: event.id,
      type: event.type,
      data: event.data,
      metadata: event.metadata,
      schemaVersion: event.schemaVersion,
      streamId: request.streamId,
      streamVersion: firstVersion + k,
      globalPosition: firstPosition + BigInt(k),
      recordedAt,
      tenantId: request.tenant ?? DEFAULT_TENANT,
    }));
  });
}
