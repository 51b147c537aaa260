/** Statements on `api_keys` (migration 009), for one store schema. */
export function apiKeySql(schema: string) {
  const t = `"${schema}".api_keys`;
  const columns = `id, user_id, tenant_id, roles, description, created_at, revoked_at`;
  return {
    insert: `INSERT INTO ${t} (id, secret_hash, user_id, tenant_id, roles, description) VALUES ($1, $2, $3, $4, $5::text[], $6)
      RETURNING ${columns}`,
    byId: `SELECT ${columns}, secret_hash FROM ${t} WHERE id = $1`,
    list: `SELECT ${columns} FROM ${t} WHERE ($1::boolean OR revoked_at IS NULL) ORDER BY created_at, id`,
    revoke: `UPDATE ${t} SET revoked_at = coalesce(revoked_at, clock_timestamp()) WHERE id = $1 RETURNING ${columns}`,
  };
}

export interface ApiKeyRow {
  id: string;
  user_id: string;
  tenant_id: string | null;
  roles: string[] | string;
  description: string | null;
  created_at: Date | string;
  revoked_at: Date | string | null;
  secret_hash?: string;
}
