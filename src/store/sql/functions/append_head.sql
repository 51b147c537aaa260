-- The last event of the whole store (position and time), for an append made in a tenant's transaction:
-- there the tenant sees only its own events, but positions are one global order (docs/tenancy.md). Runs
-- as the owner with no tenant set. Reveals no more than the positions a tenant's appends get anyway.
CREATE OR REPLACE FUNCTION {{schema}}.append_head(OUT head_position bigint, OUT head_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET fabula.tenant = '' SET search_path = pg_catalog AS $fn$
  SELECT global_position, recorded_at FROM {{schema}}.events ORDER BY global_position DESC LIMIT 1
$fn$;
