/**
 * Helpers for the projection tests: a store + projections factory that cleans up after itself (projection
 * instances keep their tables in schemas of their own), and a counting projection that records every
 * application so that a duplicate or an out-of-order apply shows up in its tables.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll } from 'vitest';
import {
  createProjections,
  type EventStore,
  type Projections,
  type ProjectionsOptions,
  type SqlExecutor,
} from '../../src/index.js';
import type { OpenEventStoreOptions } from '../../src/store/open.js';
import { serverUrl, storeFactory, type DriverName } from '../support/drivers.js';

export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs = 20_000, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Stores and projections for one test file; everything is stopped and dropped afterwards. */
export function projectionsFactory(driver: DriverName) {
  const stores = storeFactory(driver);
  const started: Projections[] = [];
  const storeSchemas = new Set<string>();

  afterAll(async () => {
    await Promise.all(started.map((p) => p.stop().catch(() => {})));
    if (driver !== 'postgres' || storeSchemas.size === 0) return;
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      for (const schema of storeSchemas) {
        const rows = await client.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname LIKE $1`, [
          `${schema}\\_p\\_%`,
        ]);
        for (const row of rows.rows) await client.query(`DROP SCHEMA IF EXISTS "${row.nspname}" CASCADE`);
      }
    } finally {
      await client.end();
    }
  });

  return {
    stores,
    sql: stores.sql,
    async open(options: Omit<OpenEventStoreOptions, 'sql' | 'schema'> & { schema?: string } = {}) {
      const store = await stores.open(options);
      storeSchemas.add(store.schema);
      return store;
    },
    async openSeparate(schema: string, options: Omit<OpenEventStoreOptions, 'schema'> = {}) {
      return stores.openSeparate(schema, options);
    },
    /** Projections with test-friendly timings; stopped after the file. */
    projections(definitions: Parameters<typeof createProjections>[0], options: ProjectionsOptions = {}) {
      const projections = createProjections(definitions, {
        pollIntervalMs: 200,
        leaseTtlMs: 2_000,
        retiredDropDelayMs: 0,
        ...options,
      });
      started.push(projections);
      return projections;
    },
  };
}

export { counters, type CountersOptions } from './counters.js';

export interface CounterRow {
  stream_id: string;
  events: number;
  total: string;
  last_version: number;
}

export async function readCounters(sql: SqlExecutor, table: string): Promise<CounterRow[]> {
  return sql.query<CounterRow>(`SELECT stream_id, events, total::text AS total, last_version FROM ${table} ORDER BY stream_id`);
}

/** What `counters` must hold after applying every Deposited event in the store exactly once, in order. */
export async function expectedCounters(store: EventStore, types = ['Deposited']): Promise<CounterRow[]> {
  const byStream = new Map<string, CounterRow>();
  let after = 0n;
  for (;;) {
    const page = await store.readAll({ after, maxCount: 1000, eventTypes: types });
    for (const e of page) {
      const row = byStream.get(e.streamId) ?? { stream_id: e.streamId, events: 0, total: '0', last_version: 0 };
      row.events++;
      row.total = String(BigInt(row.total) + BigInt((e.data as { amount?: number }).amount ?? 0));
      row.last_version = e.streamVersion;
      byStream.set(e.streamId, row);
      after = e.globalPosition;
    }
    if (page.length < 1000) break;
  }
  return [...byStream.values()].sort((a, b) => (a.stream_id < b.stream_id ? -1 : a.stream_id > b.stream_id ? 1 : 0));
}

/** Appends `count` Deposited events spread over `streams` streams, `perAppend` at a time. */
export async function deposit(
  store: EventStore,
  count: number,
  options: { streams?: number; perAppend?: number; prefix?: string } = {},
) {
  const streams = options.streams ?? 10;
  const perAppend = options.perAppend ?? 1;
  const prefix = options.prefix ?? 'acct';
  let last = 0n;
  const appends: Promise<unknown>[] = [];
  for (let i = 0; i < count; i += perAppend) {
    const n = Math.min(perAppend, count - i);
    const events = Array.from({ length: n }, (_, k) => ({ type: 'Deposited', data: { amount: ((i + k) % 7) + 1 } }));
    appends.push(
      store.append(`${prefix}-${(i / perAppend) % streams}`, events).then((r) => {
        if (r.lastPosition > last) last = r.lastPosition;
      }),
    );
    if (appends.length >= 20) await Promise.all(appends.splice(0));
  }
  await Promise.all(appends);
  return last;
}
