/**
 * `npm run bench -- NAME [--json] [--seconds N] [--rounds N] [--warmup N] [--size N] [--pglite-size N] [--refill]`
 *
 * To add a benchmark: write bench/NAME.ts with a default export of type `Benchmark` (see harness.ts)
 * and add it to `benchmarks` below.
 */
import {
  DEFAULT_DATABASE_URL,
  UsageError,
  formatTable,
  log,
  parseOptions,
  probePostgres,
  toJson,
  usageOptions,
  type Benchmark,
  type BenchContext,
  type BenchReport,
  type SkippedReport,
} from './harness.js';

const benchmarks: Record<string, { description: string; load: () => Promise<{ default: Benchmark }> }> = {
  append: {
    description: "Fabula's appends on a filled store vs raw INSERTs, Emmett 0.42 and an empty store (+ PGlite filled vs empty)",
    load: () => import('./append.js'),
  },
  read: {
    description: 'readStream of 5-event streams on the filled store vs a nearly empty store',
    load: () => import('./read.js'),
  },
  load: {
    description: 'Loading a 10,000-event aggregate: full replay vs raw SELECT, and with snapshots',
    load: () => import('./load.js'),
  },
  commands: {
    description: 'Order commands/s through CommandBus.execute on a filled store vs Emmett 0.42, raw appends, an empty store',
    load: () => import('./commands.js'),
  },
  http: {
    description: 'Bank commands/s over HTTP (autocannon, 16 connections) vs the in-process command bus',
    load: () => import('./http.js'),
  },
  projections: {
    description: 'Projection daemon catch-up vs a raw paged-SELECT loop; lag at 500 appends/s',
    load: () => import('./projections.js'),
  },
  transfers: {
    description: 'Money transfers/s end to end through the transfer saga vs the same commands sent directly; latency at 50/s',
    load: () => import('./transfers.js'),
  },
  security: {
    description: 'Appends and reads in a tenant with row-level security and personal-data encryption vs without, on the filled store',
    load: () => import('./security.js'),
  },
  outbox: {
    description: 'NATS publisher (event log as outbox) vs raw js.publish; append → JetStream consumer latency at 500/s',
    load: () => import('./outbox.js'),
  },
};

function usage(): string {
  const names = Object.entries(benchmarks).map(([name, b]) => `  ${name.padEnd(12)} ${b.description}`);
  return ['usage: npm run bench -- NAME [options]', 'benchmarks:', ...names, usageOptions].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    log(usage());
    return name ? 0 : 2;
  }
  const entry = Object.hasOwn(benchmarks, name) ? benchmarks[name] : undefined;
  if (!entry) {
    log(`unknown benchmark ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  let options;
  try {
    options = parseOptions(rest);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    log(`${error.message}\n\n${usage()}`);
    return 2;
  }

  const benchmark = (await entry.load()).default;
  const databaseUrl = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
  const emit = (report: BenchReport | SkippedReport) =>
    process.stdout.write(`${options.json ? toJson(report) : formatTable(report)}\n`);

  let postgresVersion = '';
  if (benchmark.needsPostgres) {
    const probe = await probePostgres(databaseUrl);
    if ('error' in probe) {
      if (!options.json) log(`skipping benchmark ${name}`);
      emit({ benchmark: name, skipped: probe.error });
      return 0;
    }
    postgresVersion = probe.version;
  }

  const cleanups: (() => Promise<void>)[] = [];
  const cleanUp = async () => {
    while (cleanups.length > 0) {
      const fn = cleanups.pop()!;
      await fn().catch((error) => log(`clean-up failed: ${error instanceof Error ? error.message : String(error)}`));
    }
  };
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130); // second Ctrl-C: give up on cleaning up
    interrupted = true;
    log(`${signal}: cleaning up (Ctrl-C again to quit at once)`);
    void cleanUp().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const ctx: BenchContext = { options, databaseUrl, postgresVersion, log, onCleanup: (fn) => cleanups.push(fn) };
  try {
    const report = await benchmark.run(ctx);
    await cleanUp();
    emit(report);
    return 0;
  } catch (error) {
    // After Ctrl-C the clean-up closes what the benchmark is using, which then fails: not news.
    if (interrupted) return new Promise<number>(() => {});
    await cleanUp();
    throw error;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    log(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exitCode = 1;
  },
);
