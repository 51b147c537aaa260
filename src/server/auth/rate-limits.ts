/**
 * Rate limits with `@fastify/rate-limit`: a budget per user and one per tenant, separately for commands
 * (POST) and reads (GET), with per-route overrides. The key is the authenticated caller (tenant and
 * user), the client's IP for anonymous requests. With a Redis client the counters live in Redis, so
 * every server process shares one budget; without, each process counts in memory.
 *
 * Over budget: 429 `rate_limited` with `Retry-After` (seconds until the window ends). Health checks,
 * metrics and the API docs are not limited.
 */
import fastifyRateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { HttpError } from '../http-errors.js';
import type { Caller } from './caller.js';

export interface RateLimit {
  /** Requests allowed per window. */
  max: number;
  /** The window: milliseconds, or a duration such as `'1 minute'`. */
  timeWindow: number | string;
}

export interface RateBudget {
  /** Each user (each anonymous IP) gets this much. */
  perUser?: RateLimit;
  /** All the users of a tenant together get this much. */
  perTenant?: RateLimit;
}

export interface RateLimitOptions {
  /** POST routes: commands and admin actions. */
  commands?: RateBudget;
  /** GET routes: streams, events, aggregates, queries, catalog, admin status. */
  reads?: RateBudget;
  /** Per route, replacing its class's budget: keys like `'POST /commands/WithdrawMoney'` or `'GET /events'`. */
  routes?: Record<string, RateBudget>;
  /** A Redis client (ioredis) shared by every server process: one budget across them. Default: in memory. */
  redis?: Redis;
  /** Prefix of the Redis keys. Default `fabula:rate-limit:`. */
  namespace?: string;
}

type Limiter = ReturnType<FastifyInstance['createRateLimit']>;

const UNLIMITED = /^\/(health\/|metrics$|docs|openapi\.json$)/;

/**
 * Registers the plugin and an `onRequest` hook (after authentication's) that charges the request to its
 * caller's budgets. `callerOf` gives the request's caller, or null when authentication refused it.
 */
export async function registerRateLimits(
  server: FastifyInstance,
  options: RateLimitOptions,
  callerOf: (request: FastifyRequest) => Promise<Caller | null>,
): Promise<void> {
  await server.register(fastifyRateLimit, {
    global: false,
    ...(options.redis ? { redis: options.redis } : {}),
    nameSpace: options.namespace ?? 'fabula:rate-limit:',
    // A Redis outage must not take the API down with it: requests pass unlimited meanwhile.
    skipOnError: true,
  });
  const limiters = new Map<string, { user?: Limiter; tenant?: Limiter }>();
  const limiterOf = (name: string, budget: RateBudget) => {
    let entry = limiters.get(name);
    if (!entry) {
      // The key generator gets what `charge` put on the request: the counter's key.
      const limiter = (limit: RateLimit) =>
        server.createRateLimit({ ...limit, keyGenerator: (request) => keys.get(request) ?? request.ip });
      entry = {
        ...(budget.perUser ? { user: limiter(budget.perUser) } : {}),
        ...(budget.perTenant ? { tenant: limiter(budget.perTenant) } : {}),
      };
      limiters.set(name, entry);
    }
    return entry;
  };
  const keys = new WeakMap<FastifyRequest, string>();

  server.addHook('onRequest', async (request, reply) => {
    const url = request.routeOptions.url;
    if (url === undefined || UNLIMITED.test(url)) return;
    const route = `${request.method} ${url}`;
    const [name, budget] = options.routes?.[route]
      ? [route, options.routes[route]!]
      : request.method === 'GET' || request.method === 'HEAD'
        ? ['reads', options.reads]
        : ['commands', options.commands];
    if (!budget) return;
    const caller = await callerOf(request);
    const { user, tenant } = limiterOf(name, budget);
    const who = caller?.userId !== undefined ? `user:${caller.tenantId ?? ''}:${caller.userId}` : `ip:${request.ip}`;
    const checks: Array<[Limiter | undefined, string]> = [
      [user, `${name}:${who}`],
      [caller?.tenantId !== undefined ? tenant : undefined, `${name}:tenant:${caller?.tenantId}`],
    ];
    for (const [limiter, key] of checks) {
      if (!limiter) continue;
      keys.set(request, key);
      const state = await limiter(request);
      if (state.isAllowed) continue;
      reply.header('x-ratelimit-limit', state.max);
      reply.header('x-ratelimit-remaining', state.remaining);
      reply.header('x-ratelimit-reset', state.ttlInSeconds);
      if (state.isExceeded) {
        const scope = key.includes(':tenant:') ? 'your tenant' : 'you';
        throw new HttpError(
          429,
          'rate_limited',
          `too many requests: ${scope} may send ${state.max} per ${Math.round(state.timeWindow / 1000)} s here; retry after ${state.ttlInSeconds} s`,
          {},
          Math.max(1, state.ttlInSeconds),
        );
      }
    }
  });
}
