/**
 * `POST /commands/:type`: one route per registered command (documented with its zod schema), plus a
 * catch-all that answers 404 for unknown types. Validation is the command bus's, so that errors name
 * the command and field (`DepositMoney.amount`) whichever way a command arrives.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ConcurrencyError, DomainError, ForbiddenError, ValidationError } from '../../core/errors.js';
import type { ServerContext } from '../context.js';
import type { CommandOutcome } from '../metrics.js';
import { callerOf, documentedOnly, header } from './caller.js';

const commandResult = z.object({
  commandId: z.string(),
  correlationId: z.string(),
  streamId: z.string(),
  nextExpectedVersion: z.number(),
  firstPosition: z.string().nullable(),
  lastPosition: z.string().nullable(),
  events: z.array(z.object({ id: z.string(), type: z.string(), streamVersion: z.number(), globalPosition: z.string() })),
  replayed: z.boolean(),
});

export function commandRoutes(context: ServerContext): FastifyPluginAsync {
  return async (app) => {
    // `registered`: only commands with a handler get metrics, so junk types cannot create label values.
    const run = (type: string, registered: boolean) => async (request: FastifyRequest, reply: FastifyReply) => {
      const started = performance.now();
      let outcome: CommandOutcome = 'error';
      try {
        const caller = await callerOf(context, request);
        const result = await context.commands.execute(type, request.body, {
          commandId: header(request, 'idempotency-key'),
          correlationId: header(request, 'x-correlation-id'),
          userId: caller.userId,
          tenantId: caller.tenantId,
        });
        outcome = 'success';
        if (!result.replayed && result.events.length > 0) context.metrics.recordAppend(result.events.map((e) => e.type));
        request.log.info(
          { commandType: type, commandId: result.commandId, correlationId: result.correlationId, replayed: result.replayed },
          'command handled',
        );
        if (result.replayed) reply.header('idempotent-replayed', 'true');
        return reply.status(result.replayed ? 200 : 202).send({
          commandId: result.commandId,
          correlationId: result.correlationId,
          streamId: result.streamId,
          nextExpectedVersion: result.nextExpectedVersion,
          firstPosition: result.firstPosition?.toString() ?? null,
          lastPosition: result.lastPosition?.toString() ?? null,
          events: result.events.map((e) => ({ ...e, globalPosition: e.globalPosition.toString() })),
          replayed: result.replayed,
        });
      } catch (error) {
        outcome =
          error instanceof ValidationError
            ? 'invalid'
            : error instanceof ConcurrencyError
              ? 'conflict'
              : error instanceof ForbiddenError
                ? 'forbidden'
                : error instanceof DomainError
                  ? 'rejected'
                  : 'error';
        throw error;
      } finally {
        if (registered) context.metrics.recordCommand(type, outcome, (performance.now() - started) / 1000);
      }
    };

    for (const definition of context.commands.commands()) {
      app.post(
        `/commands/${definition.type}`,
        {
          schema: {
            tags: ['commands'],
            summary: definition.type,
            description: `${definition.description ?? ''} Send an Idempotency-Key header to make retries safe.`.trim(),
            body: definition.schema,
            headers: z.object({
              'idempotency-key': z
                .string()
                .max(200)
                .optional()
                .describe('Makes the command idempotent: a repeat returns the first outcome'),
              'x-correlation-id': z.string().max(200).optional(),
            }),
            response: { 200: commandResult, 202: commandResult },
          },
          validatorCompiler: documentedOnly,
        },
        run(definition.type, true),
      );
    }
    app.post('/commands/:type', { schema: { hide: true } }, async (request, reply) =>
      run((request.params as { type: string }).type, false)(request, reply),
    );
  };
}
