/**
 * The store's personal-data part: encrypts the declared fields of appended events under their subject's
 * data key, decrypts them on every read (the marker `ERASED` when the key is gone), and forgets subjects.
 * See docs/personal-data.md.
 */
import { ValidationError } from '../../core/errors.js';
import type { EventRegistry } from '../../core/event-registry.js';
import type { RecordedEvent } from '../../core/events.js';
import { ERASED, getPath, isErased, subjectOf, updatePath, type PersonalDataPaths } from '../../core/personal-data.js';
import type { PreparedEvent } from '../../core/validation.js';
import type { SqlClient, SqlExecutor } from '../sql-client.js';
import { decryptValue, encryptValue, envelopeKeyId, mayBeEnvelope, type DataKey } from './cipher.js';
import { KeyRing } from './key-ring.js';
import type { KeyProvider } from './master-keys.js';

export interface PersonalDataOptions {
  /** Where the master keys come from (`environmentKeyProvider`, `fileKeyProvider`, `staticKeyProvider`). */
  keys: KeyProvider;
  /**
   * The registry whose event definitions declare personal data: appends of those types are encrypted,
   * and `forget` finds a subject's events by them. Reads decrypt without it (envelopes name their key).
   */
  registry?: EventRegistry;
  /** Unwrapped data keys kept in memory. Default 10,000. */
  cacheSize?: number;
}

/** What `store.forget(subjectId)` did. */
export interface ForgetResult {
  subjectId: string;
  /** Whether the subject had a data key (false: unknown subject, or forgotten before). */
  keyDestroyed: boolean;
  /** Events that carry the subject (by the declarations). */
  events: number;
  /** Of these, events written in plain text (before protection was on) whose personal fields were erased in place. */
  erasedInPlace: number;
  /** Streams holding them: their snapshots were deleted. */
  streams: string[];
  snapshotsDeleted: number;
  /** The event types found: read models built from them hold the values until rebuilt. */
  eventTypes: string[];
}

export class PersonalDataProtection {
  /** Bumped on every forget seen (here or in another process): caches of decrypted state drop their entries. */
  generation = 0;
  private readonly declarations: ReadonlyMap<string, PersonalDataPaths>;
  private readonly forgetChannel: string;

  private constructor(
    private readonly ring: KeyRing,
    private readonly schema: string,
    registry: EventRegistry | undefined,
  ) {
    this.declarations = registry?.personalData() ?? new Map();
    this.forgetChannel = `${schema}_forgotten`;
  }

  /** Checks the master keys against the keys table and listens for other processes' forgets. */
  static async start(sql: SqlClient, schema: string, options: PersonalDataOptions): Promise<PersonalDataProtection> {
    if (typeof options?.keys?.current !== 'function' || typeof options.keys.previous !== 'function')
      throw new ValidationError(
        'personalData.keys',
        'must be a key provider: environmentKeyProvider(...), fileKeyProvider(...) or staticKeyProvider(...)',
      );
    const cacheSize = options.cacheSize ?? 10_000;
    if (!Number.isInteger(cacheSize) || cacheSize < 1)
      throw new ValidationError('personalData.cacheSize', 'must be a positive integer');
    const ring = new KeyRing(schema, await options.keys.current(), await options.keys.previous(), cacheSize);
    await ring.checkMasterKeys(sql);
    const protection = new PersonalDataProtection(ring, schema, options.registry);
    protection.unlisten = await sql.listen(protection.forgetChannel, (payload) => protection.onForgotten(payload));
    return protection;
  }

  private unlisten: (() => Promise<void>) | null = null;

  async stop(): Promise<void> {
    await this.unlisten?.().catch(() => {});
  }

  /** The id of the master key new data keys are wrapped with. */
  get masterKeyId(): string {
    return this.ring.current.id;
  }

  /**
   * The events with their declared fields encrypted in `dataJson` (`data` stays clear: inline handlers
   * are given it). Creates the data keys of new subjects, all of them in one round trip.
   */
  async protect(sql: SqlExecutor, tenant: string, events: PreparedEvent[], field: string): Promise<PreparedEvent[]> {
    if (this.declarations.size === 0) return events;
    const subjects: Array<string | null> = events.map((event, i) => {
      const paths = this.declarations.get(event.type);
      if (!paths) return null;
      const subject = subjectOf(event.data, paths);
      if (subject === null && paths.fields.some((f) => getPath(event.data, f) !== undefined && getPath(event.data, f) !== null)) {
        throw new ValidationError(
          `${field}[${i}].data.${paths.subject.join('.')}`,
          `is the subject of ${event.type}'s personal data: it must be a non-empty string`,
        );
      }
      return subject;
    });
    const wanted = subjects.filter((s): s is string => s !== null);
    if (wanted.length === 0) return events;
    const keys = await this.ring.forSubjects(sql, tenant, wanted);
    return events.map((event, i) => {
      const subject = subjects[i];
      if (subject == null) return event;
      const key = keys.get(subject)!;
      const paths = this.declarations.get(event.type)!;
      const encrypted = paths.fields.reduce(
        (data, path) =>
          updatePath(data, path, (value) =>
            value === null || value === undefined ? value : encryptValue(key, event.id, path.join('.'), value),
          ),
        event.data,
      );
      return { ...event, dataJson: JSON.stringify(encrypted) };
    });
  }

