/**
 * The OpenAPI document's frame (info, servers, tags, the optional bearer scheme) and the two passes
 * over what @fastify/swagger produced from the routes: the response headers every client may read
 * (`x-request-id`, `retry-after`, `idempotent-replayed`), and only the components the paths use.
 */
import type { SwaggerOptions } from '@fastify/swagger';
import { createJsonSchemaTransform, createJsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { apiSchemas } from './schemas.js';

const componentsOf = createJsonSchemaTransformObject({ schemaRegistry: apiSchemas });

const headers = {
  RequestId: {
    description: "The request's id (the caller's `x-request-id`, else generated): the server log has it on every line",
    schema: { type: 'string' },
  },
  RetryAfter: { description: 'Seconds to wait before retrying', schema: { type: 'string' } },
  WwwAuthenticate: {
    description:
      'The challenge (RFC 6750): `Bearer realm="fabula"`, with `error="invalid_token"` when the credential sent was refused',
    schema: { type: 'string' },
  },
  IdempotentReplayed: {
    description: '`true`: this Idempotency-Key was handled before and this is its recorded outcome',
    schema: { type: 'string', enum: ['true'] },
  },
};

export function openapiOptions(title: string): SwaggerOptions {
  return {
    openapi: {
      openapi: '3.0.3',
      info: {
        title,
        version: '1',
        description: [
          'Event-sourced service. Commands change state (POST /commands/{type}); queries read read models; the event log is readable and tailable.',
          'Positions are decimal strings (they may exceed 2^53). Every error is JSON with a stable `code` and a `message` (the `Error` schema).',
          'Authentication: a server started with API keys, JWTs or tokens asks for `Authorization: Bearer <credential>` and answers 401 without a valid one; otherwise requests are anonymous. Roles decide what a caller may do (403 `forbidden`); rate limits answer 429 `rate_limited` with Retry-After.',
        ].join(' '),
        license: { name: 'MIT', url: 'https://opensource.org/licenses/MIT' },
      },
      servers: [{ url: '/', description: 'This server (URLs are relative to where this document is served)' }],
      tags: [
        { name: 'commands', description: 'Change state: one route per command type' },
        { name: 'queries', description: 'Read models, with read-your-writes (`minPosition`)' },
        { name: 'events', description: 'The event log: streams, the global order, a live tail, aggregate state at a time' },
        { name: 'projections', description: 'Operating read models: status, pause, resume, rebuild, parked events' },
        {
          name: 'consumers',
          description: 'Consumers of the event log that are not projections: the NATS publisher, process managers',
        },
        { name: 'processes', description: 'Process managers (sagas): status, and each instance with its commands and timeouts' },
        { name: 'catalog', description: 'The event types and their schemas' },
        { name: 'personal data', description: "Crypto-shredding: forget a subject's personal data" },
        { name: 'operations', description: 'Health checks and metrics' },
      ],
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description:
              'An API key (`fabula_…`), a JWT, or a development token; only when the server was started with authentication.',
          },
        },
      },
      // Either anonymous (`{}`) or a bearer token: tokens are optional, the server decides.
      security: [{}, { bearer: [] }],
    },
    transform: createJsonSchemaTransform({ schemaRegistry: apiSchemas }),
    transformObject: (document) => withResponseHeaders(withoutUnusedSchemas(componentsOf(document))),
  };
}

type Responses = Record<string, { headers?: Record<string, unknown> }>;
type Document = { paths?: Record<string, Record<string, { responses?: Responses }>>; components?: Record<string, unknown> };

function withResponseHeaders<D extends object>(produced: D): D {
  const document = produced as Document;
  const ref = (name: keyof typeof headers) => ({ $ref: `#/components/headers/${name}` });
  for (const [path, operations] of Object.entries(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        response.headers = {
          ...response.headers,
          'x-request-id': ref('RequestId'),
          ...(status === '503' || status === '429' ? { 'retry-after': ref('RetryAfter') } : {}),
          ...(status === '401' ? { 'www-authenticate': ref('WwwAuthenticate') } : {}),
          ...(status === '200' && path.startsWith('/commands/') ? { 'idempotent-replayed': ref('IdempotentReplayed') } : {}),
        };
      }
    }
  }
  return { ...produced, components: { ...document.components, headers } };
}

/** The transform writes each component twice (as input and output); keep those the document uses. */
function withoutUnusedSchemas<D extends object>(document: D): D {
  const { paths, components } = document as { paths?: unknown; components?: { schemas?: Record<string, unknown> } };
  const schemas = components?.schemas ?? {};
  const used = new Set<string>();
  const visit = (value: unknown) => {
    const text = JSON.stringify(value);
    for (const [, name] of text.matchAll(/"#\/components\/schemas\/([^"]+)"/g)) {
      if (used.has(name!)) continue;
      used.add(name!);
      visit(schemas[name!]);
    }
  };
  visit(paths);
  const kept = Object.fromEntries(Object.entries(schemas).filter(([name]) => used.has(name)));
  return { ...document, components: { ...components, schemas: kept } };
}
