/** Statements on `inbound_parked_messages` (migration 007), for one store schema. */
export function inboundSql(schema: string) {
  const t = `"${schema}".inbound_parked_messages`;
  const columns = `id::text AS id, consumer, message_id, subject, stream, stream_sequence::text AS stream_sequence, headers, data, reason, error, deliveries, parked_at`;
  return {
    park: `INSERT INTO ${t} (consumer, message_id, subject, stream, stream_sequence, headers, data, reason, error, deliveries)
      VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)
      ON CONFLICT (consumer, message_id) DO UPDATE SET subject = EXCLUDED.subject, stream = EXCLUDED.stream,
        stream_sequence = EXCLUDED.stream_sequence, headers = EXCLUDED.headers, data = EXCLUDED.data, reason = EXCLUDED.reason,
        error = EXCLUDED.error, deliveries = ${t}.deliveries + EXCLUDED.deliveries, parked_at = clock_timestamp()
      RETURNING id::text AS id`,
    list: `SELECT ${columns} FROM ${t} WHERE ($1::text IS NULL OR consumer = $1) ORDER BY id`,
    byId: `SELECT ${columns} FROM ${t} WHERE id = $1`,
    update: `UPDATE ${t} SET reason = $2, error = $3, deliveries = deliveries + 1, parked_at = clock_timestamp() WHERE id = $1`,
    delete: `DELETE FROM ${t} WHERE id = $1 RETURNING id`,
  };
}

export interface InboundParkedRow {
  id: string;
  consumer: string;
  message_id: string;
  subject: string;
  stream: string;
  stream_sequence: string;
  headers: Record<string, string> | string;
  data: string;
  reason: 'failed' | 'rejected';
  error: string;
  deliveries: number;
  parked_at: Date;
}
