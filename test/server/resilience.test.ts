/**
 * The service tried from outside: killed with SIGKILL under load and restarted while clients retry with
 * their Idempotency-Keys; shut down gracefully mid-load; and fed thousands of malformed requests.
 */
import type { ChildProcess } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openEventStore } from '../../src/index.js';
import { startService } from '../../src/server/service.js';
import referenceApp from '../../examples/reference-app.js';
import { drivers } from '../support/drivers.js';
import { storeLocations } from '../support/locations.js';
import { referenceServer } from '../support/reference-server.js';
import { checkResponse, specOf } from './contract.js';

const location = storeLocations('svc');

async function post(url: string, path: string, body: unknown, key?: string) {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

/** Sends each deposit until it gets an answer, retrying with the same key through failures. */
async function depositsWithRetry(url: () => string, keys: string[], concurrency: number) {
  const answers = new Map<string, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < keys.length) {
        const key = keys[next++]!;
        for (let attempt = 0; ; attempt++) {
          try {
            const r = await post(url(), '/commands/DepositMoney', { accountId: 'k1', amount: 1 }, key);
            if (r.status >= 500) throw new Error(`status ${r.status}`);
            answers.set(key, r.status);
            break;
          } catch {
            if (attempt > 400) throw new Error(`no answer for ${key}`);
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      }
    }),
  );
  return answers;
}

describe.each(drivers)('the service under failure (%s)', (driver) => {
  it('survives SIGKILL under load: clients retrying with Idempotency-Keys get every deposit applied exactly once', async () => {
    const where = location(driver);
    const server = referenceServer(where, { readyAttempts: 300 });
    const { url, ready } = server;
    const startChild = server.start;
    let child: ChildProcess = startChild();
    try {
      await ready();
      expect((await post(url, '/commands/OpenAccount', { accountId: 'k1', owner: 'Kim', currency: 'EUR' })).status).toBe(202);
      const keys = Array.from({ length: 150 }, (_, i) => `deposit-${i}`);
      const load = depositsWithRetry(() => url, keys, 8);
      // Kill it twice mid-load, restarting each time.
      for (let round = 0; round < 2; round++) {
        await new Promise((r) => setTimeout(r, 400 + Math.random() * 400));
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
        child = startChild();
        await ready();
      }
      const answers = await load;
      expect(answers.size).toBe(keys.length);
      expect([...new Set(answers.values())].sort()).toEqual(expect.arrayContaining([202]));
      expect([...answers.values()].filter((s) => s !== 202 && s !== 200)).toEqual([]);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    const store = await openEventStore(
      where.databaseUrl ? { connectionString: where.databaseUrl, schema: where.schema } : { dataDir: where.dataDir },
    );
    try {
      const events = await store.readStream('account-k1');
      expect(events).toHaveLength(1 + 150);
      expect(new Set(events.map((e) => e.metadata.causationId)).size).toBe(151);
    } finally {
      await store.close();
    }
  });

  it('shuts down gracefully mid-load without losing an acknowledged command', async () => {
    const where = location(driver);
    const service = await startService({ app: referenceApp, port: 0, ...where, projectionOptions: { pollIntervalMs: 50 } });
    const url = service.url;
    expect((await post(url, '/commands/OpenAccount', { accountId: 'g1', owner: 'Gus', currency: 'EUR' })).status).toBe(202);
    const acknowledged: string[] = [];
    const requests = Array.from({ length: 60 }, async (_, i) => {
      await new Promise((r) => setTimeout(r, i * 5));
      try {
        const r = await post(url, '/commands/DepositMoney', { accountId: 'g1', amount: 1 }, `g-${i}`);
        if (r.status === 202) acknowledged.push(String((r.json.events as Array<{ id: string }>)[0]!.id));
      } catch {
        // refused while shutting down: never acknowledged
      }
    });
    await new Promise((r) => setTimeout(r, 120));
    await service.close();
    await Promise.all(requests);
    const store = await openEventStore(
      where.databaseUrl ? { connectionString: where.databaseUrl, schema: where.schema } : { dataDir: where.dataDir },
    );
    try {
      const ids = new Set((await store.readStream('account-g1')).map((e) => e.id));
      for (const id of acknowledged) expect(ids.has(id)).toBe(true);
      expect(acknowledged.length).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  });

  it('answers thousands of malformed requests with 4xx only, and stays healthy', async () => {
    const where = location(driver);
    const service = await startService({ app: referenceApp, port: 0, ...where });
    try {
      // Every answer, however malformed the request, is one the OpenAPI document describes.
      const spec = await specOf(service.url);
      const paths = [
        '/commands/OpenAccount',
        '/commands/DepositMoney',
        '/commands/PlaceOrder',
        '/commands/AddItem',
        '/commands/Nope',
        '/commands/%00',
      ];
      const body = fc.oneof(
        fc.jsonValue(),
        fc.string(),
        fc.constant('{"accountId":'),
        fc.record(
          {
            accountId: fc.jsonValue(),
            amount: fc.jsonValue(),
            owner: fc.jsonValue(),
            currency: fc.jsonValue(),
            items: fc.jsonValue(),
          },
          { requiredKeys: [] },
        ),
      );
      const statuses: number[] = [];
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...paths),
          body,
          fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded'),
          async (p, b, type) => {
            const response = await fetch(`${service.url}${p}`, {
              method: 'POST',
              headers: { 'content-type': type },
              body: typeof b === 'string' ? b : JSON.stringify(b),
            });
            const text = await response.text();
            statuses.push(response.status);
            expect(response.status, `${p} ${text}`).toBeLessThan(500);
            expect(text).not.toMatch(/\n\s+at /);
            checkResponse(
              spec,
              { method: 'POST', path: p },
              { status: response.status, contentType: response.headers.get('content-type'), text },
            );
          },
        ),
        { numRuns: 1500 },
      );
      const queries = fc.tuple(
        fc.constantFrom('/events', '/streams', '/streams/x-1', '/aggregates/account/x', '/queries/nothing', '/catalog'),
        fc.dictionary(
          fc.constantFrom('after', 'limit', 'types', 'asOf', 'from', 'format', 'atVersion', 'minPosition'),
          fc.string(),
        ),
      );
      await fc.assert(
        fc.asyncProperty(queries, async ([p, params]) => {
          const response = await fetch(`${service.url}${p}?${new URLSearchParams(params)}`);
          expect(response.status, `${p}?${new URLSearchParams(params)}`).toBeLessThan(500);
          const text = await response.text();
          checkResponse(
            spec,
            { method: 'GET', path: p },
            { status: response.status, contentType: response.headers.get('content-type'), text },
          );
        }),
        { numRuns: 500 },
      );
      expect(statuses.filter((s) => s >= 400).length).toBeGreaterThan(1000);
      expect((await fetch(`${service.url}/health/ready`)).status).toBe(200);
    } finally {
      await service.close();
    }
  });
});
