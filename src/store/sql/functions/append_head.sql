-- The last event of the whole store (position and time), for an append made in a tenant's transaction:
-- there the tenant sees only its own events, but positions are one global order (docs/tenancy.md). Runs
-- as the owner with no tenant set for its one statement (a function's SET clause would need a superuser
-- for a custom setting), then puts the tenant back. Reveals no more than the positions a tenant's
-- appends get anyway.
CREATE OR REPLACE FUNCTION {{schema}}.append_head(OUT head_position bigint, OUT head_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $fn$
DECLARE
  tenant text := coalesce(current_setting('fabula.tenant', true), '');
BEGIN
  PERFORM set_config('fabula.tenant', '', true);
  SELECT global_position, recorded_at INTO head_position, head_at
    FROM {{schema}}.events ORDER BY global_position DESC LIMIT 1;
  PERFORM set_config('fabula.tenant', tenant, true);
END
$fn$;
