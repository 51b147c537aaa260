/**
 * API keys: created (shown once), listed, revoked, and checked on each request. A key is
 * `fabula_<id>_<secret>`: the `id` finds the row by its primary key, the 256-bit secret is compared
 * by its SHA-256 in constant time. A fast hash suffices for a random 256-bit secret (nothing to guess
 * from a dictionary); bcrypt/argon2 would only cost CPU on every request (docs/security.md).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { NotFoundError, ValidationError } from '../../core/errors.js';
import type { SqlClient } from '../../store/sql-client.js';
import { apiKeySql, type ApiKeyRow } from './api-key-sql.js';

export interface ApiKey {
  /** The public part of the key: shown in lists and audit events, never enough to authenticate. */
  id: string;
  userId: string;
  tenantId?: string;
  roles: string[];
  description?: string;
  createdAt: Date;
  revokedAt: Date | null;
}

export interface NewApiKey {
  userId: string;
  tenantId?: string;
  roles?: readonly string[];
  description?: string;
}

const KEY = /^fabula_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const NAME = /^[^\s,:@=]{1,200}$/;

/** Whether a bearer credential has the shape of an API key (else it is a JWT or a development token). */
export function looksLikeApiKey(credential: string): boolean {
  return credential.startsWith('fabula_');
}

export class ApiKeys {
  private readonly statements;

  constructor(
    private readonly sql: SqlClient,
    schema: string,
  ) {
    this.statements = apiKeySql(schema);
  }

  /** Creates a key; `key` is the only time the secret exists outside the caller: show it once. */
  async create(input: NewApiKey): Promise<{ key: string; apiKey: ApiKey }> {
    checkName(input.userId, 'user');
    if (input.tenantId !== undefined) checkName(input.tenantId, 'tenant');
    for (const role of input.roles ?? []) checkName(role, 'role');
    if (input.description !== undefined && input.description.length > 500)
      throw new ValidationError('description', 'must be at most 500 characters');
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const [row] = await this.sql.query<ApiKeyRow>(this.statements.insert, [
      id,
      digest(secret),
      input.userId,
      input.tenantId ?? null,
      [...new Set(input.roles ?? [])],
      input.description ?? null,
    ]);
    return { key: `fabula_${id}_${secret}`, apiKey: toApiKey(row!) };
  }

  async list(options: { includeRevoked?: boolean } = {}): Promise<ApiKey[]> {
    return (await this.sql.query<ApiKeyRow>(this.statements.list, [options.includeRevoked === true])).map(toApiKey);
  }

  /** Revokes a key at once (every request after this one is refused); revoking again changes nothing. */
  async revoke(id: string): Promise<ApiKey> {
    const [row] = await this.sql.query<ApiKeyRow>(this.statements.revoke, [id]);
    if (!row) throw new NotFoundError(`no API key ${JSON.stringify(id)}; fabula keys list shows them`);
    return toApiKey(row);
  }

  /** The key's record when `credential` is a valid, unrevoked key; else null. */
  async verify(credential: string): Promise<ApiKey | null> {
    const match = KEY.exec(credential);
    if (!match) return null;
    const [row] = await this.sql.query<ApiKeyRow>(this.statements.byId, [match[1]]);
    // Compare digests whatever happens, so the timing does not tell whether the id exists.
    const expected = Buffer.from(row?.secret_hash ?? digest(''), 'hex');
    const equal = timingSafeEqual(expected, Buffer.from(digest(match[2]!), 'hex'));
    if (!row || !equal || row.revoked_at !== null) return null;
    return toApiKey(row);
  }
}

function digest(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function checkName(value: string, field: string) {
  if (!NAME.test(value))
    throw new ValidationError(
      field,
      `${JSON.stringify(value)} is not valid: 1-200 characters, no spaces, commas, ':', '@' or '='`,
    );
}

function toApiKey(row: ApiKeyRow): ApiKey {
  const roles = Array.isArray(row.roles)
    ? row.roles
    : row.roles
        .replace(/^\{|\}$/g, '')
        .split(',')
        .filter(Boolean);
  return {
    id: row.id,
    userId: row.user_id,
    ...(row.tenant_id !== null ? { tenantId: row.tenant_id } : {}),
    roles,
    ...(row.description !== null ? { description: row.description } : {}),
    createdAt: new Date(row.created_at),
    revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at),
  };
}
