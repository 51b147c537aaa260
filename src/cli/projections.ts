/** `fabula projections ...`: status, rebuild (with a progress bar), pause, resume, retry-parked, skip. */
import { setTimeout as sleep } from 'node:timers/promises';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { ValidationError } from '../core/errors.js';
import { createProjections, type Projections } from '../projections/projections.js';
import type { ProjectionStatus } from '../projections/status.js';
import type { EventStore } from '../store/event-store.js';
import { loadApp, openStore, output, type GlobalOptions } from './context.js';
import { audited } from './cli-audit.js';
import { positionOption } from './options.js';

async function withProjections<T>(
  globals: GlobalOptions,
  run: (projections: Projections, store: EventStore) => Promise<T>,
): Promise<T> {
  const app = await loadApp(globals);
  const projections = createProjections(app.projections ?? []);
  const store = await openStore(globals, { inlineHandlers: [projections.inlineHandler] }, app);
  try {
    projections.attach(store);
    return await run(projections, store);
  } finally {
    await projections.stop().catch(() => {});
    await store.close();
  }
}

function known(projections: Projections, name: string) {
  if (!projections.definitions.some((d) => d.name === name)) {
    throw new ValidationError(
      'name',
      `unknown projection ${JSON.stringify(name)}; known: ${projections.definitions.map((d) => d.name).join(', ')}`,
    );
  }
}

export function projectionCommands(program: Command, globals: () => GlobalOptions) {
  const group = program.command('projections').description('operate projections (read models)');

  group
    .command('status')
    .description('status, checkpoint, lag and errors of every projection')
    .action(async () => {
      await withProjections(globals(), async (projections) => {
        const statuses = await projections.status();
        output(globals(), statuses, () => statuses.map(formatStatus).join('\n') || '(no projections)');
      });
    });

  group
    .command('rebuild')
    .description('rebuild a projection beside the serving version, showing progress; it takes over once caught up')
    .argument('<name>', 'projection name')
    .option('--no-wait', 'only request the rebuild (a running server builds it)')
    .action(async (name: string, options: { wait: boolean }) => {
      await withProjections(globals(), async (projections, store) => {
        known(projections, name);
        const started = await audited(store, 'projection.rebuild', name, () => projections.rebuild(name));
        if (!options.wait) {
          output(
            globals(),
            { projection: name, ...started },
            () => `rebuild of ${name} requested (version ${started.version}, build ${started.build})`,
          );
          return;
        }
        // Run a daemon here too: it builds unless a server's daemon already holds the build's lease.
        await projections.start(store);
        process.stderr.write(
          `rebuilding ${name} (version ${started.version}, build ${started.build}); Ctrl-C stops it, and the next run resumes it\n`,
        );
        const bar = globals().json
          ? null
          : new SingleBar({
              format: `${name} [{bar}] {percentage}% | {value}/{total} events | {rate} ev/s | ETA {eta_formatted}`,
              hideCursor: true,
            });
        bar?.start(1, 0, { rate: 0 });
        const onProgress = (e: { projection: string; build: number; done: bigint; total: bigint; eventsPerSecond: number }) => {
          if (e.projection !== name || e.build !== started.build) return;
          bar?.setTotal(Math.max(1, Number(e.total)));
          bar?.update(Number(e.done), { rate: Math.round(e.eventsPerSecond) });
        };
        projections.on('progress', onProgress);
        // Ctrl-C: put the terminal back (cursor, line wrap) and say how to go on; the build keeps its checkpoint.
        const interrupted = new AbortController();
        const interrupt = () => interrupted.abort();
        process.once('SIGINT', interrupt);
        process.once('SIGTERM', interrupt);
        try {
          for (;;) {
            const statuses = await projections.status();
            const build = statuses.find((s) => s.name === name && s.build === started.build && s.version === started.version);
            if (build?.status === 'failed')
              throw new ValidationError(
                name,
                `the rebuild failed at position ${build.failedPosition}: ${build.lastError?.message ?? 'unknown error'}`,
              );
            if (build && build.phase === 'active') break;
            await sleep(250, undefined, { signal: interrupted.signal }).catch(() => {});
            if (interrupted.signal.aborted) break;
          }
        } finally {
          process.off('SIGINT', interrupt);
          process.off('SIGTERM', interrupt);
          projections.off('progress', onProgress);
          bar?.stop();
        }
        if (interrupted.signal.aborted) {
          const at = (await projections.status()).find((s) => s.name === name && s.build === started.build);
          process.stderr.write(
            `interrupted: the rebuild of ${name} stopped at position ${at?.checkpoint ?? '?'} of ${at?.headPosition ?? '?'} and keeps what it has done; run "fabula projections rebuild ${name}" again to resume it (a running fabula serve also carries it on)\n`,
          );
          process.exitCode = 130;
          return;
        }
        output(
          globals(),
          { projection: name, ...started, status: 'active' },
          () => `${name} rebuilt and serving (version ${started.version}, build ${started.build})`,
        );
      });
    });

  group
    .command('resume')
    .description('resume a failed projection (after fixing its code or data)')
    .argument('<name>', 'projection name')
    .action(async (name: string) => {
      await withProjections(globals(), async (projections, store) => {
        known(projections, name);
        await audited(store, 'projection.resume', name, () => projections.resume(name));
        output(globals(), { projection: name, resumed: true }, () => `${name} resumed`);
      });
    });

  group
    .command('pause')
    .description('stop applying events to a projection until it is resumed')
    .argument('<name>', 'projection name')
    .action(async (name: string) => {
      await withProjections(globals(), async (projections, store) => {
        known(projections, name);
        await audited(store, 'projection.pause', name, () => projections.pause(name));
        output(globals(), { projection: name, paused: true }, () => `${name} paused`);
      });
    });

  group
    .command('retry-parked')
    .description('retry the events a projection parked in its dead-letter table')
    .argument('<name>', 'projection name')
    .option('--stream <id>', 'only this stream')
    .action(async (name: string, options: { stream?: string }) => {
      await withProjections(globals(), async (projections, store) => {
        known(projections, name);
        const retried = await audited(store, 'projection.retry-parked', name, () =>
          projections.retryParked(name, options.stream ? { streamId: options.stream } : {}),
        );
        output(globals(), { projection: name, retried }, () => `${retried} parked events of ${name} will be retried`);
      });
    });

  skipCommand(group, globals);
}

