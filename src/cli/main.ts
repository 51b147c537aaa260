#!/usr/bin/env node
/**
 * The `fabula` command line: serve the application, and operate the store and its projections.
 * Works on the embedded store in --data-dir (when no server process holds it) or on DATABASE_URL.
 * The application (`--app` / FABULA_APP) is loaded only by the commands that need it (see `loadApp`);
 * the environment is read here and in `serve.ts`, and passed down as options.
 */
import { Command, Option } from 'commander';
import { appCatalog } from '../app-definition.js';
import { ValidationError } from '../core/errors.js';
import type { RecordedEvent } from '../core/events.js';
import { prepareEvents, validateExpectedVersion, validateStreamId } from '../core/validation.js';
import { checkConsistency } from '../store/consistency.js';
import { latestSchemaVersion } from '../store/migrations.js';
import {
  jsonReplacer,
  loadApp,
  loadAppIfGiven,
  output,
  openStore,
  reportError,
  setupApp,
  withStore,
  type GlobalOptions,
} from './context.js';
import { consumerCommands } from './consumers.js';
import { keyCommands } from './keys.js';
import { processCommands } from './processes.js';
import { checkEventContracts, validateForAppend } from './contracts.js';
import { projectionCommands } from './projections.js';
import { serveCommand } from './serve.js';
import { personalDataCommands } from './personal-data.js';
import { databaseUrlOption, dateOption, intOption, listOption, positionOption } from './options.js';

const program = new Command('fabula')
  .description('Fabula: event sourcing and CQRS on PostgreSQL. Embedded store by default; DATABASE_URL for a server.')
  .version('0.1.0')
  .addOption(
    new Option('--database-url <url>', 'PostgreSQL server (default: $DATABASE_URL; else the embedded store)').env('DATABASE_URL'),
  )
  .addOption(new Option('--data-dir <dir>', 'folder of the embedded store').env('FABULA_DATA_DIR').default('.fabula/data'))
  .addOption(new Option('--schema <name>', 'PostgreSQL schema of the store').default('fabula'))
  .addOption(
    new Option(
      '--app <module>',
      'application module whose default export is defineApp(...), .js or .ts; needed by serve, state, catalog, replay and projections',
    ).env('FABULA_APP'),
  )
  .option('--json', 'machine-readable output')
  .showHelpAfterError('(run with --help for usage)');

const globals = (): GlobalOptions => {
  const options = program.opts<GlobalOptions>();
  if (options.databaseUrl !== undefined) databaseUrlOption(options.databaseUrl);
  return options;
};

serveCommand(program, globals);
personalDataCommands(program, globals);
keyCommands(program, globals);

program
  .command('migrate')
  .description('apply the store migrations (idempotent) and report the schema version')
  .action(async () => {
    await withStore(globals(), async (store) => {
      output(
        globals(),
        { schema: store.schema, schemaVersion: latestSchemaVersion, driver: store.driver },
        () => `schema "${store.schema}" is at version ${latestSchemaVersion} (${store.driver})`,
      );
    });
  });

program
  .command('append')
  .description('append one event to a stream')
  .argument('<stream>', 'stream id, such as account-42')
  .argument('<type>', 'event type, such as MoneyDeposited')
  .argument('[data]', 'event data as JSON (default: {})')
  .option('--expected-version <version>', "'any', 'no_stream', 'stream_exists' or a number", 'any')
  .option('--metadata <json>', 'event metadata as JSON')
  .option('--id <uuid>', 'event id (makes a retry idempotent)')
  .option('--force', "with --app: append even an event the application's registry refuses (a warning says what is wrong)")
  .action(
    async (
      stream: string,
      type: string,
      data: string | undefined,
      options: { expectedVersion: string; metadata?: string; id?: string; force?: boolean },
    ) => {
      const expectedVersion = /^\d+$/.test(options.expectedVersion) ? Number(options.expectedVersion) : options.expectedVersion;
      const event = {
        ...(options.id ? { id: options.id } : {}),
        type,
        data: parseJson(data ?? '{}', 'data'),
        ...(options.metadata ? { metadata: parseJson(options.metadata, '--metadata') as Record<string, unknown> } : {}),
      };
      const app = await loadAppIfGiven(globals());
      await withStore(
        globals(),
        async (store) => {
          // The store's own checks first (they name the argument), then, with the application, the
          // event's contract (a known type, valid data), unless --force.
          validateStreamId(stream, store.limits);
          validateExpectedVersion(expectedVersion);
          prepareEvents([event], store.limits);
          const checked = app ? validateForAppend(app, event, options.force === true) : event;
          const result = await store.append(stream, [checked], { expectedVersion: expectedVersion as never });
          output(
            globals(),
            result,
            () => `appended ${type} to ${stream} at version ${result.nextExpectedVersion}, position ${result.lastPosition}`,
          );
        },
        app,
      ); // with the app, its personal data is encrypted
    },
  );

