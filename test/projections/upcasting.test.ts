/**
 * Projections see events at their current version: an event evolved with an upcaster reaches the daemon,
 * inline, live and replay handlers in its new shape, so a new projection version with a new non-null
 * column builds from events stored at the old version.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  defineApp,
  defineEvent,
  defineLiveProjection,
  defineProjection,
  EventRegistry,
  ProjectionBuildingError,
  replayDryRun,
  runLiveProjection,
  type EventStore,
} from '../../src/index.js';
import { toHttpError } from '../../src/server/http-errors.js';
import { drivers } from '../support/drivers.js';
import { projectionsFactory, waitUntil } from './support.js';

const BookBorrowedV1 = defineEvent('BookBorrowed', { schema: z.object({ bookId: z.string(), memberId: z.string() }) });
const BookBorrowedV2 = defineEvent('BookBorrowed', {
  version: 2,
  schema: z.object({ bookId: z.string(), memberId: z.string(), loanDays: z.number().int().positive() }),
});
const registryV1 = () => new EventRegistry().register(BookBorrowedV1);
const registryV2 = () =>
  new EventRegistry()
    .register(BookBorrowedV2)
    .upcast('BookBorrowed', 1, (data) => ({ loanDays: 21, ...(data as object) }), 'v2 added loanDays (21 before)');

type V1 = { BookBorrowed: { bookId: string; memberId: string } };
type V2 = { BookBorrowed: { bookId: string; memberId: string; loanDays: number } };

const loansV1 = (mode: 'async' | 'inline' = 'async') =>
  defineProjection<V1>({
    name: 'loans',
    version: 1,
    mode,
    handles: ['BookBorrowed'],
    setup: (ctx) => ctx.sql.exec(`CREATE TABLE ${ctx.table('loans')} (book_id text PRIMARY KEY, member_id text NOT NULL)`),
    apply: async (e, ctx) => {
      await ctx.sql.query(`INSERT INTO ${ctx.table('loans')} VALUES ($1, $2)`, [e.data.bookId, e.data.memberId]);
    },
  });
const loansV2 = (mode: 'async' | 'inline' = 'async') =>
  defineProjection<V2>({
    name: 'loans',
    version: 2,
    mode,
    handles: ['BookBorrowed'],
    setup: (ctx) =>
      ctx.sql.exec(
        `CREATE TABLE ${ctx.table('loans')} (book_id text PRIMARY KEY, member_id text NOT NULL, loan_days int NOT NULL)`,
      ),
    apply: async (e, ctx) => {
      await ctx.sql.query(`INSERT INTO ${ctx.table('loans')} VALUES ($1, $2, $3)`, [
        e.data.bookId,
        e.data.memberId,
        e.data.loanDays,
      ]);
    },
  });

async function borrowV1(store: EventStore, books: number) {
  const registry = registryV1();
  for (let i = 0; i < books; i++) {
    await store.append(`book-${i}`, [registry.encode(BookBorrowedV1.create({ bookId: `b${i}`, memberId: `m${i % 3}` }))]);
  }
}

describe.each(drivers)('projections see upcast events (%s)', (driver) => {
  const factory = projectionsFactory(driver);

  it('a new projection version with a new non-null column builds from v1 events while v1 runs, through the upcaster', async () => {
    const store = await factory.open();
    const sql = await factory.sql();
    await borrowV1(store, 30);
    const v1 = await factory.projections([loansV1()], { registry: registryV1() }).start(store);
    await v1.waitFor('loans', await store.headPosition());

    // The deploy: BookBorrowed is now v2 (with an upcaster), and loans v2 has the new column.
    const registry = registryV2();
    const app = defineApp({ name: 'library', registry, projections: [loansV2()], setup: () => ({}) });
    const v2 = factory.projections(app.projections!); // the registry comes with defineApp
    // The new code's queries are written for v2's table: until v2 takes over they are told so (503), not
    // handed v1's table; the old code still reads v1.
    v2.attach(store);
    const building = await v2.table('loans', 'loans').catch((e: unknown) => e);
    expect(building).toBeInstanceOf(ProjectionBuildingError);
    expect(building).toMatchObject({ code: 'projection_building', version: 2, activeVersion: 1 });
    expect((building as Error).message).toMatch(/"loans" v2, the version this code reads, is still being built beside v1/);
    expect(toHttpError(building, 'r1')).toMatchObject({ status: 503, body: { code: 'projection_building' } });
    expect(await v1.table('loans', 'loans')).toContain('_v1');
    const activated = new Promise((resolve) => v2.once('activated', resolve));
    await v2.start(store);
    await activated;
    await v1.stop();
    expect(await v2.table('loans', 'loans')).toContain('_v2');
    expect(await v1.table('loans', 'loans')).toContain('_v2'); // old code reads the newer active version
    const { lastPosition } = await store.append('book-new', [
      registry.encode(BookBorrowedV2.create({ bookId: 'new', memberId: 'm9', loanDays: 7 })),
    ]);
    await v2.waitFor('loans', lastPosition);

    const rows = await sql.query<{ book_id: string; loan_days: number }>(
      `SELECT book_id, loan_days FROM ${await v2.table('loans', 'loans')} ORDER BY book_id`,
    );
    expect(rows).toHaveLength(31);
    expect(rows.find((r) => r.book_id === 'new')!.loan_days).toBe(7);
    expect(rows.filter((r) => r.book_id !== 'new').every((r) => r.loan_days === 21)).toBe(true);
    const [status] = await v2.status();
    expect(status).toMatchObject({ version: 2, phase: 'active', status: 'running', lastError: null });
  });

  it('inline projections apply old events upcast in the append, and the daemon catches them up upcast', async () => {
    const projections = factory.projections([loansV2('inline')], { registry: registryV2() });
    const store = await factory.open({ inlineHandlers: [projections.inlineHandler] });
    const sql = await factory.sql();
    // An event written by the old code (version 1) arrives through an append with this handler.
    await store.append('book-1', [{ type: 'BookBorrowed', data: { bookId: 'b1', memberId: 'm1' }, schemaVersion: 1 }]);
    await projections.start(store);
    const table = await projections.table('loans', 'loans');
    expect(await sql.query(`SELECT book_id, loan_days FROM ${table}`)).toEqual([{ book_id: 'b1', loan_days: 21 }]);

    // Appended by a process without the handler: the daemon applies them, upcast too.
    const other = await factory.openSeparate(store.schema);
    const { lastPosition } = await other.append('book-2', [
      { type: 'BookBorrowed', data: { bookId: 'b2', memberId: 'm2' }, schemaVersion: 1 },
    ]);
    await projections.waitFor('loans', lastPosition);
    expect(await sql.query(`SELECT book_id, loan_days FROM ${table} ORDER BY book_id`)).toEqual([
      { book_id: 'b1', loan_days: 21 },
      { book_id: 'b2', loan_days: 21 },
    ]);
  });

  it('live projections and dry-run replays fold upcast events', async () => {
    const store = await factory.open();
    await borrowV1(store, 4);
    const registry = registryV2();
    const days = defineLiveProjection<number, V2>({
      name: 'loan-days',
      handles: ['BookBorrowed'],
      initial: () => 0,
      evolve: (total, e) => total + e.data.loanDays,
    });
    expect((await runLiveProjection(store, days, {}, { registry })).state).toBe(84);
    expect((await runLiveProjection(store, days, { streamId: 'book-1' }, { registry })).state).toBe(21);

    const app = defineApp({ name: 'library', registry, projections: [loansV2()], setup: () => ({}) });
    const report = await replayDryRun(store, app.projections![0]!, { from: 0n });
    expect(report).toMatchObject({ applied: 4, failed: [] });
  });

  it('without a registry, a projection given an event stored above version 1 fails, saying to pass the registry', async () => {
    const store = await factory.open();
    await store.append('book-1', [registryV2().encode(BookBorrowedV2.create({ bookId: 'b1', memberId: 'm1', loanDays: 3 }))]);
    const projections = await factory.projections([loansV2()]).start(store);
    await waitUntil(async () => (await projections.status())[0]?.status === 'failed', 20_000, 'the projection to fail');
    const [status] = await projections.status();
    expect(status!.lastError!.message).toMatch(
      /given BookBorrowed stored at version 2 but has no event registry.*createProjections\(definitions, \{ registry \}\)/,
    );
    const days = defineLiveProjection<number, V2>({
      name: 'loan-days',
      handles: ['BookBorrowed'],
      initial: () => 0,
      evolve: (total, e) => total + e.data.loanDays,
    });
    await expect(runLiveProjection(store, days, {})).rejects.toThrow(/no event registry to upcast with/);
  });

  it('an event the upcasters cannot bring to the current version fails the projection with the reason', async () => {
    const store = await factory.open();
    await store.append('book-1', [{ type: 'BookBorrowed', data: { bookId: 'b1', memberId: 'm1' }, schemaVersion: 3 }]);
    const projections = await factory.projections([loansV2()], { registry: registryV2() }).start(store);
    await waitUntil(async () => (await projections.status())[0]?.status === 'failed', 20_000, 'the projection to fail');
    expect((await projections.status())[0]!.lastError!.message).toMatch(/written at version 3, newer than this code knows \(2\)/);
  });
});
