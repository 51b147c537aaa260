/**
 * The HTTP API's contract: zod schemas for what the routes send, and the helpers that turn them into
 * route `response` schemas. The same schemas serialise the replies (a reply that does not match them
 * is a server bug, a 500) and document them in OpenAPI, so the spec cannot drift from what is sent.
 * Shared shapes are components of `apiSchemas` (`#/components/schemas/Error`, `Event`, ...).
 */
import { z } from 'zod';

type Meta = z.core.GlobalMeta;

/**
 * zod's global registry without its ids: `.describe()` and `.meta()` record descriptions there, and the
 * document keeps them; an application's own ids there must not turn its schemas into our components.
 */
class GlobalMetadata extends WeakMap<z.core.$ZodType, Meta> {
  override get(schema: z.core.$ZodType): Meta | undefined {
    const own = super.get(schema);
    if (own) return own;
    const global = z.globalRegistry.get(schema);
    if (!global || global.id === undefined) return global;
    const { id: _id, ...rest } = global;
    return rest;
  }
  override has(schema: z.core.$ZodType): boolean {
    return super.has(schema) || z.globalRegistry.has(schema);
  }
}

/** The schemas the OpenAPI document names as components (and every schema's global metadata). */
export const apiSchemas = z.registry<Meta>();
apiSchemas._map = new GlobalMetadata() as typeof apiSchemas._map;

function component<T extends z.ZodType>(id: string, description: string, schema: T): T {
  apiSchemas.add(schema, { id, description });
  return schema;
}

export const errorSchema = component(
  'Error',
  'Every error: a stable `code` to branch on, a `message` that says what to do next, and `field` when one input was wrong. Some codes add details (`streamId`, `expected`, `actual`, `projection`, `known`, ...).',
  z.looseObject({
    code: z.string().describe('Stable, snake_case: `validation_failed`, `concurrency_conflict`, `idempotency_key_reused`, ...'),
    message: z.string(),
    field: z.string().optional().describe('The input that was wrong, e.g. `DepositMoney.amount` or `querystring.limit`'),
  }),
);

const position = z.string().describe('A global position: a decimal string (it may exceed 2^53)');
const timestamp = z.string().describe('ISO 8601 date-time');

export const eventSchema = component(
  'Event',
  'A recorded event.',
  z.object({
    id: z.string(),
    type: z.string(),
    streamId: z.string(),
    streamVersion: z.number().int(),
    globalPosition: position,
    recordedAt: timestamp,
    schemaVersion: z.number().int(),
    data: z.unknown().describe("The event's payload: see GET /catalog for each type's schema"),
    metadata: z.record(z.string(), z.unknown()),
  }),
);

export const streamSchema = component(
  'Stream',
  'A stream: its id, type (the id up to its first `-`), version and timestamps.',
  z.object({
    streamId: z.string(),
    streamType: z.string(),
    version: z.number().int(),
    createdAt: timestamp,
    updatedAt: timestamp,
    deleted: z.boolean(),
    metadata: z.record(z.string(), z.unknown()),
  }),
);

export const commandResultSchema = component(
  'CommandResult',
  'The outcome of a command: the events it wrote and where. Wait for read models with `minPosition=lastPosition`.',
  z.object({
    commandId: z.string(),
    correlationId: z.string(),
    streamId: z.string(),
    nextExpectedVersion: z.number().int(),
    firstPosition: position.nullable(),
    lastPosition: position.nullable(),
    events: z.array(z.object({ id: z.string(), type: z.string(), streamVersion: z.number().int(), globalPosition: position })),
    replayed: z.boolean().describe('True when this Idempotency-Key had been handled: this is the recorded outcome'),
  }),
);

export const consumerStatusSchema = component(
  'ConsumerStatus',
  'A checkpointed consumer that is not a projection (the NATS publisher, a process manager): where it is, how far behind, why it stopped.',
  z.looseObject({
    name: z.string(),
    status: z.enum(['running', 'failed', 'paused', 'stopped']),
    checkpoint: position,
    headPosition: position,
    lagEvents: z.number(),
    lagSeconds: z.number(),
    eventsPerSecond: z.number(),
    parkedEvents: z.number(),
    failedPosition: position.nullable(),
    lastError: z.object({ message: z.string(), position: position.nullable(), at: timestamp }).nullable(),
    owner: z.string().nullable(),
    createdAt: timestamp,
  }),
);

