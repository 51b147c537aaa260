/**
 * Shared parts of the benchmarks
 * (`npm run bench -- NAME [--json] [--seconds N] [--rounds N] [--warmup N] [--size N] [--pglite-size N] [--refill]`).
 *
 * `--size`, `--pglite-size` and `--refill` choose the kept filled stores of bench/fill.ts that append,
 * read and commands run on; `interleave` runs any number of named sides round-robin.
 * A benchmark is a module in bench/ whose default export is a `Benchmark`; register it in run.ts.
 * The output format is /work/shared/bench-format.md: a readable table on stdout, or with `--json` exactly
 * one JSON document on stdout. Progress always goes to stderr.
 */
import os from 'node:os';
import pg from 'pg';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

export interface BenchOptions {
  json: boolean;
  /** Length of one measured round, in seconds. */
  seconds: number;
  /** Rounds per side (baseline and measured), interleaved. */
  rounds: number;
  /** Unmeasured run before each round, in seconds. */
  warmup: number;
  /** Streams in the kept filled stores (`--size`; 0: empty stores only). */
  size: number;
  /** Streams in the kept filled PGlite store (`--pglite-size`). */
  pgliteSize: number;
  /** Drop the kept filled stores and build them again (`--refill`). */
  refill: boolean;
}

export const defaultOptions: BenchOptions = {
  json: false,
  seconds: 3,
  rounds: 3,
  warmup: 1,
  size: 1_000_000,
  pgliteSize: 100_000,
  refill: false,
};

/** Events per stream in the kept filled stores. */
export const EVENTS_PER_FILLED_STREAM = 5;

export interface MachineInfo {
  cpus: number;
  node: string;
  postgres: string | null;
}

/** One row of a report, as in bench-format.md. */
export interface BenchResult {
  name: string;
  metric: string;
  value: number;
  baseline: string | null;
  baselineValue: number | null;
  ratio: number | null;
  target: string;
  met: boolean;
  /** Size of the store the measured side ran at (bench-format.md). */
  storeStreams?: number;
  storeEvents?: number;
}

/** A result plus the per-round figures behind its medians (printed in the table, not in the JSON). */
export interface MeasuredResult extends BenchResult {
  samples?: { value: number[]; baseline: number[] | null };
}

export interface BenchReport {
  benchmark: string;
  machine: MachineInfo;
  results: MeasuredResult[];
}

export interface SkippedReport {
  benchmark: string;
  skipped: string;
}

export interface BenchContext {
  options: BenchOptions;
  /** PostgreSQL server to use (DATABASE_URL or the default). */
  databaseUrl: string;
  /** `SHOW server_version` of that server (first word), known once the server answered. */
  postgresVersion: string;
  /** Progress and diagnostics: stderr, never stdout. */
  log: (message: string) => void;
  /** Registers clean-up (dropping schemas, closing pools) to run at the end, also on Ctrl-C. */
  onCleanup: (fn: () => Promise<void>) => void;
}

export interface Benchmark {
  name: string;
  description: string;
  /** Probe the PostgreSQL server first and skip (exit 0) when none answers. */
  needsPostgres: boolean;
  run(ctx: BenchContext): Promise<BenchReport | SkippedReport>;
}

export const log = (message: string) => process.stderr.write(`${message}\n`);

// ---------------------------------------------------------------------------------------------------
// Options

export class UsageError extends Error {}

/** Parses the options after the benchmark name. */
export function parseOptions(args: readonly string[]): BenchOptions {
  const options = { ...defaultOptions };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? arg.split('=', 2) : [arg, undefined];
    const value = () => {
      const v = inline ?? args[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--json':
        options.json = true;
        break;
      case '--seconds':
        options.seconds = positiveNumber(flag, value());
        break;
      case '--warmup':
        options.warmup = positiveNumber(flag, value(), true);
        break;
      case '--size':
      case '--pglite-size': {
        const n = positiveNumber(flag, value(), true);
        if (!Number.isInteger(n)) throw new UsageError(`${flag} must be a whole number, got ${n}`);
        if (flag === '--size') options.size = n;
        else options.pgliteSize = n;
        break;
      }
      case '--refill':
        options.refill = true;
        break;
      case '--rounds': {
        const rounds = positiveNumber(flag, value());
        if (!Number.isInteger(rounds)) throw new UsageError(`--rounds must be a whole number, got ${rounds}`);
        options.rounds = rounds;
        break;
      }
      default:
        throw new UsageError(`unknown option ${arg}`);
    }
  }
  return options;
}

function positiveNumber(flag: string, text: string, zeroAllowed = false): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || (n === 0 && !zeroAllowed)) {
    throw new UsageError(`${flag} must be a ${zeroAllowed ? 'non-negative' : 'positive'} number, got ${JSON.stringify(text)}`);
  }
  return n;
}

