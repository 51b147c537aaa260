/**
 * `fabula serve`'s security settings, from options or the environment: authentication (development
 * tokens, API keys, JWTs), rate limits and Redis. Parsed here, at the edge; the server takes options.
 */
import { Option, type Command } from 'commander';
import { createRequire } from 'node:module';
import type { Redis as RedisClient } from 'ioredis';
import { ValidationError } from '../core/errors.js';
import type { AuthenticationOptions } from '../server/auth/authenticate.js';
import type { RateBudget, RateLimit, RateLimitOptions } from '../server/auth/rate-limits.js';
import type { Caller } from '../server/context.js';

export interface SecurityFlags {
  apiKeys?: boolean;
  requireTenant?: boolean;
  jwtSecret?: string;
  jwksUrl?: string;
  jwtIssuer?: string;
  jwtAudience?: string;
  jwtUserClaim?: string;
  jwtTenantClaim?: string;
  jwtRolesClaim?: string;
  rateLimitCommands?: string;
  rateLimitReads?: string;
  rateLimitTenantCommands?: string;
  rateLimitTenantReads?: string;
  redisUrl?: string;
}

export function securityOptions(command: Command): Command {
  return command
    .addOption(new Option('--api-keys', 'accept API keys (fabula keys create)').env('FABULA_API_KEYS'))
    .addOption(new Option('--require-tenant', 'refuse credentials that name no tenant (401)').env('FABULA_REQUIRE_TENANT'))
    .addOption(new Option('--jwt-secret <secret>', 'accept JWTs signed with this shared secret (HS256)').env('FABULA_JWT_SECRET'))
    .addOption(new Option('--jwks-url <url>', 'accept JWTs signed by the keys of this JWKS URL').env('FABULA_JWKS_URL'))
    .addOption(new Option('--jwt-issuer <iss>', 'accepted JWT issuers, comma-separated').env('FABULA_JWT_ISSUER'))
    .addOption(new Option('--jwt-audience <aud>', 'accepted JWT audiences, comma-separated').env('FABULA_JWT_AUDIENCE'))
    .addOption(new Option('--jwt-user-claim <name>', 'claim with the user id (default sub)').env('FABULA_JWT_USER_CLAIM'))
    .addOption(new Option('--jwt-tenant-claim <name>', 'claim with the tenant (default tenant)').env('FABULA_JWT_TENANT_CLAIM'))
    .addOption(new Option('--jwt-roles-claim <name>', 'claim with the roles (default roles)').env('FABULA_JWT_ROLES_CLAIM'))
    .addOption(new Option('--rate-limit-commands <n/window>', 'per user, e.g. 100/1m').env('FABULA_RATE_LIMIT_COMMANDS'))
    .addOption(new Option('--rate-limit-reads <n/window>', 'per user, e.g. 1000/1m').env('FABULA_RATE_LIMIT_READS'))
    .addOption(new Option('--rate-limit-tenant-commands <n/window>', 'per tenant').env('FABULA_RATE_LIMIT_TENANT_COMMANDS'))
    .addOption(new Option('--rate-limit-tenant-reads <n/window>', 'per tenant').env('FABULA_RATE_LIMIT_TENANT_READS'))
    .addOption(new Option('--redis-url <url>', 'share rate limits across server processes through Redis').env('REDIS_URL'));
}

