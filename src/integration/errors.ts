import { FabulaError } from '../core/errors.js';

/** The JetStream stream exists but does not take the publisher's subjects, or NATS refused its setup. */
export class JetStreamSetupError extends FabulaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('jetstream_setup', message, options);
  }
}
