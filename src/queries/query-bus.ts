/**
 * The query bus: named queries with zod-validated parameters, answered by read-side handlers (read
 * models, never the event streams of aggregates).
 */
import type { z } from 'zod';
import { hasRole } from '../core/access.js';
import { ForbiddenError, UnknownMessageError, ValidationError } from '../core/errors.js';
import { DEFAULT_TENANT } from '../core/events.js';
import { zodIssueToValidationError } from '../core/zod-errors.js';

export interface QueryDefinition<Name extends string = string, Params = unknown> {
  readonly name: Name;
  readonly schema: z.ZodType<Params>;
  readonly description?: string;
  /** The projection whose read model answers it: read-your-writes waits for this one. */
  readonly projection?: string;
  /**
   * The JSON the query answers over HTTP (dates as ISO strings, bigints as decimal strings; a plain shape,
   * no transforms): the HTTP API documents it in OpenAPI, so generated clients are typed, and checks each
   * answer against it. Without it the answer is untyped.
   */
  readonly result?: z.ZodType;
  /** Roles that may run it (one of them suffices); checked when the caller's roles are known (HTTP). */
  readonly roles?: readonly string[];
}

export function defineQuery<Name extends string, Params>(
  name: Name,
  options: {
    schema: z.ZodType<Params>;
    description?: string;
    projection?: string;
    result?: z.ZodType;
    roles?: readonly string[];
  },
): QueryDefinition<Name, Params> {
  return {
    name,
    schema: options.schema,
    description: options.description,
    projection: options.projection,
    ...(options.result ? { result: options.result } : {}),
    ...(options.roles ? { roles: options.roles } : {}),
  };
}

/** Who asks: the caller, as given to `execute`. */
export interface QueryContext {
  userId?: string;
  tenantId?: string;
  /** The caller's roles, when known (HTTP): checked against the query's `roles`. Absent: trusted code. */
  roles?: readonly string[];
}

/**
 * What a handler is given: the caller, with the tenant always set (the default tenant for a caller
 * without one). Answer from the tenant's rows only: `WHERE tenant_id = $1` with `context.tenantId`.
 */
export interface QueryHandlerContext extends QueryContext {
  tenantId: string;
}

type Handler = (params: unknown, context: QueryHandlerContext) => Promise<unknown>;

export class QueryBus {
  private readonly handlers = new Map<string, { definition: QueryDefinition; handler: Handler }>();

  register<Name extends string, Params, Result>(
    definition: QueryDefinition<Name, Params>,
    handler: (params: Params, context: QueryHandlerContext) => Promise<Result>,
  ): this {
    if (this.handlers.has(definition.name)) throw new ValidationError('name', `query ${definition.name} already has a handler`);
    this.handlers.set(definition.name, { definition, handler: handler as Handler });
    return this;
  }

  definition(name: string): QueryDefinition | undefined {
    return this.handlers.get(name)?.definition;
  }

  queries(): QueryDefinition[] {
    return [...this.handlers.values()].map((h) => h.definition);
  }

  async execute<Result = unknown>(name: string, params: unknown, context: QueryContext = {}): Promise<Result> {
    const entry = this.handlers.get(name);
    if (!entry) throw new UnknownMessageError('query', name, [...this.handlers.keys()]);
    const required = entry.definition.roles;
    if (context.roles !== undefined && !hasRole(context.roles, required))
      throw new ForbiddenError(`query ${name} requires one of the roles ${required!.join(', ')}`);
    const parsed = entry.definition.schema.safeParse(params);
    if (!parsed.success) throw zodIssueToValidationError(parsed.error, name);
    return (await entry.handler(parsed.data, { ...context, tenantId: context.tenantId ?? DEFAULT_TENANT })) as Result;
  }
}
