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
