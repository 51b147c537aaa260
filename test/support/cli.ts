import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
export const fabulaBin = path.join(root, 'bin/fabula.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Starts the real `fabula` binary, for a test that talks to it while it runs (a tail, a Ctrl-C). `env`
 * replaces DATABASE_URL handling: this process's DATABASE_URL and FABULA_DATA_DIR are not passed on.
 */
export function spawnFabula(args: string[], env: Record<string, string | undefined> = {}): ChildProcessWithoutNullStreams {
  const merged: Record<string, string | undefined> = {
    ...process.env,
    DATABASE_URL: undefined,
    FABULA_DATA_DIR: undefined,
    ...env,
  };
  const childEnv = Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined)) as NodeJS.ProcessEnv;
  return spawn(process.execPath, [fabulaBin, ...args], { cwd: root, env: childEnv });
}

/** Runs the real `fabula` binary to its end. `env` replaces DATABASE_URL handling: pass it explicitly. */
export function fabula(args: string[], env: Record<string, string | undefined> = {}, input?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawnFabula(args, env);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    if (input !== undefined) child.stdin.end(input);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
