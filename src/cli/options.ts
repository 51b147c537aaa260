/** Parsing of option values, each failure a ValidationError naming the option. */
import { ValidationError } from '../core/errors.js';

export function intOption(value: string | undefined, name: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value)))
    throw new ValidationError(name, `${JSON.stringify(value)} is not an integer >= ${min}`);
  return Number(value);
}

export function positionOption(value: string, name: string): bigint {
  if (!/^\d{1,19}$/.test(value)) throw new ValidationError(name, `${JSON.stringify(value)} is not a global position`);
  return BigInt(value);
}

export function dateOption(value: string | undefined, name: string): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new ValidationError(name, `${JSON.stringify(value)} is not a time; use ISO 8601 such as 2024-05-01T12:00:00Z`);
  return date;
}

export function listOption(value: string | undefined): string[] | undefined {
  return value === undefined
    ? undefined
    : value
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean);
}

/**
 * A PostgreSQL URL (`--database-url`, `DATABASE_URL`). node-postgres would take any other text for a
 * key=value string and fail later with a confusing host name; say what is wrong instead.
 */
export function databaseUrlOption(value: string): string {
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {}
  // A socket URL (postgres:///db?host=/run/postgresql) has no host name but says where with `host`.
  if (!url || !/^postgres(ql)?:$/.test(url.protocol) || (!url.hostname && !url.searchParams.has('host')))
    throw new ValidationError(
      'DATABASE_URL',
      `${JSON.stringify(value.replace(/:[^:@/]*@/, ':***@'))} is not a PostgreSQL URL: use postgres://user[:password]@host[:port]/database (--database-url or DATABASE_URL; neither for the embedded store)`,
    );
  return value;
}
