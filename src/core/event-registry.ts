/**
 * Events as versioned contracts.
 *
 * `defineEvent` declares an event type with a zod schema and a version. An `EventRegistry` holds a
 * module's definitions (explicitly: there is no hidden global registry), validates events before they
 * are appended, and on read turns stored events back into current-version domain events: it restores
 * what JSON cannot hold (through the `Transcoder`) and runs the upcaster chain (v1 → v2 → v3 ...).
 * Stored events are never rewritten.
 */
import type { z } from 'zod';
import { FabulaError, ValidationError } from './errors.js';
import type { EventMetadata, NewEvent, RecordedEvent } from './events.js';
import { Transcoder } from './transcoder.js';
import { validateEventType } from './validation.js';
import { zodIssueToValidationError } from './zod-errors.js';
import { getPath, isErased, parseDeclaration, type PersonalDataDeclaration, type PersonalDataPaths } from './personal-data.js';

/** An event as the domain sees it: a past-tense fact with typed data. */
export interface DomainEvent<Type extends string = string, Data = unknown> {
  type: Type;
  data: Data;
  /** Extra metadata for this one event (the command bus adds correlation and causation ids). */
  metadata?: EventMetadata;
  /** An id for this event (UUID). The command bus derives one from the command id, for idempotency. */
  id?: string;
}

/** A domain event read back from the store: current version, with where and when it was recorded. */
export type StoredDomainEvent<E extends DomainEvent = DomainEvent> = E & {
  id: string;
  metadata: EventMetadata;
  streamId: string;
  streamVersion: number;
  globalPosition: bigint;
  recordedAt: Date;
  /** The version the event was written with, before upcasting. */
  storedSchemaVersion: number;
};

export interface EventDefinition<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly version: number;
  readonly schema: z.ZodType<Data>;
  readonly description?: string;
  /**
   * Which fields are personal data and whose (see docs/personal-data.md): encrypted per subject by a store
   * with personal-data protection, shown as `ERASED` once the subject is forgotten.
   */
  readonly personalData?: PersonalDataDeclaration;
  /** Builds a domain event of this type (not validated until it is encoded for the store). */
  create(data: Data, metadata?: EventMetadata): DomainEvent<Type, Data>;
}

/** The domain event type of one definition or a union of them: `EventOf<typeof MoneyDeposited>`. */
export type EventOf<D> = D extends EventDefinition<infer Type, infer Data> ? DomainEvent<Type, Data> : never;

export function defineEvent<Type extends string, Data>(
  type: Type,
  options: { schema: z.ZodType<Data>; version?: number; description?: string; personalData?: PersonalDataDeclaration },
): EventDefinition<Type, Data> {
  validateEventType(type, 'type');
  const version = options.version ?? 1;
  if (!Number.isInteger(version) || version < 1 || version > 32767) {
    throw new ValidationError('version', `${version} is not a valid version for event ${type}: use an integer from 1 to 32767`);
  }
  if (options.personalData !== undefined) parseDeclaration(options.personalData, `${type}.personalData`);
  return {
    type,
    version,
    schema: options.schema,
    description: options.description,
    ...(options.personalData
      ? { personalData: { subject: options.personalData.subject, fields: [...options.personalData.fields] } }
      : {}),
    create: (data, metadata) => (metadata ? { type, data, metadata } : { type, data }),
  };
}

export type Upcaster = (data: unknown, event: RecordedEvent) => unknown;

interface UpcasterEntry {
  fromVersion: number;
  fn: Upcaster;
  description?: string;
}

export class EventRegistry {
  readonly transcoder: Transcoder;
  private readonly definitions = new Map<string, EventDefinition>();
  private readonly upcasters = new Map<string, Map<number, UpcasterEntry>>();
  private readonly personal = new Map<string, PersonalDataPaths>();

  constructor(options: { definitions?: readonly EventDefinition<string, any>[]; transcoder?: Transcoder } = {}) {
    this.transcoder = options.transcoder ?? new Transcoder();
    if (options.definitions) this.register(...options.definitions);
  }

  register(...definitions: EventDefinition<string, any>[]): this {
    for (const definition of definitions) {
      if (this.definitions.has(definition.type)) {
        throw new ValidationError('type', `event type ${definition.type} is already registered; event type names must be unique`);
      }
      this.definitions.set(definition.type, definition);
      if (definition.personalData)
        this.personal.set(definition.type, parseDeclaration(definition.personalData, `${definition.type}.personalData`));
    }
    return this;
  }

  /**
   * Registers how to turn `type`'s data at `fromVersion` into data at `fromVersion + 1`. Chains run on
   * read, so handlers only ever see the current version.
   */
  upcast(type: string, fromVersion: number, fn: Upcaster, description?: string): this {
    const definition = this.definition(type);
    if (!Number.isInteger(fromVersion) || fromVersion < 1 || fromVersion >= definition.version) {
      throw new ValidationError(
        'fromVersion',
        `${type} is at version ${definition.version}: an upcaster must start from 1 to ${definition.version - 1}`,
      );
    }
    let chain = this.upcasters.get(type);
    if (!chain) this.upcasters.set(type, (chain = new Map()));
    if (chain.has(fromVersion))
      throw new ValidationError('fromVersion', `${type} already has an upcaster from version ${fromVersion}`);
    chain.set(fromVersion, { fromVersion, fn, description });
    return this;
  }

