/**
 * One projection instance as a client of the generic consumer runner (src/processing/runner.ts): its
 * `apply` is a transactional handler, and the hooks add what only projections have: the one-time
 * set-up of the instance's schema, holding appends so an inline projection ends exactly at the head,
 * taking over from the active instance once a build caught up (blue/green), and dropping the schemas
 * of replaced instances.
 */
import type { ConsumerDefinition } from '../processing/consumer.js';
import type { ConsumerDaemon } from '../processing/daemon.js';
import type { ConsumerEvent, ConsumerRunner, RunnerHooks } from '../processing/runner.js';
import type { RecordedEvent } from '../core/events.js';
import type { SqlExecutor } from '../store/sql-client.js';
import { ensureSetUp, projectionContexts } from './context.js';
import type { CurrentEvents } from './current-events.js';
import type { ProjectionContext, ProjectionDefinition } from './define.js';
import type { InstanceRow, ProjectionSql } from './sql.js';

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

const HOUSEKEEPING_INTERVAL_MS = 2_000;

/** Starts the runner of one instance under `daemon`. */
export function runInstance(
  daemon: ConsumerDaemon,
  sql: ProjectionSql,
  definition: ProjectionDefinition,
  row: InstanceRow,
  retiredDropDelayMs: number,
  current: CurrentEvents,
  emit: (event: RunnerEvent) => void,
): ConsumerRunner {
  const ref: InstanceRef = { projection: row.name, version: row.version, build: row.build };
  let phase = row.phase;
  let lastHousekeeping = 0;
  const store = daemon.store;
  // Contexts per batch transaction (one per tenant in it), not one per event.
  const contexts = new WeakMap<SqlExecutor, (event: RecordedEvent) => ProjectionContext>();
  const contextFor = (tx: SqlExecutor, event: RecordedEvent) => {
    let contextOf = contexts.get(tx);
    if (!contextOf) contexts.set(tx, (contextOf = projectionContexts(tx, row)));
    return contextOf(event);
  };

  const consumer: ConsumerDefinition = {
    kind: 'transactional',
    name: row.consumer_name,
    handles: definition.handles,
    startAt: 'beginning',
    onFailure: definition.onFailure,
    retry: definition.retry,
    // Upcasting inside the handler: an event that cannot be upcast fails like one that cannot be applied.
    handle: (event, tx) => definition.apply(current(event), contextFor(tx, event)),
  };

  const hooks: RunnerHooks = {
    holdsAppends: definition.mode === 'inline',
    // An inline instance is kept current by appends; it only needs to look now and then.
    followsAppends: definition.mode === 'async',
    async acquired() {
      // Re-read: another process may have set the instance up, or promoted it, while we did not hold it.
      const current = (await store.sql.query<InstanceRow>(sql.instance, [row.id]))[0];
      if (!current) return;
      phase = current.phase;
      if (!current.set_up) await store.sql.transaction((tx) => ensureSetUp(tx, sql, current, definition));
    },
    pendingAtHead: () => phase === 'building',
    async atHead(tx: SqlExecutor) {
      await tx.query(sql.retireOlder, [row.name, row.version, row.build]);
      await tx.query(sql.activate, [row.id]);
    },
    reachedHead() {
      phase = 'active';
      emit({ kind: 'activated', retired: 0, ...ref });
    },
    async idle() {
      if (phase !== 'active' || Date.now() - lastHousekeeping < HOUSEKEEPING_INTERVAL_MS) return;
      lastHousekeeping = Date.now();
      await dropRetired(daemon, sql, row.name, retiredDropDelayMs).catch(() => {
        lastHousekeeping = 0; // busy: try again on the next idle step
      });
    },
  };

  const forward = (event: ConsumerEvent) => {
    const { consumer: _, ...rest } = event;
    if (rest.kind === 'progress') emit({ ...rest, phase: phase === 'building' ? 'building' : 'active', ...ref });
    else emit({ ...rest, ...ref });
  };
  return daemon.run(consumer, row, forward, hooks);
}

/** Drops the schemas of instances a newer one replaced, once readers have had time to move over. */
async function dropRetired(daemon: ConsumerDaemon, sql: ProjectionSql, name: string, delayMs: number) {
  const { store } = daemon;
  const retired = await store.sql.query<{ id: string; consumer_id: string; schema_name: string }>(sql.retiredToDrop, [
    name,
    delayMs,
  ]);
  for (const old of retired) {
    await store.sql.transaction(async (tx) => {
      await tx.query(daemon.sql.lockTimeout, ['2000']);
      await tx.exec(sql.dropInstanceSchema(old.schema_name));
      await tx.query(daemon.sql.deleteParkedOf, [old.consumer_id]);
      await tx.query(sql.markDropped, [old.id]);
    });
  }
}
