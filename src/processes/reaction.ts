/** Checks what `react` returned, so that a mistake names the field instead of failing later in SQL. */
import { ValidationError } from '../core/errors.js';
import { assertJson } from '../core/validation.js';
import type { ProcessReaction } from './define.js';

const STEP_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$/;

export interface CheckedReaction {
  state?: unknown;
  send: Array<{ type: string; data: unknown; step: string | null }>;
  schedule: Array<{ name: string; dueAt: Date }>;
  cancel: string[];
  withdraw: string[];
  end: boolean;
}

export function checkReaction(
  reaction: ProcessReaction<unknown> | void,
  now: Date,
  knownCommand: (type: string) => boolean,
  at: string,
): CheckedReaction {
  const r = (reaction ?? {}) as ProcessReaction<unknown>;
  if (typeof r !== 'object' || r === null) throw new ValidationError(at, 'must return a reaction object or nothing');
  if ('state' in r && r.state !== undefined) assertJson(r.state, `${at}.state`);
  const send = list(r.send, `${at}.send`).map((c, i) => {
    const field = `${at}.send[${i}]`;
    if (typeof c !== 'object' || c === null || typeof c.type !== 'string')
      throw new ValidationError(field, 'must be { type, data, step? }');
    if (!knownCommand(c.type))
      throw new ValidationError(`${field}.type`, `${JSON.stringify(c.type)} is not a command registered on the command bus`);
    assertJson(c.data, `${field}.data`);
    return { type: c.type, data: c.data, step: c.step === undefined ? null : name(c.step, `${field}.step`) };
  });
  const schedule = list(r.schedule, `${at}.schedule`).map((t, i) => {
    const field = `${at}.schedule[${i}]`;
    if (typeof t !== 'object' || t === null) throw new ValidationError(field, 'must be { name, after } or { name, at }');
    const timeoutName = name(t.name, `${field}.name`);
    if ((t.after === undefined) === (t.at === undefined))
      throw new ValidationError(field, 'give exactly one of after (ms) or at (Date)');
    if (t.after !== undefined && (typeof t.after !== 'number' || !Number.isFinite(t.after) || t.after < 0))
      throw new ValidationError(`${field}.after`, 'must be a number of milliseconds >= 0');
    if (t.at !== undefined && (!(t.at instanceof Date) || Number.isNaN(t.at.getTime())))
      throw new ValidationError(`${field}.at`, 'must be a valid Date');
    return { name: timeoutName, dueAt: t.at ?? new Date(now.getTime() + t.after!) };
  });
  return {
    ...('state' in r && r.state !== undefined ? { state: r.state } : {}),
    send,
    schedule,
    cancel: list(r.cancel, `${at}.cancel`).map((n, i) => name(n, `${at}.cancel[${i}]`)),
    withdraw: list(r.withdraw, `${at}.withdraw`).map((n, i) => name(n, `${at}.withdraw[${i}]`)),
    end: r.end === true,
  };
}

function list<T>(value: readonly T[] | undefined, field: string): readonly T[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new ValidationError(field, 'must be an array');
  return value;
}

function name(value: unknown, field: string): string {
  if (typeof value !== 'string' || !STEP_NAME.test(value))
    throw new ValidationError(
      field,
      `${JSON.stringify(value)} is not a valid name: letters, digits, '_', '.', ':' or '-', at most 100`,
    );
  return value;
}
