/**
 * Every SQL statement of the process managers, for one store schema (tables: migration 006). The
 * schema is a validated name; everything else is a parameter.
 */
import { quoted } from '../processing/sql.js';

export interface InstanceRow {
  state: unknown;
  ended: boolean;
  correlation_id: string;
  now: Date;
  /** The tenant the instance works in (null: started before tenants, the default one). */
  tenant_id: string | null;
}

export interface CommandRow {
  command_id: string;
  process: string;
  instance_id: string;
  step: string | null;
  command_type: string;
  data: unknown;
  caused_by: string;
  correlation_id: string;
  status: 'pending' | 'dispatching' | 'completed' | 'rejected' | 'withdrawn';
  /** The instance's tenant: the command is sent in it. */
  tenant_id: string | null;
}

export interface TimeoutRow {
  timeout_id: string;
  process: string;
  instance_id: string;
  name: string;
}

export function processSql(schema: string) {
  const s = quoted(schema);
  const instances = `${s}.process_instances`;
  const commands = `${s}.process_commands`;
  const timeouts = `${s}.process_timeouts`;
  const open = `status IN ('pending', 'dispatching')`;
  return {
    /**
     * Creates the instance if new, and locks it either way (a no-op update takes the row lock), in one
     * round trip: $3 the initial state, $4 the correlation id and $5 the tenant of a new instance.
     */
    enter: `INSERT INTO ${instances} AS i (process, instance_id, state, correlation_id, tenant_id) VALUES ($1, $2, $3::jsonb, $4, $5)
            ON CONFLICT (process, instance_id) DO UPDATE SET steps = i.steps
            RETURNING i.state, i.ended, i.correlation_id, clock_timestamp() AS now, i.tenant_id`,
    /**
     * Writes what a step decided, in one statement: $3 state, $4 ended, $5 steps of pending commands to
     * withdraw, $6 commands to send [{ id, step, type, data }] in order (a replayed step finds them there
     * already), $7 caused by, $8 timeout names to cancel (all of them when ended), $9 timeouts to
     * (re)schedule [{ id, name, dueAt }] (never also in $8: one statement must not touch a row twice).
     */
    apply: `WITH saved AS (
              UPDATE ${instances} SET state = $3::jsonb, ended = $4, steps = steps + 1, updated_at = clock_timestamp()
               WHERE process = $1 AND instance_id = $2
            ), withdrawn AS (
              UPDATE ${commands} SET status = 'withdrawn', finished_at = clock_timestamp()
               WHERE process = $1 AND instance_id = $2 AND step = ANY($5::text[]) AND status = 'pending'
            ), sent AS (
              INSERT INTO ${commands} (command_id, process, instance_id, step, command_type, data, caused_by)
              SELECT c->>'id', $1, $2, c->>'step', c->>'type', c->'data', $7
                FROM jsonb_array_elements($6::jsonb) WITH ORDINALITY AS x(c, n) ORDER BY n
              ON CONFLICT (command_id) DO NOTHING
            ), cancelled AS (
              DELETE FROM ${timeouts} WHERE process = $1 AND instance_id = $2 AND ($4 OR name = ANY($8::text[]))
            ), scheduled AS (
              INSERT INTO ${timeouts} (timeout_id, process, instance_id, name, due_at)
              SELECT t->>'id', $1, $2, t->>'name', (t->>'dueAt')::timestamptz FROM jsonb_array_elements($9::jsonb) AS x(t)
              ON CONFLICT (process, instance_id, name) DO UPDATE SET timeout_id = excluded.timeout_id, due_at = excluded.due_at
            )
            SELECT 1`,
    /**
     * Claims the next commands to send: per instance only its oldest open one (an instance's commands
     * go one after the other), none locked by a step that is deciding about them. $1 processes, $2 claim
     * timeout ms, $3 limit, $4 the claim's token.
     */
    claim: `UPDATE ${commands} c SET status = 'dispatching', claim = $4::uuid, claimed_at = clock_timestamp(), attempts = attempts + 1
            FROM ${instances} i
            WHERE c.seq IN (
              SELECT p.seq FROM ${commands} p
               WHERE p.process = ANY($1::text[]) AND p.${open}
                 -- A claim older than $2 ms belongs to a process that died (or hangs): it may be taken over.
                 AND (p.status = 'pending' OR p.claimed_at < clock_timestamp() - $2 * interval '1 millisecond')
                 AND (p.not_before IS NULL OR p.not_before <= clock_timestamp())
                 AND NOT EXISTS (SELECT 1 FROM ${commands} q WHERE q.process = p.process AND q.instance_id = p.instance_id
                                   AND q.${open} AND q.seq < p.seq)
               ORDER BY p.seq LIMIT $3 FOR UPDATE SKIP LOCKED)
              AND c.${open} AND (c.status = 'pending' OR c.claimed_at < clock_timestamp() - $2 * interval '1 millisecond')
              AND i.process = c.process AND i.instance_id = c.instance_id
            RETURNING c.command_id, c.process, c.instance_id, c.step, c.command_type, c.data, c.caused_by, i.correlation_id, c.status,
                      i.tenant_id`,
    /** Gives a claimed command back (a transient failure): it is tried again later. */
    release: `UPDATE ${commands} SET status = 'pending', claim = NULL, last_error = $3,
                not_before = clock_timestamp() + least(30000, 100 * 2 ^ least(attempts, 20)) * interval '1 millisecond'
              WHERE command_id = $1 AND claim = $2::uuid`,
    /** Records the outcome, once: only the holder of the claim can. */
    finish: `UPDATE ${commands} SET status = $3, outcome = $4::jsonb, claim = NULL, finished_at = clock_timestamp()
             WHERE command_id = $1 AND claim = $2::uuid AND status = 'dispatching' RETURNING 1`,
    /** An instance's commands not sent yet, locked so the dispatcher cannot claim them during the step. */
    openCommands: `SELECT command_id, step, command_type, data, status FROM ${commands}
                   WHERE process = $1 AND instance_id = $2 AND ${open} ORDER BY seq FOR UPDATE`,
    /** Due timeouts; each is then fired in a transaction of its own that locks it (`lockDue`). */
    due: `SELECT timeout_id, process, instance_id, name FROM ${timeouts}
          WHERE process = ANY($1::text[]) AND due_at <= clock_timestamp() ORDER BY due_at LIMIT $2`,
    /** SKIP LOCKED: another process may be firing it. */
    lockDue: `SELECT timeout_id, process, instance_id, name FROM ${timeouts}
              WHERE timeout_id = $1 AND due_at <= clock_timestamp() FOR UPDATE SKIP LOCKED`,
    postpone: `UPDATE ${timeouts} SET due_at = clock_timestamp() + $2 * interval '1 millisecond' WHERE timeout_id = $1`,
    fired: `DELETE FROM ${timeouts} WHERE timeout_id = $1`,
    /** Milliseconds to the next timeout (null: none). */
    nextDue: `SELECT greatest(0, extract(epoch FROM min(due_at) - clock_timestamp()) * 1000)::float8 AS ms FROM ${timeouts}
              WHERE process = ANY($1::text[])`,
    instance: `SELECT state, ended, correlation_id, steps, created_at, updated_at FROM ${instances}
               WHERE process = $1 AND instance_id = $2`,
    instanceCommands: `SELECT command_id, step, command_type, data, status, attempts, outcome, last_error, created_at, finished_at
                       FROM ${commands} WHERE process = $1 AND instance_id = $2 ORDER BY seq`,
    instanceTimeouts: `SELECT name, due_at FROM ${timeouts} WHERE process = $1 AND instance_id = $2 ORDER BY due_at`,
    status: `SELECT p.name AS process,
               (SELECT count(*) FROM ${instances} i WHERE i.process = p.name AND NOT i.ended)::int AS active,
               (SELECT count(*) FROM ${instances} i WHERE i.process = p.name AND i.ended)::int AS ended,
               (SELECT count(*) FROM ${commands} c WHERE c.process = p.name AND c.${open})::int AS commands_open,
               (SELECT count(*) FROM ${timeouts} t WHERE t.process = p.name)::int AS timeouts
             FROM unnest($1::text[]) AS p(name)`,
  };
}

export type ProcessSql = ReturnType<typeof processSql>;
