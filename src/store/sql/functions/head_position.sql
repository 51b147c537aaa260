-- The position of the last committed event, 0 for an empty store. Positions are dense and committed in
-- order (docs/global-order.md), so this is also the count of events. A backward scan of the primary key.
CREATE OR REPLACE FUNCTION {{schema}}.head_position() RETURNS bigint LANGUAGE sql STABLE AS $fn$
  SELECT coalesce((SELECT global_position FROM {{schema}}.events ORDER BY global_position DESC LIMIT 1), 0)
$fn$;
