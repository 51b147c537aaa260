/**
 * What the HTTP server's routes share: the parts the server was built from (`ServerParts`), the
 * context every route receives (`ServerContext`), the caller of a request and the server's limits.
 * Its own module so that `http-server.ts` and the routes both import it and not each other.
 */
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { AccessControl } from '../core/access.js';
import type { Audit } from './auth/audit.js';
import type { Caller } from './auth/caller.js';
import type { AuthenticationOptions } from './auth/authenticate.js';
import type { RateLimitOptions } from './auth/rate-limits.js';
import type { StateReader } from '../app-definition.js';
import type { EventCatalog } from '../core/catalog.js';
import type { Processes } from '../processes/processes.js';
import type { Projections } from '../projections/projections.js';
import type { QueryBus } from '../queries/query-bus.js';
import type { EventStore } from '../store/event-store.js';
import type { CommandBus } from '../write/command-bus.js';
import type { Metrics } from './metrics.js';

export type { Caller, CallerVia } from './auth/caller.js';

export interface ServerLimits {
  /** Largest request body, in bytes. Default 1 MiB. */
  bodyLimit: number;
  /** Largest page a list endpoint returns. Default 1,000. */
  maxPageSize: number;
  /** Open Server-Sent Event streams at most. Default 100. */
  maxSseConnections: number;
  /** Longest read-your-writes wait (`minPosition`), in ms. Default 5,000. */
  maxWaitMs: number;
}

export interface ServerParts {
  store: EventStore;
  commands: CommandBus;
  queries: QueryBus;
  catalog: EventCatalog;
  projections?: Projections;
  processes?: Processes;
  aggregates?: Record<string, StateReader>;
  /**
   * Identifies the caller of a request; return `null` to refuse it with 401. Replaces `authentication`:
   * your own scheme (a gateway's headers, say).
   */
  authenticate?: (
    headers: Record<string, string | string[] | undefined>,
    request: FastifyRequest,
  ) => Caller | null | Promise<Caller | null>;
  /** The built-in authentication: API keys, JWTs, development tokens (docs/security.md). */
  authentication?: AuthenticationOptions;
  /** Who may read, write and administer which streams (default: the application's `access`, else everyone). */
  access?: AccessControl;
  /** Rate limits per user and tenant (docs/security.md). Without them, none. */
  rateLimits?: RateLimitOptions;
  metrics?: Metrics;
  limits?: Partial<ServerLimits>;
  /** A pino logger for request logs. Default: no logging. */
  logger?: FastifyBaseLogger;
  title?: string;
}

export interface ServerContext extends Required<Pick<ServerParts, 'store' | 'commands' | 'queries' | 'catalog'>> {
  projections?: Projections;
  processes?: Processes;
  aggregates: Record<string, StateReader>;
  authenticate: NonNullable<ServerParts['authenticate']>;
  access?: AccessControl;
  /** Records admin actions in the audit stream. */
  audit: Audit;
  metrics: Metrics;
  limits: ServerLimits;
  /** Set while the server drains for shutdown: readiness fails and SSE streams end. */
  draining: AbortController;
}

export const defaultServerLimits: ServerLimits = {
  bodyLimit: 1024 * 1024,
  maxPageSize: 1000,
  maxSseConnections: 100,
  maxWaitMs: 5000,
};
