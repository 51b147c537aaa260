/** `fabula serve`'s security settings: development tokens with roles, rate limits, JWT settings; bad values name the setting. */
import { describe, expect, it } from 'vitest';
import { authenticationOf, parseTokens, rateLimitsOf, rateOption } from '../../src/cli/security-options.js';

describe('fabula serve security settings', () => {
  it('parses FABULA_API_TOKENS with tenants and roles; without roles a token has every role', () => {
    const tokens = parseTokens(
      'secret-one=alice, secret-two=bob@tenant-b, secret-three=carl@t-c:admin|auditor, secret-4444=dan:reader',
    );
    expect(Object.fromEntries(tokens)).toEqual({
      'secret-one': { userId: 'alice' },
      'secret-two': { userId: 'bob', tenantId: 'tenant-b' },
      'secret-three': { userId: 'carl', tenantId: 't-c', roles: ['admin', 'auditor'] },
      'secret-4444': { userId: 'dan', roles: ['reader'] },
    });
    expect(() => parseTokens('short=alice')).toThrow(
      /FABULA_API_TOKENS.*"short=\.\.\." is not token=user\[@tenant\]\[:role\|role\]/,
    );
    expect(() => parseTokens('long-enough-token-but-no-user')).toThrow(/is not token=user/);
  });

  it('parses rate limits as requests/window and refuses anything else by name', () => {
    expect(rateOption('100/1m', '--rate-limit-commands')).toEqual({ max: 100, timeWindow: 60_000 });
    expect(rateOption('20/30s', 'x')).toEqual({ max: 20, timeWindow: 30_000 });
    expect(() => rateOption('lots', '--rate-limit-reads')).toThrow(/--rate-limit-reads: "lots" is not requests\/window/);
    expect(() => rateOption('0/1m', '--rate-limit-reads')).toThrow(/--rate-limit-reads/);
    expect(rateLimitsOf({})).toBeUndefined();
    expect(rateLimitsOf({ rateLimitCommands: '10/1s', rateLimitTenantReads: '50/1m' })).toEqual({
      commands: { perUser: { max: 10, timeWindow: 1000 } },
      reads: { perTenant: { max: 50, timeWindow: 60_000 } },
    });
  });

  it('checks JWT settings: one of secret or JWKS URL, a secret long enough, an http(s) URL', () => {
    const secret = 'x'.repeat(32);
    expect(authenticationOf({ jwtSecret: secret, jwtAudience: 'a,b', jwtRolesClaim: 'scope', apiKeys: true }, undefined)).toEqual(
      {
        tokens: new Map(),
        apiKeys: true,
        jwt: { secret, audience: ['a', 'b'], claims: { roles: 'scope' } },
      },
    );
    expect(() => authenticationOf({ jwtSecret: 'short' }, undefined)).toThrow(/FABULA_JWT_SECRET: is shorter than 32/);
    expect(() => authenticationOf({ jwtSecret: secret, jwksUrl: 'https://idp/jwks' }, undefined)).toThrow(/not both/);
    expect(() => authenticationOf({ jwksUrl: 'file:///etc/passwd' }, undefined)).toThrow(
      /FABULA_JWKS_URL: .* is not an http\(s\) URL/,
    );
  });
});
