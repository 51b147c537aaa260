/** How the API writes store records as JSON: bigint positions as decimal strings, times as ISO 8601. */
import { createHash } from 'node:crypto';
import type { RecordedEvent, StreamInfo } from '../core/events.js';

export function eventJson(event: RecordedEvent) {
  return {
    id: event.id,
    type: event.type,
    streamId: event.streamId,
    streamVersion: event.streamVersion,
    globalPosition: event.globalPosition.toString(),
    recordedAt: event.recordedAt.toISOString(),
    schemaVersion: event.schemaVersion,
    data: event.data,
    metadata: event.metadata,
  };
}

export function streamJson(stream: StreamInfo) {
  return {
    streamId: stream.streamId,
    streamType: stream.streamType,
    version: stream.version,
    createdAt: stream.createdAt.toISOString(),
    updatedAt: stream.updatedAt.toISOString(),
    deleted: stream.deleted,
    metadata: stream.metadata,
  };
}

/** JSON.stringify that writes bigints as strings (for read-model rows and aggregate state). */
export function toJsonValue(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_key, v) =>
      typeof v === 'bigint' ? v.toString() : v instanceof Map ? Object.fromEntries(v) : v instanceof Set ? [...v] : v,
    ),
  );
}

/**
 * A digest of a request body that ignores key order and whitespace: an Idempotency-Key's retry must
 * send the same body, however its client serialises it.
 */
export function bodyDigest(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('base64url');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
