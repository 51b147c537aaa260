/**
 * JWT bearer tokens, verified by `@fastify/jwt`: with a shared secret (HS256) or with the public keys
 * of a JWKS URL (`get-jwks`, cached; RS256/ES256/...). The verified claims become the caller: user,
 * tenant and roles under configurable claim names (dotted paths reach nested claims,
 * e.g. `realm_access.roles`).
 */
import fastifyJwt from '@fastify/jwt';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import buildGetJwks from 'get-jwks';
import { ValidationError } from '../../core/errors.js';
import type { Caller } from './caller.js';

export interface JwtOptions {
  /** A shared secret (HS256/384/512). Give this or `jwksUrl`. */
  secret?: string;
  /** The identity provider's JSON Web Key Set, e.g. `https://idp.example/.well-known/jwks.json`. */
  jwksUrl?: string;
  /** Accepted `iss` values; tokens from another issuer are refused. */
  issuer?: string | readonly string[];
  /** Accepted `aud` values; tokens for another audience are refused. */
  audience?: string | readonly string[];
  /** Claim names: `user` (default `sub`), `tenant` (default `tenant`), `roles` (default `roles`: an array or a space-separated string). */
  claims?: { user?: string; tenant?: string; roles?: string };
  /** Accepted clock skew, in seconds. Default 30. */
  clockToleranceSeconds?: number;
}

/** Registers `@fastify/jwt` on the server; the returned function verifies a request's bearer token. */
export async function registerJwt(
  server: FastifyInstance,
  options: JwtOptions,
): Promise<(request: FastifyRequest) => Promise<Caller>> {
  if (!options.secret === !options.jwksUrl) throw new ValidationError('jwt', 'give either a shared secret or a JWKS URL');
  const tolerance = (options.clockToleranceSeconds ?? 30) * 1000;
  const verify = {
    ...(options.issuer ? { allowedIss: [options.issuer].flat() as string[] } : {}),
    ...(options.audience ? { allowedAud: [options.audience].flat() as string[] } : {}),
    clockTolerance: tolerance,
    // A shared secret verifies only HMAC tokens: an RS256 token signed with the "public" secret is refused.
    algorithms: options.secret
      ? (['HS256', 'HS384', 'HS512'] as const)
      : (['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'EdDSA'] as const),
    requiredClaims: ['exp'],
  };
  await server.register(fastifyJwt, {
    secret: options.secret ?? jwksKeys(options.jwksUrl!),
    decode: { complete: true },
    verify: verify as never,
  });
  const claims = { user: 'sub', tenant: 'tenant', roles: 'roles', ...options.claims };
  return async (request) => {
    const payload = (await request.jwtVerify()) as Record<string, unknown>;
    const user = claim(payload, claims.user);
    const tenant = claim(payload, claims.tenant);
    const roles = claim(payload, claims.roles);
    return {
      ...(typeof user === 'string' ? { userId: user } : {}),
      ...(typeof tenant === 'string' ? { tenantId: tenant } : {}),
      roles: Array.isArray(roles)
        ? roles.filter((r): r is string => typeof r === 'string')
        : typeof roles === 'string'
          ? roles.split(' ').filter(Boolean)
          : [],
      via: { method: 'jwt', ...(typeof payload.sub === 'string' ? { subject: payload.sub } : {}) },
    };
  };
}

/** The public key for a token's `kid` and `alg`, from the JWKS URL (get-jwks caches them). */
function jwksKeys(jwksUrl: string) {
  const url = new URL(jwksUrl);
  const getJwks = buildGetJwks({ jwksPath: url.pathname + url.search, ttl: 10 * 60_000 });
  return async (_request: FastifyRequest, token: unknown) => {
    const header = ((token as { header?: unknown }).header ?? token) as { kid?: string; alg?: string };
    return getJwks.getPublicKey({ domain: url.origin, kid: header.kid, alg: header.alg });
  };
}

function claim(payload: Record<string, unknown>, path: string): unknown {
  let value: unknown = payload;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}
