import type { Migration } from '../migrations.js';
import { appendLockKey } from '../statements.js';

/**
 * Streams and events, with the two functions that write them. See docs/global-order.md for why
 * `append_batch` holds the store's append lock (a transaction-level advisory lock) until commit: that
 * lock is what makes one global position a complete checkpoint.
 */
export const eventLog: Migration = {
  version: 1,
  name: 'streams and events',
  sql: (s) => `
CREATE TABLE "${s}".streams (
  stream_id   text PRIMARY KEY,
  stream_type text NOT NULL,
  version     bigint NOT NULL,
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL,
  deleted_at  timestamptz,
  metadata    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX streams_by_type ON "${s}".streams (stream_type, stream_id);

CREATE TABLE "${s}".events (
  global_position bigint PRIMARY KEY,
  event_id        uuid NOT NULL UNIQUE,
  stream_id       text NOT NULL,
  stream_version  bigint NOT NULL,
  stream_type     text NOT NULL,
  event_type      text NOT NULL,
  schema_version  smallint NOT NULL,
  data            jsonb NOT NULL,
  metadata        jsonb NOT NULL,
  recorded_at     timestamptz NOT NULL,
  CONSTRAINT events_stream_version_unique UNIQUE (stream_id, stream_version)
);
CREATE INDEX events_by_type ON "${s}".events (event_type, global_position);

-- The optimistic-concurrency rule, in one place: does a stream (found or not, at current_version) meet
-- the expected version ("any", "no_stream", "stream_exists" or a number, as JSON)? A plain SQL function,
-- so the planner inlines it into the set-based append.
CREATE FUNCTION "${s}".meets_expected_version(expected jsonb, stream_found boolean, current_version bigint)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $fn$
  SELECT NOT ((expected = '"no_stream"' AND stream_found)
           OR (expected = '"stream_exists"' AND NOT stream_found)
           OR (jsonb_typeof(expected) = 'number' AND expected::text::bigint <> current_version))
$fn$;

-- Appends a batch of independent appends in one transaction, in order. Returns one result per append:
-- {"ok": true, ...} or {"error": "concurrency" | "idempotency" | "deleted", ...}. A failed append writes
-- nothing and does not affect the others. Checks run before any write, so no subtransactions are needed.
CREATE FUNCTION "${s}".append_batch(batch jsonb) RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
  head_position bigint;
  head_at       timestamptz;
  at            timestamptz;
  request       jsonb;
  results       jsonb := '[]'::jsonb;
  sid           text;
  expected      jsonb;
  event_count   int;
  current_version bigint;
  is_deleted    boolean;
  stream_found  boolean;
  prior         record;
  ids           uuid[];
  appended_any  boolean := false;
  appended_count bigint;
BEGIN
  -- The serialisation point: held until commit, so positions are handed out in commit order.
  PERFORM pg_advisory_xact_lock(${appendLockKey(`'${s}'`)});
  SELECT global_position, recorded_at INTO head_position, head_at
    FROM "${s}".events ORDER BY global_position DESC LIMIT 1;
  IF NOT FOUND THEN head_position := 0; head_at := '-infinity'; END IF;
  -- Millisecond precision (what a JavaScript Date holds) and never going backwards, so that
  -- recorded_at orders like global_position and an event's own recordedAt finds it in an asOf read.
  at := greatest(date_trunc('milliseconds', clock_timestamp()), head_at);

  -- The common case, set-based: every append is to a different stream and no id needs an idempotency
  -- lookup. Then all checks and writes are a handful of statements for the whole batch.
  IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(batch) AS x(r) WHERE (x.r->>'callerIds')::boolean)
     AND (jsonb_array_length(batch) = 1
          OR (SELECT count(DISTINCT x.r->>'streamId') = count(*) FROM jsonb_array_elements(batch) AS x(r))) THEN
    WITH request AS (
      SELECT x.n, x.r->>'streamId' AS stream_id, x.r->>'streamType' AS stream_type, x.r->'expected' AS expected_version,
             x.r->'events' AS events, jsonb_array_length(x.r->'events') AS n_events
        FROM jsonb_array_elements(batch) WITH ORDINALITY AS x(r, n)
    ), checked AS (
      SELECT request.*, coalesce(st.version, 0) AS version_before, st.stream_id IS NOT NULL AS exists_already,
             CASE
               WHEN st.deleted_at IS NOT NULL THEN 'deleted'
               WHEN NOT "${s}".meets_expected_version(request.expected_version, st.stream_id IS NOT NULL, coalesce(st.version, 0))
                 THEN 'concurrency'
               ELSE 'ok'
             END AS outcome
        FROM request LEFT JOIN "${s}".streams st ON st.stream_id = request.stream_id
    ), placed AS (
      -- Accepted appends take consecutive positions in batch order.
      SELECT checked.*, head_position
               + sum(CASE WHEN outcome = 'ok' THEN n_events ELSE 0 END) OVER (ORDER BY n)
               - CASE WHEN outcome = 'ok' THEN n_events ELSE 0 END AS base_position
        FROM checked
    ), inserted AS (
      INSERT INTO "${s}".events (global_position, event_id, stream_id, stream_version, stream_type,
                                 event_type, schema_version, data, metadata, recorded_at)
      SELECT p.base_position + e.i, (e.ev->>'id')::uuid, p.stream_id, p.version_before + e.i, p.stream_type,
             e.ev->>'type', (e.ev->>'schemaVersion')::smallint, e.ev->'data', e.ev->'metadata', at
        FROM placed p CROSS JOIN LATERAL jsonb_array_elements(p.events) WITH ORDINALITY AS e(ev, i)
       WHERE p.outcome = 'ok'
    ), updated AS (
      UPDATE "${s}".streams st SET version = p.version_before + p.n_events, updated_at = at
        FROM placed p WHERE p.outcome = 'ok' AND p.exists_already AND st.stream_id = p.stream_id
    ), created AS (
      INSERT INTO "${s}".streams (stream_id, stream_type, version, created_at, updated_at)
      SELECT p.stream_id, p.stream_type, p.n_events, at, at FROM placed p WHERE p.outcome = 'ok' AND NOT p.exists_already
    )
    SELECT jsonb_agg(CASE outcome
             WHEN 'ok' THEN jsonb_build_object('ok', true, 'nextExpectedVersion', version_before + n_events,
               'firstPosition', (base_position + 1)::text, 'lastPosition', (base_position + n_events)::text, 'recordedAt', at)
             WHEN 'deleted' THEN jsonb_build_object('error', 'deleted')
             ELSE jsonb_build_object('error', 'concurrency', 'actual', version_before)
           END ORDER BY n),
           coalesce(sum(n_events) FILTER (WHERE outcome = 'ok'), 0)
      INTO results, appended_count
      FROM placed;
    IF appended_count > 0 THEN
      PERFORM pg_notify('${s}_appended', (head_position + appended_count)::text);
    END IF;
    RETURN results;
  END IF;

  -- The general case, one append after the other: repeated streams see each other's effects, and ids
  -- given by callers are checked for retries.
  FOR request IN SELECT value FROM jsonb_array_elements(batch) LOOP
    sid := request->>'streamId';
    expected := request->'expected';
    event_count := jsonb_array_length(request->'events');

    -- Idempotency: were any of these event ids written before? Ids the store generated itself
    -- (callerIds false) are fresh random UUIDs that cannot have been: no lookup for them.
    IF (request->>'callerIds')::boolean THEN
      SELECT array_agg((x.e->>'id')::uuid) INTO ids FROM jsonb_array_elements(request->'events') AS x(e);
      IF EXISTS (SELECT 1 FROM "${s}".events WHERE event_id = ANY(ids)) THEN
        SELECT count(ev.event_id) AS found,
               bool_and(ev.stream_id = sid) AS same_stream,
               bool_and(ev.event_type = r.e->>'type' AND ev.data = r.e->'data') AS same_content,
               count(DISTINCT ev.stream_version - r.i) AS offsets,
               max(ev.stream_version) AS last_version,
               min(ev.global_position) AS first_position,
               max(ev.global_position) AS last_position,
               (array_agg(ev.event_id::text ORDER BY r.i))[1] AS some_id,
               (array_agg(ev.stream_id ORDER BY r.i))[1] AS some_stream
          INTO prior
          FROM jsonb_array_elements(request->'events') WITH ORDINALITY AS r(e, i)
          -- "= ANY(ids)" lets the planner use the event_id index whatever it guesses about the array.
          JOIN "${s}".events ev ON ev.event_id = (r.e->>'id')::uuid AND ev.event_id = ANY(ids);

        IF NOT prior.same_stream THEN
          results := results || jsonb_build_object('error', 'idempotency', 'eventId', prior.some_id,
            'reason', format('this id was already used in stream %s', to_jsonb(prior.some_stream)));
        ELSIF prior.found < event_count OR prior.offsets <> 1 THEN
          results := results || jsonb_build_object('error', 'idempotency', 'eventId', prior.some_id,
            'reason', 'this append repeats some event ids of an earlier append but not the same events in the same order');
        ELSIF NOT prior.same_content THEN
          results := results || jsonb_build_object('error', 'idempotency', 'eventId', prior.some_id,
            'reason', 'this id was already used for an event with a different type or data');
        ELSE
          -- A retry of an append that succeeded: answer as the first time, write nothing.
          results := results || jsonb_build_object('ok', true, 'replayed', true,
            'nextExpectedVersion', prior.last_version,
            'firstPosition', prior.first_position::text, 'lastPosition', prior.last_position::text);
        END IF;
        CONTINUE;
      END IF;
    END IF;

    SELECT version, deleted_at IS NOT NULL INTO current_version, is_deleted
      FROM "${s}".streams WHERE stream_id = sid;
    stream_found := FOUND;
    IF NOT stream_found THEN current_version := 0; is_deleted := false; END IF;

    IF is_deleted THEN
      results := results || jsonb_build_object('error', 'deleted');
      CONTINUE;
    END IF;
    IF NOT "${s}".meets_expected_version(expected, stream_found, current_version) THEN
      results := results || jsonb_build_object('error', 'concurrency', 'actual', current_version);
      CONTINUE;
    END IF;

    INSERT INTO "${s}".events (global_position, event_id, stream_id, stream_version, stream_type,
                               event_type, schema_version, data, metadata, recorded_at)
    SELECT head_position + r.i, (r.e->>'id')::uuid, sid, current_version + r.i, request->>'streamType',
           r.e->>'type', (r.e->>'schemaVersion')::smallint, r.e->'data', r.e->'metadata', at
      FROM jsonb_array_elements(request->'events') WITH ORDINALITY AS r(e, i);

    IF stream_found THEN
      UPDATE "${s}".streams SET version = current_version + event_count, updated_at = at WHERE stream_id = sid;
    ELSE
      INSERT INTO "${s}".streams (stream_id, stream_type, version, created_at, updated_at)
      VALUES (sid, request->>'streamType', event_count, at, at);
    END IF;

    results := results || jsonb_build_object('ok', true,
      'nextExpectedVersion', current_version + event_count,
      'firstPosition', (head_position + 1)::text, 'lastPosition', (head_position + event_count)::text,
      'recordedAt', at);
    head_position := head_position + event_count;
    appended_any := true;
  END LOOP;

  IF appended_any THEN
    PERFORM pg_notify('${s}_appended', head_position::text);
  END IF;
  RETURN results;
END
$fn$;

-- Tombstones a stream. Takes the same lock as appends, so no append can slip in between the check and
-- the delete.
CREATE FUNCTION "${s}".delete_stream(sid text, stype text, expected jsonb) RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
  current_version bigint;
  is_deleted boolean;
  stream_found boolean;
  at timestamptz;
BEGIN
  PERFORM pg_advisory_xact_lock(${appendLockKey(`'${s}'`)});
  at := date_trunc('milliseconds', clock_timestamp());
  SELECT version, deleted_at IS NOT NULL INTO current_version, is_deleted FROM "${s}".streams WHERE stream_id = sid;
  stream_found := FOUND;
  IF NOT stream_found THEN current_version := 0; is_deleted := false; END IF;
  IF is_deleted THEN RETURN jsonb_build_object('error', 'deleted'); END IF;
  IF NOT "${s}".meets_expected_version(expected, stream_found, current_version) THEN
    RETURN jsonb_build_object('error', 'concurrency', 'actual', current_version);
  END IF;
  IF stream_found THEN
    UPDATE "${s}".streams SET deleted_at = at, updated_at = at WHERE stream_id = sid;
  ELSE
    INSERT INTO "${s}".streams (stream_id, stream_type, version, created_at, updated_at, deleted_at)
    VALUES (sid, stype, 0, at, at, at);
  END IF;
  RETURN jsonb_build_object('ok', true, 'version', current_version);
END
$fn$;
`,
};
