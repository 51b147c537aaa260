/**
 * The CLI's admin actions in the audit stream. Whoever runs the CLI holds the database's credentials,
 * so acts as an administrator; the operating-system user names them.
 */
import os from 'node:os';
import { Audit, type AuditActor } from '../server/auth/audit.js';
import type { EventStore } from '../store/event-store.js';

export function cliActor(): AuditActor {
  return { userId: os.userInfo().username, roles: ['*'], via: { method: 'cli' } };
}

/** Runs an admin action and records it, with its outcome, in the audit stream. */
export function audited<T>(store: EventStore, action: string, target: string, act: () => Promise<T>): Promise<T> {
  return new Audit(store).run(cliActor(), action, target, act);
}
