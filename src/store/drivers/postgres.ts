import pg from 'pg';
import { toDriverParams, type SqlClient, type SqlExecutor } from '../sql-client.js';

export interface PostgresDriverOptions {
  connectionString: string;
  /** Most connections in the pool. Default 10. */
  maxConnections?: number;
}

type Listener = (payload: string | null) => void;

export async function createPostgresClient(options: PostgresDriverOptions): Promise<SqlClient> {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections ?? 10,
    // Never leave a caller hanging on a dead server.
    connectionTimeoutMillis: 10_000,
  });
  // An idle client that loses its server emits 'error' on the pool; without a handler Node would crash.
  pool.on('error', () => {});
  const listeners = new ListenConnection(options.connectionString);

  const query = async <Row>(text: string, params?: readonly unknown[]): Promise<Row[]> => {
    const result = await pool.query(text, toDriverParams(params));
    return result.rows as Row[];
  };

  return {
    kind: 'postgres',
    query,
    async exec(text) {
      await pool.query(text);
    },
    async transaction(fn) {
      const client = await pool.connect();
      // A checked-out client has no listener from the pool: without this, a connection the server ends
      // (a restart, an idle-in-transaction timeout) would emit an unhandled 'error' and crash the process.
      // The query in flight fails on its own; the client is then discarded.
      let broken = false;
      const onError = () => {
        broken = true;
      };
      client.on('error', onError);
      const tx: SqlExecutor = {
        async query<Row>(text: string, params?: readonly unknown[]) {
          return (await client.query(text, toDriverParams(params))).rows as Row[];
        },
        async exec(text: string) {
          await client.query(text);
        },
      };
      try {
        await client.query('BEGIN');
        const result = await fn(tx);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        try {
          await client.query('ROLLBACK');
        } catch {
          broken = true; // the connection is gone; do not return it to the pool
        }
        throw error;
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    },
    listen: (channel, onNotification) => listeners.add(channel, onNotification),
    async serverVersion() {
      const rows = await query<{ v: string }>('SHOW server_version');
      return rows[0]?.v ?? '?';
    },
    async close() {
      await listeners.close();
      await pool.end();
    },
  };
}

/**
 * LISTEN needs a connection of its own that stays open. One per client, shared by every channel; when it
 * drops it is re-opened with backoff and listeners are told (payload `null`) that they may have missed
 * notifications.
 */
class ListenConnection {
  private client: pg.Client | null = null;
  private connecting: Promise<pg.Client> | null = null;
  private readonly channels = new Map<string, Set<Listener>>();
  private closed = false;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(private readonly connectionString: string) {}

  async add(channel: string, listener: Listener): Promise<() => Promise<void>> {
    let set = this.channels.get(channel);
    const isNew = !set;
    if (!set) {
      set = new Set();
      this.channels.set(channel, set);
    }
    set.add(listener);
    if (isNew) {
      try {
        const client = await this.connect();
        await client.query(`LISTEN ${quoteIdent(channel)}`);
      } catch {
        // The reconnect loop will LISTEN again; the caller's polling fallback covers the gap.
        this.scheduleReconnect();
      }
    }
    return async () => {
      set.delete(listener);
      if (set.size === 0 && this.channels.get(channel) === set) {
        this.channels.delete(channel);
        await this.client?.query(`UNLISTEN ${quoteIdent(channel)}`).catch(() => {});
      }
    };
  }

  private connect(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    if (this.connecting) return this.connecting;
    this.connecting = (async () => {
      const client = new pg.Client({ connectionString: this.connectionString, connectionTimeoutMillis: 10_000 });
      client.on('notification', (message) => {
        const set = this.channels.get(message.channel);
        if (set) for (const listener of set) listener(message.payload ?? '');
      });
      client.on('error', () => this.lost(client));
      client.on('end', () => this.lost(client));
      try {
        await client.connect();
      } catch (error) {
        this.connecting = null;
        throw error;
      }
      if (this.closed) {
        await client.end().catch(() => {});
        throw new Error('closed');
      }
      this.client = client;
      this.connecting = null;
      return client;
    })();
    return this.connecting;
  }

  private lost(client: pg.Client) {
    if (this.client !== client) return;
    this.client = null;
    client.end().catch(() => {});
    this.scheduleReconnect();
  }

  private scheduleReconnect(delayMs = 1000) {
    if (this.closed || this.retryTimer || this.channels.size === 0) return;
    this.retryTimer = setTimeout(async () => {
      this.retryTimer = null;
      try {
        const client = await this.connect();
        for (const channel of this.channels.keys()) await client.query(`LISTEN ${quoteIdent(channel)}`);
        for (const set of this.channels.values()) for (const listener of set) listener(null);
      } catch {
        this.scheduleReconnect(Math.min(delayMs * 2, 30_000));
      }
    }, delayMs);
    this.retryTimer.unref();
  }

  async close() {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.client ?? (await this.connecting?.catch(() => null)) ?? null;
    this.client = null;
    this.channels.clear();
    await client?.end().catch(() => {});
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
