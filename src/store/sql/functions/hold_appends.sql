-- Holds appends back until the calling transaction ends: the append lock (docs/global-order.md) taken
-- shared, where appends take it exclusively. After it, the head position is final until commit. Used by
-- an inline projection closing its last gap.
CREATE OR REPLACE FUNCTION {{schema}}.hold_appends() RETURNS void LANGUAGE sql AS $fn$
  SELECT pg_advisory_xact_lock_shared({{append_lock}})
$fn$;
