/**
 * One batch of each kind of consumer. Both move the checkpoint with the fenced `advance` (lease mine,
 * checkpoint still what the runner read), and park the events of streams that have a parked event
 * (`behind`) instead of handing them over, so that a stream is never handled out of order.
 */
import type { RecordedEvent } from '../core/events.js';
import { toRecordedEvent, type EventRow } from '../store/statements.js';
import type { ConsumerDefinition } from './consumer.js';
import { EventRejected, HandlerError, LostRace, parkedJson } from './failures.js';
import type { Outcome, RunnerContext } from './runner-contract.js';

export type TransactionalDefinition = Extract<ConsumerDefinition, { kind: 'transactional' }>;
export type DeliveryDefinition = Extract<ConsumerDefinition, { kind: 'delivery' }>;

/** The checkpoint moves first in the transaction, then the handler writes its effects in it: exactly once. */
export async function applyBatch(
  runner: RunnerContext,
  definition: TransactionalDefinition,
  events: readonly RecordedEvent[],
  target: bigint,
  last: boolean,
): Promise<Outcome> {
  const { store, sql, hooks, host } = runner;
  const from = runner.checkpoint;
  return store.sql.transaction(async (tx) => {
    await runner.limitIdleTime(tx);
    let batch = events;
    let to = target;
    let atHead = last && (hooks.pendingAtHead?.() ?? false);
    if (last && hooks.holdsAppends) {
      // The last stretch holds appends back for a moment, so that it ends exactly at the head and the
      // next append finds the consumer current.
      await tx.query(sql.holdAppends);
      const head = BigInt((await tx.query<{ position: string }>(sql.head))[0]!.position);
      const page = await store.revealPersonalData(
        (await tx.query<EventRow>(runner.readAllSql, [from, host.settings.batchSize])).map(toRecordedEvent),
        tx,
      );
      batch = runner.filter(page);
      const full = page.length === host.settings.batchSize;
      const lastRead = page.length > 0 ? page[page.length - 1]!.globalPosition : 0n;
      to = full || lastRead > head ? lastRead : head;
      atHead &&= !full;
    }
    if ((await tx.query(sql.advance, [runner.id, host.owner, from, to])).length === 0) throw new LostRace();
    const behind: RecordedEvent[] = [];
    for (let i = 0; i < batch.length; i++) {
      const event = batch[i]!;
      if (runner.parkedStreams.has(event.streamId)) {
        behind.push(event); // an earlier event of its stream is parked: keep the stream's order
        continue;
      }
      try {
        await definition.handle(event, tx);
      } catch (error) {
        throw new HandlerError(batch, i, error);
      }
    }
    if (behind.length > 0) await tx.query(sql.parkBehind, [runner.id, parkedJson(behind)]);
    if (atHead) await hooks.atHead?.(tx);
    return { kind: 'applied', events: batch.length - behind.length, target: to, atHead } as const;
  });
}

/** Delivers first, then moves the checkpoint, fenced: at least once, never past an unacknowledged event. */
export async function deliverBatch(
  runner: RunnerContext,
  definition: DeliveryDefinition,
  events: readonly RecordedEvent[],
  target: bigint,
): Promise<Outcome> {
  const { store, sql, host } = runner;
  const from = runner.checkpoint;
  const behind = events.filter((e) => runner.parkedStreams.has(e.streamId));
  const deliverable = behind.length === 0 ? events : events.filter((e) => !runner.parkedStreams.has(e.streamId));
  if (deliverable.length > 0) await deliver(runner, definition, deliverable, events);
  await store.sql.transaction(async (tx) => {
    if ((await tx.query(sql.advance, [runner.id, host.owner, from, target])).length === 0) throw new LostRace();
    if (behind.length > 0) await tx.query(sql.parkBehind, [runner.id, parkedJson(behind)]);
  });
  return { kind: 'applied', events: deliverable.length, target, atHead: false };
}

/** Calls `deliver`; a rejected event is blamed at its index in `batch` (which may hold parked-behind ones). */
export async function deliver(
  runner: RunnerContext,
  definition: DeliveryDefinition,
  deliverable: readonly RecordedEvent[],
  batch: readonly RecordedEvent[],
): Promise<void> {
  try {
    await definition.deliver(deliverable, runner.signal);
  } catch (error) {
    if (error instanceof EventRejected && deliverable[error.index]) {
      throw new HandlerError(batch, batch.indexOf(deliverable[error.index]!), error.cause);
    }
    throw error; // a delivery fault: retried with backoff, not blamed on an event
  }
}
