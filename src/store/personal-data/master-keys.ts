/**
 * Master keys: what the per-subject data keys are wrapped (encrypted) with. A key provider hands them
 * to the store; the built-in ones take base64 keys from an environment (passed in: the library reads no
 * environment itself) or from a file. A master key's id is its fingerprint, so the same key always has
 * the same id and a wrong key is told apart from a right one without trying it.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { FabulaError, ValidationError } from '../../core/errors.js';

export interface MasterKey {
  /** Names the key in the keys table (`master_key_id`): a fingerprint, not the key. */
  readonly id: string;
  /** 32 bytes (AES-256). */
  readonly key: Buffer;
}

/**
 * Where the store gets master keys. `current` wraps new data keys (and re-wraps them on rotation);
 * `previous` are still accepted for unwrapping, during a rotation.
 */
export interface KeyProvider {
  current(): MasterKey | Promise<MasterKey>;
  previous(): readonly MasterKey[] | Promise<readonly MasterKey[]>;
}

/** A master key from its base64 text (32 bytes). `field` names where it came from in errors. */
export function masterKey(base64: string, field = 'masterKey'): MasterKey {
  const text = base64.trim();
  const key = Buffer.from(text, 'base64');
  if (text.length === 0 || key.length !== 32 || key.toString('base64').replace(/=+$/, '') !== text.replace(/=+$/, '')) {
    throw new ValidationError(
      field,
      `must be 32 random bytes in base64 (44 characters), got ${text.length} characters; make one with: openssl rand -base64 32`,
    );
  }
  return { id: fingerprint(key), key };
}

/** The id of a master key: the first 16 hex digits of SHA-256 over a label and the key. */
export function fingerprint(key: Buffer): string {
  return createHash('sha256').update('fabula master key\u0000').update(key).digest('hex').slice(0, 16);
}

/** A provider with fixed keys (tests, or keys your own secret manager fetched). */
export function staticKeyProvider(current: MasterKey, previous: readonly MasterKey[] = []): KeyProvider {
  return { current: () => current, previous: () => previous };
}

/**
 * Keys from environment variables (the CLI passes `process.env`): `FABULA_MASTER_KEY` (base64, 32 bytes)
 * and, during a rotation, `FABULA_MASTER_KEY_PREVIOUS` (comma-separated). Null when no key is set.
 */
export function environmentKeyProvider(env: Readonly<Record<string, string | undefined>>): KeyProvider | null {
  const current = env.FABULA_MASTER_KEY?.trim();
  if (!current) return null;
  const previous = (env.FABULA_MASTER_KEY_PREVIOUS ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean)
    .map((k, i) => masterKey(k, `FABULA_MASTER_KEY_PREVIOUS[${i}]`));
  return staticKeyProvider(masterKey(current, 'FABULA_MASTER_KEY'), previous);
}

/**
 * Keys from a file: one base64 key per line, the first is current, the others previous (blank lines and
 * lines starting with `#` are ignored). Read once, when the provider is made.
 */
export function fileKeyProvider(file: string): KeyProvider {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new FabulaError('master_key_unavailable', `cannot read the master key file ${file}: ${(error as Error).message}`);
  }
  const keys = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l, i) => masterKey(l, `${file}:${i + 1}`));
  if (keys.length === 0)
    throw new ValidationError(file, 'holds no master key: put a base64 key (openssl rand -base64 32) on its first line');
  return staticKeyProvider(keys[0]!, keys.slice(1));
}
