import type { FastifyRequest } from 'fastify';
import { Access } from '../../core/access.js';
import { rolesOf } from '../auth/caller.js';
import type { Caller, ServerContext } from '../context.js';
import { ForbiddenError } from '../../core/errors.js';
import { UnauthenticatedError } from '../http-errors.js';

const callers = new WeakMap<FastifyRequest, Promise<Caller>>();

/**
 * The caller of a request, or a 401 error when authentication refuses it: the one place requests are
 * authenticated. Authenticated once per request (the rate limits ask first), then remembered.
 */
export function callerOf(context: ServerContext, request: FastifyRequest): Promise<Caller> {
  let caller = callers.get(request);
  if (!caller) {
    caller = (async () => {
      const found = await context.authenticate(request.headers, request);
      if (!found) throw new UnauthenticatedError('authentication required: send Authorization: Bearer <API key or token>', false);
      return found;
    })();
    caller.catch(() => {}); // handled by whoever awaits it; never an unhandled rejection
    callers.set(request, caller);
  }
  return caller;
}

/** The caller, or null when authentication refused it (for the rate limits: anonymous by IP). */
export async function callerOrNull(context: ServerContext, request: FastifyRequest): Promise<Caller | null> {
  return callerOf(context, request).catch(() => null);
}

/** What the request's caller may do: its roles under the server's access control. */
export async function accessOf(context: ServerContext, request: FastifyRequest): Promise<{ caller: Caller; access: Access }> {
  const caller = await callerOf(context, request);
  return { caller, access: new Access(context.access, rolesOf(caller)) };
}

/** The caller when it is an administrator; else 403. For the admin routes. */
export async function adminOf(context: ServerContext, request: FastifyRequest): Promise<Caller> {
  const { caller, access } = await accessOf(context, request);
  if (!access.isAdmin) throw new ForbiddenError('this is an admin route: your roles do not include an admin role');
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
