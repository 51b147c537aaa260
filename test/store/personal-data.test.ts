import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  AggregateRepository,
  defineEvent,
  defineProjection,
  replayDryRun,
  environmentKeyProvider,
  ERASED,
  EventRegistry,
  fileKeyProvider,
  masterKey,
  staticKeyProvider,
  type EventStore,
  type KeyProvider,
} from '../../src/index.js';
import { BankAccount, registerBankEvents } from '../../examples/bank/index.js';
import { drivers, storeFactory, uniqueSchema } from '../support/drivers.js';

const newKey = () => masterKey(randomBytes(32).toString('base64'));
const bank = () => registerBankEvents(new EventRegistry());
const opened = (accountId: string, owner: string) => ({
  type: 'AccountOpened',
  data: { accountId, owner, currency: 'EUR', overdraftLimit: 0 },
  schemaVersion: 2,
});

async function rawData(store: EventStore, streamId: string): Promise<string> {
  const rows = await store.sql.query<{ data: string }>(
    `SELECT data::text AS data FROM "${store.schema}".events WHERE stream_id = $1 ORDER BY global_position`,
    [streamId],
  );
  return rows.map((r) => r.data).join('\n');
}

describe.each(drivers)('personal data (%s)', (driver) => {
  const stores = storeFactory(driver);
  const open = (keys: KeyProvider, schema?: string, registry = bank()) =>
    stores.open({ ...(schema ? { schema } : {}), personalData: { keys, registry } });

  it('encrypts declared fields on every append path and decrypts them on every read path', async () => {
    const store = await open(staticKeyProvider(newKey()));
    const owner = `Ada-${randomUUID()}`;
    await store.append('account-a1', [opened('a1', owner)]);
    const [many] = await store.appendMany([{ streamId: 'account-a2', events: [opened('a2', `${owner}-2`)] }]);
    expect(many!.nextExpectedVersion).toBe(1);

    const raw = await rawData(store, 'account-a1');
    expect(raw).not.toContain(owner);
    expect(raw).toMatch(/"owner": "\$pd:1:[A-Za-z0-9_-]{22}:/);
    expect(raw).toContain('"accountId": "a1"'); // the subject stays readable
    expect(await rawData(store, 'account-a2')).not.toContain(owner);

    const [event] = await store.readStream('account-a1');
    expect(event!.data).toMatchObject({ owner, accountId: 'a1' });
    expect((await store.readEvent(event!.id))!.data).toMatchObject({ owner });
    const all = await store.readAll();
    expect(all.map((e) => (e.data as { owner: string }).owner)).toEqual([owner, `${owner}-2`]);
    const seen: unknown[] = [];
    for await (const e of store.subscribe({ signal: AbortSignal.timeout(2000) })) {
      seen.push((e.data as { owner: string }).owner);
      if (seen.length === 2) break;
    }
    expect(seen).toEqual([owner, `${owner}-2`]);
  });

  it('keeps an append with the same event id idempotent (deterministic ciphertext)', async () => {
    const store = await open(staticKeyProvider(newKey()));
    const id = randomUUID();
    const first = await store.append('account-r', [{ id, ...opened('r', 'Retry Person') }]);
    const again = await store.append('account-r', [{ id, ...opened('r', 'Retry Person') }]);
    expect(again).toEqual(first);
    await expect(store.append('account-r', [{ id, ...opened('r', 'Someone Else') }])).rejects.toThrow(/different type or data/);
  });

  it('forgets a subject: its values read as the marker everywhere, other subjects untouched; idempotent', async () => {
    const store = await open(staticKeyProvider(newKey()));
    await store.append('account-f1', [opened('f1', 'Forget Me')]);
    await store.append('account-f2', [opened('f2', 'Keep Me')]);
    // a cached key must not outlive the forget
    expect((await store.readStream('account-f1'))[0]!.data).toMatchObject({ owner: 'Forget Me' });

    const result = await store.forget('f1');
    expect(result).toMatchObject({ subjectId: 'f1', keyDestroyed: true, events: 1, erasedInPlace: 0, streams: ['account-f1'] });
    expect(result.eventTypes).toEqual(['AccountOpened']);
    expect((await store.readStream('account-f1'))[0]!.data).toMatchObject({ owner: ERASED, accountId: 'f1', currency: 'EUR' });
    expect((await store.readAll()).map((e) => (e.data as { owner: string }).owner)).toEqual([ERASED, 'Keep Me']);

    const again = await store.forget('f1');
    expect(again).toMatchObject({ keyDestroyed: false, events: 1, erasedInPlace: 0 });
    const unknown = await store.forget('nobody-ever');
    expect(unknown).toMatchObject({ keyDestroyed: false, events: 0, streams: [] });

    // The subject comes back: a new key, readable; the old events stay erased.
    await store.append('account-f1', [{ type: 'AccountFrozen', data: { accountId: 'f1' } }]);
    await store.append('account-f3', [opened('f1', 'New Life')]);
    expect((await store.readStream('account-f3'))[0]!.data).toMatchObject({ owner: 'New Life' });
    expect((await store.readStream('account-f1'))[0]!.data).toMatchObject({ owner: ERASED });
  });

  it('keeps subjects per tenant: forgetting a1 in one tenant leaves the same id in another readable', async () => {
    const store = await open(staticKeyProvider(newKey()));
    const [acme, globex] = [store.forTenant('acme'), store.forTenant('globex')];
    await acme.append('account-a1', [opened('a1', 'Acme Ada')]);
    await globex.append('account-a1', [opened('a1', 'Globex Ada')]);
    await acme.append('account-a1', [{ type: 'MoneyDeposited', data: { accountId: 'a1', amount: 5 } }]);

    const result = await globex.forget('a1');
    expect(result).toMatchObject({ keyDestroyed: true, events: 1, streams: ['account-a1'] });
    expect((await globex.readStream('account-a1'))[0]!.data).toMatchObject({ owner: ERASED });
    expect((await acme.readStream('account-a1'))[0]!.data).toMatchObject({ owner: 'Acme Ada' });
    // A new append of a1 in acme still uses acme's key, which survived.
    await acme.append('account-a9', [opened('a1', 'Acme Ada again')]);
    expect((await acme.readStream('account-a9'))[0]!.data).toMatchObject({ owner: 'Acme Ada again' });
    // The default tenant has no a1: forgetting it there destroys nothing.
    expect(await store.forget('a1')).toMatchObject({ keyDestroyed: false, events: 0 });
    expect((await acme.readStream('account-a1'))[0]!.data).toMatchObject({ owner: 'Acme Ada' });
  });

  it("erases plain-text values written before protection was on, and deletes the snapshots of the subject's streams", async () => {
    const schema = uniqueSchema();
    const plain = await stores.open({ schema });
    await plain.append('account-l1', [opened('l1', 'Legacy Lovelace')]);
    await plain.append('account-l2', [opened('l2', 'Legacy Other')]);
    await plain.sql.query(
      `INSERT INTO "${schema}".snapshots (stream_id, aggregate_type, schema_version, stream_version, state) VALUES
        ('account-l1', 'BankAccount', 1, 1, '{"owner":"Legacy Lovelace"}'), ('account-l2', 'BankAccount', 1, 1, '{"owner":"Legacy Other"}')`,
    );
    const store = await open(staticKeyProvider(newKey()), schema);
    expect((await store.readStream('account-l1'))[0]!.data).toMatchObject({ owner: 'Legacy Lovelace' });

    const result = await store.forget('l1');
    expect(result).toMatchObject({ keyDestroyed: false, events: 1, erasedInPlace: 1, snapshotsDeleted: 1 });
    expect(await rawData(store, 'account-l1')).not.toContain('Legacy Lovelace');
    expect((await store.readStream('account-l1'))[0]!.data).toMatchObject({ owner: ERASED });
    const snapshots = await store.sql.query<{ state: string }>(`SELECT state::text AS state FROM "${schema}".snapshots`);
    expect(snapshots.map((s) => s.state).join()).not.toContain('Lovelace');
    expect(snapshots).toHaveLength(1);
  });

  it('refuses a wrong master key at open, clearly, and keeps a forgotten key unreadable', async () => {
    const schema = uniqueSchema();
    const right = newKey();
    const store = await open(staticKeyProvider(right), schema);
    await store.append('account-w', [opened('w', 'Wrong Key Test')]);
    const wrong = newKey();
    await expect(open(staticKeyProvider(wrong), schema)).rejects.toThrow(
      new RegExp(`wrapped under master key ${right.id}, but the master key given is ${wrong.id}: set FABULA_MASTER_KEY`),
    );
    // Same id, different bytes (a tampered provider or table): unwrapping fails with a clear error.
    const forged = { id: right.id, key: randomBytes(32) };
    const other = await open(staticKeyProvider(forged), schema);
    await expect(other.readStream('account-w')).rejects.toMatchObject({ code: 'master_key_wrong' });
  });

  it('rotates the master key: old wraps open during the rotation, re-wrapped keys open with the new key alone', async () => {
    const schema = uniqueSchema();
    const oldKey = newKey();
    const newer = newKey();
    const before = await open(staticKeyProvider(oldKey), schema);
    for (const id of ['k1', 'k2', 'k3']) await before.append(`account-${id}`, [opened(id, `Owner ${id}`)]);

    const during = await open(staticKeyProvider(newer, [oldKey]), schema);
    expect((await during.readStream('account-k1'))[0]!.data).toMatchObject({ owner: 'Owner k1' });
    await during.append('account-k4', [opened('k4', 'Owner k4')]); // new keys under the new master key
    expect(await during.rewrapDataKeys()).toEqual({ rewrapped: 3, masterKeyId: newer.id });
    expect(await during.rewrapDataKeys()).toEqual({ rewrapped: 0, masterKeyId: newer.id });

    const after = await open(staticKeyProvider(newer), schema);
    expect((await after.readAll()).map((e) => (e.data as { owner: string }).owner)).toEqual([
      'Owner k1',
      'Owner k2',
      'Owner k3',
      'Owner k4',
    ]);
    await expect(open(staticKeyProvider(oldKey), schema)).rejects.toMatchObject({ code: 'master_key_wrong' });
  });

  it('creates one key when concurrent appends bring the same new subject; every event stays readable', async () => {
    const schema = uniqueSchema();
    const keys = staticKeyProvider(newKey());
    const a = await open(keys, schema);
    const b = await stores.openSeparate(schema, { personalData: { keys, registry: bank() } });
    const appends = [];
    for (let i = 0; i < 10; i++) {
      appends.push((i % 2 ? a : b).append(`account-c${i}`, [opened('same-subject', `Concurrent ${i}`)]));
    }
    await Promise.all(appends);
    const rows = await a.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".personal_data_keys`);
    expect(rows[0]!.n).toBe(1);
    const fresh = await open(keys, schema);
    const owners = (await fresh.readAll()).map((e) => (e.data as { owner: string }).owner).sort();
    expect(owners).toEqual([...Array(10).keys()].map((i) => `Concurrent ${i}`).sort());
    // forgetting in one "process" is seen by the other's cache
    await a.forget('same-subject');
    const ownerSeenByB = async () => ((await b.readStream('account-c0'))[0]!.data as { owner: string }).owner;
    const deadline = Date.now() + 5000; // the notification's way
    while ((await ownerSeenByB()) !== ERASED && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await ownerSeenByB()).toBe(ERASED);
  });

  it('runs upcasters on redacted data, passes the contract check, and aggregates still load after forget', async () => {
    const Registered = defineEvent('PersonRegistered', {
      version: 2,
      schema: z.object({ personId: z.string(), name: z.object({ first: z.string(), last: z.string() }), age: z.number() }),
      personalData: { subject: 'personId', fields: ['name.first', 'name.last', 'age'] },
    });
    const registry = new EventRegistry()
      .register(Registered)
      .upcast('PersonRegistered', 1, (data) => ({ ...(data as object), age: (data as { age?: number }).age ?? 0 }));
    const store = await open(staticKeyProvider(newKey()), undefined, registry);
    await store.append('person-p1', [
      { type: 'PersonRegistered', data: { personId: 'p1', name: { first: 'Grace', last: 'Hopper' } }, schemaVersion: 1 },
    ]);
    await store.append('person-p1', [
      { type: 'PersonRegistered', data: { personId: 'p1', name: { first: 'Grace', last: 'Hopper' }, age: 85 }, schemaVersion: 2 },
    ]);
    const raw = await rawData(store, 'person-p1');
    expect(raw).not.toMatch(/Grace|Hopper|"age": 85/); // (85 alone may occur in base64)
    expect((await store.readStream('person-p1')).map((e) => registry.decode(e).data)).toEqual([
      { personId: 'p1', name: { first: 'Grace', last: 'Hopper' }, age: 0 },
      { personId: 'p1', name: { first: 'Grace', last: 'Hopper' }, age: 85 },
    ]);
    await store.forget('p1');
    const after = await store.readStream('person-p1');
    expect(after.map((e) => registry.decode(e).data)).toEqual([
      { personId: 'p1', name: { first: ERASED, last: ERASED }, age: 0 },
      { personId: 'p1', name: { first: ERASED, last: ERASED }, age: ERASED },
    ]);
    expect(after.map((e) => registry.checkStored(e))).toEqual([null, null]);

    // The bank's aggregate folds a redacted AccountOpened, with snapshots and the state cache in play.
    const bankRegistry = bank();
    const bankStore = await open(staticKeyProvider(newKey()), undefined, bankRegistry);
    const accounts = new AggregateRepository(bankStore, BankAccount, { registry: bankRegistry, snapshots: { every: 2 } });
    const account = await accounts.load('agg1');
    account.open('Aggregate Owner', 'EUR');
    account.deposit(100);
    await accounts.save(account);
    const deposit = await accounts.load('agg1');
    deposit.deposit(5);
    await accounts.save(deposit);
    expect((await accounts.load('agg1')).owner).toBe('Aggregate Owner');
    await bankStore.forget('agg1');
    const loaded = await accounts.load('agg1');
    expect(loaded.owner).toBe(ERASED);
    expect(loaded.balance).toBe(105);
    const later = await accounts.load('agg1');
    later.withdraw(5);
    await accounts.save(later);
  });

  it('checks declarations and the subject of appended events', async () => {
    expect(() => defineEvent('Bad', { schema: z.object({}), personalData: { subject: 'id', fields: [] } })).toThrow(
      /Bad.personalData.fields: must be a non-empty array/,
    );
    expect(() => defineEvent('Bad', { schema: z.object({}), personalData: { subject: 'id', fields: ['a..b'] } })).toThrow(
      /not a dotted path/,
    );
    expect(() => defineEvent('Bad', { schema: z.object({}), personalData: { subject: 'id', fields: ['id'] } })).toThrow(
      /overlaps the subject/,
    );
    const store = await open(staticKeyProvider(newKey()));
    await expect(
      store.append('account-x', [{ type: 'AccountOpened', data: { owner: 'No Subject', currency: 'EUR' }, schemaVersion: 2 }]),
    ).rejects.toThrow(/events\[0\].data.accountId: is the subject of AccountOpened's personal data/);
    expect(await rawData(store, 'account-x')).toBe('');
  });

  it('reads master keys from an environment and from a file, with clear errors', async () => {
    const key = randomBytes(32).toString('base64');
    const previous = randomBytes(32).toString('base64');
    const env = environmentKeyProvider({ FABULA_MASTER_KEY: key, FABULA_MASTER_KEY_PREVIOUS: previous })!;
    expect((await env.current()).id).toBe(masterKey(key).id);
    expect((await env.previous()).map((k) => k.id)).toEqual([masterKey(previous).id]);
    expect(environmentKeyProvider({})).toBeNull();
    expect(() => environmentKeyProvider({ FABULA_MASTER_KEY: 'c2hvcnQ=' })).toThrow(
      /FABULA_MASTER_KEY: must be 32 random bytes in base64.*openssl rand -base64 32/,
    );
    const dir = mkdtempSync(path.join(tmpdir(), 'fabula-keys-'));
    writeFileSync(path.join(dir, 'keys'), `# current first\n${key}\n${previous}\n`);
    const file = fileKeyProvider(path.join(dir, 'keys'));
    expect((await file.current()).id).toBe(masterKey(key).id);
    expect(() => fileKeyProvider(path.join(dir, 'missing'))).toThrow(/cannot read the master key file/);
  });

  it('gives inline handlers the clear values (they run before the append commits)', async () => {
    const seen: unknown[] = [];
    const store = await stores.open({
      personalData: { keys: staticKeyProvider(newKey()), registry: bank() },
      inlineHandlers: [async (events) => void seen.push(...events.map((e) => (e.data as { owner: string }).owner))],
    });
    await store.append('account-i', [opened('i', 'Inline Owner')]);
    expect(seen).toEqual(['Inline Owner']);
  });

  it('hands replays (fabula replay) decrypted events, and the marker after forget', async () => {
    const registry = bank();
    const store = await open(staticKeyProvider(newKey()), undefined, registry);
    await store.append('account-rp', [opened('rp', 'Replay Rita')]);
    const seen: unknown[] = [];
    const watcher = defineProjection<{ AccountOpened: { owner: string } }>({
      name: 'owner-watcher',
      version: 1,
      handles: ['AccountOpened'],
      apply: async (event) => void seen.push(event.data.owner),
    });
    await replayDryRun(store, watcher, { from: 0n, registry });
    await store.forget('rp');
    await replayDryRun(store, watcher, { from: 0n, registry });
    expect(seen).toEqual(['Replay Rita', ERASED]);
  });
});
