/**
 * The transfer saga tried from outside: 200 random transfers among 10 accounts from 8 concurrent
 * clients, while the server is SIGKILLed 5 times and restarted. Every transfer must end, no money may
 * appear or vanish, each account's events must add up to its balance, and no step may run twice.
 */
import type { ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { openEventStore, type RecordedEvent } from '../../src/index.js';
import { drivers } from '../support/drivers.js';
import { storeLocations } from '../support/locations.js';
import { referenceServer } from '../support/reference-server.js';

const location = storeLocations('saga');
const ACCOUNTS = 10;
const OPENING = 1_000;
const TRANSFERS = 200;

async function call(url: string, method: 'GET' | 'POST', route: string, body?: unknown, key?: string) {
  const response = await fetch(`${url}${route}`, {
    method,
    headers: body ? { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) } : {},
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

/** Retries through a dead server (same Idempotency-Key) until it answers below 500. */
async function persist(url: string, method: 'GET' | 'POST', route: string, body?: unknown, key?: string) {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await call(url, method, route, body, key);
      if (r.status < 500) return r;
    } catch {}
    if (attempt > 600) throw new Error(`no answer for ${method} ${route}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const amountOf = (e: RecordedEvent) => (e.data as { amount: number }).amount;
const transferOf = (e: RecordedEvent) => (e.data as { transferId?: string }).transferId;

describe.each(drivers)('the transfer saga under SIGKILL (%s)', (driver) => {
  it('ends every transfer, conserves money, and runs no step twice', { timeout: 240_000 }, async () => {
    const where = location(driver);
    // Short enough that credits caught by a kill time out and are refunded.
    const server = referenceServer(where, { env: { FABULA_TRANSFER_TIMEOUT_MS: '2000' }, readyAttempts: 600 });
    const { url, ready } = server;
    const startChild = server.start;

    let child: ChildProcess = startChild();
    const statuses = new Map<string, string>();
    try {
      await ready();
      for (let a = 0; a < ACCOUNTS; a++) {
        await persist(url, 'POST', '/commands/OpenAccount', { accountId: `s${a}`, owner: 'Sam', currency: 'EUR' }, `open-${a}`);
        await persist(url, 'POST', '/commands/DepositMoney', { accountId: `s${a}`, amount: OPENING }, `fund-${a}`);
      }
      // Credits to a frozen account are refused (compensated); its debits are refused (rejected).
      await persist(url, 'POST', '/commands/FreezeAccount', { accountId: 's9' }, 'freeze-9');

      let next = 0;
      const clients = Array.from({ length: 8 }, async () => {
        while (next < TRANSFERS) {
          const i = next++;
          const from = Math.floor(Math.random() * ACCOUNTS);
          const to = (from + 1 + Math.floor(Math.random() * (ACCOUNTS - 1))) % ACCOUNTS;
          const body = {
            transferId: `t${i}`,
            fromAccountId: `s${from}`,
            toAccountId: `s${to}`,
            amount: 1 + Math.floor(Math.random() * 120),
          };
          const r = await persist(url, 'POST', '/commands/TransferMoney', body, `transfer-${i}`);
          expect([200, 202], JSON.stringify(r.json)).toContain(r.status); // 200: a retry answered from the record
        }
      });
      const load = Promise.all(clients);
      for (let kill = 0; kill < 5; kill++) {
        await new Promise((r) => setTimeout(r, 300 + Math.random() * 700));
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
        child = startChild();
        await ready();
      }
      await load;

      // Every transfer ends (a credit caught by a kill waits for its claim to expire, then ends).
      const deadline = Date.now() + 120_000;
      for (let i = 0; i < TRANSFERS; i++) {
        for (;;) {
          const r = await persist(url, 'GET', `/queries/transfers?transferId=t${i}`);
          const status = String(r.json.status);
          if (r.status === 200 && status !== 'pending') {
            statuses.set(`t${i}`, status);
            break;
          }
          if (Date.now() > deadline) throw new Error(`transfer t${i} is still ${status}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      // The read model agrees with the events (checked below against the streams).
      for (let a = 0; a < ACCOUNTS; a++) {
        const r = await persist(url, 'GET', `/queries/account-balances?accountId=s${a}`);
        statuses.set(`balance-s${a}`, String(r.json.balance));
      }
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }

    const store = await openEventStore(
      where.databaseUrl ? { connectionString: where.databaseUrl, schema: where.schema } : { dataDir: where.dataDir },
    );
    try {
      let total = 0;
      const moves = new Map<string, { debits: number; credits: number; refunds: number }>();
      const requests = new Map<string, { from: string; to: string; amount: number }>();
      for (let i = 0; i < TRANSFERS; i++) {
        const events = await store.readStream(`transfer-t${i}`);
        expect(events.map((e) => e.type).slice(0, 1)).toEqual(['TransferRequested']);
        expect(events).toHaveLength(2); // requested, then ended once
        const d = events[0]!.data as { fromAccountId: string; toAccountId: string; amount: number };
        requests.set(`t${i}`, { from: `account-${d.fromAccountId}`, to: `account-${d.toAccountId}`, amount: d.amount });
        moves.set(`t${i}`, { debits: 0, credits: 0, refunds: 0 });
      }
      for (let a = 0; a < ACCOUNTS; a++) {
        const events = await store.readStream(`account-s${a}`);
        let balance = 0;
        for (const e of events) {
          if (e.type === 'MoneyDeposited') balance += amountOf(e);
          if (e.type === 'MoneyWithdrawn') balance -= amountOf(e);
          const t = transferOf(e);
          if (!t) continue;
          const m = moves.get(t)!;
          const request = requests.get(t)!;
          expect(amountOf(e)).toBe(request.amount);
          if (e.type === 'MoneyWithdrawn') m.debits++;
          else if (e.streamId === request.to) m.credits++;
          else m.refunds++;
        }
        expect(balance, `account s${a}: events against read model`).toBe(Number(statuses.get(`balance-s${a}`)));
        total += balance;
      }
      expect(total).toBe(ACCOUNTS * OPENING);
      const expected = { completed: [1, 1, 0], compensated: [1, 0, 1], rejected: [0, 0, 0] } as Record<string, number[]>;
      const tally: Record<string, number> = {};
      for (let i = 0; i < TRANSFERS; i++) {
        const status = statuses.get(`t${i}`)!;
        tally[status] = (tally[status] ?? 0) + 1;
        const m = moves.get(`t${i}`)!;
        expect([m.debits, m.credits, m.refunds], `transfer t${i} (${status})`).toEqual(expected[status]);
      }
      expect(tally.completed).toBeGreaterThan(0);
      expect(tally.compensated).toBeGreaterThan(0);
      console.log(`saga under SIGKILL (${driver}): ${JSON.stringify(tally)}`);
    } finally {
      await store.close();
    }
  });
});
