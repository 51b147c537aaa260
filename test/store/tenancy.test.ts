/**
 * Tenant isolation in the store (docs/tenancy.md): a tenant's view sees, counts and infers nothing of
 * another tenant's streams and events, and the same stream id in two tenants is two streams. The second
 * half bypasses the TypeScript layer: raw SQL in a tenant's transaction, under the role the store uses,
 * is confined by row-level security whatever it asks for.
 */
import { describe, expect, it } from 'vitest';
import { ConcurrencyError, FabulaError, openEventStore, type EventStore, type RecordedEvent } from '../../src/index.js';
import { SnapshotStore } from '../../src/store/snapshot-store.js';
import { enterTenant, TENANT_ROLE } from '../../src/store/statements.js';
import { drivers, serverUrl, storeFactory, uniqueSchema } from '../support/drivers.js';

const PROTECTED = ['streams', 'events', 'snapshots'] as const;

describe.each(drivers)('tenant isolation (%s)', (driver) => {
  const stores = storeFactory(driver);

  /** Tenant A writes account-a1 (three events, one snapshot) and account-only-a; B writes its own account-a1. */
  async function twoTenants() {
    const store = await stores.open();
    const a = store.forTenant('tenant-a');
    const b = store.forTenant('tenant-b');
    await a.append('account-a1', [{ type: 'Opened', data: { owner: 'Ada' } }], { expectedVersion: 'no_stream' });
    await a.append('account-a1', [
      { type: 'Deposited', data: { amount: 5 } },
      { type: 'Deposited', data: { amount: 7 } },
    ]);
    await a.append('account-only-a', [{ type: 'Opened', data: { owner: 'Alan' } }]);
    await new SnapshotStore(store.sql, store.schema, 'tenant-a').save({
      streamId: 'account-a1',
      aggregateType: 'account',
      schemaVersion: 1,
      streamVersion: 3,
      state: { balance: 12 },
    });
    await b.append('account-a1', [{ type: 'Opened', data: { owner: 'Bea' } }], { expectedVersion: 'no_stream' });
    return { store, a, b };
  }

  it('the same stream id in two tenants is two streams, each with its own versions', async () => {
    const { a, b } = await twoTenants();
    expect((await a.readStream('account-a1')).map((e) => [e.streamVersion, e.data, e.tenantId])).toEqual([
      [1, { owner: 'Ada' }, 'tenant-a'],
      [2, { amount: 5 }, 'tenant-a'],
      [3, { amount: 7 }, 'tenant-a'],
    ]);
    expect((await b.readStream('account-a1')).map((e) => [e.streamVersion, e.data, e.tenantId])).toEqual([
      [1, { owner: 'Bea' }, 'tenant-b'],
    ]);
    // B's no_stream append succeeded above although A has account-a1; B continues at its own version.
    const next = await b.append('account-a1', [{ type: 'Deposited', data: { amount: 1 } }], { expectedVersion: 1 });
    expect(next.nextExpectedVersion).toBe(2);
    expect((await a.streamInfo('account-a1'))!.version).toBe(3);
    expect(await b.streamInfo('account-a1')).toMatchObject({ version: 2, tenantId: 'tenant-b' });
  });

  it("a tenant's view sees and counts nothing of another tenant's streams and events", async () => {
    const { store, a, b } = await twoTenants();
    const aEvents = await a.readAll();
    expect(aEvents).toHaveLength(4);
    const bEvents = await b.readAll();
    expect(bEvents.map((e) => [e.streamId, e.tenantId])).toEqual([['account-a1', 'tenant-b']]);
    expect(await b.readAll({ eventTypes: ['Deposited'] })).toEqual([]);
    expect(await b.readAll({ streamTypes: ['account'] })).toHaveLength(1);
    for (const event of aEvents) expect(await b.readEvent(event.id)).toBeNull();
    expect(await b.readStream('account-only-a')).toEqual([]);
    expect(await b.streamInfo('account-only-a')).toBeNull();
    expect((await b.listStreams({ includeDeleted: true })).map((s) => s.streamId)).toEqual(['account-a1']);
    expect((await b.listStreams({ type: 'account' })).map((s) => s.tenantId)).toEqual(['tenant-b']);
    // Its head is its own last event.
    expect(await b.headPosition()).toBe(bEvents[0]!.globalPosition);
    // Its snapshots: none of A's.
    expect(await new SnapshotStore(store.sql, store.schema, 'tenant-b').latest('account-a1', 'account', 1)).toBeNull();
    expect(await new SnapshotStore(store.sql, store.schema, 'tenant-a').latest('account-a1', 'account', 1)).toMatchObject({
      streamVersion: 3,
    });
    // A third tenant sees nothing at all.
    const c = store.forTenant('tenant-c');
    expect(await c.readAll()).toEqual([]);
    expect(await c.listStreams()).toEqual([]);
    expect(await c.headPosition()).toBe(0n);
  });

  it("another tenant's stream answers exactly as a stream that does not exist", async () => {
    const { b } = await twoTenants();
    const refusal = async (streamId: string) => {
      const error = await b.append(streamId, [{ type: 'Deposited', data: {} }], { expectedVersion: 'stream_exists' }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ConcurrencyError);
      const { code, message, actual } = error as ConcurrencyError;
      return { code, message: message.replace(streamId, '<id>'), actual };
    };
    expect(await refusal('account-only-a')).toEqual(await refusal('account-never-made'));
    // Deleting it deletes nothing of A's: B gets a tombstone of its own, as for any missing stream.
    await b.deleteStream('account-only-a');
    expect((await b.streamInfo('account-only-a'))!.deleted).toBe(true);
  });

  it("the system view addresses the default tenant's streams and reads every tenant's events in one global order", async () => {
    const { store, a, b } = await twoTenants();
    await store.append('account-a1', [{ type: 'Opened', data: { owner: 'Default' } }], { expectedVersion: 'no_stream' });
    expect((await store.readStream('account-a1')).map((e) => e.tenantId)).toEqual(['default']);
    expect((await store.forTenant('default').readStream('account-a1')).map((e) => e.data)).toEqual([{ owner: 'Default' }]);
    const all = await store.readAll();
    expect(all.map((e) => e.globalPosition)).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
    expect(all.map((e) => e.tenantId)).toEqual(['tenant-a', 'tenant-a', 'tenant-a', 'tenant-a', 'tenant-b', 'default']);
    expect(await store.headPosition()).toBe(6n);
    // A tenant's positions are the global ones: gaps where others' events are, a valid checkpoint each.
    expect((await a.readAll({ after: 2n })).map((e) => e.globalPosition)).toEqual([3n, 4n]);
    expect((await b.readAll({ after: 1n })).map((e) => e.globalPosition)).toEqual([5n]);
  });

  it('appends of many tenants at once are batched per tenant, dense in the global order, each in its own tenant', async () => {
    const store = await stores.open();
    const tenants = ['t1', 't2', 't3', 'default'];
    await Promise.all(
      Array.from({ length: 80 }, (_, i) => store.forTenant(tenants[i % 4]!).append(`s-${i % 5}`, [{ type: 'E', data: { i } }])),
    );
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.append(`s-${i % 5}`, [{ type: 'E', data: { i } }])));
    const all = await store.readAll();
    expect(all.map((e) => e.globalPosition)).toEqual(Array.from({ length: 100 }, (_, i) => BigInt(i + 1)));
    for (const tenant of tenants) {
      const own = await store.forTenant(tenant).readAll();
      expect(own.length).toBe(tenant === 'default' ? 40 : 20);
      expect(new Set(own.map((e) => e.tenantId))).toEqual(new Set([tenant]));
      // Each tenant's streams have dense versions of their own.
      for (let s = 0; s < 5; s++) {
        const versions = (await store.forTenant(tenant).readStream(`s-${s}`)).map((e) => e.streamVersion);
        expect(versions).toEqual(Array.from({ length: versions.length }, (_, k) => k + 1));
      }
    }
    expect(
      (
        await store.forTenant('t1').appendMany([
          { streamId: 's-0', events: [{ type: 'E', data: {} }], expectedVersion: 4 },
          { streamId: 's-9', events: [{ type: 'E', data: {} }], expectedVersion: 'no_stream' },
        ])
      ).map((r) => r.nextExpectedVersion),
    ).toEqual([5, 1]);
  });

  it('subscribe in a tenant delivers its own events only, live', async () => {
    const { store, b } = await twoTenants();
    const seen: RecordedEvent[] = [];
    const controller = new AbortController();
    const done = (async () => {
      for await (const event of b.subscribe({ signal: controller.signal, pollIntervalMs: 50 })) {
        seen.push(event);
        if (seen.length === 2) controller.abort();
      }
    })();
    await store.forTenant('tenant-a').append('account-a1', [{ type: 'Deposited', data: { amount: 1 } }]);
    await store.append('account-x', [{ type: 'Opened', data: {} }]);
    await b.append('account-b2', [{ type: 'Opened', data: {} }]);
    await done;
    expect(seen.map((e) => [e.streamId, e.tenantId])).toEqual([
      ['account-a1', 'tenant-b'],
      ['account-b2', 'tenant-b'],
    ]);
  });

  it('inline handlers get each event with its tenant, and run across tenants as the owner', async () => {
    const got: Array<[string, string, number]> = [];
    const store = await stores.open({
      inlineHandlers: [
        async (events, tx, { schema }) => {
          // The owner again (no tenant set): every tenant's rows are visible here.
          const [row] = await tx.query<{ n: number }>(`SELECT count(DISTINCT tenant_id)::int AS n FROM "${schema}".events`);
          const n = row!.n;
          for (const e of events) got.push([e.streamId, e.tenantId, n]);
        },
      ],
    });
    await store.forTenant('tenant-a').append('s-1', [{ type: 'E', data: {} }]);
    await store.forTenant('tenant-b').append('s-1', [{ type: 'E', data: {} }]);
    expect(got).toEqual([
      ['s-1', 'tenant-a', 1],
      ['s-1', 'tenant-b', 2],
    ]);
  });

  it('refuses a tenant id that is not one', async () => {
    const store = await stores.open();
    for (const bad of ['', ' a', 'x'.repeat(101), 'a\u0000b', 42]) {
      expect(() => store.forTenant(bad as string)).toThrow(FabulaError);
    }
  });

  describe('row-level security, below the TypeScript layer', () => {
    /** Runs raw SQL in tenant `tenant`'s transaction, exactly as the store starts one. */
    async function asTenant<T>(store: EventStore, tenant: string | null, work: (q: RawQuery) => Promise<T>): Promise<T> {
      return store.sql.transaction(async (tx) => {
        if (tenant === null) await tx.query(`SELECT set_config('role', '${TENANT_ROLE}', true)`);
        else await tx.query(enterTenant, [tenant]);
        return work((text, params) => tx.query(text.replaceAll('$schema', `"${store.schema}"`), params));
      });
    }
    type RawQuery = (text: string, params?: unknown[]) => Promise<Record<string, unknown>[]>;
    const count = async (q: RawQuery, table: string, where = 'true') =>
      Number((await q(`SELECT count(*)::int AS n FROM $schema.${table} WHERE ${where}`))[0]!.n);

    it("under the application's role with another tenant set, raw SQL sees none of a tenant's rows in any protected table", async () => {
      const { store } = await twoTenants();
      // The owner sees them all, so there is something to hide.
      expect(
        await count((t) => store.sql.query(t.replaceAll('$schema', `"${store.schema}"`)), 'events', `tenant_id = 'tenant-a'`),
      ).toBe(4);
      await asTenant(store, 'tenant-b', async (q) => {
        for (const table of PROTECTED) {
          expect(await count(q, table, `tenant_id = 'tenant-a'`), table).toBe(0);
          expect(await count(q, table, `tenant_id <> 'tenant-b'`), table).toBe(0);
        }
        expect(await count(q, 'events')).toBe(1);
        expect(await count(q, 'streams')).toBe(1);
        expect(await q(`SELECT max(global_position) AS m FROM $schema.events WHERE stream_id = 'account-only-a'`)).toEqual([
          { m: null },
        ]);
        // Writes to A's rows touch nothing.
        expect(await q(`UPDATE $schema.streams SET version = 99 WHERE tenant_id = 'tenant-a' RETURNING 1`)).toEqual([]);
        expect(await q(`DELETE FROM $schema.snapshots WHERE tenant_id = 'tenant-a' RETURNING 1`)).toEqual([]);
      });
      // And A's rows are all there, untouched.
      await asTenant(store, 'tenant-a', async (q) => {
        expect(await count(q, 'events')).toBe(4);
        expect(await count(q, 'streams', 'version = 99')).toBe(0);
        expect(await count(q, 'snapshots')).toBe(1);
      });
    });

    it("under the application's role, raw SQL cannot write rows for another tenant", async () => {
      const { store } = await twoTenants();
      const inserts = {
        streams: `INSERT INTO $schema.streams (stream_id, stream_type, version, created_at, updated_at, tenant_id)
                  VALUES ('account-z', 'account', 1, now(), now(), 'tenant-a')`,
        events: `INSERT INTO $schema.events (global_position, event_id, stream_id, stream_version, stream_type, event_type,
                   schema_version, data, metadata, recorded_at, tenant_id)
                 VALUES (1000, gen_random_uuid(), 'account-z', 1, 'account', 'Opened', 1, '{}', '{}', now(), 'tenant-a')`,
        snapshots: `INSERT INTO $schema.snapshots (stream_id, aggregate_type, schema_version, stream_version, state, tenant_id)
                    VALUES ('account-z', 'account', 1, 1, '{}', 'tenant-a')`,
      };
      // B has a row in every table, to try to move.
      await new SnapshotStore(store.sql, store.schema, 'tenant-b').save({
        streamId: 'account-a1',
        aggregateType: 'account',
        schemaVersion: 1,
        streamVersion: 1,
        state: {},
      });
      for (const table of PROTECTED) {
        await expect(
          asTenant(store, 'tenant-b', (q) => q(inserts[table])),
          table,
        ).rejects.toThrow(/row-level security/);
        // Moving one's own row to another tenant is refused too (events are never updated: no grant).
        await expect(
          asTenant(store, 'tenant-b', (q) => q(`UPDATE $schema.${table} SET tenant_id = 'tenant-a'`)),
          table,
        ).rejects.toThrow(table === 'events' ? /permission denied/ : /row-level security/);
      }
      expect(await store.forTenant('tenant-a').readStream('account-z')).toEqual([]);
    });

    it("under the application's role with no tenant set, raw SQL sees nothing and writes nothing", async () => {
      const { store } = await twoTenants();
      await asTenant(store, null, async (q) => {
        for (const table of PROTECTED) expect(await count(q, table), table).toBe(0);
      });
      await expect(
        asTenant(store, null, (q) =>
          q(`INSERT INTO $schema.snapshots (stream_id, aggregate_type, schema_version, stream_version, state)
                                         VALUES ('account-z', 'account', 1, 1, '{}')`),
        ),
      ).rejects.toThrow(/row-level security/);
    });

    it('is forced on every protected table, so that it binds their owner too', async () => {
      const store = await stores.open();
      const rows = await store.sql.query<{ relname: string; on: boolean; forced: boolean }>(
        `SELECT relname, relrowsecurity AS on, relforcerowsecurity AS forced FROM pg_class
          WHERE relnamespace = $1::regnamespace AND relname = ANY($2) ORDER BY relname`,
        [store.schema, [...PROTECTED]],
      );
      expect(rows).toEqual(
        PROTECTED.map((relname) => ({ relname, on: true, forced: true })).sort((x, y) => x.relname.localeCompare(y.relname)),
      );
    });
  });
});

