import { describe, expect, it } from 'vitest';
import { ConcurrencyError, DomainError, IdempotencyError, ProjectionTimeoutError, ValidationError } from '../../src/index.js';
import { HttpError, toHttpError } from '../../src/server/http-errors.js';

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

  it('says what to do next: a reused Idempotency-Key, a lagging read model, an HTTP-only answer', () => {
    const reused = toHttpError(new IdempotencyError('e-1', 's-1', 'command id k was already used'), 'r');
    expect(reused).toMatchObject({ status: 422, body: { code: 'idempotency_key_reused' } });
    expect(reused.body.message).toContain('a new command needs a new key');
    const lagging = toHttpError(new ProjectionTimeoutError('orders', 42n, 40n, 5000), 'r');
    expect(lagging).toMatchObject({
      status: 503,
      retryAfterSeconds: 1,
      body: { code: 'projection_timeout', projection: 'orders', position: '42', checkpoint: '40' },
    });
    expect(lagging.body.message).toBe(
      'the read model of projection "orders" has not reached position 42 yet (it is at 40); the write happened: retry the read after the Retry-After delay (GET /projections shows its lag)',
    );
    expect(toHttpError(new HttpError(404, 'unknown_aggregate_type', 'no', { known: ['a'] }), 'r')).toEqual({
      status: 404,
      body: { code: 'unknown_aggregate_type', message: 'no', known: ['a'] },
    });
  });
});
