/**
 * The embedded store across processes: the data folder lock, and durability under SIGKILL.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openEventStore, StoreLockedError } from '../../src/index.js';
import { spawnTs, waitForLine } from '../support/child.js';

const folders: string[] = [];
function tempFolder() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fabula-embedded-'));
  folders.push(dir);
  return dir;
}
afterAll(() => folders.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

describe('embedded data folder', () => {
  it('lets one process at a time open it, and takes over a lock left by a killed process', async () => {
    const dataDir = tempFolder();
    const holder = spawnTs('test/fixtures/embedded-writer.ts', [dataDir, 'hold']);
    await waitForLine(holder, (l) => l === 'ready', 60_000);

    // This process, and another process, are both refused, and say who holds the folder.
    const error = await openEventStore({ dataDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreLockedError);
    expect(error).toMatchObject({ holderPid: holder.pid, dataDir, code: 'store_locked' });
    expect((error as Error).message).toContain(`pid ${holder.pid}`);
    const second = spawnTs('test/fixtures/embedded-writer.ts', [dataDir, 'open']);
    expect(await second.exited).toBe(3);
    expect(JSON.parse(second.lines[0]!)).toMatchObject({ error: 'StoreLockedError', holderPid: holder.pid });

    holder.kill('SIGKILL');
    await holder.exited;
    const store = await openEventStore({ dataDir });
    try {
      // Only the holder's one event is there: the refused openers wrote nothing.
      const events = await store.readAll();
      expect(events.map((e) => e.type)).toEqual(['Held']);
      expect(await openEventStore({ dataDir }).catch((e: unknown) => e)).toBeInstanceOf(StoreLockedError);
    } finally {
      await store.close();
    }
    // Closing releases the folder.
    const again = await openEventStore({ dataDir });
    await again.close();
  });

  it('keeps every acknowledged append when the writing process is killed with SIGKILL', async () => {
    const dataDir = tempFolder();
    const acknowledged: Array<{ id: string; stream: string; position: string; version: number }> = [];
    for (let round = 0; round < 3; round++) {
      const writer = spawnTs('test/fixtures/embedded-writer.ts', [dataDir, 'append']);
      await waitForLine(writer, (l) => l === 'ready', 60_000);
      // Kill it at a different moment each round, mid-stream.
      const target = 50 + Math.floor(Math.random() * 150);
      await waitForLine(writer, () => writer.lines.length > target);
      writer.kill('SIGKILL');
      await writer.exited;
      acknowledged.push(...writer.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)));

      const store = await openEventStore({ dataDir });
      try {
        const all = await store.readAll();
        const byId = new Map(all.map((e) => [e.id, e]));
        for (const ack of acknowledged) {
          expect(byId.get(ack.id)?.globalPosition).toBe(BigInt(ack.position));
        }
        // Consistent: dense positions, contiguous versions, streams table agrees with the events.
        expect(all.map((e) => e.globalPosition)).toEqual(all.map((_, i) => BigInt(i + 1)));
        expect(await store.headPosition()).toBe(BigInt(all.length));
        const streams = await store.listStreams();
        for (const stream of streams) {
          const events = await store.readStream(stream.streamId);
          expect(events.map((e) => e.streamVersion)).toEqual(events.map((_, i) => i + 1));
          expect(stream.version).toBe(events.length);
        }
        // Every append is whole: each 'Appended' is followed by its 'Second' in the same stream.
        for (const event of all.filter((e) => e.type === 'Appended')) {
          expect(all.find((e) => e.streamId === event.streamId && e.streamVersion === event.streamVersion + 1)?.type).toBe(
            'Second',
          );
        }
      } finally {
        await store.close();
      }
    }
    expect(acknowledged.length).toBeGreaterThan(150);
  });
});
