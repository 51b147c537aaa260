/**
 * AES-256-GCM for personal values and for wrapping data keys (node:crypto).
 *
 * A personal value is stored as one self-describing string, the *envelope*:
 * `$pd:1:<keyId>:<iv>:<tag>:<ciphertext>` (base64url parts; `1` is the format version; the ciphertext
 * is the value's JSON, so its type comes back). The IV is synthetic: an HMAC of the event id, the field
 * and the value under the data key. The same event appended again (a retry with its id) is then the
 * same bytes, which the store's idempotency check needs, while two different values or events never share
 * an IV (they differ in the HMAC's input). The event id and key id are the additional authenticated
 * data: an envelope copied into another event does not decrypt.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { FabulaError } from '../../core/errors.js';
import type { MasterKey } from './master-keys.js';

/** A subject's data key, unwrapped. */
export interface DataKey {
  readonly keyId: string;
  readonly key: Buffer;
  /** For the synthetic IVs (derived from the key, so it is destroyed with it). */
  readonly macKey: Buffer;
}

const ENVELOPE = /^\$pd:1:([A-Za-z0-9_-]{22}):([A-Za-z0-9_-]{16}):([A-Za-z0-9_-]{22}):([A-Za-z0-9_-]*)$/;
const PREFIX = '$pd:1:';

export function newKeyId(): string {
  return randomBytes(16).toString('base64url');
}

export function dataKey(keyId: string, key: Buffer): DataKey {
  return { keyId, key, macKey: createHmac('sha256', key).update('fabula synthetic iv').digest() };
}

/** Whether a value may be an envelope (cheap test before the full parse). */
export function mayBeEnvelope(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(PREFIX);
}

/** The key id of an envelope, or null when the string is not one. */
export function envelopeKeyId(value: string): string | null {
  return ENVELOPE.exec(value)?.[1] ?? null;
}

export function encryptValue(key: DataKey, eventId: string, field: string, value: unknown): string {
  const plaintext = Buffer.from(JSON.stringify(value), 'utf8');
  const iv = createHmac('sha256', key.macKey).update(`${eventId}\u0000${field}\u0000`).update(plaintext).digest().subarray(0, 12);
  const cipher = createCipheriv('aes-256-gcm', key.key, iv);
  cipher.setAAD(Buffer.from(`${key.keyId}\u0000${eventId}`));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return `${PREFIX}${key.keyId}:${iv.toString('base64url')}:${cipher.getAuthTag().toString('base64url')}:${ciphertext.toString('base64url')}`;
}

/** The value of an envelope. Throws when the key or the event is not the one it was made with. */
export function decryptValue(key: DataKey, eventId: string, envelope: string): unknown {
  const match = ENVELOPE.exec(envelope);
  if (!match || match[1] !== key.keyId) throw new FabulaError('personal_data_corrupt', `not an envelope of key ${key.keyId}`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.key, Buffer.from(match[2]!, 'base64url'));
    decipher.setAAD(Buffer.from(`${key.keyId}\u0000${eventId}`));
    decipher.setAuthTag(Buffer.from(match[3]!, 'base64url'));
    const plaintext = Buffer.concat([decipher.update(Buffer.from(match[4]!, 'base64url')), decipher.final()]);
    return JSON.parse(plaintext.toString('utf8'));
  } catch (error) {
    throw new FabulaError(
      'personal_data_corrupt',
      `a personal value of event ${eventId} does not decrypt with its key ${key.keyId} (altered, or copied from another event)`,
      { cause: error },
    );
  }
}

/** A new data key wrapped under `master`: base64 of iv (12) | tag (16) | encrypted key (32). */
export function wrapKey(master: MasterKey, keyId: string, key: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', master.key, iv);
  cipher.setAAD(Buffer.from(`fabula data key\u0000${keyId}`));
  const wrapped = Buffer.concat([cipher.update(key), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), wrapped]).toString('base64');
}

export function unwrapKey(master: MasterKey, keyId: string, wrapped: string): Buffer {
  const bytes = Buffer.from(wrapped, 'base64');
  try {
    const decipher = createDecipheriv('aes-256-gcm', master.key, bytes.subarray(0, 12));
    decipher.setAAD(Buffer.from(`fabula data key\u0000${keyId}`));
    decipher.setAuthTag(bytes.subarray(12, 28));
    return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]);
  } catch (error) {
    throw new FabulaError(
      'master_key_wrong',
      `data key ${keyId} does not unwrap with master key ${master.id}: the master key is not the one it was wrapped with, or the keys table was altered`,
      { cause: error },
    );
  }
}
