/**
 * The NATS publisher in child processes against the PostgreSQL server, SIGKILLed five times while
 * 5,000 events are appended through the bank's commands, and the NATS server restarted twice: JetStream
 * ends up with every event exactly once (the broker drops re-publications by Nats-Msg-Id), and each
 * stream's events in stream order.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createConsumers } from '../../src/processing/index.js';
import { spawnTs, waitForLine } from '../support/child.js';
import { serverUrl, storeFactory } from '../support/drivers.js';
import { natsForFile } from '../support/nats.js';
import { bankBus, bankLoad } from './bank.js';
import { readStream, streamMessageCount } from './support.js';

const nats = natsForFile();

describe.runIf(serverUrl)('NATS publisher in processes killed with SIGKILL (postgres)', () => {
  const stores = storeFactory('postgres');

  it('publishes 5,000 events exactly once, each stream in order, across 5 SIGKILLs and 2 NATS restarts', async () => {
    const store = await stores.open();
    const { bus } = bankBus(store);
    const admin = createConsumers([]).attach(store);
    const prefix = 'multi';
    let serial = 0;
    const spawn = () => {
      const owner = `c${serial++}`;
      return Object.assign(
        spawnTs('test/integration/fixtures/publisher.ts', [serverUrl!, store.schema, nats.server.url, prefix, owner]),
        { owner },
      );
    };
    const children = [spawn(), spawn()];
    await Promise.all(children.map((c) => waitForLine(c, (l) => l === 'ready')));
    const status = async () => (await admin.status('nats-publisher'))[0];
    let kills = 0;
    let natsRestarts = 0;
    const chaos = (async () => {
      // Kill the lease holder whenever it made progress; restart NATS after the 2nd and 4th kill.
      while (kills < 5) {
        const before = (await status())?.checkpoint ?? 0n;
        for (let i = 0; i < 200; i++) {
          const s = await status();
          if (s?.owner && s.checkpoint > before) break;
          await sleep(50);
        }
        await sleep(100 + Math.random() * 300);
        const holder = (await status())?.owner;
        const index = Math.max(
          0,
          children.findIndex((c) => c.owner === holder),
        );
        children[index]!.kill('SIGKILL');
        await children[index]!.exited;
        kills++;
        children[index] = spawn();
        if (kills === 2 || kills === 4) {
          await nats.server.restart();
          natsRestarts++;
        }
      }
    })();
    try {
      await bankLoad(bus, 5_000, { accounts: 50, tick: () => sleep(kills < 5 ? 8 : 0) });
      await chaos;
      expect([kills, natsRestarts]).toEqual([5, 2]);
      const head = await store.headPosition();
      expect(head).toBe(5_000n);
      await admin.waitFor('nats-publisher', head, { timeout: 30_000 });
    } finally {
      await chaos.catch(() => {});
      for (const child of children) {
        child.kill('SIGKILL');
        await child.exited;
      }
    }
    expect(await streamMessageCount(nats.connection, 'MULTI')).toBe(5_000);
    const messages = await readStream(nats.connection, 'MULTI');
    const ids = new Set(messages.map((m) => m.headers['Nats-Msg-Id']));
    expect(ids.size).toBe(5_000);
    const logIds = await store.sql.query<{ id: string }>(`SELECT event_id::text AS id FROM "${store.schema}".events`);
    expect(logIds.every((r) => ids.has(r.id))).toBe(true);
    const versions = new Map<string, number>();
    for (const m of messages) {
      const stream = m.headers['Fabula-Stream-Id']!;
      const version = Number(m.headers['Fabula-Stream-Version']);
      expect(version, `${stream} out of order`).toBe((versions.get(stream) ?? 0) + 1);
      versions.set(stream, version);
    }
  }, 90_000);
});
