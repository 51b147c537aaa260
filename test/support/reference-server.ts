/**
 * The reference app served by the compiled `fabula` binary in a child process, on a store location:
 * for tests that SIGKILL and restart the server under load.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fabulaBin } from './cli.js';
import type { StoreLocation } from './locations.js';

/** The reference app as the tests' global setup compiled it, for the compiled `fabula` binary. */
const compiledReferenceApp = path.resolve(import.meta.dirname, '../../dist/examples/reference-app.js');

export function referenceServer(where: StoreLocation, options: { env?: Record<string, string>; readyAttempts: number }) {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const env = Object.fromEntries(
    Object.entries({
      ...process.env,
      DATABASE_URL: where.databaseUrl,
      FABULA_DATA_DIR: where.dataDir,
      LOG_LEVEL: 'warn',
      ...options.env,
    }).filter(([, v]) => v !== undefined),
  ) as NodeJS.ProcessEnv;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    /** Starts a server process (not yet ready: await `ready()`). */
    start: (): ChildProcess =>
      spawn(
        process.execPath,
        [fabulaBin, '--schema', where.schema, '--app', compiledReferenceApp, 'serve', '--port', String(port)],
        {
          env,
          stdio: 'ignore',
        },
      ),
    /** Resolves once `/health/ready` answers 200, polling every 50 ms at most `readyAttempts` times. */
    async ready() {
      for (let i = 0; i < options.readyAttempts; i++) {
        try {
          if ((await fetch(`${url}/health/ready`)).ok) return;
        } catch {}
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('server did not become ready');
    },
  };
}
