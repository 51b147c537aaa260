/** Errors of the consumer API. */
import { FabulaError } from '../core/errors.js';

export class ConsumerNotFoundError extends FabulaError {
  constructor(readonly consumer: string) {
    super('consumer_not_found', `no consumer named "${consumer}" is registered in this store`);
    this.name = 'ConsumerNotFoundError';
  }
}

/** `waitFor` gave up: the consumer did not reach `position` in time. */
export class ConsumerTimeoutError extends FabulaError {
  constructor(
    readonly consumer: string,
    readonly position: bigint,
    readonly checkpoint: bigint,
    timeoutMs: number,
  ) {
    super(
      'consumer_timeout',
      `consumer "${consumer}" did not reach position ${position} within ${timeoutMs} ms (it is at ${checkpoint})`,
    );
    this.name = 'ConsumerTimeoutError';
  }
}

/** `waitFor` cannot succeed: the consumer stopped in status failed before `position`. */
export class ConsumerFailedError extends FabulaError {
  constructor(
    readonly consumer: string,
    readonly position: bigint,
    reason: string,
  ) {
    super('consumer_failed', `consumer "${consumer}" stopped in status failed at position ${position}: ${reason}`);
    this.name = 'ConsumerFailedError';
  }
}
