import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

/** Runs a TypeScript file in a new Node process (through tsx), with DATABASE_URL removed. */
export function spawnTs(
  file: string,
  args: string[],
): ChildProcessWithoutNullStreams & { lines: string[]; exited: Promise<number | null> } {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, file), ...args], { cwd: root, env });
  const lines: string[] = [];
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return Object.assign(child, {
    lines,
    exited,
    get stderr() {
      return stderr;
    },
  });
}

export async function waitForLine(
  child: { lines: string[]; exited: Promise<unknown> },
  predicate: (line: string) => boolean,
  timeoutMs = 30_000,
) {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void child.exited.then(() => (exited = true));
  for (;;) {
    const line = child.lines.find(predicate);
    if (line !== undefined) return line;
    if (exited || Date.now() > deadline) throw new Error(`no such line; got: ${child.lines.slice(-5).join(' | ')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
