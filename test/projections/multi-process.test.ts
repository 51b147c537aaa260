/**
 * Projection daemons in separate processes against one server: killed with SIGKILL at random moments,
 * paused with SIGSTOP mid-batch, two at a time. Whatever happens, every event is applied exactly once
 * (the `applied` log has no duplicate and misses nothing) and the read model equals a build from scratch.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { type EventStore, type Projections } from '../../src/index.js';
import { spawnTs, waitForLine } from '../support/child.js';
import { drivers, serverUrl } from '../support/drivers.js';
import { counters, expectedCounters, projectionsFactory, readCounters, waitUntil } from './support.js';

type Daemon = ReturnType<typeof spawnTs> & { owner: string };

function spawnDaemon(
  schema: string,
  owner: string,
  options: { leaseTtlMs?: number; batchSize?: number; slowMs?: number },
): Daemon {
  const child = spawnTs('test/projections/fixtures/daemon.ts', [serverUrl!, schema, owner, JSON.stringify(options)]);
  return Object.assign(child, { owner });
}

async function kill(daemon: Daemon, signal: NodeJS.Signals = 'SIGKILL') {
  daemon.kill(signal);
  if (signal === 'SIGKILL') await daemon.exited;
}

/** Appends 1-3 events at a time to 12 streams until stopped. */
function writer(store: EventStore, pauseMs = 4) {
  let writing = true;
  const done = (async () => {
    for (let i = 0; writing; i++) {
      const events = Array.from({ length: 1 + (i % 3) }, (_, k) => ({ type: 'Deposited', data: { amount: (i + k) % 13 } }));
      await store.append(`acct-${i % 12}`, events);
      await sleep(pauseMs);
    }
  })();
  return {
    async stop() {
      writing = false;
      await done;
    },
  };
}

async function owner(projections: Projections): Promise<string | null> {
  return (await projections.status())[0]?.owner ?? null;
}

