-- The optimistic-concurrency rule, in one place: does a stream (found or not, at current_version) meet
-- the expected version ("any", "no_stream", "stream_exists" or a number, as JSON)? A plain SQL function,
-- so the planner inlines it into the set-based append.
CREATE OR REPLACE FUNCTION {{schema}}.meets_expected_version(expected jsonb, stream_found boolean, current_version bigint)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $fn$
  SELECT NOT ((expected = '"no_stream"' AND stream_found)
           OR (expected = '"stream_exists"' AND NOT stream_found)
           OR (jsonb_typeof(expected) = 'number' AND expected::text::bigint <> current_version))
$fn$;
