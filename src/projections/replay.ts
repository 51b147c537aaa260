/**
 * A dry-run replay, for debugging a projection: events after a position go through the projection's
 * handler into scratch tables inside one transaction that is rolled back at the end. Nothing changes;
 * what comes out is which events fail and why. `from: 0n` checks a whole rebuild before running one.
 */
import { randomBytes } from 'node:crypto';
import type { RecordedEvent } from '../core/events.js';
import type { EventStore } from '../store/event-store.js';
import { validIdentifier } from '../store/sql-client.js';
import { statements, toRecordedEvent, type EventRow } from '../store/statements.js';
import { projectionContexts, setupContext } from './context.js';
import type { ProjectionDefinition } from './define.js';
import { quoted } from './naming.js';
import type { EventRegistry } from '../core/event-registry.js';
import { currentEvents } from './current-events.js';

export interface ReplayOptions {
  /** Replay events strictly after this position. */
  from: bigint;
  /** Stop after this position (default: the head when the replay starts). */
  to?: bigint;
  /** Called for every event the projection handles, with its outcome. */
  onEvent?: (event: RecordedEvent, outcome: { ok: true } | { ok: false; error: string }) => void;
  /** Upcasts stored events for the handler, as the daemon would (default: the definition's own). */
  registry?: EventRegistry;
  /** Called after every page: events read so far and the range. */
  onProgress?: (progress: { done: bigint; total: bigint }) => void;
}

export interface ReplayReport {
  projection: string;
  from: bigint;
  to: bigint;
  applied: number;
  failed: Array<{ position: bigint; streamId: string; type: string; error: string }>;
  skipped: number;
}

class RollBack extends Error {}

export async function replayDryRun(
  store: EventStore,
  definition: ProjectionDefinition,
  options: ReplayOptions,
): Promise<ReplayReport> {
  const to = options.to ?? (await store.headPosition());
  const current = currentEvents(definition.registry ?? options.registry, definition.name);
  const report: ReplayReport = { projection: definition.name, from: options.from, to, applied: 0, failed: [], skipped: 0 };
  const scratch = validIdentifier(`${store.schema.slice(0, 20)}_replay_${randomBytes(6).toString('hex')}`, 'schema');
  const instance = { name: definition.name, version: definition.version, build: 0, schema_name: scratch };
  try {
    await store.sql.transaction(async (tx) => {
      await tx.exec(`CREATE SCHEMA ${quoted(scratch)}`);
      if (definition.setup) await definition.setup(setupContext(tx, instance));
      const contextOf = projectionContexts(tx, instance);
      const readPage = statements(store.schema).readAll({ eventTypes: false, streamTypes: false, tenant: false });
      let after = options.from;
      while (after < to) {
        // Read through the transaction: on PGlite (one connection) a read beside it would wait for it.
        const page = await store.revealPersonalData((await tx.query<EventRow>(readPage, [after, 500])).map(toRecordedEvent), tx);
        if (page.length === 0) break;
        for (const event of page) {
          if (event.globalPosition > to) break;
          after = event.globalPosition;
          if (!definition.handles.includes(event.type)) {
            report.skipped++;
            continue;
          }
          await tx.exec('SAVEPOINT replay_event');
          try {
            await definition.apply(current(event) as never, contextOf(event));
            await tx.exec('RELEASE SAVEPOINT replay_event');
            report.applied++;
            options.onEvent?.(event, { ok: true });
          } catch (error) {
            await tx.exec('ROLLBACK TO SAVEPOINT replay_event');
            const message = (error as Error)?.message ?? String(error);
            report.failed.push({ position: event.globalPosition, streamId: event.streamId, type: event.type, error: message });
            options.onEvent?.(event, { ok: false, error: message });
          }
        }
        options.onProgress?.({ done: after - options.from, total: to - options.from });
      }
      throw new RollBack(); // a dry run: undo everything, scratch schema included
    });
  } catch (error) {
    if (!(error instanceof RollBack)) throw error;
  }
  return report;
}
