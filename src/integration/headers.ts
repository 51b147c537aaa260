/** Headers of every published event (besides `Nats-Msg-Id`, the event id, which the broker dedupes by). */
export const IntegrationHeaders = {
  MessageId: 'Nats-Msg-Id',
  EventId: 'Fabula-Event-Id',
  EventType: 'Fabula-Event-Type',
  StreamId: 'Fabula-Stream-Id',
  StreamVersion: 'Fabula-Stream-Version',
  GlobalPosition: 'Fabula-Global-Position',
  CorrelationId: 'Fabula-Correlation-Id',
  CausationId: 'Fabula-Causation-Id',
  RecordedAt: 'Fabula-Recorded-At',
} as const;
