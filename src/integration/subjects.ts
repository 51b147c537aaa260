/**
 * NATS subjects of published events, `<prefix>.<streamType>.<eventType>`, and matching of subject
 * patterns (`*` one token, `>` the rest). Pure.
 */
import { ValidationError } from '../core/errors.js';
import { streamTypeOf } from '../core/events.js';

export const defaultPrefix = 'fabula';

const PREFIX = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;

/** A prefix is one or more tokens of letters, digits, '_' or '-', joined by '.'. */
export function validatePrefix(prefix: unknown, field = 'prefix'): string {
  if (typeof prefix !== 'string' || !PREFIX.test(prefix) || prefix.length > 100) {
    throw new ValidationError(
      field,
      `${JSON.stringify(prefix)} is not a valid subject prefix: use tokens of letters, digits, '_' or '-' joined by '.' (for example "fabula" or "acme.bank")`,
    );
  }
  return prefix;
}

/**
 * One subject token from a stream type or event type: characters NATS gives a meaning to ('.', '*',
 * '>', whitespace) and any other outside letters, digits, '_', '-' and ':' become '_'. The exact
 * values travel in the headers.
 */
export function subjectToken(value: string): string {
  const token = value.replace(/[^A-Za-z0-9_:-]/g, '_');
  return token.length > 0 ? token : '_';
}

/** `<prefix>.<streamType>.<eventType>`; the stream type is the part of the stream id before the first '-'. */
export function subjectFor(prefix: string, streamId: string, eventType: string): string {
  return `${prefix}.${subjectToken(streamTypeOf(streamId))}.${subjectToken(eventType)}`;
}

/** Whether `subject` (no wildcards) matches `pattern` (`*` one token, `>` one or more at the end). */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

/** Whether every subject `target` (a pattern) can name is also matched by `pattern`. */
export function subjectCovers(pattern: string, target: string): boolean {
  const p = pattern.split('.');
  const t = target.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return t.length > i;
    if (i >= t.length || t[i] === '>') return false;
    if (p[i] !== '*' && p[i] !== t[i]) return false;
  }
  return p.length === t.length;
}
