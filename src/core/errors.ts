/**
 * Every error Fabula throws on purpose is a `FabulaError` with a stable `code`, so callers (and the HTTP
 * layer) can tell a client's mistake from a fault without parsing messages.
 */
export class FabulaError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Input was malformed. `field` names what was wrong (a path such as `events[2].type`). */
export class ValidationError extends FabulaError {
  readonly field: string;
  constructor(field: string, message: string) {
    super('validation_failed', `${field}: ${message}`);
    this.field = field;
  }
}

/** The stream was not at the expected version. Reload, decide again, retry. */
export class ConcurrencyError extends FabulaError {
  readonly streamId: string;
  readonly expected: string | number;
  /** The stream's actual version (0 when it has no events). */
  readonly actual: number;
  constructor(streamId: string, expected: string | number, actual: number) {
    super(
      'concurrency_conflict',
      `stream "${streamId}" expected version ${String(expected)} but is at version ${actual}; reload the stream and retry`,
    );
    this.streamId = streamId;
    this.expected = expected;
    this.actual = actual;
  }
}

/** An event id was reused for different content or in another stream. */
export class IdempotencyError extends FabulaError {
  readonly eventId: string;
  readonly streamId: string;
  constructor(eventId: string, streamId: string, reason: string) {
    super('idempotency_conflict', `event id ${eventId} in stream "${streamId}": ${reason}`);
    this.eventId = eventId;
    this.streamId = streamId;
  }
}

/** The stream was deleted (tombstoned); it accepts no more events. */
export class StreamDeletedError extends FabulaError {
  readonly streamId: string;
  constructor(streamId: string) {
    super('stream_deleted', `stream "${streamId}" is deleted and accepts no more events`);
    this.streamId = streamId;
  }
}

/** Another process holds the embedded store's data folder. */
export class StoreLockedError extends FabulaError {
  readonly dataDir: string;
  readonly holderPid: number | null;
  constructor(dataDir: string, holderPid: number | null, detail = '') {
    super(
      'store_locked',
      `the data folder ${dataDir} is in use by another process${holderPid === null ? '' : ` (pid ${holderPid})`}` +
        `${detail ? `: ${detail}` : ''}; stop that process, or point DATABASE_URL at a PostgreSQL server to share a store between processes`,
    );
    this.dataDir = dataDir;
    this.holderPid = holderPid;
  }
}

/** The store was used after `close()`. */
export class StoreClosedError extends FabulaError {
  constructor() {
    super('store_closed', 'the event store is closed');
  }
}

/**
 * A projection could not apply an event. From an inline projection, the append that carried the event
 * was rolled back; from `waitFor`, the projection stopped in status `failed` at or before the position
 * waited for.
 */
export class ProjectionFailedError extends FabulaError {
  readonly projection: string;
  readonly version: number;
  /** Global position of the event, when it is known (an inline failure's append was rolled back). */
  readonly position: bigint | null;
  readonly streamId: string | null;
  readonly eventType: string | null;
  constructor(
    args: {
      projection: string;
      version: number;
      position: bigint | null;
      streamId: string | null;
      eventType: string | null;
      reason: string;
    },
    options?: { cause?: unknown },
  ) {
    super('projection_failed', `projection "${args.projection}" v${args.version}: ${args.reason}`, options);
    this.projection = args.projection;
    this.version = args.version;
    this.position = args.position;
    this.streamId = args.streamId;
    this.eventType = args.eventType;
  }
}

/** `waitFor` gave up: the projection had not passed the position within the timeout. */
export class ProjectionTimeoutError extends FabulaError {
  readonly projection: string;
  readonly position: bigint;
  /** Where the projection was when the wait ended. */
  readonly checkpoint: bigint;
  constructor(projection: string, position: bigint, checkpoint: bigint, timeoutMs: number) {
    super(
      'projection_timeout',
      `projection "${projection}" did not reach position ${position} within ${timeoutMs} ms (it is at ${checkpoint}); is a projection daemon running it? see projectionStatus()`,
    );
    this.projection = projection;
    this.position = position;
    this.checkpoint = checkpoint;
  }
}

/**
 * The projection version this code reads is still being built beside an older one (blue/green): its
 * tables do not serve reads yet. Temporary: HTTP 503; retry once it has taken over.
 */
export class ProjectionBuildingError extends FabulaError {
  readonly projection: string;
  readonly version: number;
  readonly activeVersion: number;
  /** The HTTP status the server answers with. */
  readonly status = 503;
  constructor(projection: string, version: number, activeVersion: number) {
    super(
      'projection_building',
      `projection "${projection}" v${version}, the version this code reads, is still being built beside v${activeVersion}; it serves reads once it has caught up (see GET /projections or fabula projections status); retry shortly`,
    );
    this.projection = projection;
    this.version = version;
    this.activeVersion = activeVersion;
  }
}

/** No projection of that name is registered in this store. */
export class ProjectionNotFoundError extends FabulaError {
  readonly projection: string;
  constructor(projection: string) {
    super('projection_not_found', `no projection named "${projection}" is registered in this store`);
    this.projection = projection;
  }
}

/** A business rule refused the command (insufficient funds, order already shipped, ...). */
export class DomainError extends FabulaError {
  constructor(message: string, code = 'domain_rule_violated') {
    super(code, message);
  }
}

/** The aggregate's lifecycle does not allow this command or event in its current state. */
export class IllegalStateError extends DomainError {
  readonly state: string;
  readonly action: string;
  constructor(aggregate: string, state: string, action: string, allowed: readonly string[]) {
    super(
      `${aggregate} is ${state}: ${action} is not allowed${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ' (nothing is allowed in this state)'}`,
      'illegal_state',
    );
    this.state = state;
    this.action = action;
  }
}

/** The caller is not allowed to run this command. */
export class ForbiddenError extends FabulaError {
  constructor(message = 'not allowed') {
    super('forbidden', message);
  }
}

/** No handler is registered for this command or query type. */
export class UnknownMessageError extends FabulaError {
  readonly messageType: string;
  constructor(kind: 'command' | 'query', messageType: string, known: readonly string[]) {
    super(`unknown_${kind}`, `unknown ${kind} type ${JSON.stringify(messageType)}; known: ${known.join(', ') || 'none'}`);
    this.messageType = messageType;
  }
}

/** What was asked for does not exist (an account, an order, a read-model row). */
export class NotFoundError extends FabulaError {
  constructor(message: string) {
    super('not_found', message);
  }
}
