/**
 * A projection for tests that records every application, so that a duplicate or an out-of-order apply
 * shows up in its tables. No test-runner imports: daemon child processes use it too.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { defineProjection, type FailurePolicy, type RecordedEvent } from '../../src/index.js';

export interface CountersOptions {
  name?: string;
  version?: number;
  mode?: 'inline' | 'async';
  onFailure?: FailurePolicy;
  attempts?: number;
  /** Throw when applying events for which this returns true. */
  failWhen?: (event: RecordedEvent) => boolean;
  /** Sleep inside apply (ms), to make batches long. */
  slowMs?: number;
  handles?: string[];
}

/**
 * Per stream: how many events were applied, the sum of `data.amount`, the last stream version. Every
 * application is logged in `applied` (no unique key, so duplicates stay visible), and any event applied
 * at or below its stream's last version goes to `anomalies`.
 */
export function counters(options: CountersOptions = {}) {
  return defineProjection<Record<string, { amount?: number }>>({
    name: options.name ?? 'counters',
    version: options.version ?? 1,
    mode: options.mode ?? 'async',
    handles: options.handles ?? ['Deposited', 'Poison'],
    onFailure: options.onFailure ?? 'stop',
    retry: { attempts: options.attempts ?? 2, backoffMs: 10, maxBackoffMs: 50 },
    async setup(ctx) {
      await ctx.sql.exec(`
        CREATE TABLE ${ctx.table('counters')} (stream_id text PRIMARY KEY, events int NOT NULL, total bigint NOT NULL, last_version int NOT NULL);
        CREATE TABLE ${ctx.table('applied')} (position bigint NOT NULL, stream_id text NOT NULL, stream_version int NOT NULL);
        CREATE TABLE ${ctx.table('anomalies')} (position bigint NOT NULL, stream_id text NOT NULL, stream_version int NOT NULL, last_version int NOT NULL);`);
    },
    async apply(event, ctx) {
      if (options.slowMs) await sleep(options.slowMs);
      if (options.failWhen?.(event)) throw new Error(`cannot apply ${event.type} ${event.streamId}@${event.streamVersion}`);
      const rows = await ctx.sql.query<{ last_version: number }>(
        `SELECT last_version FROM ${ctx.table('counters')} WHERE stream_id = $1`,
        [event.streamId],
      );
      const last = rows[0]?.last_version;
      if (last !== undefined && last >= event.streamVersion) {
        await ctx.sql.query(`INSERT INTO ${ctx.table('anomalies')} VALUES ($1, $2, $3, $4)`, [
          event.globalPosition,
          event.streamId,
          event.streamVersion,
          last,
        ]);
      }
      await ctx.sql.query(
        `INSERT INTO ${ctx.table('counters')} AS c VALUES ($1, 1, $2, $3)
         ON CONFLICT (stream_id) DO UPDATE SET events = c.events + 1, total = c.total + excluded.total, last_version = excluded.last_version`,
        [event.streamId, event.data.amount ?? 0, event.streamVersion],
      );
      await ctx.sql.query(`INSERT INTO ${ctx.table('applied')} VALUES ($1, $2, $3)`, [
        event.globalPosition,
        event.streamId,
        event.streamVersion,
      ]);
    },
  });
}