/**
 * The tests above connect as a superuser, whom row-level security never binds: there, the role switch
 * does the work. Here the store's user is an ordinary role that owns the tables, as in a careful
 * deployment, so that FORCE is what binds it.
 */
describe.runIf(serverUrl)('tenant isolation with a store user that is not a superuser (postgres)', () => {
  it('migrates, works across tenants in the system view, and is confined to a tenant as soon as one is set', async () => {
    const admin = await openEventStore({ connectionString: serverUrl, schema: uniqueSchema() });
    // What an administrator does once per cluster: the role (made by the admin store above) granted to the user.
    await admin.sql.exec(`DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fabula_test_owner') THEN CREATE ROLE fabula_test_owner LOGIN; END IF;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
      GRANT CREATE ON DATABASE "${new URL(serverUrl!).pathname.slice(1)}" TO fabula_test_owner;
      GRANT fabula_tenant TO fabula_test_owner;`);
    await admin.sql.exec(`DROP SCHEMA "${admin.schema}" CASCADE`);
    await admin.close();
    const url = new URL(serverUrl!);
    url.username = 'fabula_test_owner';
    url.password = '';
    const store = await openEventStore({ connectionString: url.toString(), schema: uniqueSchema() });
    try {
      const [{ su }] = (await store.sql.query<{ su: boolean }>(
        `SELECT rolsuper AS su FROM pg_roles WHERE rolname = current_user`,
      )) as [{ su: boolean }];
      expect(su).toBe(false);
      await store.forTenant('tenant-a').append('s-1', [
        { type: 'E', data: {} },
        { type: 'E', data: {} },
      ]);
      await store.forTenant('tenant-b').append('s-1', [{ type: 'E', data: {} }]);
      await store.append('s-1', [{ type: 'E', data: {} }]);
      expect((await store.readAll()).map((e) => e.tenantId)).toEqual(['tenant-a', 'tenant-a', 'tenant-b', 'default']);
      expect((await store.forTenant('tenant-b').readAll()).map((e) => e.globalPosition)).toEqual([3n]);
      // The owner itself, without switching role: confined once a tenant is set (FORCE), everything without.
      const asOwner = (tenant: string) =>
        store.sql.transaction(async (tx) => {
          await tx.query(`SELECT set_config('fabula.tenant', $1, true)`, [tenant]);
          return (await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${store.schema}".events`))[0]!.n;
        });
      expect(await asOwner('tenant-b')).toBe(1);
      expect(await asOwner('tenant-c')).toBe(0);
      expect(await asOwner('')).toBe(4);
    } finally {
      await store.sql.exec(`DROP SCHEMA "${store.schema}" CASCADE`);
      await store.close();
    }
  });
});
