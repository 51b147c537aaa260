-- Checkpointed consumers of the global order (see docs/processing.md), and projections as their first
-- client.
--
-- `consumers` has one row per consumer: its checkpoint, the lease that lets one process at a time run
-- it, its status and failure state, and `control_seq` (bumped by admin calls so the runner re-reads).
-- `consumer_parked_events` is the dead-letter table: events a consumer could not handle (`failed`) and
-- the later events of the same stream held back behind them (`behind`).
--
-- Existing data moves over: every `projections` row (retired ones too) gets a consumer named
-- `projection:<name>:v<version>:b<build>` carrying its checkpoint, lease, status, failure fields,
-- rate and control_seq; `projection_parked_events` moves to `consumer_parked_events`. The moved
-- columns and the old parked table are then dropped, so no code can read a stale copy.
CREATE TABLE {{schema}}.consumers (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name                text NOT NULL UNIQUE,
  status              text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'failed', 'paused')),
  checkpoint          bigint NOT NULL DEFAULT 0,
  lease_owner         text,
  lease_expires_at    timestamptz,
  failed_position     bigint,
  last_error          text,
  last_error_position bigint,
  last_error_at       timestamptz,
  events_per_s        double precision NOT NULL DEFAULT 0,
  -- Bumped by resume / pause / retry / skip, so that the runner holding the lease re-reads its state.
  control_seq         bigint NOT NULL DEFAULT 0,
  created_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- Set when the consumer will never run again (a replaced projection build): its runner exits.
  retired_at          timestamptz
);

CREATE TABLE {{schema}}.consumer_parked_events (
  consumer_id     bigint NOT NULL REFERENCES {{schema}}.consumers (id) ON DELETE CASCADE,
  global_position bigint NOT NULL,
  stream_id       text NOT NULL,
  event_id        uuid NOT NULL,
  event_type      text NOT NULL,
  reason          text NOT NULL CHECK (reason IN ('failed', 'behind')),
  error           text,
  attempts        int NOT NULL DEFAULT 0,
  retry_requested boolean NOT NULL DEFAULT false,
  parked_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (consumer_id, global_position)
);
CREATE INDEX consumer_parked_by_stream ON {{schema}}.consumer_parked_events (consumer_id, stream_id, global_position);

-- Projections keep what is theirs (name, version, build, mode, handles, schema, phase) and point at
-- the consumer that holds their checkpoint. Deleting the consumer deletes the projection instance.
ALTER TABLE {{schema}}.projections ADD COLUMN consumer_id bigint UNIQUE REFERENCES {{schema}}.consumers (id) ON DELETE CASCADE;

INSERT INTO {{schema}}.consumers (name, status, checkpoint, lease_owner, lease_expires_at, failed_position, last_error,
    last_error_position, last_error_at, events_per_s, control_seq, created_at, updated_at, retired_at)
  SELECT 'projection:' || name || ':v' || version || ':b' || build, status, checkpoint, lease_owner, lease_expires_at,
    failed_position, last_error, last_error_position, last_error_at, events_per_s, control_seq, created_at, updated_at,
    CASE WHEN phase = 'retired' THEN coalesce(retired_at, updated_at) END
  FROM {{schema}}.projections ORDER BY id;

UPDATE {{schema}}.projections p SET consumer_id = c.id FROM {{schema}}.consumers c
  WHERE c.name = 'projection:' || p.name || ':v' || p.version || ':b' || p.build;
ALTER TABLE {{schema}}.projections ALTER COLUMN consumer_id SET NOT NULL;

INSERT INTO {{schema}}.consumer_parked_events (consumer_id, global_position, stream_id, event_id, event_type, reason, error,
    attempts, retry_requested, parked_at)
  SELECT p.consumer_id, x.global_position, x.stream_id, x.event_id, x.event_type, x.reason, x.error, x.attempts,
    x.retry_requested, x.parked_at
  FROM {{schema}}.projection_parked_events x JOIN {{schema}}.projections p ON p.id = x.projection_id;

DROP TABLE {{schema}}.projection_parked_events;
ALTER TABLE {{schema}}.projections
  DROP COLUMN status, DROP COLUMN checkpoint, DROP COLUMN lease_owner, DROP COLUMN lease_expires_at,
  DROP COLUMN failed_position, DROP COLUMN last_error, DROP COLUMN last_error_position, DROP COLUMN last_error_at,
  DROP COLUMN events_per_s, DROP COLUMN control_seq;
