/**
 * A private nats-server with JetStream: `-js` on a free port, its store in a scratch folder (kept across
 * restarts, so streams survive them). Starting fails loudly when the binary is missing or the server does
 * not come up. No test framework here: benchmarks use it too (test/support/nats.ts wraps it for tests).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const natsServerBinary = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

export interface NatsServer {
  url: string;
  port: number;
  /** Stops it (SIGTERM, then SIGKILL) and starts it again on the same port and store folder. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Starts a server; `close()` stops it and removes its folder. */
export async function launchNatsServer(): Promise<NatsServer & { close(): Promise<void> }> {
  if (!fs.existsSync(natsServerBinary))
    throw new Error(`nats-server not found at ${natsServerBinary}: install it or set NATS_SERVER_BIN`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fabula-nats-'));
  const port = await freePort();
  let child: ChildProcess | null = null;
  let output = '';

  const start = async () => {
    output = '';
    const proc = spawn(natsServerBinary, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    proc.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    let exited = false;
    proc.once('exit', () => (exited = true));
    const deadline = Date.now() + 10_000;
    while (!output.includes('Server is ready') || !(await accepts(port))) {
      if (exited || Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`nats-server did not start on port ${port}: ${output.slice(-2000) || '(no output)'}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  const stop = async () => {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  await start();
  return {
    close: async () => {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
    url: `nats://127.0.0.1:${port}`,
    port,
    start,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
  };
}
