/**
 * The data keys of the subjects (table `personal_data_keys`, migration 008): created on first use,
 * unwrapped with the master key, and kept unwrapped in LRU caches (the append path must not pay a round
 * trip per event). Key ids whose row is gone (forgotten) are remembered as such: ids are never reused.
 */
import { randomBytes } from 'node:crypto';
import { FabulaError } from '../../core/errors.js';
import type { SqlExecutor } from '../sql-client.js';
import { dataKey, newKeyId, unwrapKey, wrapKey, type DataKey } from './cipher.js';
import type { MasterKey } from './master-keys.js';
import { Lru } from './lru.js';

interface KeyRow {
  tenant_id: string;
  subject_id: string;
  key_id: string;
  master_key_id: string;
  wrapped_key: string;
}

export class KeyRing {
  private readonly bySubject: Lru<string, DataKey>;
  private readonly byId: Lru<string, DataKey | null>;
  /** Subjects being looked up or created: concurrent appends of one subject share the answer. */
  private readonly pending = new Map<string, Promise<DataKey>>();
  private readonly queue: Array<{ tenant: string; subject: string; resolve: (key: DataKey) => void; reject: (error: unknown) => void }> = [];
  private loading = false;
  private readonly masters: Map<string, MasterKey>;
  private readonly table: string;

  constructor(
    schema: string,
    readonly current: MasterKey,
    previous: readonly MasterKey[],
    cacheSize: number,
  ) {
    this.table = `"${schema}".personal_data_keys`;
    this.masters = new Map([...previous, current].map((m) => [m.id, m]));
    this.bySubject = new Lru(cacheSize);
    this.byId = new Lru(cacheSize * 2);
  }

  /** Fails when keys in the table are wrapped under a master key this ring was not given. */
  async checkMasterKeys(sql: SqlExecutor): Promise<void> {
    // A skip scan over the index: one probe per distinct master key, however many subjects.
    const rows = await sql.query<{ master_key_id: string }>(
      `WITH RECURSIVE m AS (
         (SELECT master_key_id FROM ${this.table} ORDER BY master_key_id LIMIT 1)
         UNION ALL
         SELECT (SELECT k.master_key_id FROM ${this.table} k WHERE k.master_key_id > m.master_key_id ORDER BY k.master_key_id LIMIT 1)
         FROM m WHERE m.master_key_id IS NOT NULL)
       SELECT master_key_id FROM m WHERE master_key_id IS NOT NULL`,
    );
    const unknown = rows.map((r) => r.master_key_id).filter((id) => !this.masters.has(id));
    if (unknown.length > 0) throw this.unknownMaster(unknown);
  }

  /**
   * The data keys of `subjects`, created where missing. Subjects not cached are looked up (and created)
   * together: one statement at a time, and what concurrent appends ask for meanwhile goes into the next,
   * as the append batcher does with appends.
   */
  async forSubjects(sql: SqlExecutor, tenant: string, subjects: readonly string[]): Promise<Map<string, DataKey>> {
    const keys = new Map<string, DataKey>();
    const waits: Promise<void>[] = [];
    for (const subject of new Set(subjects)) {
      const cached = this.bySubject.get(subjectKey(tenant, subject));
      if (cached) keys.set(subject, cached);
      else waits.push(this.load(sql, tenant, subject).then((key) => void keys.set(subject, key)));
    }
    await Promise.all(waits);
    return keys;
  }

  private load(sql: SqlExecutor, tenant: string, subject: string): Promise<DataKey> {
    const key = subjectKey(tenant, subject);
    let promise = this.pending.get(key);
    if (promise) return promise;
    promise = new Promise<DataKey>((resolve, reject) => this.queue.push({ tenant, subject, resolve, reject }));
    promise.catch(() => {});
    this.pending.set(key, promise);
    if (!this.loading) void this.loadQueued(sql);
    return promise;
  }