export const usageOptions = `options:
  --json         print one JSON document on stdout (progress goes to stderr)
  --seconds N    length of one measured round (default ${defaultOptions.seconds})
  --rounds N     rounds per side, baseline and measured interleaved (default ${defaultOptions.rounds})
  --warmup N     unmeasured seconds before each round (default ${defaultOptions.warmup})
  --size N       streams (of ${EVENTS_PER_FILLED_STREAM} events) in the kept filled stores (default ${defaultOptions.size}; 0: empty)
  --pglite-size N  streams in the kept filled PGlite store (default ${defaultOptions.pgliteSize})
  --refill       drop the kept filled stores and build them again
environment:
  DATABASE_URL   PostgreSQL server (default ${DEFAULT_DATABASE_URL})`;

// ---------------------------------------------------------------------------------------------------
// Server and machine

/** The server's version, or the reason it cannot be used. */
export async function probePostgres(databaseUrl: string): Promise<{ version: string } | { error: string }> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    const rows = (await client.query<{ server_version: string }>('SHOW server_version')).rows;
    // "15.20 (Debian 15.20-0+deb12u1)" -> "15.20"
    return { version: rows[0]!.server_version.split(/\s+/)[0]! };
  } catch (error) {
    const reason = error instanceof Error ? error.message || (error as NodeJS.ErrnoException).code || error.name : String(error);
    return { error: `no PostgreSQL server answered at ${redact(databaseUrl)} (${reason}); set DATABASE_URL` };
  } finally {
    await client.end().catch(() => {});
  }
}

/** A connection string without its password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable connection string)';
  }
}

export function machineInfo(postgres: string | null): MachineInfo {
  return { cpus: os.availableParallelism?.() ?? os.cpus().length, node: process.version, postgres };
}

// ---------------------------------------------------------------------------------------------------
// Measuring

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Figures of one round, by metric name (e.g. `{ events_per_s: 1234, appends_per_s: 123 }`). */
export type RoundFigures = Record<string, number>;

export type InterleavedOutcome<Side extends string = 'baseline' | 'measured'> = Record<Side, Record<string, number[]>>;

/**
 * Runs `rounds` rounds of each named side, round-robin in the order given (A B C A B C ...), so that a
 * noisy neighbour or a checkpoint hurts every side alike. Returns every round's figures, by side and metric.
 */
export async function interleave<Side extends string>(
  rounds: number,
  sides: Record<Side, (round: number) => Promise<RoundFigures>>,
  progress?: (side: Side, round: number, figures: RoundFigures) => void,
): Promise<InterleavedOutcome<Side>> {
  const names = Object.keys(sides) as Side[];
  const outcome = Object.fromEntries(names.map((name) => [name, {}])) as InterleavedOutcome<Side>;
  for (let round = 1; round <= rounds; round++) {
    for (const side of names) {
      const figures = await sides[side](round);
      progress?.(side, round, figures);
      const into: Record<string, number[]> = outcome[side];
      for (const [metric, value] of Object.entries(figures)) (into[metric] ??= []).push(value);
    }
  }
  return outcome;
}

/** `"<= x"`/`">= x"` targets on the ratio. */
function meets(ratio: number, target: string): boolean {
  const match = /^\s*(>=|>|<=|<)\s*([0-9.]+)\s*$/.exec(target);
  if (!match) throw new Error(`cannot evaluate target ${JSON.stringify(target)}`);
  const bound = Number(match[2]);
  switch (match[1]) {
    case '>=':
      return ratio >= bound;
    case '>':
      return ratio > bound;
    case '<=':
      return ratio <= bound;
    default:
      return ratio < bound;
  }
}

/**
 * A result comparing the median of the measured side with the median of the baseline, both from
 * `interleave()`. Throughput (higher is better): ratio = value / baseline. Latency (lower is better):
 * ratio = baseline / value. Either way a higher ratio is better, and `target` bounds the ratio.
 */
export function compare(args: {
  name: string;
  metric: string;
  kind: 'throughput' | 'latency';
  measured: number[];
  baselineSamples: number[];
  baseline: string;
  target: string;
  /** Size of the store the measured side ran at. */
  store?: { streams: number; events: number };
}): MeasuredResult {
  const value = median(args.measured);
  const baselineValue = median(args.baselineSamples);
  const ratio = args.kind === 'throughput' ? value / baselineValue : baselineValue / value;
  return {
    name: args.name,
    metric: args.metric,
    value: round(value),
    baseline: args.baseline,
    baselineValue: round(baselineValue),
    ratio: Math.round(ratio * 1000) / 1000,
    target: args.target,
    met: meets(ratio, args.target),
    ...(args.store ? { storeStreams: args.store.streams, storeEvents: args.store.events } : {}),
    samples: { value: args.measured.map(round), baseline: args.baselineSamples.map(round) },
  };
}

