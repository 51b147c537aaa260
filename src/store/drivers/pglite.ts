import { PGlite } from '@electric-sql/pglite';
import { toDriverParams, type SqlClient, type SqlExecutor } from '../sql-client.js';

export interface PgliteDriverOptions {
  /** Folder holding PostgreSQL's files. In memory when absent. */
  dataDir?: string;
  /** A data folder image made by `dumpDataDir()` to start from (fast test start-up). */
  loadDataDir?: Blob | File;
}

/**
 * PGlite is one connection inside this process: queries are naturally serialised, and its own
 * `transaction()` keeps other queries out until the transaction ends.
 */
export async function createPgliteClient(options: PgliteDriverOptions = {}): Promise<SqlClient> {
  const db = await PGlite.create({
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}),
  });
  return pgliteClient(db, async () => db.close());
}

function executor(db: Pick<PGlite, 'query' | 'exec'>): SqlExecutor {
  return {
    async query<Row>(text: string, params?: readonly unknown[]) {
      const result = await db.query<Row>(text, toDriverParams(params));
      return result.rows;
    },
    async exec(text: string) {
      await db.exec(text);
    },
  };
}

export function pgliteClient(db: PGlite, close: () => Promise<void>): SqlClient {
  const base = executor(db);
  return {
    kind: 'pglite',
    query: base.query,
    exec: base.exec,
    transaction(fn) {
      return db.transaction((tx) => fn(executor(tx)));
    },
    async listen(channel, onNotification) {
      return db.listen(channel, onNotification);
    },
    async serverVersion() {
      const rows = await base.query<{ v: string }>('SHOW server_version');
      return `${rows[0]?.v ?? '?'} (PGlite)`;
    },
    close,
  };
}
