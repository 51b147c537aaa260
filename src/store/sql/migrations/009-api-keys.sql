-- API keys for the HTTP API (`fabula keys create|list|revoke`). The key itself is shown once, at
-- creation; only its SHA-256 is kept (the key is 256 random bits, so a fast hash is enough: see
-- docs/security.md). `id` is the key's public prefix, shown in lists and audit events; a revoked key
-- stays, for the record, with `revoked_at` set.
CREATE TABLE {{schema}}.api_keys (
  id          text PRIMARY KEY,
  secret_hash text NOT NULL,
  user_id     text NOT NULL,
  tenant_id   text,
  roles       text[] NOT NULL DEFAULT '{}',
  description text,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  revoked_at  timestamptz
);