program
  .command('read')
  .description("print a stream's events")
  .argument('<stream>', 'stream id')
  .option('--from <version>', 'first stream version')
  .option('--limit <n>', 'most events to print')
  .option('--backwards', 'newest first')
  .option('--as-of <time>', 'the stream as it was at this ISO 8601 time')
  .action(async (stream: string, options: { from?: string; limit?: string; backwards?: boolean; asOf?: string }) => {
    await withStore(globals(), async (store) => {
      const events = await store.readStream(stream, {
        from: intOption(options.from, '--from', 0),
        maxCount: intOption(options.limit, '--limit', 1),
        direction: options.backwards ? 'backwards' : 'forwards',
        asOf: dateOption(options.asOf, '--as-of'),
      });
      if (events.length === 0 && !(await store.streamInfo(stream)))
        throw new ValidationError('stream', `no stream ${JSON.stringify(stream)}`);
      output(globals(), events, () => events.map(formatEvent).join('\n') || '(no events)');
    });
  });

program
  .command('streams')
  .description('list streams')
  .option('--type <type>', 'only streams of this type (the part of the id before the first "-")')
  .option('--after <stream>', 'continue after this stream id')
  .option('--limit <n>', 'page size', '100')
  .action(async (options: { type?: string; after?: string; limit: string }) => {
    await withStore(globals(), async (store) => {
      const streams = await store.listStreams({
        type: options.type,
        after: options.after,
        limit: intOption(options.limit, '--limit', 1),
      });
      output(
        globals(),
        streams,
        () =>
          streams
            .map(
              (s) =>
                `${s.streamId.padEnd(40)} v${String(s.version).padEnd(6)} ${s.updatedAt.toISOString()}${s.deleted ? ' (deleted)' : ''}`,
            )
            .join('\n') || '(no streams)',
      );
    });
  });

program
  .command('tail')
  .description('print events live as they are appended (Ctrl-C to stop)')
  .option('--after <position>', 'start after this global position (default: the current head)')
  .option('--types <types>', 'comma-separated event types')
  .option('--stream-types <types>', 'comma-separated stream types')
  .action(async (options: { after?: string; types?: string; streamTypes?: string }) => {
    const store = await openStore(globals());
    const stop = new AbortController();
    const end = () => stop.abort();
    process.once('SIGINT', end);
    process.once('SIGTERM', end);
    let idle: NodeJS.Timeout | undefined;
    try {
      let position = options.after === undefined ? await store.headPosition() : positionOption(options.after, '--after');
      // Once nothing has come for a moment, say where it waits (on stderr: stdout stays the events).
      const waiting = () => {
        clearTimeout(idle);
        idle = setTimeout(() => process.stderr.write(`waiting for events after position ${position} (Ctrl-C to stop)\n`), 500);
      };
      waiting();
      for await (const event of store.subscribe({
        after: position,
        eventTypes: listOption(options.types),
        streamTypes: listOption(options.streamTypes),
        signal: stop.signal,
      })) {
        position = event.globalPosition;
        process.stdout.write(`${globals().json ? JSON.stringify(event, jsonReplacer) : formatEvent(event)}\n`);
        waiting();
      }
    } finally {
      clearTimeout(idle);
      process.off('SIGINT', end);
      process.off('SIGTERM', end);
      await store.close();
    }
  });

program
  .command('catalog')
  .description("print the application's event catalog")
  .addOption(new Option('--format <format>', 'output format').choices(['json', 'md']).default('md'))
  .action(async (options: { format: 'json' | 'md' }) => {
    const app = await loadApp(globals());
    const catalog = appCatalog(app);
    process.stdout.write(
      options.format === 'json' || globals().json ? `${JSON.stringify(catalog.toJSONSchema(), null, 2)}\n` : catalog.toMarkdown(),
    );
  });

program
  .command('state')
  .description("an aggregate's state now, as of a time, or at a version (temporal query)")
  .argument('<type>', 'aggregate type, such as account or order')
  .argument('<id>', 'aggregate id')
  .option('--as-of <time>', 'ISO 8601 time')
  .option('--at-version <version>', 'stream version')
  .action(async (type: string, id: string, options: { asOf?: string; atVersion?: string }) => {
    const app = await loadApp(globals());
    const store = await openStore(globals(), {}, app);
    try {
      const { aggregates } = await setupApp(app, store);
      const reader = Object.hasOwn(aggregates, type) ? aggregates[type] : undefined;
      if (!reader)
        throw new ValidationError(
          'type',
          `unknown aggregate type ${JSON.stringify(type)}; known: ${Object.keys(aggregates).join(', ')}`,
        );
      const asOf = dateOption(options.asOf, '--as-of');
      const { version, state } = await reader(id, { asOf, atVersion: intOption(options.atVersion, '--at-version', 0) });
      if (version === 0)
        throw new ValidationError('id', `no ${type} ${JSON.stringify(id)}${asOf ? ` as of ${asOf.toISOString()}` : ''}`);
      output(
        globals(),
        { type, id, version, state },
        () => `${type} ${id} at version ${version}:\n${JSON.stringify(state, jsonReplacer, 2)}`,
      );
    } finally {
      await store.close();
    }
  });

