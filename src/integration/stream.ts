/**
 * The JetStream stream that stores published events: created when missing (subjects `<prefix>.>`,
 * file storage, the duplicate window the broker dedupes `Nats-Msg-Id` in), or checked to take them.
 */
import { jetstreamManager, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { ValidationError } from '../core/errors.js';
import { JetStreamSetupError } from './errors.js';
import { subjectCovers } from './subjects.js';

export interface JetStreamStreamOptions {
  /** Stream name. Default: the prefix in upper case, '.' as '_' (`FABULA`). */
  name?: string;
  /** How long the broker remembers message ids to drop re-published events, in ms. Default 2 minutes. */
  duplicateWindowMs?: number;
}

const STREAM_NAME = /^[A-Za-z0-9_-]{1,200}$/;

export function streamNameFor(prefix: string, name?: string): string {
  const chosen = name ?? prefix.toUpperCase().replaceAll('.', '_');
  if (!STREAM_NAME.test(chosen))
    throw new ValidationError(
      'stream.name',
      `${JSON.stringify(chosen)} is not a valid JetStream stream name: use letters, digits, '_' or '-'`,
    );
  return chosen;
}

export function validateDuplicateWindow(ms: unknown): number {
  const value = ms ?? 120_000;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1_000)
    throw new ValidationError('stream.duplicateWindowMs', `${String(ms)} is not valid: use an integer number of ms >= 1000`);
  return value;
}

const isNotFound = (error: unknown) => (error as { code?: number }).code === 10059;

/** Creates the stream, or checks that the existing one takes `subject` (a pattern such as `fabula.>`). */
export async function ensureStream(
  connection: NatsConnection,
  options: { name: string; subject: string; duplicateWindowMs: number },
): Promise<StreamInfo> {
  const jsm: JetStreamManager = await jetstreamManager(connection);
  let info: StreamInfo;
  try {
    info = await jsm.streams.info(options.name);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    try {
      return await jsm.streams.add({
        name: options.name,
        subjects: [options.subject],
        duplicate_window: options.duplicateWindowMs * 1_000_000,
      });
    } catch (cause) {
      throw new JetStreamSetupError(
        `cannot create JetStream stream "${options.name}" for subjects "${options.subject}": ${(cause as Error).message}; another stream may already take these subjects`,
        { cause },
      );
    }
  }
  const subjects = info.config.subjects ?? [];
  if (!subjects.some((s) => subjectCovers(s, options.subject))) {
    throw new JetStreamSetupError(
      `JetStream stream "${options.name}" exists with subjects ${JSON.stringify(subjects)}, which do not cover "${options.subject}": add "${options.subject}" to its subjects, or choose another stream name or prefix`,
    );
  }
  return info;
}