  /** The events with every envelope decrypted, or `ERASED` where its key was destroyed. */
  async reveal(sql: SqlExecutor, events: RecordedEvent[]): Promise<RecordedEvent[]> {
    const keyIds = new Set<string>();
    for (const event of events) collectKeyIds(event.data, keyIds);
    if (keyIds.size === 0) return events;
    const keys = await this.ring.byIds(sql, keyIds);
    return events.map((event) => {
      const data = replaceEnvelopes(event.data, keys, event.id);
      return data === event.data ? event : { ...event, data };
    });
  }

  /**
   * Destroys the subject's data key, erases its personal fields in events written before protection was
   * on, and deletes the snapshots of the streams holding its events, in one transaction; tells the other
   * processes (their caches drop the key and decrypted states). Subjects are per tenant: only `tenant`'s.
   */
  async forget(sql: SqlClient, tenant: string, subjectId: string): Promise<ForgetResult> {
    if (typeof subjectId !== 'string' || subjectId.length === 0 || subjectId.length > 1000)
      throw new ValidationError('subjectId', 'must be a non-empty string of at most 1,000 characters');
    if (this.declarations.size === 0)
      throw new ValidationError(
        'personalData.registry',
        "forget needs the registry whose event definitions declare personal data, to find the subject's events (openEventStore({ personalData: { keys, registry } }))",
      );
    const s = `"${this.schema}"`;
    const result = await sql
      .transaction(async (tx) => {
        const keyId = await this.ring.destroy(tx, tenant, subjectId);
        const streams = new Set<string>();
        const types = new Set<string>();
        let events = 0;
        let erasedInPlace = 0;
        for (const [type, paths] of this.declarations) {
          // By type (index events_by_type), then the subject's id in the data: a scan of the type's events.
          const rows = await tx.query<{ global_position: string; stream_id: string; data: unknown }>(
            `SELECT global_position::text AS global_position, stream_id, data FROM ${s}.events
            WHERE event_type = $1 AND data #>> $2::text[] = $3 AND tenant_id = $4`,
            [type, paths.subject, subjectId, tenant],
          );
          for (const row of rows) {
            events++;
            streams.add(row.stream_id);
            types.add(type);
            const erased = paths.fields.reduce(
              (data, path) => updatePath(data, path, (v) => (v === null || mayBeEnvelope(v) || isErased(v) ? v : ERASED)),
              row.data,
            );
            if (JSON.stringify(erased) === JSON.stringify(row.data)) continue;
            await tx.query(`UPDATE ${s}.events SET data = $2::jsonb WHERE global_position = $1::bigint`, [
              row.global_position,
              JSON.stringify(erased),
            ]);
            erasedInPlace++;
          }
        }
        const deleted = await tx.query<{ n: number }>(
          `WITH d AS (DELETE FROM ${s}.snapshots WHERE stream_id = ANY($1::text[]) AND tenant_id = $2 RETURNING 1)
           SELECT count(*)::int AS n FROM d`,
          [[...streams], tenant],
        );
        await tx.query('SELECT pg_notify($1, $2)', [this.forgetChannel, JSON.stringify({ tenant, subjectId, keyId })]);
        return {
          subjectId,
          keyDestroyed: keyId !== null,
          events,
          erasedInPlace,
          streams: [...streams].sort(),
          snapshotsDeleted: deleted[0]!.n,
          eventTypes: [...types].sort(),
        };
      })
      .catch((error: unknown) => {
        this.ring.clear(); // the key was dropped from the caches before the rollback
        throw error;
      });
    this.generation++;
    return result;
  }

  /** Re-wraps every data key under the current master key (after a rotation); returns how many. */
  rewrap(sql: SqlExecutor): Promise<number> {
    return this.ring.rewrap(sql);
  }

  private onForgotten(payload: string | null) {
    this.generation++;
    if (payload === null) return this.ring.clear();
    try {
      const { tenant, subjectId, keyId } = JSON.parse(payload) as { tenant: string; subjectId: string; keyId: string | null };
      this.ring.evict(tenant, subjectId, keyId);
    } catch {
      this.ring.clear();
    }
  }
}

function collectKeyIds(value: unknown, into: Set<string>): void {
  if (typeof value === 'string') {
    if (mayBeEnvelope(value)) {
      const id = envelopeKeyId(value);
      if (id) into.add(id);
    }
  } else if (Array.isArray(value)) {
    for (const item of value) collectKeyIds(item, into);
  } else if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) collectKeyIds(item, into);
  }
}

/** `value` with envelopes decrypted; the same object when it holds none. */
function replaceEnvelopes(value: unknown, keys: Map<string, DataKey | null>, eventId: string): unknown {
  if (typeof value === 'string') {
    if (!mayBeEnvelope(value)) return value;
    const id = envelopeKeyId(value);
    if (!id) return value;
    const key = keys.get(id);
    return key ? decryptValue(key, eventId, value) : ERASED;
  }
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    let changed = false;
    const items = value.map((item) => {
      const next = replaceEnvelopes(item, keys, eventId);
      changed ||= next !== item;
      return next;
    });
    return changed ? items : value;
  }
  let copy: Record<string, unknown> | null = null;
  for (const [k, item] of Object.entries(value)) {
    const next = replaceEnvelopes(item, keys, eventId);
    if (next !== item) (copy ??= { ...(value as Record<string, unknown>) })[k] = next;
  }
  return copy ?? value;
}
