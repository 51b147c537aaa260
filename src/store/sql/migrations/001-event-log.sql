-- Streams and events. The functions that write them (append_batch, delete_stream, ...) live in
-- ../functions/, one per file, and are installed after the migrations on every migrate. (Release 0.1.0
-- created them in this migration; databases made by it get them replaced by the current files.)
CREATE TABLE {{schema}}.streams (
  stream_id   text PRIMARY KEY,
  stream_type text NOT NULL,
  version     bigint NOT NULL,
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL,
  deleted_at  timestamptz,
  metadata    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX streams_by_type ON {{schema}}.streams (stream_type, stream_id);

CREATE TABLE {{schema}}.events (
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
CREATE INDEX events_by_type ON {{schema}}.events (event_type, global_position);
