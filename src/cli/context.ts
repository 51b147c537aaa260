/** What every CLI command needs: where the store is, which application (if any), how to print. */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { defineApp, setupOutsideService, type AppDefinition } from '../app-definition.js';
import { FabulaError, ValidationError } from '../core/errors.js';
import type { EventStore } from '../store/event-store.js';
import { openEventStore } from '../store/open.js';
import { personalDataFor } from './master-key.js';

export interface GlobalOptions {
  databaseUrl?: string;
  dataDir: string;
  schema: string;
  app?: string;
  json?: boolean;
}

/**
 * Opens the store the options name: a server (DATABASE_URL / --database-url) or the embedded folder;
 * with personal-data protection when a master key is set, or `app` declares personal data. Commands that
 * append (or run the app's commands) pass `app`: its declarations say what to encrypt. Reading decrypts
 * with the key alone.
 */
export async function openStore(
  options: GlobalOptions,
  extra: Parameters<typeof openEventStore>[0] = {},
  app?: AppDefinition,
): Promise<EventStore> {
  const personalData = personalDataFor(options, app?.registry);
  return openEventStore({
    ...(options.databaseUrl ? { connectionString: options.databaseUrl } : { dataDir: options.dataDir }),
    schema: options.schema,
    ...(personalData ? { personalData } : {}),
    ...extra,
  });
}

/**
 * The application of commands that need one (serve, state, catalog, replay, projections): the default
 * export of `--app <module>` or `$FABULA_APP`, a `defineApp(...)`. There is no default: a command that
 * needs an application and got none says so.
 */
export async function loadApp(options: GlobalOptions): Promise<AppDefinition> {
  const app = await loadAppIfGiven(options);
  if (!app)
    throw new ValidationError(
      '--app',
      'this command needs the application: pass --app <module> or set FABULA_APP to a module whose default export is defineApp({ ... }) (for example --app ./dist/my-app.js or --app ./my-app.ts)',
    );
  return app;
}

/** The application when `--app` / `$FABULA_APP` names one, else undefined (commands that work on the store alone). */
export async function loadAppIfGiven(options: GlobalOptions): Promise<AppDefinition | undefined> {
  if (!options.app) return undefined;
  const file = path.resolve(options.app);
  if (TYPESCRIPT.test(file)) await enableTypeScript(options.app);
  let loaded: { default?: AppDefinition };
  try {
    loaded = await import(pathToFileURL(file).href);
  } catch (error) {
    throw new ValidationError('--app', `cannot load ${options.app}: ${(error as Error).message}`);
  }
  const app = loaded.default;
  if (!app || typeof app.setup !== 'function' || !app.registry) {
    throw new ValidationError('--app', `${options.app} must default-export defineApp({ name, registry, projections, setup })`);
  }
  // Fails at once, naming the event and the version, when an upcaster is missing.
  app.registry.assertComplete();
  return defineApp(app); // its projections upcast with its registry even if it was not made with defineApp
}

const TYPESCRIPT = /\.[cm]?ts$/i;
let typescriptEnabled = false;

/**
 * Lets `import()` load TypeScript through tsx's loader (an optional peer dependency). Not needed, and
 * not done, when this CLI itself runs from its TypeScript sources (`npm start`, `npm run fabula`): a
 * TypeScript loader is then active already, and a second one would load the same files twice.
 */
async function enableTypeScript(app: string) {
  if (typescriptEnabled || TYPESCRIPT.test(fileURLToPath(import.meta.url))) return;
  let api: typeof import('tsx/esm/api');
  try {
    api = await import('tsx/esm/api');
  } catch {
    throw new ValidationError(
      '--app',
      `${app} is TypeScript, which needs the tsx package to load (npm install --save-dev tsx); or compile it and pass the .js file`,
    );
  }
  api.register();
  typescriptEnabled = true;
}

/**
 * Runs the application's `setup` outside the server (for CLI commands that need its command bus or its
 * state readers): nothing is started, no projection or process runs.
 */
export async function setupApp(app: AppDefinition, store: EventStore) {
  const { CommandBus } = await import('../write/command-bus.js');
  const commands = new CommandBus({ store });
  const { aggregates = {} } = setupOutsideService(app, store, commands);
  return { commands, aggregates };
}

export async function withStore<T>(
  options: GlobalOptions,
  run: (store: EventStore) => Promise<T>,
  app?: AppDefinition,
): Promise<T> {
  const store = await openStore(options, {}, app);
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
