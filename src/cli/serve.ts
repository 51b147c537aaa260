/**
 * `fabula serve`: the HTTP API with the application's commands, queries and projections. The server's
 * start-up settings come from options or the environment here (PORT, HOST, LOG_LEVEL,
 * FABULA_API_TOKENS), and are passed down to `startService`.
 */
import { Option, type Command } from 'commander';
import pino from 'pino';
import { ValidationError } from '../core/errors.js';
import type { Caller } from '../server/context.js';
import { startService } from '../server/service.js';
import { loadApp, type GlobalOptions } from './context.js';
import { intOption } from './options.js';
import { personalDataFor } from './master-key.js';
import { logProjections } from './projection-logs.js';

type ServeOptions = { port: string; host: string; logLevel: string; natsUrl?: string; natsPrefix?: string; natsStream?: string };

export function serveCommand(program: Command, globals: () => GlobalOptions) {
  program
    .command('serve')
    .description('serve the HTTP API (OpenAPI at /docs), run the projection daemon, until SIGINT/SIGTERM')
    .addOption(new Option('--port <port>', 'TCP port').env('PORT').default('3000'))
    .addOption(new Option('--host <host>', 'interface to listen on').env('HOST').default('127.0.0.1'))
    .addOption(new Option('--log-level <level>', 'pino log level (info, debug, warn, ...)').env('LOG_LEVEL').default('info'))
    .addOption(new Option('--nats-url <url>', 'NATS server: publish events to JetStream, run inbound messages').env('NATS_URL'))
    .addOption(new Option('--nats-prefix <prefix>', 'subject prefix of published events (default fabula)').env('NATS_PREFIX'))
    .addOption(new Option('--nats-stream <name>', 'JetStream stream of published events (default FABULA)').env('NATS_STREAM'))
    .action(async (options: ServeOptions) => {
      const g = globals();
      const app = await loadApp(g);
      const logger = pino({ level: options.logLevel });
      const personalData = personalDataFor(g, app.registry);
      const service = await startService({
        ...(personalData ? { personalData: { keys: personalData.keys } } : {}),
        app,
        databaseUrl: g.databaseUrl,
        dataDir: g.dataDir,
        schema: g.schema,
        port: intOption(options.port, '--port', 0),
        host: options.host,
        logger,
        tokens: parseTokens(process.env.FABULA_API_TOKENS),
        ...(options.natsUrl ? { nats: { url: options.natsUrl, prefix: options.natsPrefix, stream: options.natsStream } } : {}),
      });
      logProjections(service.projections, logger);
      logger.info(
        { url: service.url, store: g.databaseUrl ? 'postgres' : `embedded (${g.dataDir})`, docs: `${service.url}/docs` },
        `${app.name} is serving on ${service.url} (API docs: ${service.url}/docs)`,
      );
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'shutting down: draining requests, stopping projections at a checkpoint');
        const force = setTimeout(() => {
          logger.error('shutdown took longer than 20 s; exiting');
          process.exit(1);
        }, 20_000);
        force.unref();
        try {
          await service.close();
          logger.info('stopped cleanly');
        } catch (error) {
          logger.error({ err: error }, 'error while stopping');
          process.exitCode = 1;
        }
      };
      process.once('SIGINT', () => void stop('SIGINT'));
      process.once('SIGTERM', () => void stop('SIGTERM'));
    });
}

/** `FABULA_API_TOKENS="secret1=alice,secret2=bob@tenant-b"`: token=user[@tenant], comma-separated. */
export function parseTokens(text: string | undefined): Map<string, Caller> {
  const tokens = new Map<string, Caller>();
  for (const entry of (text ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const match = entry.match(/^([^=\s]{8,})=([^@\s]+)(?:@(\S+))?$/);
    if (!match)
      throw new ValidationError(
        'FABULA_API_TOKENS',
        `"${entry.replace(/=.*/, '=...')}" is not token=user[@tenant] (tokens need 8+ characters)`,
      );
    tokens.set(match[1]!, { userId: match[2]!, ...(match[3] ? { tenantId: match[3] } : {}) });
  }
  return tokens;
}
