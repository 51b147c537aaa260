/**
 * Non-projection consumers in separate processes against one server, killed (SIGKILL) at random moments
 * and frozen (SIGSTOP) past their lease mid-batch while writers append. Transactional: every event is
 * handled exactly once. Delivery: every event reaches the broker, none is skipped.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { EventStore } from '../../src/index.js';
import { createConsumers, type Consumers } from '../../src/processing/index.js';
import { spawnTs, waitForLine } from '../support/child.js';
import { drivers, serverUrl } from '../support/drivers.js';
import { consumersFactory, waitUntil } from './support.js';

type Kind = 'transactional' | 'delivery';
type Child = ReturnType<typeof spawnTs> & { owner: string };

function spawnConsumer(
  schema: string,
  owner: string,
  kind: Kind,
  options: { leaseTtlMs?: number; batchSize?: number; slowMs?: number },
) {
  const child = spawnTs('test/processing/fixtures/consumer.ts', [serverUrl!, schema, owner, kind, JSON.stringify(options)]);
  return Object.assign(child, { owner }) as Child;
}

async function kill(child: Child) {
  child.kill('SIGKILL');
  await child.exited;
}

function writer(store: EventStore) {
  let writing = true;
  const done = (async () => {
    for (let i = 0; writing; i++) {
      await store.append(`s-${i % 9}`, [{ type: 'Happened', data: { i } }]);
      await sleep(4);
    }
  })();
  return async () => {
    writing = false;
    await done;
  };
}

async function positions(store: EventStore, sql: string): Promise<bigint[]> {
  return (await store.sql.query<{ position: string }>(sql)).map((r) => BigInt(r.position));
}

async function logPositions(store: EventStore): Promise<bigint[]> {
  return positions(store, `SELECT global_position::text AS position FROM "${store.schema}".events ORDER BY global_position`);
}

describe.each(drivers)('consumers in several processes (%s)', (driver) => {
  const f = consumersFactory(driver);

  async function run(kind: Kind, name: string, check: (store: EventStore, admin: Consumers) => Promise<void>) {
    const store = await f.open();
    await store.sql.exec(`CREATE TABLE "${store.schema}".handled (position bigint NOT NULL, owner text NOT NULL, seq bigserial);
      CREATE TABLE "${store.schema}".deliveries (position bigint NOT NULL, owner text NOT NULL);
      CREATE TABLE "${store.schema}".broker (event_id uuid PRIMARY KEY, position bigint NOT NULL);`);
    const admin = createConsumers([]).attach(store);
    const options = { leaseTtlMs: 1_000, batchSize: 20, slowMs: 5 };
    let serial = 0;
    const children = [
      spawnConsumer(store.schema, `c${serial++}`, kind, options),
      spawnConsumer(store.schema, `c${serial++}`, kind, options),
    ];
    await Promise.all(children.map((c) => waitForLine(c, (l) => l === 'ready')));
    const owner = async () => (await admin.status(name))[0]?.owner ?? null;
    const checkpoint = async () => (await admin.status(name))[0]?.checkpoint ?? 0n;
    const stopWriting = writer(store);
    try {
      for (let round = 0; round < 6; round++) {
        const before = await checkpoint();
        await waitUntil(async () => (await owner()) !== null && (await checkpoint()) > before, 20_000, 'progress');
        await sleep(Math.random() * 300);
        const holder = await owner();
        const index = Math.max(
          0,
          children.findIndex((c) => c.owner === holder),
        );
        await kill(children[index]!);
        children[index] = spawnConsumer(store.schema, `c${serial++}`, kind, options);
      }
      // A holder frozen mid-batch past its lease; it wakes up after the other one took over.
      let holder: string | null = null;
      await waitUntil(
        async () => {
          holder = await owner();
          return children.some((c) => c.owner === holder);
        },
        20_000,
        'a live holder',
      );
      const zombie = children.find((c) => c.owner === holder)!;
      zombie.kill('SIGSTOP');
      const frozenAt = await checkpoint();
      await waitUntil(async () => ![zombie.owner, null].includes(await owner()), 20_000, 'takeover from the frozen process');
      await waitUntil(async () => (await checkpoint()) > frozenAt + 20n, 20_000, 'progress after takeover');
      zombie.kill('SIGCONT');
      await sleep(1_500);
      expect(await owner()).not.toBe(zombie.owner);
    } finally {
      await stopWriting();
    }
    try {
      await admin.waitFor(name, await store.headPosition(), { timeout: 30_000 });
      await check(store, admin);
    } finally {
      await Promise.all(children.map((c) => kill(c)));
    }
  }

  it.runIf(driver === 'postgres')(
    'transactional: exactly once across SIGKILLs and a frozen holder',
    async () => {
      await run('transactional', 'pm', async (store) => {
        const handled = await positions(store, `SELECT position::text AS position FROM "${store.schema}".handled ORDER BY seq`);
        expect(handled).toEqual(await logPositions(store)); // each event once, in global order
      });
    },
    150_000,
  );

  it.runIf(driver === 'postgres')(
    'delivery: every event reaches the broker across SIGKILLs and a frozen holder',
    async () => {
      await run('delivery', 'outbox', async (store) => {
        const brokered = await positions(
          store,
          `SELECT position::text AS position FROM "${store.schema}".broker b ORDER BY b.position`,
        );
        expect(brokered).toEqual(await logPositions(store)); // none skipped
        const attempts = await positions(store, `SELECT position::text AS position FROM "${store.schema}".deliveries`);
        expect(attempts.length).toBeGreaterThanOrEqual(brokered.length); // at least once (duplicates after kills)
      });
    },
    150_000,
  );
});
