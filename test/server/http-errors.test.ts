import { describe, expect, it } from 'vitest';
import { ConcurrencyError, DomainError, ValidationError } from '../../src/index.js';
import { toHttpError } from '../../src/server/http-errors.js';

describe('HTTP error mapping', () => {
  it('maps a database outage to 503 with Retry-After, never 500', () => {
    for (const error of [
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      Object.assign(new Error('the database system is shutting down'), { code: '57P03' }),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      new Error('Connection terminated unexpectedly'),
    ]) {
      expect(toHttpError(error, 'r1')).toMatchObject({ status: 503, body: { code: 'store_unavailable' }, retryAfterSeconds: 1 });
    }
  });

  it('keeps client mistakes 4xx and hides internals of faults', () => {
    expect(toHttpError(new ValidationError('a.b', 'bad'), 'r').status).toBe(400);
    expect(toHttpError(new ConcurrencyError('s-1', 1, 2), 'r').status).toBe(409);
    expect(toHttpError(new DomainError('no'), 'r').status).toBe(422);
    const fault = toHttpError(new TypeError('secret internals at line 3'), 'req-42');
    expect(fault).toEqual({ status: 500, body: { code: 'internal_error', message: expect.stringContaining('req-42') } });
    expect(JSON.stringify(fault)).not.toContain('secret');
  });
});
