/**
 * Fills a store with many streams quickly, for benchmarks and plan tests on stores of realistic size
 * (a million streams in minutes rather than hours). It writes through the store's own `append_batch`,
 * batches of `batchStreams` new streams per call, so what it produces is exactly what appends through
 * the API produce: dense positions, streams rows, recorded_at in order, the same indexes. Only the events
 * are built in SQL: `Filled` events with data `{ "stream": <i>, "n": <version> }` in streams `<prefix>-<i>`.
 *
 * It tops up: a store that already holds some of these streams gets only the missing ones.
 */
import { ValidationError } from '../core/errors.js';
import type { EventStore } from '../store/event-store.js';

export interface FillOptions {
  /** How many streams of this prefix the store should hold. */
  streams: number;
  eventsPerStream: number;
  /** Stream ids are `<prefix>-<i>`; stream type `<prefix>`. Default `filler`. */
  prefix?: string;
  /** New streams per append_batch call. Default 500. */
  batchStreams?: number;
  /** ANALYZE the tables afterwards, as autovacuum eventually would. Default true. */
  analyze?: boolean;
  /** Called after each batch. */
  onProgress?: (streamsDone: number, streamsWanted: number) => void;
}

export async function fillStore(store: EventStore, options: FillOptions): Promise<{ added: number }> {
  const prefix = options.prefix ?? 'filler';
  if (!/^[a-z][a-z0-9_]*$/.test(prefix)) throw new ValidationError('prefix', 'use lower-case letters, digits and _');
  const s = `"${store.schema}"`;
  const batchStreams = options.batchStreams ?? 500;
  const [{ n }] = (await store.sql.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${s}.streams WHERE stream_type = $1`, [
    prefix,
  ])) as [{ n: string }];
  const have = Number(n);
  const batch = `SELECT ${s}.append_batch((
      SELECT jsonb_agg(jsonb_build_object('streamId', $3 || '-' || i, 'streamType', $3, 'expected', 'no_stream', 'callerIds', false,
        'events', (SELECT jsonb_agg(jsonb_build_object('id', gen_random_uuid(), 'type', 'Filled', 'schemaVersion', 1,
                     'data', jsonb_build_object('stream', i, 'n', v), 'metadata', '{}'::jsonb) ORDER BY v)
                   FROM generate_series(1, $4::int) v)) ORDER BY i)
      FROM generate_series($1::int, $2::int) i)) AS results`;
  for (let from = have; from < options.streams; from += batchStreams) {
    const to = Math.min(from + batchStreams, options.streams) - 1;
    const [row] = await store.sql.query<{ results: { ok?: true; error?: string }[] }>(batch, [from, to, prefix, options.eventsPerStream]);
    const failed = row!.results.find((r) => !r.ok);
    if (failed) throw new Error(`fillStore: an append of streams ${prefix}-${from}..${to} failed: ${JSON.stringify(failed)}`);
    options.onProgress?.(to + 1, options.streams);
  }
  if (have < options.streams && options.analyze !== false) await store.sql.exec(`ANALYZE ${s}.streams; ANALYZE ${s}.events;`);
  return { added: Math.max(0, options.streams - have) };
}
