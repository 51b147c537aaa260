/**
 * `fabula serve`: the HTTP API with the application's commands, queries and projections. The server's
 * start-up settings come from options or the environment here (PORT, HOST, LOG_LEVEL,
 * FABULA_API_TOKENS, and the security settings of security-options.ts), and are passed down to
 * `startService`.
 */
import { Option, type Command } from 'commander';
import { loadApp, type GlobalOptions } from './context.js';
import { intOption } from './options.js';
import { personalDataFor } from './master-key.js';
import { logProjections } from './projection-logs.js';
import { authenticationOf, rateLimitsOf, securityOptions, type SecurityFlags } from './security-options.js';

export { parseTokens } from './security-options.js';

type ServeOptions = {
  port: string;
  host: string;
  logLevel: string;
  natsUrl?: string;
  natsPrefix?: string;
  natsStream?: string;
} & SecurityFlags;

export function serveCommand(program: Command, globals: () => GlobalOptions) {
  const serve = program
    .command('serve')
    .description('serve the HTTP API (OpenAPI at /docs), run the projection daemon, until SIGINT/SIGTERM')
    .addOption(new Option('--port <port>', 'TCP port').env('PORT').default('3000'))
    .addOption(new Option('--host <host>', 'interface to listen on').env('HOST').default('127.0.0.1'))
    .addOption(new Option('--log-level <level>', 'pino log level (info, debug, warn, ...)').env('LOG_LEVEL').default('info'))
    .addOption(new Option('--nats-url <url>', 'NATS server: publish events to JetStream, run inbound messages').env('NATS_URL'))
    .addOption(new Option('--nats-prefix <prefix>', 'subject prefix of published events (default fabula)').env('NATS_PREFIX'))
    .addOption(new Option('--nats-stream <name>', 'JetStream stream of published events (default FABULA)').env('NATS_STREAM'));
  securityOptions(serve).action(async (options: ServeOptions) => {
    const g = globals();
    const app = await loadApp(g);
    // Loaded when serving only: the other commands start faster without the server's modules.
    const [{ default: pino }, { startService }] = await Promise.all([import('pino'), import('../server/service.js')]);
    const logger = pino({ level: options.logLevel });
    const rateLimits = rateLimitsOf(options);
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
      authentication: authenticationOf(options, process.env.FABULA_API_TOKENS),
      ...(rateLimits ? { rateLimits } : {}),
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
        await rateLimits?.redis?.quit();
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
