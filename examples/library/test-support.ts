/** Starts an application as `fabula serve` would, on a free port, for the example's tests. */
import { DomainError, type AppDefinition } from '../../src/index.js';
import { startService } from '../../src/server/service.js';

export { DomainError };

export async function startServiceForTests(
  app: AppDefinition,
  where: { databaseUrl?: string; dataDir?: string; schema: string },
) {
  const service = await startService({ app, ...where, port: 0, projectionOptions: { pollIntervalMs: 100 } });
  return {
    store: service.store,
    close: () => service.close(),
    async call(method: string, path: string, body?: unknown) {
      const response = await fetch(`${service.url}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, json: text ? (JSON.parse(text) as unknown) : undefined };
    },
  };
}
