/**
 * Personal data in events, as declared by event definitions: which fields hold it and whose it is (the
 * subject, an id taken from the event). Pure: the store encrypts these fields per subject
 * (src/store/personal-data) and shows `ERASED` once the subject was forgotten. See docs/personal-data.md.
 */
import { ValidationError } from './errors.js';

/**
 * The value every reader sees in place of a forgotten subject's personal data, whatever the field's type
 * was: the string `'[erased]'`. Handlers and upcasters should expect it in declared fields.
 */
export const ERASED = '[erased]';

/** Whether a value is the redaction marker. */
export function isErased(value: unknown): value is typeof ERASED {
  return value === ERASED;
}

/**
 * What an event definition declares: `subject` is the path of the field holding the subject's id
 * (`'accountId'`, `'customer.id'`), `fields` the paths of the personal values (`'owner'`, `'address.street'`).
 */
export interface PersonalDataDeclaration {
  subject: string;
  fields: readonly string[];
}

/** A declaration with its paths split into segments, as the store uses it. */
export interface PersonalDataPaths {
  subject: readonly string[];
  fields: ReadonlyArray<readonly string[]>;
}

const SEGMENT = /^[A-Za-z_$][A-Za-z0-9_$-]{0,99}$/;

/** Splits and checks a dotted path (`address.street`); throws a ValidationError naming `field`. */
export function parsePath(path: unknown, field: string): string[] {
  if (typeof path !== 'string' || path.length === 0)
    throw new ValidationError(field, `must be a non-empty dotted path such as "owner" or "address.street"`);
  const segments = path.split('.');
  for (const segment of segments) {
    if (!SEGMENT.test(segment))
      throw new ValidationError(field, `${JSON.stringify(path)} is not a dotted path of field names (such as "address.street")`);
  }
  return segments;
}

/** Checks a declaration and splits its paths. */
export function parseDeclaration(declaration: unknown, field: string): PersonalDataPaths {
  if (typeof declaration !== 'object' || declaration === null)
    throw new ValidationError(field, 'must be { subject: "<path of the subject id>", fields: ["<path>", ...] }');
  const d = declaration as Partial<PersonalDataDeclaration>;
  const subject = parsePath(d.subject, `${field}.subject`);
  if (!Array.isArray(d.fields) || d.fields.length === 0)
    throw new ValidationError(`${field}.fields`, 'must be a non-empty array of dotted paths');
  const seen = new Set<string>();
  const fields = d.fields.map((f, i) => {
    const path = parsePath(f, `${field}.fields[${i}]`);
    if (seen.has(f)) throw new ValidationError(`${field}.fields[${i}]`, `${JSON.stringify(f)} appears twice`);
    if (f === d.subject || f.startsWith(`${d.subject}.`) || d.subject!.startsWith(`${f}.`))
      throw new ValidationError(
        `${field}.fields[${i}]`,
        `${JSON.stringify(f)} overlaps the subject path: the subject id stays readable`,
      );
    seen.add(f);
    return path;
  });
  return { subject, fields };
}

/** The value at `path` in `data`, or undefined. */
export function getPath(data: unknown, path: readonly string[]): unknown {
  let at = data;
  for (const segment of path) {
    if (typeof at !== 'object' || at === null || Array.isArray(at)) return undefined;
    at = (at as Record<string, unknown>)[segment];
  }
  return at;
}

/**
 * A copy of `data` with the value at `path` replaced by `replace(value)` (copies only along the path).
 * Unchanged when the path does not exist (an optional field left out).
 */
export function updatePath(data: unknown, path: readonly string[], replace: (value: unknown) => unknown): unknown {
  if (path.length === 0) return replace(data);
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return data;
  const record = data as Record<string, unknown>;
  const [head, ...rest] = path;
  if (!Object.hasOwn(record, head!) || record[head!] === undefined) return data;
  return { ...record, [head!]: updatePath(record[head!], rest, replace) };
}

/** The subject id of an event's data: a non-empty string (or a number, as text). Null when absent. */
export function subjectOf(data: unknown, paths: PersonalDataPaths): string | null {
  const value = getPath(data, paths.subject);
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return null;
}

/** A copy of `data` with every declared personal field that is present set to `ERASED`. */
export function eraseFields(data: unknown, paths: PersonalDataPaths): unknown {
  return paths.fields.reduce((d, path) => updatePath(d, path, () => ERASED), data);
}
