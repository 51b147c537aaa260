/**
 * The built-in authentication: a request's `Authorization: Bearer <credential>` is an API key
 * (`fabula_…`), a JWT (three dot-separated parts), or a development token, and becomes its caller.
 * Anything else, or nothing, is a 401 with a `WWW-Authenticate` challenge.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { UnauthenticatedError } from '../http-errors.js';
import { looksLikeApiKey, type ApiKeys } from './api-keys.js';
import type { Caller } from './caller.js';
import { devTokens } from './dev-tokens.js';
import { registerJwt, type JwtOptions } from './jwt.js';

export interface AuthenticationOptions {
  /** Development bearer tokens → callers (`FABULA_API_TOKENS`). */
  tokens?: ReadonlyMap<string, Caller>;
  /** Accept the store's API keys (`fabula keys create`). */
  apiKeys?: boolean;
  /** Accept JWTs signed with a shared secret or by the keys of a JWKS URL. */
  jwt?: JwtOptions;
  /** Refuse (401) credentials that name no tenant: for multi-tenant deployments. */
  requireTenant?: boolean;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Whether `options` turn authentication on: then every request but health, metrics and docs needs credentials. */
export function authenticationRequired(options: AuthenticationOptions | undefined): boolean {
  return !!options && ((options.tokens?.size ?? 0) > 0 || options.apiKeys === true || options.jwt !== undefined);
}

export async function createAuthentication(
  server: FastifyInstance,
  options: AuthenticationOptions,
  apiKeys: ApiKeys,
): Promise<(headers: FastifyRequest['headers'], request: FastifyRequest) => Promise<Caller>> {
  const token = options.tokens && options.tokens.size > 0 ? devTokens(options.tokens) : null;
  const jwt = options.jwt ? await registerJwt(server, options.jwt) : null;
  const invalid = () =>
    new UnauthenticatedError('the bearer credential is not valid (unknown, revoked, expired or forged)', true);

  const identify = async (credential: string, request: FastifyRequest): Promise<Caller> => {
    if (options.apiKeys && looksLikeApiKey(credential)) {
      const key = await apiKeys.verify(credential);
      if (!key) throw invalid();
      return {
        userId: key.userId,
        ...(key.tenantId !== undefined ? { tenantId: key.tenantId } : {}),
        roles: key.roles,
        via: { method: 'api-key', keyId: key.id },
      };
    }
    if (jwt && JWT_SHAPE.test(credential)) {
      try {
        return await jwt(request);
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED')
          throw new UnauthenticatedError('the token has expired: get a new one', true);
        request.log.info({ code, reason: (error as Error).message }, 'JWT refused');
        throw invalid();
      }
    }
    const caller = token?.(credential);
    if (!caller) throw invalid();
    return caller;
  };

  return async (headers, request) => {
    const header = Array.isArray(headers.authorization) ? headers.authorization[0] : headers.authorization;
    if (!header) throw new UnauthenticatedError('authentication required: send Authorization: Bearer <API key or token>', false);
    const match = /^Bearer +(\S+)$/i.exec(header);
    if (!match) throw new UnauthenticatedError('send the credential as Authorization: Bearer <API key or token>', true);
    const caller = await identify(match[1]!, request);
    if (options.requireTenant && !caller.tenantId)
      throw new UnauthenticatedError('the credential names no tenant; this server requires one', true);
    return caller;
  };
}
