/** NATS JetStream integration: the outbox publisher and inbound integration events. See docs/integration.md. */
export { connectNats } from './connection.js';
export { JetStreamSetupError } from './errors.js';
export { IntegrationHeaders } from './headers.js';
export {
  InboundConsumer,
  deleteParkedInbound,
  inboundConsumer,
  isFinalRejection,
  listParkedInbound,
  type InboundCommand,
  type InboundEvents,
  type InboundMapper,
  type InboundMessage,
  type InboundOptions,
  type InboundOutcome,
  type ParkedInboundMessage,
} from './inbound.js';
export { startIntegration, type Integration, type IntegrationDefinition, type NatsSettings } from './integration.js';
export {
  NatsPublisher,
  natsPublisher,
  PUBLISH_BATCH,
  type IntegrationEvent,
  type IntegrationMapper,
  type PublisherEvents,
  type PublisherOptions,
  type PublishedMessage,
} from './publisher.js';
export { ensureStream, type JetStreamStreamOptions } from './stream.js';
export { defaultPrefix, subjectFor, subjectMatches, subjectToken } from './subjects.js';
