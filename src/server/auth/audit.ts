/**
 * The audit trail: every admin action (projection rebuild, pause, resume, retry of parked events, API
 * key creation and revocation, a personal-data forget) is an `AdminActionRecorded` event in the stream
 * `$audit-<yyyy-mm-dd>` (UTC day of the action): who (user, tenant, roles, and the API key id or JWT
 * subject), when, what, and the outcome, in the actor's tenant. `$audit` is a system stream type: only
 * administrators read it.
 */
import type { EventStore } from '../../store/event-store.js';
import type { Caller } from './caller.js';

export const AUDIT_STREAM_TYPE = '$audit';
export const AUDIT_EVENT_TYPE = 'AdminActionRecorded';

export type AuditOutcome = 'succeeded' | 'failed';

export interface AuditEntry {
  /** What was done: `projection.rebuild`, `projection.pause`, `key.create`, `personal-data.forget`, ... */
  action: string;
  /** What it was done to: a projection name, a key id, a subject id. */
  target: string;
  outcome: AuditOutcome;
  /** Why it failed (the error's message), or other details worth keeping. */
  detail?: Record<string, unknown>;
}

/** Who did it, as the audit event records it. */
export interface AuditActor {
  userId?: string;
  tenantId?: string;
  roles?: readonly string[];
  via?: Caller['via'];
}

export function auditStreamId(at: Date): string {
  return `${AUDIT_STREAM_TYPE}-${at.toISOString().slice(0, 10)}`;
}

export class Audit {
  constructor(private readonly store: EventStore) {}

  /** Appends one audit event; resolves once it is recorded. */
  async record(actor: AuditActor, entry: AuditEntry, at = new Date()): Promise<void> {
    // In the actor's tenant (docs/tenancy.md), where its administrators read it; the CLI's in the default one.
    const store = actor.tenantId !== undefined ? this.store.forTenant(actor.tenantId) : this.store;
    await store.append(auditStreamId(at), [
      {
        type: AUDIT_EVENT_TYPE,
        data: {
          action: entry.action,
          target: entry.target,
          outcome: entry.outcome,
          at: at.toISOString(),
          actor: {
            ...(actor.userId !== undefined ? { userId: actor.userId } : {}),
            ...(actor.tenantId !== undefined ? { tenantId: actor.tenantId } : {}),
            roles: [...(actor.roles ?? ['*'])],
            via: actor.via ?? { method: 'anonymous' },
          },
          ...(entry.detail ? { detail: entry.detail } : {}),
        },
        metadata: {
          ...(actor.userId !== undefined ? { userId: actor.userId } : {}),
          ...(actor.tenantId !== undefined ? { tenantId: actor.tenantId } : {}),
        },
      },
    ]);
  }

  /**
   * Runs an admin action and records it with its outcome, failed ones too (then rethrows). Use it for
   * every admin action, e.g. the personal-data forget route:
   * `await context.audit.run(caller, 'personal-data.forget', subjectId, () => forget(subjectId))`.
   */
  async run<T>(actor: AuditActor, action: string, target: string, act: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await act();
    } catch (error) {
      await this.record(actor, { action, target, outcome: 'failed', detail: { error: (error as Error).message } });
      throw error;
    }
    await this.record(actor, { action, target, outcome: 'succeeded' });
    return result;
  }
}