export function authenticationOf(flags: SecurityFlags, tokensText: string | undefined): AuthenticationOptions {
  const list = (text: string | undefined) =>
    text
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const claims = {
    ...(flags.jwtUserClaim ? { user: flags.jwtUserClaim } : {}),
    ...(flags.jwtTenantClaim ? { tenant: flags.jwtTenantClaim } : {}),
    ...(flags.jwtRolesClaim ? { roles: flags.jwtRolesClaim } : {}),
  };
  if (flags.jwtSecret && flags.jwksUrl) throw new ValidationError('--jwt-secret', 'give a JWT secret or a JWKS URL, not both');
  if (flags.jwtSecret !== undefined && flags.jwtSecret.length < 32)
    throw new ValidationError('FABULA_JWT_SECRET', 'is shorter than 32 characters: a short HMAC secret can be guessed');
  if (flags.jwksUrl !== undefined && !/^https?:\/\//.test(flags.jwksUrl))
    throw new ValidationError('FABULA_JWKS_URL', `${JSON.stringify(flags.jwksUrl)} is not an http(s) URL`);
  const jwt =
    flags.jwtSecret || flags.jwksUrl
      ? {
          ...(flags.jwtSecret ? { secret: flags.jwtSecret } : { jwksUrl: flags.jwksUrl! }),
          ...(flags.jwtIssuer ? { issuer: list(flags.jwtIssuer)! } : {}),
          ...(flags.jwtAudience ? { audience: list(flags.jwtAudience)! } : {}),
          claims,
        }
      : undefined;
  return {
    tokens: parseTokens(tokensText),
    ...(flags.apiKeys ? { apiKeys: true } : {}),
    ...(jwt ? { jwt } : {}),
    ...(flags.requireTenant ? { requireTenant: true } : {}),
  };
}

export function rateLimitsOf(flags: SecurityFlags): RateLimitOptions | undefined {
  const budget = (user: string | undefined, tenant: string | undefined, name: string): RateBudget | undefined =>
    user || tenant
      ? {
          ...(user ? { perUser: rateOption(user, `--rate-limit-${name}`) } : {}),
          ...(tenant ? { perTenant: rateOption(tenant, `--rate-limit-tenant-${name}`) } : {}),
        }
      : undefined;
  const commands = budget(flags.rateLimitCommands, flags.rateLimitTenantCommands, 'commands');
  const reads = budget(flags.rateLimitReads, flags.rateLimitTenantReads, 'reads');
  if (!commands && !reads) return undefined;
  return {
    ...(commands ? { commands } : {}),
    ...(reads ? { reads } : {}),
    ...(flags.redisUrl ? { redis: connectRedis(flags.redisUrl) } : {}),
  };
}

/** `100/1m`, `20/30s`, `5000/1h`: requests per window. */
export function rateOption(text: string, name: string): RateLimit {
  const match = /^(\d+)\/(\d+)(ms|s|m|h)$/.exec(text.trim());
  if (!match || Number(match[1]) < 1 || Number(match[2]) < 1)
    throw new ValidationError(name, `${JSON.stringify(text)} is not requests/window, such as 100/1m, 20/30s or 5000/1h`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[3] as 'ms' | 's' | 'm' | 'h'];
  return { max: Number(match[1]), timeWindow: Number(match[2]) * unit };
}

/**
 * `FABULA_API_TOKENS="secret1=alice,secret2=bob@tenant-b:reader|writer"`: token=user[@tenant][:roles],
 * comma-separated, roles separated by `|`. Without roles a token has every role (development).
 */
export function parseTokens(text: string | undefined): Map<string, Caller> {
  const tokens = new Map<string, Caller>();
  for (const entry of (text ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const match = entry.match(/^([^=\s]{8,})=([^@:\s]+)(?:@([^:\s]+))?(?::(\S+))?$/);
    if (!match)
      throw new ValidationError(
        'FABULA_API_TOKENS',
        `"${entry.replace(/=.*/, '=...')}" is not token=user[@tenant][:role|role] (tokens need 8+ characters)`,
      );
    const roles = match[4]?.split('|').filter(Boolean);
    tokens.set(match[1]!, {
      userId: match[2]!,
      ...(match[3] ? { tenantId: match[3] } : {}),
      ...(roles ? { roles } : {}),
    });
  }
  return tokens;
}

/** ioredis, loaded only when a Redis URL is given: every CLI command would otherwise pay for it at start. */
function connectRedis(url: string): RedisClient {
  const { Redis } = createRequire(import.meta.url)('ioredis') as typeof import('ioredis');
  return new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
}
