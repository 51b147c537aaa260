/**
 * `POST /commands/:type`: one route per registered command (documented with its zod schema), plus the
 * generic route, which answers 404 for unknown types. Validation is the command bus's, so that errors
 * name the command and field (`DepositMoney.amount`) whichever way a command arrives.
 *
 * Idempotency-Key: the key is the command id, so a retry returns the recorded outcome. The events keep
 * a digest of the body (`requestHash` in their metadata): the same key with another body is refused
 * with 422 `idempotency_key_reused` (as the IETF Idempotency-Key draft asks), never answered with the
 * outcome of a different request.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ConcurrencyError, DomainError, ForbiddenError, IdempotencyError, ValidationError } from '../../core/errors.js';
import type { ServerContext } from '../context.js';
import { HttpError } from '../http-errors.js';
import { bodyDigest } from '../json.js';
import type { CommandOutcome } from '../metrics.js';
import { bodyErrors, commandResultSchema, commonErrors, errors, json, pascalCase } from '../schemas.js';
import { rolesOf } from '../auth/caller.js';
import { callerOf, documentedOnly, header } from './caller.js';
import { storeFor } from './tenant.js';

const REUSED_KEY = 'idempotency_key_reused';

const headers = z.object({
  'idempotency-key': z
    .string()
    .max(200)
    .optional()
    .describe(
      'Makes retries safe: the same key with the same body returns the first outcome (200, `idempotent-replayed: true`); the same key with another command or body is refused (422 `idempotency_key_reused`)',
    ),
  'x-correlation-id': z.string().max(200).optional().describe('Stamped on the events as `correlationId`; generated when absent'),
});

const responses = (unknownType: boolean) => ({
  202: json(commandResultSchema, 'Handled: the events it wrote (none when it changed nothing)'),
  200: json(commandResultSchema, 'A replay: this Idempotency-Key was handled before; its recorded outcome'),
  ...errors([...bodyErrors, ...commonErrors, 403, 404, 409, 410, 422], {
    400: 'The command is invalid (`validation_failed`, `field` names it, e.g. `DepositMoney.amount`) or the body is not JSON (`bad_request`).',
    404: unknownType
      ? 'No such command type (`unknown_command`; the message lists the known ones), or something the command needs does not exist (`not_found`).'
      : 'Something the command needs does not exist (`not_found`).',
    403: "The caller's roles may not send this command, a policy on the aggregate's state refused it, or its roles may not write the command's stream type (`forbidden`).",
    422: 'A business rule refused the command (the code is the rule, e.g. `insufficient_funds`), or the Idempotency-Key was already used for another command or body (`idempotency_key_reused`).',
  }),
});

export function commandRoutes(context: ServerContext): FastifyPluginAsync {
  return async (app) => {
    // `registered`: only commands with a handler get metrics, so junk types cannot create label values.
    const run = (type: string, registered: boolean) => async (request: FastifyRequest, reply: FastifyReply) => {
      const started = performance.now();
      let outcome: CommandOutcome = 'error';
      try {
        const caller = await callerOf(context, request);
        const key = header(request, 'idempotency-key');
        const requestHash = key === undefined ? undefined : bodyDigest(request.body);
        const result = await context.commands.execute(type, request.body, {
          commandId: key,
          correlationId: header(request, 'x-correlation-id'),
          userId: caller.userId,
          tenantId: caller.tenantId,
          roles: rolesOf(caller),
          access: context.access,
          ...(requestHash ? { metadata: { requestHash } } : {}),
        });
        if (result.replayed && requestHash) {
          const first = await storeFor(context, caller).readEvent(result.events[0]!.id);
          const recorded = first?.metadata.requestHash;
          if (typeof recorded === 'string' && recorded !== requestHash) {
            throw new HttpError(
              422,
              REUSED_KEY,
              `Idempotency-Key ${JSON.stringify(key)} was already used for a ${type} command with a different body; a retry must send the same body, a new command needs a new key`,
            );
          }
        }
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
        outcome = outcomeOf(error);
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
            operationId: `command${pascalCase(definition.type)}`,
            summary: definition.type,
            description: `${definition.description ?? ''} Send an Idempotency-Key header to make retries safe.`.trim(),
            body: definition.schema,
            headers,
            response: responses(false),
          },
          validatorCompiler: documentedOnly,
        },
        run(definition.type, true),
      );
    }
    app.post(
      '/commands/:type',
      {
        schema: {
          tags: ['commands'],
          operationId: 'executeCommand',
          summary: 'Any command, by type',
          description:
            'The generic form of the command routes: the body is the command. Prefer the route of each command, which documents its body.',
          params: z.object({ type: z.string().describe('The command type, e.g. `DepositMoney`') }),
          body: z.record(z.string(), z.unknown()).describe("The command: see the command's own route for its schema"),
          headers,
          response: responses(true),
        },
        validatorCompiler: documentedOnly,
      },
      async (request, reply) => {
        const type = (request.params as { type: string }).type;
        return run(type, context.commands.has(type))(request, reply);
      },
    );
  };
}

function outcomeOf(error: unknown): CommandOutcome {
  if (error instanceof ValidationError) return 'invalid';
  if (error instanceof ConcurrencyError) return 'conflict';
  if (error instanceof ForbiddenError) return 'forbidden';
  if (error instanceof IdempotencyError || (error instanceof HttpError && error.code === REUSED_KEY)) return REUSED_KEY;
  if (error instanceof DomainError) return 'rejected';
  return 'error';
}
