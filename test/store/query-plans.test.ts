/**
 * Cost that stays flat as the store grows needs every statement on the hot paths to be an index lookup
 * or range scan, never a scan of `events` or `streams`. This checks the plans PostgreSQL really runs:
 * auto_explain with nested statements shows the statements inside the PL/pgSQL functions.
 *
 * The trap it sets: plpgsql caches a statement's plan per session, and a plan made while the store was
 * small (where a scan is cheapest) stays until something invalidates it, which autovacuum may not do for
 * a while. So a session first runs every statement on a small store, the store then grows to 100,000
 * streams behind its back (no ANALYZE, autovacuum off for these tables), and the same session's plans
 * are checked. Server only: PGlite has no auto_explain.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { fillStore } from '../../src/testing/index.js';
import { enterTenant, statements } from '../../src/store/statements.js';
import { serverUrl, storeFactory } from '../support/drivers.js';

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Cond'?: string;
  Plans?: PlanNode[];
}

/** Scans whose cost grows with the table: sequential scans, and index scans with no condition not stopped by a LIMIT. */
function growingScans(node: PlanNode, underLimit = false, found: string[] = []): string[] {
  const type = node['Node Type'];
  if (type === 'Seq Scan') found.push(`Seq Scan on ${node['Relation Name']}`);
  if (/^Index (Only )?Scan$/.test(type) && !node['Index Cond'] && !underLimit) found.push(`full ${type} on ${node['Relation Name']}`);
  for (const child of node.Plans ?? []) growingScans(child, type === 'Limit', found);
  return found;
}

describe.runIf(serverUrl)('query plans on a store grown to 100,000 streams (postgres)', () => {
  const stores = storeFactory('postgres');

  it('append, delete, read-stream and catch-up statements scan no more of events or streams as they grow', async () => {
    const store = await stores.open();
    const st = statements(store.schema);
    await store.sql.exec(`ALTER TABLE "${store.schema}".events SET (autovacuum_enabled = false);
      ALTER TABLE "${store.schema}".streams SET (autovacuum_enabled = false);`);
    await fillStore(store, { streams: 50, eventsPerStream: 2, analyze: false });

    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    const plans: { query: string; plan: PlanNode }[] = [];
    client.on('notice', (notice) => {
      const text = notice.message ?? '';
      const start = text.indexOf('{');
      if (!text.startsWith('duration:') || start < 0) return;
      const parsed = JSON.parse(text.slice(start)) as { 'Query Text': string; Plan: PlanNode };
      plans.push({ query: parsed['Query Text'], plan: parsed.Plan });
    });
    const event = (id = crypto.randomUUID()) => ({ id, type: 'Filled', schemaVersion: 1, data: { n: 1 }, metadata: {} });
    const one = (streamId: string, expected: unknown, callerIds = false, events = [event()]) => ({
      streamId,
      streamType: streamId.split('-')[0],
      expected,
      callerIds,
      events,
    });
    const append = (appends: object[]) => client.query(st.appendBatch, [JSON.stringify(appends)]);
    // The same in a tenant's transaction, under row-level security (docs/tenancy.md).
    const appendAsTenant = (appends: object[]) => client.query(st.appendBatchAsTenant, [JSON.stringify(appends), 'plan-tenant']);
    const asTenant = async (text: string, params: unknown[]) => {
      await client.query('BEGIN');
      await client.query(enterTenant, ['plan-tenant']);
      await client.query(text, params);
      await client.query('COMMIT');
    };
    // Every shape of the hot paths, more than five times, so that plpgsql settles on its plans.
    const exercise = async (round: string) => {
      for (let i = 0; i < 7; i++) {
        await append([one(`plan-${round}new${i}`, 'no_stream')]); // a new stream
        await append([one(`filler-${10 + i}`, 'any')]); // an existing stream
        await append([one(`plan-${round}a${i}`, 'any'), one(`plan-${round}b${i}`, 'no_stream'), one(`filler-${20 + i}`, 'any')]);
        const retried = event();
        await append([one(`plan-${round}c${i}`, 'any', true, [retried])]); // caller ids: idempotency lookup
        await append([one(`plan-${round}c${i}`, 'any', true, [retried])]); // and its retry
        await append([one(`plan-${round}d${i}`, 'any'), one(`plan-${round}d${i}`, 'any')]); // one stream twice: one by one
        await client.query(st.deleteStream, [`plan-${round}e${i}`, 'plan', '"any"']);
        await client.query(st.readStream('ASC'), [`filler-${30 + i}`, 1, 1000, null, null, 'default']);
        await client.query(st.readStream('DESC'), [`filler-${30 + i}`, 0, 1000, null, 10, 'default']);
        await client.query(st.readAll({ eventTypes: false, streamTypes: false, tenant: false }), [40 + i, 500]);
        await client.query(st.streamInfo, [`filler-${40 + i}`, 'default']);
        await client.query(st.headPosition);
        await appendAsTenant([one(`plan-${round}tnew${i}`, 'no_stream')]);
        await appendAsTenant([one(`plan-${round}ta${i}`, 'any'), one(`plan-${round}tb${i}`, 'no_stream')]);
        await appendAsTenant([one(`plan-${round}tnew${i}`, 1)]);
        const retriedAsTenant = event();
        await appendAsTenant([one(`plan-${round}tc${i}`, 'any', true, [retriedAsTenant])]); // idempotency lookup
        await appendAsTenant([one(`plan-${round}tc${i}`, 'any', true, [retriedAsTenant])]); // and its retry
        await appendAsTenant([one(`plan-${round}td${i}`, 'any'), one(`plan-${round}td${i}`, 'any')]); // one by one
        await asTenant(st.readStream('ASC'), [`plan-${round}tnew${i}`, 1, 1000, null, null, 'plan-tenant']);
        await asTenant(st.readAll({ eventTypes: false, streamTypes: false, tenant: true }), [40 + i, 500, 'plan-tenant']);
        await asTenant(st.streamInfo, [`plan-${round}ta${i}`, 'plan-tenant']);
      }
    };
    try {
      await client.query(`LOAD 'auto_explain'`);
      await client.query(`SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on;
        SET auto_explain.log_format = json; SET client_min_messages = log`);
      await exercise('small');
      await fillStore(store, { streams: 100_000, eventsPerStream: 2, analyze: false });
      plans.length = 0;
      await exercise('large');
    } finally {
      await client.end();
    }
    const seen = plans.map((p) => p.query).join('\n');
    expect(seen).toMatch(/INSERT INTO .*events/);
    expect(seen).toMatch(/streams/);
    const bad = plans
      .map((p) => ({ query: p.query.replace(/\s+/g, ' ').slice(0, 140), scans: growingScans(p.plan).filter((x) => / on (events|streams)$/.test(x)) }))
      .filter((p) => p.scans.length > 0);
    expect([...new Map(bad.map((b) => [b.query, b])).values()]).toEqual([]);
  }, 300_000);
});
