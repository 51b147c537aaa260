-- Snapshots of aggregate state, so that loading a long stream replays only the events after the latest
-- usable snapshot. `schema_version` is the aggregate's snapshot schema version: a snapshot written by an
-- older version of the aggregate is ignored, never misread. Snapshots are a cache: deleting them all is
-- always safe.
CREATE TABLE {{schema}}.snapshots (
  stream_id      text NOT NULL,
  aggregate_type text NOT NULL,
  schema_version int NOT NULL,
  stream_version bigint NOT NULL,
  state          jsonb NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (stream_id, aggregate_type, stream_version)
);
