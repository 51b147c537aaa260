/**
 * `npm run bench -- http`: commands per second over HTTP (`POST /commands/OpenAccount`, autocannon with
 * 16 connections, in its own process) against the same commands through the in-process command bus at
 * concurrency 16, on the same running service and store, in the same run; with p50/p99 latency of both.
 *
 * Every command opens a new account (the load generator gives each request its own account id), so
 * each is validated, loaded (an empty stream), decided and appended: one event per command. The
 * reference app runs with its projections (account-balances inline, in each append's transaction).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import referenceApp from '../examples/reference-app.js';
import { startService } from '../src/server/service.js';
import {
  absolute,
  compare,
  interleave,
  machineInfo,
  randomSchemaName,
  type Benchmark,
  type BenchContext,
  type BenchReport,
  type RoundFigures,
} from './harness.js';

const CONNECTIONS = 16;
const run = promisify(execFile);
const loadGenerator = path.resolve(import.meta.dirname, 'http-load.mjs');

async function overHttp(url: string, seconds: number): Promise<RoundFigures> {
  const { stdout } = await run(
    process.execPath,
    [loadGenerator, `${url}/commands/OpenAccount`, String(CONNECTIONS), String(seconds)],
    {
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  const result = JSON.parse(stdout) as {
    requests: { total: number };
    duration: number;
    latency: { p50: number; p99: number };
    non2xx: number;
    errors: number;
  };
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`HTTP round had ${result.non2xx} non-2xx answers and ${result.errors} errors`);
  if (result.requests.total === 0) throw new Error('HTTP round completed no request');
  return { per_s: result.requests.total / result.duration, p50_ms: result.latency.p50, p99_ms: result.latency.p99 };
}

async function inProcess(execute: (accountId: string) => Promise<unknown>, seconds: number): Promise<RoundFigures> {
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < deadline) {
        const t = performance.now();
        await execute(randomUUID());
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return { per_s: latencies.length / elapsed, p50_ms: at(0.5), p99_ms: at(0.99) };
}

async function runBench(ctx: BenchContext): Promise<BenchReport> {
  const { options, databaseUrl, log } = ctx;
  const schema = randomSchemaName('bench_http');
  const service = await startService({ app: referenceApp, databaseUrl, schema, port: 0 });
  const drop = async () => {
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    const rows = await admin.query<{ nspname: string }>(
      `SELECT nspname FROM pg_namespace WHERE nspname = $1 OR nspname LIKE $2`,
      [schema, `${schema}\\_p\\_%`],
    );
    for (const row of rows.rows) await admin.query(`DROP SCHEMA IF EXISTS "${row.nspname}" CASCADE`);
    await admin.end();
  };
  ctx.onCleanup(async () => {
    await service.close().catch(() => {});
    await drop().catch(() => {});
  });
  try {
    const execute = (accountId: string) =>
      service.commands.execute('OpenAccount', { accountId, owner: 'Bench', currency: 'EUR' });
    await inProcess(execute, options.warmup);
    await overHttp(service.url, Math.max(1, options.warmup));
    const outcome = await interleave(
      options.rounds,
      { baseline: () => inProcess(execute, options.seconds), measured: () => overHttp(service.url, options.seconds) },
      (side, round, f) =>
        log(
          `http round ${round}/${options.rounds} ${side === 'baseline' ? 'in-process' : 'HTTP      '}: ${Math.round(f.per_s!)}/s, p50 ${f.p50_ms!.toFixed(1)} ms, p99 ${f.p99_ms!.toFixed(1)} ms`,
        ),
    );
    const baseline = `CommandBus.execute in the serving process, ${CONNECTIONS} concurrent callers, same commands, same store, same run`;
    return {
      benchmark: 'http',
      machine: machineInfo(ctx.postgresVersion),
      results: [
        compare({
          name: `OpenAccount over HTTP conc=${CONNECTIONS}`,
          metric: 'commands_per_s',
          kind: 'throughput',
          measured: outcome.measured.per_s!,
          baselineSamples: outcome.baseline.per_s!,
          baseline,
          target: '>= 0.85', // issue 10's goal: HTTP costs little next to the command itself
        }),
        compare({
          name: `OpenAccount over HTTP conc=${CONNECTIONS} p50`,
          metric: 'latency_p50_ms',
          kind: 'latency',
          measured: outcome.measured.p50_ms!,
          baselineSamples: outcome.baseline.p50_ms!,
          baseline,
          target: '>= 0.5',
        }),
        absolute({
          name: `OpenAccount over HTTP conc=${CONNECTIONS} p99`,
          metric: 'latency_p99_ms',
          samples: outcome.measured.p99_ms!,
          target: 'p99 < 50 ms',
          met: (v) => v < 50,
        }),
      ],
    };
  } finally {
    await service.close();
    await drop();
  }
}

const benchmark: Benchmark = {
  name: 'http',
  description: 'Bank commands/s over HTTP (autocannon, 16 connections) vs the in-process command bus',
  needsPostgres: true,
  run: runBench,
};
export default benchmark;
