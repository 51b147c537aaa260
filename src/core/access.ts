/**
 * Access control by role, pure: which roles may read, write or administer which stream types (like
 * KurrentDB's stream ACLs), and which roles are administrators. The server and the command bus ask it;
 * nothing here knows HTTP or SQL.
 *
 * - A stream's type is its id up to the first `-` (`account-42` → `account`).
 * - `'*'` as a stream type is every stream type that is not a system type; system types start with `$`
 *   (the audit stream `$audit-…`) and match only their own entry (and administrators).
 * - `'*'` as a role is every authenticated caller.
 * - `admin` on a stream type implies `read` and `write`; `write` does not imply `read`.
 * - Administrators (`adminRoles`, default `['admin']`) may do everything.
 * - Without stream entries every caller may read and write every non-system stream; with them, what
 *   no entry grants is refused. System streams and the admin routes always need an administrator or
 *   an explicit grant.
 */

export type StreamPermission = 'read' | 'write' | 'admin';

/** The roles granted each permission on one stream type. */
export type StreamAcl = { readonly [P in StreamPermission]?: readonly string[] };

export interface AccessControl {
  /** Per stream type, or `'*'` for every non-system type: the roles allowed to read, write, administer. */
  streams?: Readonly<Record<string, StreamAcl>>;
  /** Roles that may do everything, including the admin routes and the audit stream. Default `['admin']`. */
  adminRoles?: readonly string[];
}

/** The role a caller gets when its credentials name none: every role there is (development tokens). */
export const ALL_ROLES = '*';

export function isSystemStreamType(streamType: string): boolean {
  return streamType.startsWith('$');
}

/** What a caller with `roles` may do, under `acl` (undefined: no access control, all allowed). */
export class Access {
  private readonly admin: boolean;

  constructor(
    private readonly acl: AccessControl | undefined,
    private readonly roles: readonly string[],
  ) {
    const adminRoles = acl?.adminRoles ?? ['admin'];
    this.admin = roles.includes(ALL_ROLES) || roles.some((r) => adminRoles.includes(r));
  }

  /** May administer the server: projections, consumers, processes, keys, the audit stream. */
  get isAdmin(): boolean {
    return this.admin;
  }

  /** Whether every stream type is readable, system ones included (no filter is needed on lists). */
  get readsEverything(): boolean {
    return this.admin;
  }

  may(permission: StreamPermission, streamType: string): boolean {
    if (this.admin) return true;
    const entries = this.acl?.streams;
    const own = entries && Object.hasOwn(entries, streamType) ? entries[streamType] : undefined;
    if (isSystemStreamType(streamType)) return own !== undefined && this.grants(own, permission);
    if (entries === undefined) return true;
    return [own, entries['*']].some((entry) => entry !== undefined && this.grants(entry, permission));
  }

  /**
   * The stream types readable by name, when only those are (no `'*'` entry grants read): lists can then
   * be filtered in SQL. `null` when every non-system type is readable: filter the system ones with `may`.
   */
  readableTypes(): string[] | null {
    const entries = this.acl?.streams;
    if (this.admin || entries === undefined) return null;
    if (Object.hasOwn(entries, '*') && this.grants(entries['*']!, 'read')) return null;
    return Object.keys(entries).filter((type) => type !== '*' && this.may('read', type));
  }

  private grants(entry: StreamAcl, permission: StreamPermission): boolean {
    const roles = [...(entry[permission] ?? []), ...(permission === 'admin' ? [] : (entry.admin ?? []))];
    return roles.some((role) => role === ALL_ROLES || this.roles.includes(role));
  }
}

/** Whether `roles` include one of `required` (none required: allowed). */
export function hasRole(roles: readonly string[], required: readonly string[] | undefined): boolean {
  if (!required || required.length === 0) return true;
  return roles.includes(ALL_ROLES) || required.some((r) => roles.includes(r));
}
