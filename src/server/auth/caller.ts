/** Who is calling a request: what authentication found, what authorisation and the audit use. */

/** Who is calling: from your authentication (an API key, a JWT, a token, a gateway header). */
export interface Caller {
  userId?: string;
  tenantId?: string;
  /** Its roles. Absent: every role (development tokens, servers without authentication); `[]`: none. */
  roles?: readonly string[];
  /** How it authenticated: for the audit trail. */
  via?: CallerVia;
}

export interface CallerVia {
  method: 'api-key' | 'jwt' | 'token' | 'custom' | 'anonymous' | 'cli';
  /** The API key's id (its public prefix). */
  keyId?: string;
  /** The JWT's `sub`. */
  subject?: string;
}

/** The caller's roles: absent means every role (as before roles existed). */
export function rolesOf(caller: Caller): readonly string[] {
  return caller.roles ?? ['*'];
}
