-- Process managers (sagas), see docs/processes.md.
--
-- `process_instances`: one row per instance of a process: its state, whether it has ended, and the
-- correlation id its commands carry. Every step of an instance locks this row first, so the steps of
-- one instance (an event, a command's outcome, a timeout) run one at a time.
-- `process_commands`: the commands instances decided to send, written in the step's transaction (an
-- outbox), then sent through the command bus under their deterministic id. `pending` -> `dispatching`
-- (claimed) -> `completed` | `rejected`; or `withdrawn` while still pending. The outcome is recorded
-- in the transaction that hands it to the instance, once.
-- `process_timeouts`: durable timers, fired in a transaction that locks them (SKIP LOCKED).
CREATE TABLE {{schema}}.process_instances (
  process        text NOT NULL,
  instance_id    text NOT NULL,
  state          jsonb NOT NULL,
  ended          boolean NOT NULL DEFAULT false,
  correlation_id text NOT NULL,
  steps          int NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (process, instance_id)
);

CREATE TABLE {{schema}}.process_commands (
  seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  command_id   text NOT NULL UNIQUE,
  process      text NOT NULL,
  instance_id  text NOT NULL,
  step         text,
  command_type text NOT NULL,
  data         jsonb NOT NULL,
  caused_by    text NOT NULL,
  status       text NOT NULL DEFAULT 'pending'
               CHECK (status IN ('pending', 'dispatching', 'completed', 'rejected', 'withdrawn')),
  claim        uuid,
  claimed_at   timestamptz,
  attempts     int NOT NULL DEFAULT 0,
  -- After a transient failure, not sent again before this (backoff).
  not_before   timestamptz,
  outcome      jsonb,
  last_error   text,
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at  timestamptz
);
-- The dispatcher's work list stays small however many commands were ever sent.
CREATE INDEX process_commands_open ON {{schema}}.process_commands (process, instance_id, seq)
  WHERE status IN ('pending', 'dispatching');

CREATE TABLE {{schema}}.process_timeouts (
  timeout_id   text PRIMARY KEY,
  process      text NOT NULL,
  instance_id  text NOT NULL,
  name         text NOT NULL,
  due_at       timestamptz NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (process, instance_id, name)
);
CREATE INDEX process_timeouts_due ON {{schema}}.process_timeouts (due_at);
