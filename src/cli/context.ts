/** What every CLI command needs: where the store is, which application, how to print. */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AppDefinition } from '../app/app-definition.js';
import { FabulaError, ValidationError } from '../core/errors.js';
import type { EventStore } from '../store/event-store.js';
import { openEventStore } from '../store/open.js';

export interface GlobalOptions {
  databaseUrl?: string;
  dataDir: string;
  schema: string;
  app?: string;
  json?: boolean;
}

/** Opens the store the options name: a server (DATABASE_URL / --database-url) or the embedded folder. */
export function openStore(options: GlobalOptions, extra: Parameters<typeof openEventStore>[0] = {}): Promise<EventStore> {
  return openEventStore({
    ...(options.databaseUrl ? { connectionString: options.databaseUrl } : { dataDir: options.dataDir }),
    schema: options.schema,
    ...extra,
  });
}

/** The application to serve: `--app <module>` (default export), or the reference bank and orders app. */
export async function loadApp(options: GlobalOptions): Promise<AppDefinition> {
  if (!options.app) return (await import('../../examples/app.js')).default;
  const url = pathToFileURL(path.resolve(options.app)).href;
  let loaded: { default?: AppDefinition };
  try {
    loaded = await import(url);
  } catch (error) {
    throw new ValidationError('--app', `cannot load ${options.app}: ${(error as Error).message}`);
  }
  const app = loaded.default;
  if (!app || typeof app.setup !== 'function' || !app.registry) {
    throw new ValidationError('--app', `${options.app} must default-export defineApp({ name, registry, projections, setup })`);
  }
  return app;
}

export async function withStore<T>(options: GlobalOptions, run: (store: EventStore) => Promise<T>): Promise<T> {
  const store = await openStore(options);
  try {
    return await run(store);
  } finally {
    await store.close();
  }
}

/** Prints a value: JSON (one document) with --json, else the human rendering. */
export function output(options: GlobalOptions, value: unknown, human: () => string) {
  process.stdout.write(`${options.json ? JSON.stringify(value, jsonReplacer, 2) : human()}\n`);
}

export function jsonReplacer(_key: string, value: unknown) {
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** Turns a failure into a message and an exit code; no stack traces unless FABULA_DEBUG is set. */
export function reportError(error: unknown): number {
  if (process.env.FABULA_DEBUG) console.error(error);
  if (error instanceof FabulaError) {
    console.error(`error: ${error.message}`);
    return error instanceof ValidationError ? 2 : 1;
  }
  const code = (error as { code?: string }).code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND') {
    console.error(`error: cannot reach the database (${(error as Error).message}); check DATABASE_URL or --database-url`);
    return 1;
  }
  console.error(`error: ${(error as Error)?.message ?? String(error)} (set FABULA_DEBUG=1 for details)`);
  return 1;
}
