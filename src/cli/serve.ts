/** `fabula serve`: the HTTP API with the application's commands, queries and projections. */
import type { Command } from 'commander';
import pino from 'pino';
import { parseTokens, startService } from '../server/service.js';
import { loadApp, type GlobalOptions } from './context.js';
import { intOption } from './options.js';

export function serveCommand(program: Command, globals: () => GlobalOptions) {
  program
    .command('serve')
    .description('serve the HTTP API (OpenAPI at /docs), run the projection daemon, until SIGINT/SIGTERM')
    .option('--port <port>', 'TCP port', process.env.PORT ?? '3000')
    .option('--host <host>', 'interface to listen on', process.env.HOST ?? '127.0.0.1')
    .option('--log-level <level>', 'pino log level (info, debug, warn, ...)', process.env.LOG_LEVEL ?? 'info')
    .action(async (options: { port: string; host: string; logLevel: string }) => {
      const g = globals();
      const app = await loadApp(g);
      const logger = pino({ level: options.logLevel });
      const service = await startService({
        app,
        databaseUrl: g.databaseUrl,
        dataDir: g.dataDir,
        schema: g.schema,
        port: intOption(options.port, '--port', 0),
        host: options.host,
        logger,
        tokens: parseTokens(process.env.FABULA_API_TOKENS),
      });
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
