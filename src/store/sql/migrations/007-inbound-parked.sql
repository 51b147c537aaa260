-- Inbound integration messages (NATS JetStream → commands) that could not be handled: parked after
-- too many deliveries (`failed`), or refused by the command (`rejected`: a business rule or invalid
-- data; final, kept for the record). An operator lists them, retries them (the same command id, so a
-- retry stays idempotent) or deletes them. One row per consumer and message id.
CREATE TABLE {{schema}}.inbound_parked_messages (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  consumer        text NOT NULL,
  message_id      text NOT NULL,
  subject         text NOT NULL,
  stream          text NOT NULL,
  stream_sequence bigint NOT NULL,
  headers         jsonb NOT NULL,
  -- The payload as UTF-8 text (integration messages are JSON).
  data            text NOT NULL,
  reason          text NOT NULL CHECK (reason IN ('failed', 'rejected')),
  error           text NOT NULL,
  deliveries      int NOT NULL,
  parked_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (consumer, message_id)
);