  has(type: string): boolean {
    return this.definitions.has(type);
  }

  definition(type: string): EventDefinition {
    const definition = this.definitions.get(type);
    if (!definition)
      throw new ValidationError('type', `unknown event type ${JSON.stringify(type)}: register its definition first`);
    return definition;
  }

  all(): EventDefinition[] {
    return [...this.definitions.values()];
  }

  /** The personal-data declarations of the registered types, paths split (what the store's protection takes). */
  personalData(): ReadonlyMap<string, PersonalDataPaths> {
    return this.personal;
  }

  /** Registered upcasters of a type, oldest first. */
  history(type: string): Array<{ fromVersion: number; toVersion: number; description?: string }> {
    const chain = this.upcasters.get(type);
    if (!chain) return [];
    return [...chain.values()]
      .sort((a, b) => a.fromVersion - b.fromVersion)
      .map((u) => ({ fromVersion: u.fromVersion, toVersion: u.fromVersion + 1, description: u.description }));
  }

  /** Throws if any registered type at version N lacks an upcaster from some version below N. */
  assertComplete(): void {
    for (const definition of this.definitions.values()) {
      for (let v = 1; v < definition.version; v++) {
        if (!this.upcasters.get(definition.type)?.has(v)) {
          throw new FabulaError(
            'upcaster_missing',
            `event ${definition.type} is at version ${definition.version} but has no upcaster from version ${v}; add registry.upcast('${definition.type}', ${v}, ...)`,
          );
        }
      }
    }
  }

  /** Validates a domain event against its schema and makes it ready for `store.append`. */
  encode(event: DomainEvent, field = 'event'): NewEvent {
    const definition = this.definition(event.type);
    const parsed = definition.schema.safeParse(event.data);
    if (!parsed.success) throw zodIssueToValidationError(parsed.error, `${field}(${event.type}).data`);
    return {
      ...(event.id ? { id: event.id } : {}),
      type: event.type,
      data: this.transcoder.encode(parsed.data),
      metadata: event.metadata,
      schemaVersion: definition.version,
    };
  }

  /**
   * A stored event as its type's current version: data restored by the transcoder and run through the
   * upcaster chain, `schemaVersion` the current version. Every read path that hands stored events to
   * user code (repositories, projections, replays) goes through here. Unregistered types pass through,
   * decoded.
   */
  toCurrentVersion<E extends RecordedEvent = RecordedEvent>(event: RecordedEvent): E {
    let data = this.transcoder.decode(event.data);
    let schemaVersion = event.schemaVersion;
    const definition = this.definitions.get(event.type);
    if (definition) {
      if (event.schemaVersion > definition.version) {
        throw new FabulaError(
          'event_version_unknown',
          `event ${event.id} (${event.type}) was written at version ${event.schemaVersion}, newer than this code knows (${definition.version}); deploy the newer code`,
        );
      }
      for (let v = event.schemaVersion; v < definition.version; v++) {
        const upcaster = this.upcasters.get(event.type)?.get(v);
        if (!upcaster) {
          throw new FabulaError(
            'upcaster_missing',
            `no upcaster for ${event.type} from version ${v}; add registry.upcast('${event.type}', ${v}, ...)`,
          );
        }
        data = upcaster.fn(data, event);
      }
      schemaVersion = definition.version;
    }
    return { ...event, data, schemaVersion } as E;
  }

  /**
   * Whether a stored event keeps its type's contract: a registered type, a version this code knows, and
   * data (upcast to the current version) that its schema accepts. Null when it does; else what is wrong.
   */
  checkStored(event: RecordedEvent): string | null {
    const definition = this.definitions.get(event.type);
    if (!definition) return `unknown event type ${event.type}: no definition is registered for it`;
    let current: RecordedEvent;
    try {
      current = this.toCurrentVersion(event);
    } catch (error) {
      return (error as Error).message;
    }
    const parsed = definition.schema.safeParse(current.data);
    if (parsed.success) return null;
    // A forgotten subject's fields hold the redaction marker, whatever their type: that keeps the contract.
    const declared = this.personal.get(event.type);
    const issues = parsed.error.issues.filter(
      (issue) =>
        !(
          declared &&
          isErased(getPath(current.data, issue.path.map(String))) &&
          declared.fields.some((f) => f.join('.') === issue.path.join('.'))
        ),
    );
    if (issues.length === 0) return null;
    const issue = zodIssueToValidationError(
      { ...parsed.error, issues } as typeof parsed.error,
      `${event.type} v${event.schemaVersion}${event.schemaVersion === definition.version ? '' : ` (upcast to v${definition.version})`} data`,
    );
    return issue.message;
  }

  /** A stored event as a current-version domain event (see `toCurrentVersion`). */
  decode<E extends DomainEvent = DomainEvent>(event: RecordedEvent): StoredDomainEvent<E> {
    const current = this.toCurrentVersion(event);
    return {
      id: event.id,
      type: event.type,
      data: current.data,
      metadata: event.metadata,
      streamId: event.streamId,
      streamVersion: event.streamVersion,
      globalPosition: event.globalPosition,
      recordedAt: event.recordedAt,
      storedSchemaVersion: event.schemaVersion,
    } as unknown as StoredDomainEvent<E>;
  }
}
