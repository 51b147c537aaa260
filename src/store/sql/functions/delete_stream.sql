-- Tombstones a stream. Takes the same lock as appends, so no append can slip in between the check and
-- the delete. In the transaction's tenant, as append_batch.
CREATE OR REPLACE FUNCTION {{schema}}.delete_stream(sid text, stype text, expected jsonb) RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
  current_version bigint;
  is_deleted boolean;
  stream_found boolean;
  at timestamptz;
  tenant text := coalesce(nullif(current_setting('fabula.tenant', true), ''), 'default');
BEGIN
  PERFORM pg_advisory_xact_lock({{append_lock}});
  at := date_trunc('milliseconds', clock_timestamp());
  SELECT version, deleted_at IS NOT NULL INTO current_version, is_deleted FROM {{schema}}.streams WHERE stream_id = sid AND tenant_id = tenant;
  stream_found := FOUND;
  IF NOT stream_found THEN current_version := 0; is_deleted := false; END IF;
  IF is_deleted THEN RETURN jsonb_build_object('error', 'deleted'); END IF;
  IF NOT {{schema}}.meets_expected_version(expected, stream_found, current_version) THEN
    RETURN jsonb_build_object('error', 'concurrency', 'actual', current_version);
  END IF;
  IF stream_found THEN
    UPDATE {{schema}}.streams SET deleted_at = at, updated_at = at WHERE stream_id = sid AND tenant_id = tenant;
  ELSE
    INSERT INTO {{schema}}.streams (stream_id, stream_type, version, created_at, updated_at, deleted_at, tenant_id)
    VALUES (sid, stype, 0, at, at, at, tenant);
  END IF;
  RETURN jsonb_build_object('ok', true, 'version', current_version);
END
$fn$;
