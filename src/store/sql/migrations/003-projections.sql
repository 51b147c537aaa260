-- The read side's bookkeeping (see docs/projections.md).
--
-- `projections` has one row per *instance*: one build of one version of a projection. Each instance
-- keeps its read-model tables in a PostgreSQL schema of its own (`schema_name`), so that a new version
-- can be built beside the old one (blue/green) and the old one dropped whole. The row holds the
-- checkpoint (written in the same transaction as the read-model writes it covers), the lease that lets
-- one daemon at a time run the instance, and the failure state.
--
-- `projection_parked_events` is the dead-letter table: events a projection could not apply (`failed`)
-- and the later events of the same stream held back behind them (`behind`), so that no read-model row
-- sees a stream's events out of order.
CREATE TABLE {{schema}}.projections (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name               text NOT NULL,
  version            int NOT NULL,
  build              int NOT NULL,
  mode               text NOT NULL CHECK (mode IN ('inline', 'async')),
  handles            jsonb NOT NULL,
  schema_name        text NOT NULL UNIQUE,
  -- building: being built beside the active instance; active: serves reads; retired: replaced.
  phase              text NOT NULL CHECK (phase IN ('building', 'active', 'retired')),
  status             text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'failed', 'paused')),
  checkpoint         bigint NOT NULL DEFAULT 0,
  lease_owner        text,
  lease_expires_at   timestamptz,
  failed_position    bigint,
  last_error         text,
  last_error_position bigint,
  last_error_at      timestamptz,
  events_per_s       double precision NOT NULL DEFAULT 0,
  -- When the instance's schema, documents table and the projection's own setup were made.
  set_up_at          timestamptz,
  -- Bumped by resume / retry / skip, so that the daemon running the instance re-reads its state.
  control_seq        bigint NOT NULL DEFAULT 0,
  created_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
  activated_at       timestamptz,
  retired_at         timestamptz,
  dropped_at         timestamptz,
  UNIQUE (name, version, build)
);
CREATE UNIQUE INDEX projections_one_active ON {{schema}}.projections (name) WHERE phase = 'active';

CREATE TABLE {{schema}}.projection_parked_events (
  projection_id   bigint NOT NULL REFERENCES {{schema}}.projections (id) ON DELETE CASCADE,
  global_position bigint NOT NULL,
  stream_id       text NOT NULL,
  event_id        uuid NOT NULL,
  event_type      text NOT NULL,
  reason          text NOT NULL CHECK (reason IN ('failed', 'behind')),
  error           text,
  attempts        int NOT NULL DEFAULT 0,
  retry_requested boolean NOT NULL DEFAULT false,
  parked_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (projection_id, global_position)
);
CREATE INDEX projection_parked_by_stream ON {{schema}}.projection_parked_events (projection_id, stream_id, global_position);
