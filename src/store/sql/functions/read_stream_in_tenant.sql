-- A tenant's readStream in one statement, one round trip (docs/tenancy.md): switches to the tenant role
-- and tenant for the rest of the transaction, then reads, so row-level security applies to the read
-- (planned when it runs, after the switch). Called in autocommit, the switch ends with the statement.
-- A transaction of three statements (enter the tenant, read, commit) cost about 2.5x the read alone.
CREATE OR REPLACE FUNCTION {{schema}}.read_stream_in_tenant(
  p_tenant text, p_stream text, p_low bigint, p_high bigint, p_as_of timestamptz, p_limit bigint, p_descending boolean
) RETURNS SETOF {{schema}}.events LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM set_config('role', 'fabula_tenant', true), set_config('fabula.tenant', p_tenant, true);
  IF p_descending THEN
    RETURN QUERY SELECT * FROM {{schema}}.events e
      WHERE e.stream_id = p_stream AND e.stream_version BETWEEN p_low AND p_high AND e.tenant_id = p_tenant
        AND (p_as_of IS NULL OR e.recorded_at <= p_as_of)
      ORDER BY e.stream_version DESC LIMIT p_limit;
  ELSE
    RETURN QUERY SELECT * FROM {{schema}}.events e
      WHERE e.stream_id = p_stream AND e.stream_version BETWEEN p_low AND p_high AND e.tenant_id = p_tenant
        AND (p_as_of IS NULL OR e.recorded_at <= p_as_of)
      ORDER BY e.stream_version ASC LIMIT p_limit;
  END IF;
END
$fn$;
