import type { FastifyRequest } from 'fastify';
import type { Caller, ServerContext } from '../context.js';
import { HttpError } from '../http-errors.js';

/** The caller of a request, or a 401 error when authentication refuses it. */
export async function callerOf(context: ServerContext, request: FastifyRequest): Promise<Caller> {
  const caller = await context.authenticate(request.headers);
  if (!caller) throw new HttpError(401, 'unauthenticated', 'authentication required: send Authorization: Bearer <token>');
  return caller;
}

export function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * A route validator that accepts anything: the route's zod schema documents the body (OpenAPI), while
 * the command or query bus validates it, so errors name the command and field the same way everywhere.
 */
export const documentedOnly = () => (data: unknown) => ({ value: data });
