/**
 * The event log over HTTP: streams, one stream (optionally as of a time), the global order in pages,
 * a live tail as Server-Sent Events, and aggregate state at a time (temporal query).
 */
import { once } from 'node:events';
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ForbiddenError, ValidationError } from '../../core/errors.js';
import type { ServerContext } from '../context.js';
import { HttpError } from '../http-errors.js';
import { eventJson, streamJson, toJsonValue } from '../json.js';
import { aggregateStateSchema, commonErrors, errors, eventSchema, json, streamSchema, text } from '../schemas.js';
import { streamTypeOf } from '../../core/events.js';
import { mayReadEvent, readableEvents, readableStreams, sqlStreamTypes } from '../auth/readable.js';
import { accessOf } from './caller.js';
import { storeFor, tenantOf } from './tenant.js';

const position = z.string().regex(/^\d{1,19}$/, 'must be a global position (digits)');
const typeList = z
  .string()
  .max(2000)
  .transform((s) =>
    s
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean),
  );
const page = (what: string) =>
  z.string().nullable().describe(`Pass as \`after\` for the next page; null when this page was the last of the ${what}`);
const isoTime = z.iso.datetime({ offset: true }).transform((s) => new Date(s));

export function eventRoutes(context: ServerContext): FastifyPluginAsync {
  const { limits } = context;
  const limit = z.coerce.number().int().min(1).max(limits.maxPageSize).default(100);
  return async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();

    app.get(
      '/streams',
      {
        schema: {
          tags: ['events'],
          operationId: 'listStreams',
          summary: 'Streams, by id, a page at a time',
          querystring: z.object({
            type: z.string().max(256).optional(),
            after: z.string().max(256).optional(),
            limit,
            includeDeleted: z.enum(['true', 'false']).optional(),
          }),
          response: {
            200: json(z.object({ streams: z.array(streamSchema), next: page('streams') }), 'A page of streams'),
            ...errors([400, ...commonErrors]),
          },
        },
      },
      async (request) => {
        const { caller, access } = await accessOf(context, request);
        const store = storeFor(context, caller);
        const { type, after, limit: max, includeDeleted } = request.query;
        const streams = await readableStreams(store, access, {
          type,
          after,
          limit: max,
          includeDeleted: includeDeleted === 'true',
        });
        return { streams: streams.map(streamJson), next: streams.length === max ? streams[streams.length - 1]!.streamId : null };
      },
    );

    app.get(
      '/streams/:id',
      {
        schema: {
          tags: ['events'],
          operationId: 'readStream',
          summary: "A stream's events; with asOf, as the stream was at that time",
          params: z.object({ id: z.string().min(1).max(1024) }),
          querystring: z.object({
            from: z.coerce.number().int().min(0).optional(),
            asOf: isoTime.optional(),
            limit,
            direction: z.enum(['forwards', 'backwards']).optional(),
          }),
          response: {
            200: json(z.object({ stream: streamSchema, events: z.array(eventSchema) }), 'The stream and its events'),
            ...errors([400, 404, ...commonErrors], {
              403: "The caller's roles may not read streams of this type (`forbidden`), whether or not the stream exists.",
              404: 'No such stream (`stream_not_found`).',
            }),
          },
        },
      },
      async (request, reply) => {
        const { caller, access } = await accessOf(context, request);
        const store = storeFor(context, caller);
        const { id } = request.params;
        // Refused before the lookup: the answer says nothing about whether the stream exists.
        if (!access.may('read', streamTypeOf(id)))
          throw new ForbiddenError(`your roles may not read ${streamTypeOf(id)} streams`);
        const info = await store.streamInfo(id);
        if (!info) return reply.status(404).send({ code: 'stream_not_found', message: `no stream ${JSON.stringify(id)}` });
        const { from, asOf, limit: max, direction } = request.query;
        const events = await store.readStream(id, { from, asOf, maxCount: max, direction });
        return { stream: streamJson(info), events: events.map(eventJson) };
      },
    );

    app.get(
      '/events',
      {
        schema: {
          tags: ['events'],
          operationId: 'readEvents',
          summary: 'All events in global order after a position, a page at a time',
          querystring: z.object({
            after: position.optional(),
            types: typeList.optional(),
            streamTypes: typeList.optional(),
            limit,
          }),
          response: {
            200: json(
              z.object({
                events: z.array(eventSchema),
                next: z.string().describe('Pass as `after` for the next page (the last position read, or `after` when none)'),
              }),
              'A page of events in global order',
            ),
            ...errors([400, ...commonErrors]),
          },
        },
      },
      async (request) => {
        const { caller, access } = await accessOf(context, request);
        const store = storeFor(context, caller);
        const { after, types, streamTypes, limit: max } = request.query;
        const events = await readableEvents(store, access, {
          after: after ? BigInt(after) : 0n,
          maxCount: max,
          eventTypes: types,
          streamTypes,
        });
        return {
          events: events.map(eventJson),
          next: events.length > 0 ? events[events.length - 1]!.globalPosition.toString() : (after ?? '0'),
        };
      },
    );

    let openStreams = 0;
    app.get(
      '/events/stream',
      {
        schema: {
          tags: ['events'],
          operationId: 'tailEvents',
          summary: 'Live tail of the global order as Server-Sent Events',
          description: [
            'A `text/event-stream` of every event after `after` (or after the `Last-Event-ID` header), then each new one as it is appended.',
            'Each event is one default `message` (a browser `EventSource` gets it in `onmessage`): `id` is its global position, `data` is the event as JSON (the `Event` schema, with its `type` inside).',
            'A reconnecting `EventSource` sends the last id as `Last-Event-ID` and resumes after it. Lines starting with `:` are keep-alives.',
          ].join(' '),
          querystring: z.object({ after: position.optional(), types: typeList.optional(), streamTypes: typeList.optional() }),
          response: {
            200: text('text/event-stream', 'Server-Sent Events: `id: <position>` and `data: <Event as JSON>` per event'),
            ...errors([400, ...commonErrors], {
              503: 'Too many live streams are open (`too_many_streams`), or the store is unavailable: retry later.',
            }),
          },
        },
      },
      async (request, reply) => {
        const { caller, access } = await accessOf(context, request);
        const store = storeFor(context, caller);
        if (openStreams >= limits.maxSseConnections) {
          reply.header('retry-after', '5');
          return reply
            .status(503)
            .send({ code: 'too_many_streams', message: `at most ${limits.maxSseConnections} live streams at once; retry later` });
        }
        const lastEventId = request.headers['last-event-id'];
        const resumeFrom = typeof lastEventId === 'string' && /^\d{1,19}$/.test(lastEventId) ? lastEventId : request.query.after;
        const { types, streamTypes: asked } = request.query;
        // Validate the filters before the stream starts, so a mistake is a 400 and not a broken stream.
        await store.readAll({ after: 0n, maxCount: 1, eventTypes: types, streamTypes: asked });
        // Only what the caller may read: by stream type in SQL when it can, else each event below.
        const streamTypes = sqlStreamTypes(access, asked);
        const filtered = !access.readsEverything && streamTypes === undefined;

        openStreams++;
        const stop = new AbortController();
        const signal = AbortSignal.any([stop.signal, context.draining.signal]);
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
          'x-request-id': request.id,
        });
        res.write(': connected\n\n');
        request.raw.on('close', () => stop.abort());
        const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
        try {
          // Nothing readable: the stream stays open (keep-alives only) until the client leaves.
          if (streamTypes?.length === 0) await once(signal, 'abort').catch(() => {});
          const events =
            streamTypes?.length === 0
              ? []
              : store.subscribe({ after: resumeFrom ? BigInt(resumeFrom) : 0n, eventTypes: types, streamTypes, signal });
          for await (const event of events) {
            if (filtered && !mayReadEvent(access, event)) continue;
            // No `event:` field: a named event never reaches an EventSource's onmessage; the type is in data.
            const ok = res.write(`id: ${event.globalPosition}\ndata: ${JSON.stringify(eventJson(event))}\n\n`);
            if (!ok) await once(res, 'drain', { signal }).catch(() => {});
          }
        } catch (error) {
          request.log.warn({ err: error }, 'event stream ended by an error');
        } finally {
          clearInterval(heartbeat);
          openStreams--;
          res.end();
        }
      },
    );

    app.get(
      '/aggregates/:type/:id',
      {
        schema: {
          tags: ['events'],
          operationId: 'readAggregate',
          summary: "An aggregate's state now, as of a time, or at a version (temporal query)",
          params: z.object({
            type: z
              .string()
              .max(100)
              .describe(`The aggregate type: ${Object.keys(context.aggregates).join(', ') || 'none'}`),
            id: z.string().min(1).max(256),
          }),
          querystring: z.object({ asOf: isoTime.optional(), atVersion: z.coerce.number().int().min(0).optional() }),
          response: {
            200: json(aggregateStateSchema, "The aggregate's state"),
            ...errors([400, 404, ...commonErrors], {
              404: 'No such aggregate type (`unknown_aggregate_type`, with the `known` ones), or no such aggregate then (`aggregate_not_found`).',
            }),
          },
        },
      },
      async (request, reply) => {
        const { caller, access } = await accessOf(context, request);
        const { type, id } = request.params;
        const reader = Object.hasOwn(context.aggregates, type) ? context.aggregates[type] : undefined;
        // An aggregate of type `account` lives in `account-…` streams: reading it is reading them.
        if (reader && !access.may('read', type)) throw new ForbiddenError(`your roles may not read ${type} streams`);
        if (!reader) {
          const known = Object.keys(context.aggregates);
          throw new HttpError(
            404,
            'unknown_aggregate_type',
            `no aggregate type ${JSON.stringify(type)}; known: ${known.join(', ') || 'none'}`,
            { known },
          );
        }
        const { asOf, atVersion } = request.query;
        if (asOf && atVersion !== undefined) throw new ValidationError('asOf', 'give asOf or atVersion, not both');
        const { version, state } = await reader(id, { asOf, atVersion, tenantId: tenantOf(caller) });
        if (version === 0)
          return reply.status(404).send({
            code: 'aggregate_not_found',
            message: `no ${type} ${JSON.stringify(id)}${asOf ? ` as of ${asOf.toISOString()}` : ''}`,
          });
        return { type, id, version, ...(asOf ? { asOf: asOf.toISOString() } : {}), state: toJsonValue(state) };
      },
    );
  };
}
