/** Stream access control, pure: grants, `'*'` for types and roles, `admin` implying read and write, system types. */
import { describe, expect, it } from 'vitest';
import { Access, hasRole, type AccessControl } from '../../src/index.js';

const acl: AccessControl = {
  streams: {
    account: { read: ['teller'], write: ['teller'] },
    order: { admin: ['clerk'] },
    note: { write: ['scribe'] },
    '*': { read: ['auditor'] },
    $reports: { read: ['auditor'] },
  },
  adminRoles: ['root'],
};

describe('Access', () => {
  it('grants what the entries say, and refuses the rest', () => {
    const teller = new Access(acl, ['teller']);
    expect([teller.may('read', 'account'), teller.may('write', 'account'), teller.may('read', 'order')]).toEqual([
      true,
      true,
      false,
    ]);
    const clerk = new Access(acl, ['clerk']);
    expect([clerk.may('read', 'order'), clerk.may('write', 'order'), clerk.may('admin', 'order')]).toEqual([true, true, true]);
    const scribe = new Access(acl, ['scribe']);
    expect([scribe.may('write', 'note'), scribe.may('read', 'note')]).toEqual([true, false]); // write does not imply read
    expect(new Access(acl, []).may('read', 'account')).toBe(false);
  });

  it("reads every non-system type with '*', and system types only by their own entry or as an administrator", () => {
    const auditor = new Access(acl, ['auditor']);
    expect([auditor.may('read', 'anything'), auditor.may('write', 'anything')]).toEqual([true, false]);
    expect([auditor.may('read', '$audit'), auditor.may('read', '$reports')]).toEqual([false, true]);
    expect(auditor.readableTypes()).toBeNull();
    expect(new Access(acl, ['teller']).readableTypes()).toEqual(['account']);
    const root = new Access(acl, ['root']);
    expect([root.isAdmin, root.may('admin', '$audit'), root.readsEverything]).toEqual([true, true, true]);
    expect(new Access(acl, ['admin']).isAdmin).toBe(false); // adminRoles replaced the default
    expect(new Access({ streams: { x: { read: ['*'] } } }, ['anyone']).may('read', 'x')).toBe(true);
  });

  it('without stream entries, every caller reads and writes every non-system stream; only admins reach system ones', () => {
    const plain = new Access(undefined, ['reader']);
    expect([plain.may('write', 'account'), plain.may('read', '$audit'), plain.isAdmin]).toEqual([true, false, false]);
    expect(new Access(undefined, ['*']).isAdmin).toBe(true); // every role (development tokens, no authentication)
    expect(new Access(undefined, ['admin']).may('read', '$audit')).toBe(true);
  });

  it('hasRole: one of the required roles, or every role', () => {
    expect(hasRole(['a'], undefined)).toBe(true);
    expect(hasRole(['a'], ['b', 'a'])).toBe(true);
    expect(hasRole(['c'], ['b'])).toBe(false);
    expect(hasRole(['*'], ['b'])).toBe(true);
  });
});