/** Exactly once: no duplicate in the log of applications, nothing missing, the same rows as from scratch. */
async function expectExactlyOnce(factory: ReturnType<typeof projectionsFactory>, store: EventStore, admin: Projections) {
  const sql = await factory.sql();
  const head = await store.headPosition();
  await admin.waitFor('counters', head, { timeout: 30_000 });
  const applied = await admin.table('counters', 'applied');
  expect(await sql.query(`SELECT position FROM ${applied} GROUP BY position HAVING count(*) > 1`)).toEqual([]);
  const deposits = (
    await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${store.schema}".events WHERE event_type = 'Deposited'`)
  )[0]!.n;
  expect((await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${applied}`))[0]!.n).toBe(deposits);
  expect(await sql.query(`SELECT * FROM ${await admin.table('counters', 'anomalies')}`)).toEqual([]);
  const rows = await readCounters(sql, await admin.table('counters', 'counters'));
  expect(rows).toEqual(await expectedCounters(store));
  // And the same projection built from scratch in this process, compared row by row.
  const fresh = factory.projections([counters({ name: 'counters-fresh' })], { batchSize: 500 });
  await fresh.start(store);
  await fresh.waitFor('counters-fresh', head, { timeout: 30_000 });
  expect(rows).toEqual(await readCounters(sql, await fresh.table('counters-fresh', 'counters')));
  await fresh.stop();
}

describe.each(drivers)('projection daemons in several processes (%s)', (driver) => {
  const factory = projectionsFactory(driver);

  it.runIf(driver === 'postgres')(
    'exactly once across 20 SIGKILLs of daemon processes at random moments while writers append',
    async () => {
      const store = await factory.open();
      const admin = factory.projections([counters()]).attach(store);
      const options = { leaseTtlMs: 1_000, batchSize: 40, slowMs: 1 };
      let serial = 0;
      const daemons: Daemon[] = [
        spawnDaemon(store.schema, `d${serial++}`, options),
        spawnDaemon(store.schema, `d${serial++}`, options),
      ];
      await Promise.all(daemons.map((d) => waitForLine(d, (l) => l === 'ready')));
      const writing = writer(store);
      let holderKills = 0;
      try {
        for (let round = 0; round < 20; round++) {
          // Let a daemon hold the lease and get going, then kill at a random moment: mostly the holder
          // (often mid-batch), sometimes the standby.
          const checkpoint = (await admin.status())[0]!.checkpoint;
          await waitUntil(
            async () => (await owner(admin)) !== null && (await admin.status())[0]!.checkpoint > checkpoint,
            20_000,
            'a daemon making progress',
          );
          await sleep(Math.random() * 400);
          const holder = await owner(admin);
          const index =
            Math.random() < 0.8 && holder !== null ? daemons.findIndex((d) => d.owner === holder) : Math.floor(Math.random() * 2);
          if (daemons[index]!.owner === holder) holderKills++;
          await kill(daemons[index]!);
          daemons[index] = spawnDaemon(store.schema, `d${serial++}`, options);
        }
      } finally {
        await writing.stop();
      }
      await Promise.all(daemons.map((d) => waitForLine(d, (l) => l === 'ready')));
      try {
        await expectExactlyOnce(factory, store, admin);
        expect(holderKills).toBeGreaterThanOrEqual(10);
      } finally {
        await Promise.all(daemons.map((d) => kill(d)));
      }
    },
    150_000,
  );

  it.runIf(driver === 'postgres')('two daemons: one runs the projection, the other takes over when it is killed', async () => {
    const store = await factory.open();
    const admin = factory.projections([counters()]).attach(store);
    const options = { leaseTtlMs: 3_000, batchSize: 20 };
    const daemons = [spawnDaemon(store.schema, 'first', options), spawnDaemon(store.schema, 'second', options)];
    await Promise.all(daemons.map((d) => waitForLine(d, (l) => l === 'ready')));
    const writing = writer(store);
    try {
      await waitUntil(async () => (await owner(admin)) !== null, 10_000, 'a lease holder');
      const holder = await owner(admin);
      // The holder keeps it while it lives: the other one only waits.
      for (let i = 0; i < 10; i++) {
        await sleep(150);
        expect(await owner(admin)).toBe(holder);
      }
      const before = (await admin.status())[0]!.checkpoint;
      await kill(daemons.find((d) => d.owner === holder)!);
      const other = daemons.find((d) => d.owner !== holder)!.owner;
      await waitUntil(async () => (await owner(admin)) === other, 10_000, 'takeover');
      await waitUntil(async () => (await admin.status())[0]!.checkpoint > before, 10_000, 'progress after takeover');
    } finally {
      await writing.stop();
    }
    try {
      await expectExactlyOnce(factory, store, admin);
    } finally {
      await Promise.all(daemons.map((d) => kill(d)));
    }
  });

  it.runIf(driver === 'postgres')(
    'a daemon paused mid-batch (SIGSTOP) past its lease cannot apply anything when it resumes',
    async () => {
      const store = await factory.open();
      const admin = factory.projections([counters()]).attach(store);
      // Long batches (about 0.5 s each), so that the pause lands inside one.
      const options = { leaseTtlMs: 1_000, batchSize: 25, slowMs: 20 };
      const daemons = [spawnDaemon(store.schema, 'zombie', options)];
      await waitForLine(daemons[0]!, (l) => l === 'ready');
      const writing = writer(store, 50);
      try {
        await waitUntil(async () => (await admin.status())[0]!.checkpoint > 30n, 20_000, 'first batches');
        daemons[0]!.kill('SIGSTOP');
        const pausedAt = (await admin.status())[0]!.checkpoint;
        daemons.push(spawnDaemon(store.schema, 'successor', options));
        await waitUntil(async () => (await owner(admin)) === 'successor', 20_000, 'takeover from the paused daemon');
        await waitUntil(async () => (await admin.status())[0]!.checkpoint > pausedAt + 30n, 20_000, 'successor progress');
        daemons[0]!.kill('SIGCONT'); // the zombie wakes up in the middle of its batch
        await sleep(2_000);
        expect(await owner(admin)).toBe('successor');
      } finally {
        await writing.stop();
      }
      try {
        await expectExactlyOnce(factory, store, admin);
      } finally {
        await Promise.all(daemons.map((d) => kill(d)));
      }
    },
  );
});
