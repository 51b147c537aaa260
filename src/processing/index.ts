/** Checkpointed consumers of the global order (projections run on them too). See docs/processing.md. */
export {
  defineDeliveryConsumer,
  defineTransactionalConsumer,
  type ConsumerDefinition,
  type DeliveryConsumerOptions,
  type TransactionalConsumerOptions,
} from './consumer.js';
export { Consumers, createConsumers, type ConsumerEvents } from './consumers.js';
export type { ParkedConsumerEvent } from './control.js';
export type { DaemonOptions as ConsumersOptions } from './daemon.js';
export { ConsumerFailedError, ConsumerNotFoundError, ConsumerTimeoutError } from './errors.js';
export { EventRejected } from './failures.js';
export { defaultRetry, type FailurePolicy, type RetryPolicy } from './policy.js';
export type { ConsumerEvent } from './runner.js';
export type { ConsumerStatus } from './status.js';
