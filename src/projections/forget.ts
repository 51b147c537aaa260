/**
 * Forgetting a subject of personal data across the store and the read side: the store destroys the
 * subject's key, erases its plain-text legacy values and deletes the affected snapshots; then every
 * projection that handles one of the event types holding the subject's values is rebuilt (blue/green),
 * so its read model is made again from events that now read `ERASED`. The old build's tables are
 * dropped by the daemon once the new one serves (after `retiredDropDelayMs`).
 */
import { ProjectionNotFoundError } from '../core/errors.js';
import type { EventStore } from '../store/event-store.js';
import type { ForgetResult } from '../store/personal-data/protection.js';
import type { Projections } from './projections.js';

export interface ForgetReport extends ForgetResult {
  /** The builds started; the daemon of a running service does the work (follow them in projection status). */
  projectionsRebuilt: Array<{ projection: string; version: number; build: number }>;
}

/**
 * Forgets `subjectId` of the tenant `tenantId` (default: the store's default tenant; subjects are per
 * tenant) in `store`, and rebuilds the `projections` whose read models may hold its values.
 */
export async function forgetSubject(
  subjectId: string,
  parts: { store: EventStore; projections?: Projections; tenantId?: string },
): Promise<ForgetReport> {
  const result = await (parts.tenantId === undefined ? parts.store : parts.store.forTenant(parts.tenantId)).forget(subjectId);
  const projectionsRebuilt: ForgetReport['projectionsRebuilt'] = [];
  const projections = parts.projections;
  if (projections && result.eventTypes.length > 0) {
    projections.attach(parts.store);
    const names = new Set(
      projections.definitions.filter((d) => d.handles.some((type) => result.eventTypes.includes(type))).map((d) => d.name),
    );
    for (const projection of [...names].sort()) {
      try {
        projectionsRebuilt.push({ projection, ...(await projections.rebuild(projection)) });
      } catch (error) {
        // Never started in this store: it has no read model to purge.
        if (!(error instanceof ProjectionNotFoundError)) throw error;
      }
    }
  }
  return { ...result, projectionsRebuilt };
}