program
  .command('check')
  .description(
    'check the store for consistency (events, streams, projection checkpoints; with --app also that every stored event keeps its contract: known type, valid data for its version); exits 1 with a report when something is wrong',
  )
  .action(async () => {
    const app = await loadAppIfGiven(globals());
    await withStore(globals(), async (store) => {
      const report = await checkConsistency(store.sql, store.schema);
      if (app) report.findings.push(...(await checkEventContracts(store, app.registry)));
      const { createProjections } = await import('../projections/projections.js');
      // status() lists every projection instance in the store, whichever application defined it.
      const projections = createProjections([]).attach(store);
      for (const status of await projections.status()) {
        if (status.checkpoint > report.headPosition) {
          report.findings.push({
            check: 'projection checkpoints',
            problem: `projection ${status.name} v${status.version} is at ${status.checkpoint}, beyond the head ${report.headPosition}`,
          });
        }
      }
      output(globals(), { ok: report.findings.length === 0, ...report }, () =>
        report.findings.length === 0
          ? `consistent: ${report.events} events in ${report.streams} streams, head position ${report.headPosition}`
          : `INCONSISTENT (${report.findings.length} findings):\n${report.findings.map((f) => `  [${f.check}] ${f.problem}`).join('\n')}`,
      );
      if (report.findings.length > 0) process.exitCode = 1;
    });
  });

projectionCommands(program, globals);
consumerCommands(program, globals);
processCommands(program, globals);

program
  .command('replay')
  .description(
    'debug a projection: replay events after a position through its handler into scratch tables, in a transaction that is rolled back (nothing changes); reports every event that fails',
  )
  .requiredOption('--projection <name>', 'projection name')
  .option('--from <position>', 'replay events after this global position', '0')
  .option('--to <position>', 'stop after this position (default: the head)')
  .action(async (options: { projection: string; from: string; to?: string }) => {
    const app = await loadApp(globals());
    const definition = (app.projections ?? []).find((p) => p.name === options.projection);
    if (!definition) {
      throw new ValidationError(
        '--projection',
        `unknown projection ${JSON.stringify(options.projection)}; known: ${(app.projections ?? []).map((p) => p.name).join(', ')}`,
      );
    }
    const from = positionOption(options.from, '--from');
    const to = options.to === undefined ? undefined : positionOption(options.to, '--to');
    await withStore(globals(), async (store) => {
      const { replayDryRun } = await import('../projections/replay.js');
      // `definition` came through loadApp: it upcasts with the application's registry.
      const { SingleBar } = await import('cli-progress');
      const bar =
        globals().json || !process.stderr.isTTY
          ? null
          : new SingleBar({
              format: 'replay [{bar}] {percentage}% | {value}/{total} events | ETA {eta_formatted}',
              stream: process.stderr,
            });
      bar?.start(1, 0);
      const report = await replayDryRun(store, definition, {
        from,
        to,
        onProgress: ({ done, total }) => {
          bar?.setTotal(Math.max(1, Number(total)));
          bar?.update(Number(done));
        },
      });
      bar?.stop();
      output(globals(), report, () =>
        [
          `replayed ${options.projection} over positions ${report.from + 1n}..${report.to}: ${report.applied} applied, ${report.failed.length} failed, ${report.skipped} not handled (dry run: nothing changed)`,
          ...report.failed.slice(0, 50).map((f) => `  #${f.position} ${f.streamId} ${f.type}: ${f.error}`),
        ].join('\n'),
      );
      if (report.failed.length > 0) process.exitCode = 1;
    });
  });

function formatEvent(event: RecordedEvent): string {
  return `#${event.globalPosition} ${event.recordedAt.toISOString()} ${event.streamId} v${event.streamVersion} ${event.type} ${JSON.stringify(event.data)}`;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ValidationError(what, `is not valid JSON: ${(error as Error).message}`);
  }
}

let finished = false;
// If the event loop empties while a command is still waiting (a bug, a lost connection), say so rather
// than exit silently with success.
process.on('beforeExit', () => {
  if (!finished) {
    console.error('error: the command stopped before finishing (nothing left to wait for); set FABULA_DEBUG=1 and report it');
    process.exitCode = 70;
    finished = true;
  }
});
program
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    process.exitCode = reportError(error);
  })
  .finally(() => {
    finished = true;
  });