/** An absolute result without a baseline (e.g. a latency bound such as "p99 < 100 ms"). */
export function absolute(args: {
  name: string;
  metric: string;
  samples: number[];
  target: string;
  met: (value: number) => boolean;
}): MeasuredResult {
  const value = median(args.samples);
  return {
    name: args.name,
    metric: args.metric,
    value: round(value),
    baseline: null,
    baselineValue: null,
    ratio: null,
    target: args.target,
    met: args.met(value),
    samples: { value: args.samples.map(round), baseline: null },
  };
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
/**
 * What a benchmark owns on the server: an admin connection for set-up and checks, the schemas it made and
 * the pools it opened. Everything still owned is released at the end, also on Ctrl-C; `dropSchema` and
 * `close` release one thing early (a no-op if an interruption's clean-up got there first).
 */
export async function benchResources(ctx: BenchContext) {
  const admin = new pg.Client({ connectionString: ctx.databaseUrl });
  admin.on('error', () => {});
  await admin.connect();
  const schemas = new Set<string>();
  const closers = new Set<() => Promise<void>>();
  ctx.onCleanup(async () => {
    for (const close of closers) await close().catch(() => {});
    closers.clear();
    const dropper = new pg.Client({ connectionString: ctx.databaseUrl });
    dropper.on('error', () => {});
    try {
      await dropper.connect();
      for (const schema of schemas) await dropper.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      schemas.clear();
    } finally {
      await dropper.end().catch(() => {});
      await admin.end().catch(() => {});
    }
  });
  return {
    admin,
    ownSchema(schema: string) {
      schemas.add(schema);
    },
    own(close: () => Promise<void>) {
      closers.add(close);
      return close;
    },
    async dropSchema(schema: string) {
      if (schemas.delete(schema)) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    },
    async close(close: () => Promise<void>) {
      if (closers.delete(close)) await close();
    },
  };
}

/**
 * Runs `concurrency` client loops: each repeats the step `client(index)` returns, for a warm-up and then
 * for `seconds` while counting completed steps. The first failing step stops every loop and is thrown.
 */
export async function runClientLoops(args: {
  concurrency: number;
  warmup: number;
  seconds: number;
  client: (index: number) => () => Promise<void>;
}): Promise<{ counted: number; total: number; elapsedS: number }> {
  // The clock is read in the loops rather than left to timers: an in-process store (PGlite) can resolve
  // steps through microtasks alone, and timers would then never fire. For the same reason every loop
  // yields to the event loop now and then (a no-op cost for steps that wait on the network anyway).
  const stop = new AbortController();
  const started = performance.now();
  const countFrom = started + args.warmup * 1000;
  const countUntil = countFrom + args.seconds * 1000;
  let counted = 0;
  let total = 0;
  let failure: unknown = null;
  const loops = Array.from({ length: args.concurrency }, async (_, index) => {
    const step = args.client(index);
    try {
      while (!stop.signal.aborted) {
        await step();
        total++;
        const now = performance.now();
        if (now >= countFrom && now < countUntil) counted++;
        if (now >= countUntil) break;
        if (total % 16 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } catch (error) {
      failure ??= error;
      stop.abort();
    }
  });
  await Promise.all(loops);
  if (failure) throw failure;
  return { counted, total, elapsedS: args.seconds };
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** `bench_<random>`: a schema name no one else uses. */
export function randomSchemaName(prefix = 'bench'): string {
  return `${prefix}_${Math.random().toString(36).slice(2, 10)}`;
}

// ---------------------------------------------------------------------------------------------------
// Output

/** The JSON document of bench-format.md (per-round samples left out). */
export function toJson(report: BenchReport | SkippedReport): string {
  if ('skipped' in report) return JSON.stringify({ benchmark: report.benchmark, skipped: report.skipped });
  return JSON.stringify(
    {
      benchmark: report.benchmark,
      machine: report.machine,
      // storeStreams and storeEvents beside value, as in bench-format.md.
      results: report.results.map(({ samples: _samples, storeStreams, storeEvents, ...result }) => {
        const { name, metric, value, ...rest } = result;
        return storeStreams === undefined ? result : { name, metric, value, storeStreams, storeEvents, ...rest };
      }),
    },
    null,
    2,
  );
}

export function formatTable(report: BenchReport | SkippedReport): string {
  if ('skipped' in report) return `${report.benchmark}: skipped: ${report.skipped}`;
  const { machine } = report;
  const header = ['name', 'metric', 'store', 'value', 'baseline', 'ratio', 'target', 'met', 'rounds (value | baseline)'];
  const rows = report.results.map((r) => [
    r.name,
    r.metric,
    r.storeStreams === undefined ? '-' : `${formatNumber(r.storeStreams)} streams`,
    formatNumber(r.value),
    r.baselineValue === null ? '-' : formatNumber(r.baselineValue),
    r.ratio === null ? '-' : r.ratio.toFixed(3),
    r.target,
    r.met ? 'yes' : 'NO',
    r.samples
      ? `${r.samples.value.map(formatNumber).join(' ')}${r.samples.baseline ? ` | ${r.samples.baseline.map(formatNumber).join(' ')}` : ''}`
      : '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const numeric = new Set([2, 3, 4, 5]);
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const baselines = [...new Set(report.results.map((r) => r.baseline).filter((b): b is string => !!b))];
  return [
    `benchmark: ${report.benchmark}`,
    `machine: ${machine.cpus} cpus, node ${machine.node}, postgres ${machine.postgres ?? '-'}`,
    ...baselines.map((b) => `baseline: ${b}`),
    'value and baseline are medians; ratio is value/baseline for throughput, baseline/value for latency (higher is better)',
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ].join('\n');
}

function formatNumber(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1);
}
