import { describe, expect, it } from 'vitest';
import { defineProjection, ProjectionNotFoundError, ProjectionTimeoutError, ValidationError } from '../../src/index.js';
import { drivers } from '../support/drivers.js';
import { counters, deposit, expectedCounters, projectionsFactory, readCounters, waitUntil } from './support.js';

describe.each(drivers)('async projections (%s)', (driver) => {
  const factory = projectionsFactory(driver);

  it('catch up on history, then follow live appends; the checkpoint is a complete record', async () => {
    const store = await factory.open();
    await deposit(store, 300, { streams: 7, perAppend: 3 });
    await store.append('noise-1', [{ type: 'Ignored', data: {} }]);
    const projections = await factory.projections([counters()], { batchSize: 64 }).start(store);
    await projections.waitFor('counters', await store.headPosition(), { timeout: 20_000 });

    const last = await deposit(store, 50, { streams: 5, prefix: 'live' });
    await projections.waitFor('counters', last, { timeout: 20_000 });
    const sql = await factory.sql();
    expect(await readCounters(sql, await projections.table('counters', 'counters'))).toEqual(await expectedCounters(store));
    const dup = await sql.query(
      `SELECT position FROM ${await projections.table('counters', 'applied')} GROUP BY position HAVING count(*) > 1`,
    );
    expect(dup).toEqual([]);

    const [status] = await projections.status();
    expect(status).toMatchObject({
      name: 'counters',
      version: 1,
      build: 0,
      mode: 'async',
      phase: 'active',
      status: 'running',
      checkpoint: last,
      headPosition: last,
      lagEvents: 0,
      lagSeconds: 0,
      parkedEvents: 0,
      failedPosition: null,
      lastError: null,
      owner: projections.owner,
      handles: ['Deposited', 'Poison'],
    });
  });

  it('reports lag while nothing runs, and waitFor times out naming where the projection is', async () => {
    const store = await factory.open();
    const projections = factory.projections([counters()]);
    await projections.start(store);
    await projections.stop();
    const last = await deposit(store, 5);
    await new Promise((r) => setTimeout(r, 50));
    const [status] = await projections.status();
    expect(status).toMatchObject({ status: 'stopped', checkpoint: 0n, headPosition: last, lagEvents: 5, owner: null });
    expect(status!.lagSeconds).toBeGreaterThan(0);
    const error = await projections.waitFor('counters', last, { timeout: 100 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProjectionTimeoutError);
    expect(error).toMatchObject({ projection: 'counters', position: last, checkpoint: 0n, code: 'projection_timeout' });
    await expect(projections.waitFor('nope', 1n)).rejects.toBeInstanceOf(ProjectionNotFoundError);
    await expect(projections.waitFor('counters', -1n)).rejects.toMatchObject({ field: 'position' });
    await expect(projections.waitFor('counters', 1n, { timeout: 0 })).rejects.toMatchObject({ field: 'timeout' });
  });

  it('keeps JSON documents by id with ctx.documents, readable from outside on the active version', async () => {
    const store = await factory.open();
    const owners = defineProjection<{ Opened: { owner: string }; Renamed: { owner: string }; Closed: null }>({
      name: 'owners',
      version: 1,
      handles: ['Opened', 'Renamed', 'Closed'],
      async apply(event, ctx) {
        const docs = ctx.documents<{ owner: string; renames: number }>('accounts');
        if (event.type === 'Opened') await docs.upsert(event.streamId, { owner: event.data.owner, renames: 0 });
        else if (event.type === 'Renamed') {
          const doc = await docs.get(event.streamId);
          await docs.upsert(event.streamId, { owner: event.data.owner, renames: (doc?.renames ?? 0) + 1 });
        } else await docs.delete(event.streamId);
      },
    });
    const projections = await factory.projections([owners]).start(store);
    await store.append('a-1', [
      { type: 'Opened', data: { owner: 'Ada' } },
      { type: 'Renamed', data: { owner: 'Ada L.' } },
    ]);
    await store.append('a-2', [{ type: 'Opened', data: { owner: 'Bob' } }]);
    const { lastPosition } = await store.append('a-2', [{ type: 'Closed', data: null }]);
    await projections.waitFor('owners', lastPosition);
    const docs = projections.documents<{ owner: string; renames: number }>('owners', 'accounts');
    expect(await docs.get('a-1')).toEqual({ owner: 'Ada L.', renames: 1 });
    expect(await docs.get('a-2')).toBeNull();
    expect(await docs.list()).toEqual([{ id: 'a-1', data: { owner: 'Ada L.', renames: 1 } }]);
    await expect(docs.get('')).rejects.toBeInstanceOf(ValidationError);
  });

  it.each(['async', 'inline'] as const)(
    'keeps ctx.documents per tenant (%s): the same id in two tenants is two documents, each read in its tenant',
    async (mode) => {
      const owners = defineProjection<{ Opened: { owner: string }; Renamed: { owner: string } }>({
        name: `tenant-owners-${mode}`,
        version: 1,
        mode,
        handles: ['Opened', 'Renamed'],
        async apply(event, ctx) {
          const docs = ctx.documents<{ owner: string; renames: number }>('accounts');
          const doc = await docs.get(event.streamId);
          await docs.upsert(event.streamId, { owner: event.data.owner, renames: doc ? doc.renames + 1 : 0 });
        },
      });
      const projections = factory.projections([owners]);
      const store = await factory.open({ inlineHandlers: [projections.inlineHandler] });
      await projections.start(store);
      await store.forTenant('acme').append('a-1', [{ type: 'Opened', data: { owner: 'Ada' } }]);
      await store.append('a-1', [{ type: 'Opened', data: { owner: 'Dee' } }]);
      // One append batch through the daemon may hold both tenants' events: each reads and writes its own.
      await store.forTenant('globex').append('a-1', [{ type: 'Opened', data: { owner: 'Gus' } }]);
      const { lastPosition } = await store
        .forTenant('acme')
        .append('a-1', [{ type: 'Renamed', data: { owner: 'Ada L.' } }], { expectedVersion: 1 });
      await projections.waitFor(owners.name, lastPosition);
      const docs = (tenantId?: string) =>
        projections.documents<{ owner: string; renames: number }>(owners.name, 'accounts', tenantId ? { tenantId } : {});
      expect(await docs('acme').get('a-1')).toEqual({ owner: 'Ada L.', renames: 1 });
      expect(await docs('globex').get('a-1')).toEqual({ owner: 'Gus', renames: 0 });
      expect(await docs().get('a-1')).toEqual({ owner: 'Dee', renames: 0 });
      expect(await docs('initech').get('a-1')).toBeNull();
      expect((await docs('globex').list()).map((d) => d.data.owner)).toEqual(['Gus']);
      expect(await docs('initech').list()).toEqual([]);
    },
  );

  it('names each version its own schema and refuses bad table names', async () => {
    const store = await factory.open();
    const projections = await factory.projections([counters()]).start(store);
    expect(await projections.table('counters', 'counters')).toBe(`"${store.schema}_p_counters_v1"."counters"`);
    await expect(projections.table('counters', 'Robert"); DROP TABLE x; --')).rejects.toMatchObject({ field: 'table' });
    expect(projections.catalog()).toEqual([
      { name: 'counters', version: 1, mode: 'async', handles: ['Deposited', 'Poison'], onFailure: 'stop', description: null },
    ]);
  });
});
