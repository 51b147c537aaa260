import { spawn } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
export const fabulaBin = path.join(root, 'bin/fabula.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `fabula` binary. `env` replaces DATABASE_URL handling: pass it explicitly. */
export function fabula(args: string[], env: Record<string, string | undefined> = {}, input?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const merged: Record<string, string | undefined> = {
      ...process.env,
      DATABASE_URL: undefined,
      FABULA_DATA_DIR: undefined,
      ...env,
    };
    const childEnv = Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined)) as NodeJS.ProcessEnv;
    const child = spawn(process.execPath, [fabulaBin, ...args], { cwd: root, env: childEnv });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    if (input !== undefined) child.stdin.end(input);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
