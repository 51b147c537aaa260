/**
 * `GET /queries/:name`: read models through the query bus. `minPosition` (a position returned by a
 * command) waits, bounded, until the query's projection has passed it: read-your-writes.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { hasRole } from '../../core/access.js';
import { ForbiddenError, ValidationError } from '../../core/errors.js';
import type { ServerContext } from '../context.js';
import { toJsonValue } from '../json.js';
import { commonErrors, errors, json, pascalCase, queryResultSchema } from '../schemas.js';
import { rolesOf } from '../auth/caller.js';
import { callerOf, documentedOnly } from './caller.js';

const minPosition = z
  .string()
  .optional()
  .describe(
    "Read your writes: wait (bounded) until the query's read model has passed this position, e.g. a command's `lastPosition`; 503 `projection_timeout` with Retry-After when it has not",
  );

const responses = (unknownName: boolean, result: z.ZodType = queryResultSchema) => ({
  200: json(result, "The query's result"),
  ...errors([400, 404, ...commonErrors], {
    403: "The caller's roles may not run this query (`forbidden`): the query's `roles`.",
    404: unknownName
      ? 'No such query (`unknown_query`; the message lists the known ones), or nothing matches (`not_found`).'
      : 'Nothing matches (`not_found`).',
    503: 'The read model has not reached `minPosition` in time (`projection_timeout`, with `projection` and Retry-After) or is stopped (`projection_failed`), or the store is unavailable (`store_unavailable`).',
  }),
});

export function queryRoutes(context: ServerContext): FastifyPluginAsync {
  return async (app) => {
    const run = (name: string) => async (request: FastifyRequest) => {
      const caller = await callerOf(context, request);
      const { minPosition, ...params } = (request.query ?? {}) as Record<string, unknown>;
      // Roles first: a refused caller must not wait on (or learn about) the read model.
      const required = context.queries.definition(name)?.roles;
      if (!hasRole(rolesOf(caller), required))
        throw new ForbiddenError(`query ${name} requires one of the roles ${required!.join(', ')}`);
      if (minPosition !== undefined) await waitForPosition(context, name, minPosition);
      const result = await context.queries.execute(name, params, {
        ...(caller.userId !== undefined ? { userId: caller.userId } : {}),
        ...(caller.tenantId !== undefined ? { tenantId: caller.tenantId } : {}),
        roles: rolesOf(caller),
      });
      return toJsonValue(result);
    };
    for (const definition of context.queries.queries()) {
      const schema = definition.schema instanceof z.ZodObject ? definition.schema.extend({ minPosition }) : definition.schema;
      app.get(
        `/queries/${definition.name}`,
        {
          schema: {
            tags: ['queries'],
            operationId: `query${pascalCase(definition.name)}`,
            summary: definition.name,
            description: definition.description,
            querystring: schema,
            response: responses(false, definition.result),
          },
          validatorCompiler: documentedOnly,
        },
        run(definition.name),
      );
    }
    app.get(
      '/queries/:name',
      {
        schema: {
          tags: ['queries'],
          operationId: 'runQuery',
          summary: 'Any query, by name',
          description:
            "The generic form of the query routes: the query string holds the query's parameters. Prefer the route of each query, which documents them.",
          params: z.object({ name: z.string().describe('The query name, e.g. `account-balances`') }),
          querystring: z.object({ minPosition }).catchall(z.string()),
          response: responses(true),
        },
        validatorCompiler: documentedOnly,
      },
      async (request) => run((request.params as { name: string }).name)(request),
    );
  };
}

async function waitForPosition(context: ServerContext, name: string, raw: unknown) {
  if (typeof raw !== 'string' || !/^\d{1,19}$/.test(raw))
    throw new ValidationError('minPosition', 'must be a global position (digits)');
  const projection = context.queries.definition(name)?.projection;
  if (!projection || !context.projections) return; // not served by an async read model: nothing to wait for
  await context.projections.waitFor(projection, BigInt(raw), { timeout: context.limits.maxWaitMs });
}
