/** What a consumer does with an event it cannot handle: retries with backoff, then stop or park. Pure. */
import { ValidationError } from '../core/errors.js';

/**
 * What happens to an event the consumer still cannot handle after its retries: `stop` puts the consumer
 * in status `failed` until `resume()`; `park` moves the event (and every later event of its stream) to
 * the dead-letter table and carries on with the other streams.
 */
export type FailurePolicy = 'stop' | 'park';

export interface RetryPolicy {
  /** Attempts in all, the first included. Default 3. */
  attempts: number;
  /** Wait before the second attempt; doubled for each one after. Default 100 ms. */
  backoffMs: number;
  /** Longest wait between attempts. Default 5,000 ms. */
  maxBackoffMs: number;
}

export const defaultRetry: RetryPolicy = { attempts: 3, backoffMs: 100, maxBackoffMs: 5_000 };

/** Wait before attempt `attempt` (2, 3, ...) of an event. */
export function retryDelay(retry: RetryPolicy, attempt: number): number {
  return Math.min(retry.maxBackoffMs, retry.backoffMs * 2 ** Math.max(0, attempt - 2));
}

export function validateFailurePolicy(value: unknown): FailurePolicy {
  const onFailure = value ?? 'stop';
  if (onFailure !== 'stop' && onFailure !== 'park') {
    throw new ValidationError('onFailure', `${JSON.stringify(onFailure)} is not valid: use 'stop' or 'park'`);
  }
  return onFailure;
}

export function validateRetry(retry: Partial<RetryPolicy> | undefined): RetryPolicy {
  const merged = { ...defaultRetry, ...retry };
  checkInteger(merged.attempts, 'retry.attempts', 1);
  checkInteger(merged.backoffMs, 'retry.backoffMs', 0);
  checkInteger(merged.maxBackoffMs, 'retry.maxBackoffMs', 0);
  return Object.freeze(merged);
}

function checkInteger(value: unknown, field: string, min: number) {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new ValidationError(field, `${String(value)} is not valid: use an integer >= ${min}`);
  }
}
