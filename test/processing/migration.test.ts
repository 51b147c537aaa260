/**
 * Upgrading a database written by the previous release (schema version 3): migration 5 moves each
 * projection instance's checkpoint, lease, status, failure fields, rate and control_seq to a consumer,
 * and its parked events to the consumer's table; the daemon then goes on from where it was.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createProjections } from '../../src/index.js';
import { drivers, uniqueSchema } from '../support/drivers.js';
import { counters, projectionsFactory, readCounters } from '../projections/support.js';

/** The tables of migrations 1 to 3, as they are in release 0.1.0 (its functions are installed on open). */
const version3 = [
  { version: 1, name: 'streams and events', file: '001-event-log.sql' },
  { version: 2, name: 'snapshots', file: '002-snapshots.sql' },
  { version: 3, name: 'projections', file: '003-projections.sql' },
];
const migrationSql = (file: string, schema: string) =>
  readFileSync(new URL(`../../src/store/sql/migrations/${file}`, import.meta.url), 'utf8').replaceAll('{{schema}}', `"${schema}"`);

describe.each(drivers)('migration 5 (consumers) on a version-3 database (%s)', (driver) => {
  const f = projectionsFactory(driver);

  it('keeps checkpoints, failure state and parked events; the daemon goes on from the checkpoint', async () => {
    const schema = uniqueSchema();
    const sql = await f.sql();
    await sql.exec(`CREATE SCHEMA "${schema}";
      CREATE TABLE "${schema}".migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());`);
    for (const migration of version3) {
      await sql.exec(migrationSql(migration.file, schema));
      await sql.query(`INSERT INTO "${schema}".migrations (version, name) VALUES ($1, $2)`, [migration.version, migration.name]);
    }
    // As the previous release leaves them: build 0 replaced and dropped, build 1 active at position 5,
    // with an expired lease, an error on record and a stream (acct-1) parked at position 2.
    const p = `"${schema}".projections`;
    await sql.exec(`INSERT INTO ${p} (name, version, build, mode, handles, schema_name, phase, checkpoint, retired_at, dropped_at)
      VALUES ('counters', 1, 0, 'async', '["Deposited", "Poison"]', '${schema}_p_counters_v1', 'retired', 2, now(), now())`);
    const [active] = await sql.query<{ id: string }>(
      `INSERT INTO ${p} (name, version, build, mode, handles, schema_name, phase, status, checkpoint, lease_owner, lease_expires_at,
         last_error, last_error_position, last_error_at, events_per_s, control_seq, activated_at)
       VALUES ('counters', 1, 1, 'async', '["Deposited", "Poison"]', '${schema}_p_counters_v1_r1', 'active', 'running', 5,
         'old-daemon', now() - interval '1 minute', 'Error: boom', 2, now(), 12.5, 3, now())
       RETURNING id::text AS id`,
    );
    await sql.query(
      `INSERT INTO "${schema}".projection_parked_events (projection_id, global_position, stream_id, event_id, event_type, reason, error, attempts)
       VALUES ($1, 2, 'acct-1', '00000000-0000-4000-8000-000000000002', 'Deposited', 'failed', 'Error: boom', 2),
              ($1, 5, 'acct-1', '00000000-0000-4000-8000-000000000005', 'Deposited', 'behind', NULL, 0)`,
      [active!.id],
    );

    const store = await f.open({ schema }); // migrates to the latest version
    const consumers = await sql.query(
      `SELECT name, status, checkpoint::int AS checkpoint, lease_owner, last_error, last_error_position::int AS last_error_position,
         events_per_s, control_seq::int AS control_seq, retired_at IS NOT NULL AS retired
       FROM "${schema}".consumers ORDER BY id`,
    );
    expect(consumers).toEqual([
      {
        name: 'projection:counters:v1:b0',
        status: 'running',
        checkpoint: 2,
        lease_owner: null,
        last_error: null,
        last_error_position: null,
        events_per_s: 0,
        control_seq: 0,
        retired: true,
      },
      {
        name: 'projection:counters:v1:b1',
        status: 'running',
        checkpoint: 5,
        lease_owner: 'old-daemon',
        last_error: 'Error: boom',
        last_error_position: 2,
        events_per_s: 12.5,
        control_seq: 3,
        retired: false,
      },
    ]);
    const oldTable = await sql.query(`SELECT to_regclass($1) AS t`, [`"${schema}".projection_parked_events`]);
    expect(oldTable).toEqual([{ t: null }]);

    // Positions 1..8 over acct-0, acct-1, acct-2 in turn: acct-1 has 2, 5 and 8.
    for (let i = 0; i < 8; i++) await store.append(`acct-${i % 3}`, [{ type: 'Deposited', data: { amount: 1 } }]);
    const admin = createProjections([counters()]).attach(store);
    const [before] = await admin.status();
    expect(before).toMatchObject({ build: 1, phase: 'active', checkpoint: 5n, lagEvents: 3, parkedEvents: 2, owner: null });
    expect(before!.lastError).toMatchObject({ message: 'Error: boom', position: 2n });

    const running = await f.projections([counters()]).start(store);
    await running.waitFor('counters', 8n, { timeout: 20_000 });
    // Only what came after the checkpoint was applied, and acct-1 stays parked behind position 2.
    const applied = await sql.query<{ position: string }>(
      `SELECT position::text AS position FROM ${await running.table('counters', 'applied')} ORDER BY position`,
    );
    expect(applied.map((r) => r.position)).toEqual(['6', '7']);
    expect((await running.parkedEvents('counters')).map((e) => [e.position, e.streamId, e.reason])).toEqual([
      [2n, 'acct-1', 'failed'],
      [5n, 'acct-1', 'behind'],
      [8n, 'acct-1', 'behind'],
    ]);
    expect(await readCounters(sql, await running.table('counters', 'counters'))).toHaveLength(2);
  });
});
