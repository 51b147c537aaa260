/**
 * The consistency checker: read-only checks that the log is what the store promises. Each finding names
 * what is wrong and where; an empty list means consistent.
 */
import type { SqlExecutor } from './sql-client.js';

export interface ConsistencyFinding {
  check: string;
  problem: string;
}

export interface ConsistencyReport {
  events: bigint;
  streams: number;
  headPosition: bigint;
  findings: ConsistencyFinding[];
}

const MAX_EXAMPLES = 20;

export async function checkConsistency(sql: SqlExecutor, schema: string): Promise<ConsistencyReport> {
  const s = `"${schema}"`;
  const findings: ConsistencyFinding[] = [];

  const [totals] = await sql.query<{ events: string; head: string; min: string | null; streams: number }>(
    `SELECT count(*)::text AS events, coalesce(max(global_position), 0)::text AS head, min(global_position)::text AS min,
            (SELECT count(*)::int FROM ${s}.streams) AS streams
       FROM ${s}.events`,
  );
  const events = BigInt(totals!.events);
  const head = BigInt(totals!.head);
  if (events !== head || (totals!.min !== null && totals!.min !== '1')) {
    findings.push({
      check: 'global positions dense',
      problem: `${events} events but positions run ${totals!.min ?? '-'}..${head}: positions must be exactly 1..N`,
    });
  }

  const backwards = await sql.query<{ position: string }>(
    `SELECT global_position::text AS position FROM (
       SELECT global_position, recorded_at < lag(recorded_at) OVER (ORDER BY global_position) AS back FROM ${s}.events) x
      WHERE back ORDER BY x.global_position LIMIT ${MAX_EXAMPLES}`,
  );
  for (const row of backwards) {
    findings.push({
      check: 'global order in time',
      problem: `event at position ${row.position} was recorded before the event preceding it`,
    });
  }

  const gaps = await sql.query<{ stream_id: string; n: string; lowest: string; highest: string }>(
    `SELECT stream_id, count(*)::text AS n, min(stream_version)::text AS lowest, max(stream_version)::text AS highest
       FROM ${s}.events GROUP BY stream_id, tenant_id
      HAVING min(stream_version) <> 1 OR max(stream_version) <> count(*)
      ORDER BY stream_id LIMIT ${MAX_EXAMPLES}`,
  );
  for (const row of gaps) {
    findings.push({
      check: 'stream versions contiguous',
      problem: `stream ${JSON.stringify(row.stream_id)} has ${row.n} events with versions ${row.lowest}..${row.highest}: versions must be exactly 1..N`,
    });
  }

  const mismatched = await sql.query<{ stream_id: string; recorded: string | null; actual: string | null }>(
    `SELECT coalesce(st.stream_id, ev.stream_id) AS stream_id, st.version::text AS recorded, ev.highest::text AS actual
       FROM ${s}.streams st
       FULL JOIN (SELECT stream_id, tenant_id, max(stream_version) AS highest FROM ${s}.events GROUP BY stream_id, tenant_id) ev
         ON ev.stream_id = st.stream_id AND ev.tenant_id = st.tenant_id
      WHERE st.stream_id IS NULL OR coalesce(ev.highest, 0) <> st.version
      ORDER BY 1 LIMIT ${MAX_EXAMPLES}`,
  );
  for (const row of mismatched) {
    findings.push({
      check: 'streams table matches events',
      problem:
        row.recorded === null
          ? `stream ${JSON.stringify(row.stream_id)} has events but no row in the streams table`
          : `stream ${JSON.stringify(row.stream_id)} is at version ${row.recorded} in the streams table but its events reach ${row.actual ?? 0}`,
    });
  }

  return { events, streams: totals!.streams, headPosition: head, findings };
}
