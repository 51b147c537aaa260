-- Projection documents per tenant (docs/tenancy.md): the documents table of each projection instance
-- (`ctx.documents`) is keyed by (tenant_id, collection, id), so two tenants' documents of the same id are
-- two documents. New instances are made so (src/projections/sql.ts); this brings the documents tables
-- of instances made before it along, their documents in the tenant `default`.
DO $$
DECLARE
  instance record;
BEGIN
  FOR instance IN SELECT schema_name FROM {{schema}}.projections WHERE dropped_at IS NULL LOOP
    IF to_regclass(format('%I.documents', instance.schema_name)) IS NOT NULL THEN
      EXECUTE format('ALTER TABLE %I.documents ADD COLUMN IF NOT EXISTS tenant_id text NOT NULL DEFAULT %L',
        instance.schema_name, 'default');
      EXECUTE format('ALTER TABLE %I.documents ALTER COLUMN tenant_id DROP DEFAULT, DROP CONSTRAINT documents_pkey,
        ADD PRIMARY KEY (tenant_id, collection, id)', instance.schema_name);
    END IF;
  END LOOP;
END $$;
