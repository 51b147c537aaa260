/**
 * What a runner does with an event its handler cannot take: retry it with backoff, then stop (status
 * `failed`) or park it with every later event of its stream; and, when an operator asks, handle the
 * parked events again, stream by stream, oldest first.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RecordedEvent } from '../core/events.js';
import { deliver } from './batch.js';
import { HandlerError, LostRace, describeError, isTransient } from './failures.js';
import { retryDelay } from './policy.js';
import type { RunnerContext } from './runner-contract.js';

/** `events[index]` failed: handle what came before it, retry it, then stop or park as the policy says. */
export async function handleFailure(
  runner: RunnerContext,
  failure: { events: readonly RecordedEvent[]; index: number; error: unknown },
): Promise<void> {
  const { events, index } = failure;
  const { definition, sql, store, host } = runner;
  if (index > 0) {
    const before = events.slice(0, index);
    const outcome = await runner.tryProcess(before, before[before.length - 1]!.globalPosition, { last: false });
    await runner.settle(outcome);
    if (outcome.kind !== 'applied') return;
  }
  const event = events[index]!;
  let error = failure.error;
  let attempts = 1;
  while (attempts < definition.retry.attempts) {
    attempts++;
    await sleep(retryDelay(definition.retry, attempts), undefined, { signal: runner.signal }).catch(() => {});
    if (runner.signal.aborted) return;
    const outcome = await runner.tryProcess([event], event.globalPosition, { last: false });
    if (outcome.kind !== 'failed') return runner.settle(outcome);
    error = outcome.error;
  }
  const message = `${event.type} at position ${event.globalPosition} (stream "${event.streamId}", version ${event.streamVersion}) failed ${attempts} time(s): ${describeError(error)}`;
  if (definition.onFailure === 'stop') {
    const rows = await store.sql.query(sql.fail, [runner.id, host.owner, event.globalPosition, message]);
    if (rows.length === 0) return;
    runner.status = 'failed';
    runner.emit({ kind: 'failed', consumer: runner.name, position: event.globalPosition, error: message });
    return;
  }
  try {
    await store.sql.transaction(async (tx) => {
      const moved = await tx.query(sql.advance, [runner.id, host.owner, runner.checkpoint, event.globalPosition]);
      if (moved.length === 0) throw new LostRace();
      await tx.query(sql.park, [
        runner.id,
        event.globalPosition,
        event.streamId,
        event.id,
        event.type,
        'failed',
        message,
        attempts,
      ]);
      await tx.query(sql.recordError, [runner.id, message, event.globalPosition]);
    });
  } catch (e) {
    if (e instanceof LostRace) return;
    throw e;
  }
  runner.checkpoint = event.globalPosition;
  runner.parkedStreams.add(event.streamId);
  runner.emit({
    kind: 'parked',
    consumer: runner.name,
    position: event.globalPosition,
    streamId: event.streamId,
    error: message,
  });
  runner.emit({ kind: 'checkpoint', consumer: runner.name, position: event.globalPosition, events: 0 });
}

/** Handles the parked events someone asked to retry, stream by stream, oldest first. */
export async function retryParked(runner: RunnerContext): Promise<void> {
  const { sql, store, host } = runner;
  const streams = await store.sql.query<{ stream_id: string }>(sql.streamsToRetry, [runner.id]);
  for (const { stream_id: streamId } of streams) {
    for (;;) {
      if (runner.signal.aborted) return;
      const queue = await store.sql.query<{ global_position: string }>(sql.parkedOfStream, [runner.id, streamId]);
      if (queue.length === 0) {
        runner.parkedStreams.delete(streamId);
        break;
      }
      const position = BigInt(queue[0]!.global_position);
      const [event] = await store.readAll({ after: position - 1n, maxCount: 1 });
      try {
        const definition = runner.definition;
        if (definition.kind === 'delivery') await deliver(runner, definition, [event!], [event!]);
        await store.sql.transaction(async (tx) => {
          await runner.limitIdleTime(tx);
          // Inline appends check the parked table themselves; hold them back while it changes.
          if (runner.hooks.holdsAppends) await tx.query(sql.holdAppends);
          if ((await tx.query(sql.fence, [runner.id, host.owner])).length === 0) throw new LostRace();
          if (definition.kind === 'transactional') {
            try {
              await definition.handle(event!, tx);
            } catch (error) {
              throw new HandlerError([event!], 0, error);
            }
          }
          await tx.query(sql.unpark, [runner.id, position]);
        });
        runner.rate.add(1);
      } catch (error) {
        if (error instanceof LostRace) return;
        if (!(error instanceof HandlerError) || isTransient(error.cause))
          throw error instanceof HandlerError ? error.cause : error;
        const message = `${event!.type} at position ${position} (stream "${streamId}") failed again on retry: ${describeError(error.cause)}`;
        await store.sql.query(sql.failAgain, [runner.id, position, message]);
        await store.sql.query(sql.endRetry, [runner.id, streamId]);
        runner.emit({ kind: 'parked', consumer: runner.name, position, streamId, error: message });
        break;
      }
    }
  }
}