export function skipCommand(group: Command, globals: () => GlobalOptions) {
  group
    .command('skip')
    .description(
      'give up on a poison event: the one a projection (policy stop) is stopped failed at, or a parked one; it is never applied and the projection goes on',
    )
    .argument('<name>', 'projection name')
    .argument('<position>', 'global position of the event (see fabula projections status)')
    .action(async (name: string, position: string) => {
      const at = positionOption(position, 'position');
      await withProjections(globals(), async (projections, store) => {
        known(projections, name);
        const skipped = await audited(store, 'projection.skip', `${name}@${at}`, () => projections.skip(name, at));
        output(globals(), { projection: name, position: at, skipped }, () =>
          skipped === 'failed'
            ? `${name} skips the event at position ${at} and runs on from there (a running daemon carries on at once)`
            : `${name} skips the parked event at position ${at}; the events of its stream behind it go ahead`,
        );
      });
    });
}

function formatStatus(s: ProjectionStatus): string {
  const lag = `lag ${s.lagEvents} events / ${s.lagSeconds.toFixed(1)} s`;
  const problems = [
    s.failedPosition !== null
      ? `failed at position ${s.failedPosition}: fix and "fabula projections resume ${s.name}", or "fabula projections skip ${s.name} ${s.failedPosition}"`
      : '',
    s.parkedEvents ? `${s.parkedEvents} parked` : '',
    s.lastError ? `last error: ${s.lastError.message}` : '',
  ]
    .filter(Boolean)
    .join('; ');
  return `${s.name} v${s.version}${s.build ? `.${s.build}` : ''} [${s.mode}, ${s.phase}] ${s.status} at ${s.checkpoint}/${s.headPosition}, ${lag}${problems ? ` (${problems})` : ''}`;
}