export const projectionStatusSchema = component(
  'ProjectionStatus',
  'A projection instance: where it is, how far behind, and why it stopped if it did.',
  consumerStatusSchema.extend({
    version: z.number().int(),
    build: z.number().int(),
    mode: z.enum(['inline', 'async']),
    phase: z.enum(['active', 'building']),
    status: z.enum(['running', 'rebuilding', 'failed', 'paused', 'stopped']),
    handles: z.array(z.string()),
    progress: z.object({ done: position, total: position, percent: z.number() }),
    activatedAt: timestamp.nullable(),
  }),
);

export const processStatusSchema = component(
  'ProcessStatus',
  'A process manager (saga): its instances, the commands it decided and not yet sent or answered, its timeouts, and the consumer feeding it events.',
  z.object({
    name: z.string(),
    consumer: consumerStatusSchema.optional().describe('Absent until the process has run once'),
    activeInstances: z.number().int(),
    endedInstances: z.number().int(),
    openCommands: z.number().int(),
    scheduledTimeouts: z.number().int(),
  }),
);

export const processInstanceSchema = component(
  'ProcessInstance',
  'One instance of a process manager: its state, the commands it sent with their outcomes, its timeouts.',
  z.object({
    process: z.string(),
    instanceId: z.string(),
    state: z.unknown(),
    ended: z.boolean(),
    correlationId: z.string(),
    steps: z.number().int(),
    createdAt: timestamp,
    updatedAt: timestamp,
    commands: z.array(
      z.object({
        id: z.string(),
        step: z.string().nullable(),
        type: z.string(),
        data: z.unknown(),
        status: z.enum(['pending', 'dispatching', 'completed', 'rejected', 'withdrawn']),
        attempts: z.number().int(),
        outcome: z.unknown(),
        lastError: z.string().nullable(),
      }),
    ),
    timeouts: z.array(z.object({ name: z.string(), dueAt: timestamp })),
  }),
);

export const aggregateStateSchema = z.object({
  type: z.string(),
  id: z.string(),
  version: z.number().int(),
  asOf: timestamp.optional(),
  state: z.unknown().describe("The aggregate's state (bigints as decimal strings, maps as objects, sets as arrays)"),
});

/** A JSON value a query handler returned (its shape is the application's). */
export const queryResultSchema = z.unknown().describe("The query's result, as JSON");

/** A response with a JSON body. */
export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } };
}

/** A response with a body of another media type (metrics, Markdown, Server-Sent Events). */
export function text(mediaType: string, description: string) {
  return { description, content: { [mediaType]: { schema: z.string() } } };
}

const errorDescriptions = {
  400: 'The request is malformed or a value is invalid (`validation_failed`, `bad_request`); `field` names the input.',
  401: 'Authentication is required (`unauthenticated`): send `Authorization: Bearer <API key or token>`; a missing, unknown, revoked, expired or forged credential gets this, with a `WWW-Authenticate` challenge. Only servers started with authentication ask for one.',
  403: "The caller's roles do not allow this (`forbidden`): a command's or query's roles, a policy on the aggregate's state, the stream type's access control, or an admin route.",
  404: 'Not found.',
  409: 'Another writer changed the stream first (`concurrency_conflict`, with `streamId`, `expected` and `actual`): read again and retry.',
  410: 'The stream is deleted (`stream_deleted`) and accepts no more events.',
  413: 'The body is larger than the server accepts (`body_too_large`).',
  415: 'The body is not JSON (`unsupported_media_type`): send it with `content-type: application/json`.',
  422: 'Understood but refused.',
  429: 'Too many requests from this user or tenant (`rate_limited`): retry after the `Retry-After` delay, in seconds.',
  500: 'An unexpected fault (`internal_error`); the server log has the details under the `x-request-id`.',
  503: 'Unavailable right now (`store_unavailable`, a read model still being built after a deploy: `projection_building`, or the server is shutting down): retry after the `Retry-After` delay.',
} as const;

export type ErrorStatus = keyof typeof errorDescriptions;

/** Error responses with the shared `Error` body; `specific` replaces the generic descriptions. */
export function errors<S extends ErrorStatus>(statuses: readonly S[], specific: Partial<Record<ErrorStatus, string>> = {}) {
  return Object.fromEntries(statuses.map((s) => [s, json(errorSchema, specific[s] ?? errorDescriptions[s])])) as Record<
    S,
    ReturnType<typeof json<typeof errorSchema>>
  >;
}

/**
 * What any route that reads the store and knows its caller can answer besides its own errors: 401
 * without valid credentials, 403 when its roles do not allow it, 429 over its rate limit.
 */
export const commonErrors = [401, 403, 429, 500, 503] as const;
/** What any POST can answer about its body before the route sees it. */
export const bodyErrors = [400, 413, 415] as const;

/** An operationId from a message name: `account-balances` -> `AccountBalances`. */
export function pascalCase(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join('');
}