  private async loadQueued(sql: SqlExecutor) {
    this.loading = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, 1000);
        try {
          const keys = await this.createOrLoad(sql, batch);
          for (const b of batch) b.resolve(keys.get(subjectKey(b.tenant, b.subject))!);
        } catch (error) {
          for (const b of batch) b.reject(error);
        } finally {
          for (const b of batch) this.pending.delete(subjectKey(b.tenant, b.subject));
        }
      }
    } finally {
      this.loading = false;
    }
  }

  /** Keys by `subjectKey(tenant, subject)`. */
  private async createOrLoad(
    sql: SqlExecutor,
    subjects: ReadonlyArray<{ tenant: string; subject: string }>,
  ): Promise<Map<string, DataKey>> {
    const found = new Map<string, DataKey>();
    let todo = subjects;
    // A subject created by another process after this statement's snapshot is neither inserted (conflict)
    // nor seen (snapshot): the next attempt, with a new snapshot, sees it.
    for (let attempt = 0; todo.length > 0; attempt++) {
      if (attempt === 5)
        throw new FabulaError('personal_data_key_unavailable', `cannot create or read the data key of ${todo[0]!.subject}`);
      const candidates = todo.map(({ tenant, subject }) => {
        const keyId = newKeyId();
        return { tenant, subject, keyId, wrapped: wrapKey(this.current, keyId, randomBytes(32)) };
      });
      const rows = await sql.query<KeyRow>(
        `WITH input AS (
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $5::text[]) AS i(subject_id, key_id, wrapped_key, tenant_id)),
         inserted AS (
           INSERT INTO ${this.table} (subject_id, tenant_id, key_id, master_key_id, wrapped_key)
           SELECT subject_id, tenant_id, key_id, $4, wrapped_key FROM input
           ON CONFLICT (subject_id, tenant_id) DO NOTHING
           RETURNING tenant_id, subject_id, key_id, master_key_id, wrapped_key)
         SELECT * FROM inserted
         UNION ALL
         SELECT k.tenant_id, k.subject_id, k.key_id, k.master_key_id, k.wrapped_key
           FROM input i JOIN ${this.table} k ON k.subject_id = i.subject_id AND k.tenant_id = i.tenant_id
          WHERE NOT EXISTS (SELECT 1 FROM inserted n WHERE n.subject_id = i.subject_id AND n.tenant_id = i.tenant_id)`,
        [
          candidates.map((c) => c.subject),
          candidates.map((c) => c.keyId),
          candidates.map((c) => c.wrapped),
          this.current.id,
          candidates.map((c) => c.tenant),
        ],
      );
      for (const row of rows) {
        const key = this.unwrap(row);
        const k = subjectKey(row.tenant_id, row.subject_id);
        this.bySubject.set(k, key);
        this.byId.set(row.key_id, key);
        found.set(k, key);
      }
      todo = todo.filter((s) => !found.has(subjectKey(s.tenant, s.subject)));
    }
    return found;
  }

  /** The data keys named by `keyIds`; null for a key that no longer exists (its subject was forgotten). */
  async byIds(sql: SqlExecutor, keyIds: Iterable<string>): Promise<Map<string, DataKey | null>> {
    const keys = new Map<string, DataKey | null>();
    const missing: string[] = [];
    for (const id of keyIds) {
      const cached = this.byId.get(id);
      if (cached !== undefined) keys.set(id, cached);
      else missing.push(id);
    }
    if (missing.length === 0) return keys;
    const rows = await sql.query<KeyRow>(
      `SELECT tenant_id, subject_id, key_id, master_key_id, wrapped_key FROM ${this.table} WHERE key_id = ANY($1::text[])`,
      [missing],
    );
    for (const row of rows) {
      const key = this.unwrap(row);
      this.byId.set(row.key_id, key);
      keys.set(row.key_id, key);
    }
    for (const id of missing) {
      if (keys.has(id)) continue;
      this.byId.set(id, null);
      keys.set(id, null);
    }
    return keys;
  }

  /** Deletes the subject's key; returns its id, or null when it had none. */
  async destroy(sql: SqlExecutor, tenant: string, subject: string): Promise<string | null> {
    const rows = await sql.query<{ key_id: string }>(
      `DELETE FROM ${this.table} WHERE subject_id = $1 AND tenant_id = $2 RETURNING key_id`,
      [subject, tenant],
    );
    const keyId = rows[0]?.key_id ?? null;
    this.evict(tenant, subject, keyId);
    return keyId;
  }

  /** Drops a forgotten subject's key from the caches (here, or told by another process). */
  evict(tenant: string, subject: string, keyId: string | null): void {
    this.bySubject.delete(subjectKey(tenant, subject));
    if (keyId) this.byId.set(keyId, null);
  }

  /** Forgets every cached key (the notifications of other processes may have been missed). */
  clear(): void {
    this.bySubject.clear();
    this.byId.clear();
  }

  /**
   * Re-wraps every data key not wrapped under the current master key, `batch` at a time; returns how many.
   * Each key row is updated only if it is still under the master key it was read with.
   */
  async rewrap(sql: SqlExecutor, batch = 500): Promise<number> {
    let done = 0;
    for (;;) {
      const rows = await sql.query<KeyRow>(
        `SELECT tenant_id, subject_id, key_id, master_key_id, wrapped_key FROM ${this.table} WHERE master_key_id <> $1 ORDER BY key_id LIMIT $2`,
        [this.current.id, batch],
      );
      if (rows.length === 0) return done;
      const rewrapped = rows.map((row) => ({ row, wrapped: wrapKey(this.current, row.key_id, this.unwrap(row).key) }));
      await sql.query(
        `UPDATE ${this.table} k SET master_key_id = $4, wrapped_key = u.wrapped_key, rewrapped_at = clock_timestamp()
           FROM unnest($1::text[], $2::text[], $3::text[]) AS u(key_id, old_master, wrapped_key)
          WHERE k.key_id = u.key_id AND k.master_key_id = u.old_master`,
        [
          rewrapped.map((r) => r.row.key_id),
          rewrapped.map((r) => r.row.master_key_id),
          rewrapped.map((r) => r.wrapped),
          this.current.id,
        ],
      );
      done += rows.length;
    }
  }

  private unwrap(row: KeyRow): DataKey {
    const master = this.masters.get(row.master_key_id);
    if (!master) throw this.unknownMaster([row.master_key_id]);
    return dataKey(row.key_id, unwrapKey(master, row.key_id, row.wrapped_key));
  }

  private unknownMaster(ids: string[]): FabulaError {
    return new FabulaError(
      'master_key_wrong',
      `the store's data keys are wrapped under master key ${ids.join(', ')}, but the master key given is ${this.current.id}${
        this.masters.size > 1 ? ` (and previous ${[...this.masters.keys()].filter((k) => k !== this.current.id).join(', ')})` : ''
      }: set FABULA_MASTER_KEY to the key this store was written with (during a rotation, the old key in FABULA_MASTER_KEY_PREVIOUS)`,
    );
  }
}

/** Subjects are per tenant (docs/tenancy.md): the same subject id in two tenants has two keys. */
function subjectKey(tenant: string, subject: string): string {
  return `${tenant}\u0000${subject}`;
}
