/**
 * Inline projections: applied in the append's own transaction, so the read model commits with the
 * events (or the append rolls back with a `ProjectionFailedError`).
 *
 * An inline projection applies an append only when its checkpoint is exactly the position before the
 * append's first event, and moves the checkpoint to the last one in the same statement. So it never
 * applies anything twice or out of order, and when it is behind (a new version being built, or events
 * appended by a process without the handler) it leaves the events to the projection daemon, which
 * catches it up; from then on appends keep it current again.
 */
import { ProjectionFailedError } from '../core/errors.js';
import type { RecordedEvent } from '../core/events.js';
import type { StoreInlineHandler } from '../store/event-store.js';
import { ensureSetUp, projectionContexts } from './context.js';
import type { ProjectionDefinition } from './define.js';
import { describeError, parkedJson } from '../processing/failures.js';
import { consumerSql } from '../processing/sql.js';
import { register } from './registry.js';
import type { CurrentEvents } from './current-events.js';
import { projectionSql, type InstanceRow } from './sql.js';

export function inlineHandler(
  definitions: readonly ProjectionDefinition[],
  current: (definition: ProjectionDefinition) => CurrentEvents,
): StoreInlineHandler {
  const inline = definitions.filter((d) => d.mode === 'inline');
  const byVersion = new Map(inline.map((d) => [`${d.name}\u0000${d.version}`, d]));
  const handled = new Map(inline.map((d) => [d, new Set(d.handles)]));
  const upcast = new Map(inline.map((d) => [d, current(d)]));
  const names = inline.map((d) => d.name);
  const versions = inline.map((d) => d.version);
  /** Store schemas where every inline projection is known to have a committed instance. */
  const registered = new Set<string>();

  return async (events, tx, store) => {
    if (inline.length === 0 || events.length === 0) return;
    const sql = projectionSql(store.schema);
    const consumers = consumerSql(store.schema);
    const first = events[0]!.globalPosition;
    const last = events[events.length - 1]!.globalPosition;
    // An append batch takes consecutive positions; if that ever changed, the daemon would catch up.
    if (last - first + 1n !== BigInt(events.length)) return;

    if (!registered.has(store.schema)) {
      // The first append after a deploy: the projection's instance may not exist yet.
      const existing = await tx.query<{ name: string; version: number }>(sql.existingVersions, [names, versions]);
      const missing = inline.filter((d) => !existing.some((row) => row.name === d.name && row.version === d.version));
      let created = false;
      for (const definition of missing) created = (await register(tx, sql, store.schema, definition)).create !== null || created;
      if (!created) registered.add(store.schema);
    }

    const rows = await tx.query<InstanceRow & { has_parked: boolean }>(sql.inlineAdvance, [names, versions, first - 1n, last]);
    for (const row of rows) {
      const definition = byVersion.get(`${row.name}\u0000${row.version}`)!;
      await ensureSetUp(tx, sql, row, definition);
      const types = handled.get(definition)!;
      const mine = events.filter((e) => types.has(e.type));
      if (mine.length === 0) continue;
      const parked = row.has_parked
        ? new Set(
            (
              await tx.query<{ stream_id: string }>(consumers.parkedStreamsAmong, [
                row.consumer_id,
                [...new Set(mine.map((e) => e.streamId))],
              ])
            ).map((r) => r.stream_id),
          )
        : null;
      const contextOf = projectionContexts(tx, row);
      const behind: RecordedEvent[] = [];
      for (const event of mine) {
        if (parked?.has(event.streamId)) {
          behind.push(event); // an earlier event of its stream is parked: keep the stream's order
          continue;
        }
        try {
          await definition.apply(upcast.get(definition)!(event), contextOf(event));
        } catch (error) {
          throw new ProjectionFailedError(
            {
              projection: definition.name,
              version: definition.version,
              position: null,
              streamId: event.streamId,
              eventType: event.type,
              reason: `inline projection could not apply ${event.type} (stream "${event.streamId}", version ${event.streamVersion}); the append was rolled back: ${describeError(error)}`,
            },
            { cause: error },
          );
        }
      }
      if (behind.length > 0) await tx.query(consumers.parkBehind, [row.consumer_id, parkedJson(behind)]);
    }
  };
}
