-- Tenants (docs/tenancy.md). Every stream, event and snapshot carries its tenant, and a stream's identity
-- is (stream_id, tenant_id): two tenants may both have `account-a1`. Rows written before this migration,
-- and by the store's system view (no tenant set), belong to the tenant `default`.
--
-- Row-level security, forced so that it holds for the tables' owner too:
-- - `tenant_rows` (every role): only the rows of the transaction's tenant, `fabula.tenant`, set by
--   `SELECT set_config('role', 'fabula_tenant', true), set_config('fabula.tenant', $1, true)`.
--   With no tenant set, nothing is visible and nothing can be written.
-- - `system_rows` (the owner only): every row, but only while no tenant is set (projections, process
--   managers, publishers, migrations and checks work across tenants as the owner).
-- Superusers bypass row-level security altogether; tenant work therefore runs as `fabula_tenant`.

-- The constant default first (no table rewrite), then the transaction's tenant for new rows.
ALTER TABLE {{schema}}.streams ADD COLUMN tenant_id text NOT NULL DEFAULT 'default';
ALTER TABLE {{schema}}.streams ALTER COLUMN tenant_id SET DEFAULT coalesce(nullif(current_setting('fabula.tenant', true), ''), 'default');
-- stream_id first: lookups by stream id keep using the key.
ALTER TABLE {{schema}}.streams DROP CONSTRAINT streams_pkey, ADD PRIMARY KEY (stream_id, tenant_id);

ALTER TABLE {{schema}}.events ADD COLUMN tenant_id text NOT NULL DEFAULT 'default';
ALTER TABLE {{schema}}.events ALTER COLUMN tenant_id SET DEFAULT coalesce(nullif(current_setting('fabula.tenant', true), ''), 'default');
ALTER TABLE {{schema}}.events DROP CONSTRAINT events_stream_version_unique,
  ADD CONSTRAINT events_stream_version_unique UNIQUE (stream_id, stream_version, tenant_id);

ALTER TABLE {{schema}}.snapshots ADD COLUMN tenant_id text NOT NULL DEFAULT 'default';
ALTER TABLE {{schema}}.snapshots ALTER COLUMN tenant_id SET DEFAULT coalesce(nullif(current_setting('fabula.tenant', true), ''), 'default');
ALTER TABLE {{schema}}.snapshots DROP CONSTRAINT snapshots_pkey, ADD PRIMARY KEY (stream_id, aggregate_type, stream_version, tenant_id);

-- The role tenant transactions run as: one per cluster (roles are cluster-wide), made by whichever store
-- migrates first. Stores migrating in parallel may race to create it: the loser finds it made. A store
-- user that may not create roles or grant this one needs an administrator to have done it (docs/tenancy.md);
-- until then tenant views fail with "permission denied to set role", and the system view works as before.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fabula_tenant') THEN
    CREATE ROLE fabula_tenant NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation OR insufficient_privilege THEN NULL;
END $$;
DO $$
BEGIN
  -- The store's own user must be allowed to switch to it (superusers always are).
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fabula_tenant') AND NOT pg_has_role(current_user, 'fabula_tenant', 'MEMBER') THEN
    EXECUTE format('GRANT fabula_tenant TO %I', current_user);
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation OR insufficient_privilege THEN NULL;
END $$;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fabula_tenant') THEN
    GRANT USAGE ON SCHEMA {{schema}} TO fabula_tenant;
    GRANT SELECT, INSERT, UPDATE ON {{schema}}.streams TO fabula_tenant;
    GRANT SELECT, INSERT ON {{schema}}.events TO fabula_tenant;
    GRANT SELECT, INSERT, UPDATE, DELETE ON {{schema}}.snapshots TO fabula_tenant;
  END IF;
END $$;

ALTER TABLE {{schema}}.streams ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.streams FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON {{schema}}.streams
  USING (tenant_id = current_setting('fabula.tenant', true)) WITH CHECK (tenant_id = current_setting('fabula.tenant', true));
CREATE POLICY system_rows ON {{schema}}.streams TO CURRENT_USER
  USING (coalesce(current_setting('fabula.tenant', true), '') = '');

ALTER TABLE {{schema}}.events ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON {{schema}}.events
  USING (tenant_id = current_setting('fabula.tenant', true)) WITH CHECK (tenant_id = current_setting('fabula.tenant', true));
CREATE POLICY system_rows ON {{schema}}.events TO CURRENT_USER
  USING (coalesce(current_setting('fabula.tenant', true), '') = '');

ALTER TABLE {{schema}}.snapshots ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.snapshots FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON {{schema}}.snapshots
  USING (tenant_id = current_setting('fabula.tenant', true)) WITH CHECK (tenant_id = current_setting('fabula.tenant', true));
CREATE POLICY system_rows ON {{schema}}.snapshots TO CURRENT_USER
  USING (coalesce(current_setting('fabula.tenant', true), '') = '');

-- A process instance works in the tenant of the event that started it: its commands are sent in that
-- tenant. NULL (instances started before this migration): the default tenant.
ALTER TABLE {{schema}}.process_instances ADD COLUMN tenant_id text;
