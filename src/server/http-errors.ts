/**
 * One place that turns errors into HTTP answers. Every answer is JSON `{ code, message, ...details }`;
 * a client's mistake is a 4xx that says what was wrong, and an unexpected fault is a 500 without any
 * internals (the log has them, under the request id).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import {
  ConcurrencyError,
  DomainError,
  ForbiddenError,
  IdempotencyError,
  NotFoundError,
  ProjectionBuildingError,
  ProjectionFailedError,
  ProjectionNotFoundError,
  ProjectionTimeoutError,
  StoreClosedError,
  StreamDeletedError,
  UnknownMessageError,
  ValidationError,
} from '../core/errors.js';

export interface ErrorBody {
  code: string;
  message: string;
  [detail: string]: unknown;
}

/** An answer only HTTP has (authentication, a route's own not-found): status, code, message, details. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** 401: no credentials, or credentials that are not valid; answered with a `WWW-Authenticate` challenge. */
export class UnauthenticatedError extends HttpError {
  constructor(
    message: string,
    /** Credentials were sent but refused (RFC 6750 `error="invalid_token"`). */
    readonly invalidToken: boolean,
  ) {
    super(401, 'unauthenticated', message);
    this.name = 'UnauthenticatedError';
  }

  get challenge(): string {
    return `Bearer realm="fabula"${this.invalidToken ? ', error="invalid_token"' : ''}`;
  }
}

export function toHttpError(error: unknown, requestId: string): { status: number; body: ErrorBody; retryAfterSeconds?: number } {
  if (error instanceof HttpError) {
    return {
      status: error.status,
      body: { code: error.code, message: error.message, ...error.details },
      ...(error.retryAfterSeconds ? { retryAfterSeconds: error.retryAfterSeconds } : {}),
    };
  }
  if (error instanceof ValidationError)
    return { status: 400, body: { code: error.code, message: error.message, field: error.field } };
  if (error instanceof ConcurrencyError) {
    return {
      status: 409,
      body: {
        code: error.code,
        message: error.message,
        streamId: error.streamId,
        expected: error.expected,
        actual: error.actual,
      },
    };
  }
  // Over HTTP, event ids derive from the Idempotency-Key: a collision is that key reused for another command.
  if (error instanceof IdempotencyError) {
    return {
      status: 422,
      body: {
        code: 'idempotency_key_reused',
        message: `${error.message}. A retry must send the same command and body with the same Idempotency-Key; a new command needs a new key`,
      },
    };
  }
  if (error instanceof ForbiddenError) return { status: 403, body: { code: error.code, message: error.message } };
  if (error instanceof UnknownMessageError || error instanceof NotFoundError || error instanceof ProjectionNotFoundError)
    return { status: 404, body: { code: error.code, message: error.message } };
  if (error instanceof StreamDeletedError)
    return { status: 410, body: { code: error.code, message: error.message, streamId: error.streamId } };
  if (error instanceof DomainError) return { status: 422, body: { code: error.code, message: error.message } };
  // The read model is behind (or stopped): the write happened; the caller may retry the read.
  if (error instanceof ProjectionTimeoutError) {
    return {
      status: 503,
      body: {
        code: error.code,
        message: `the read model of projection "${error.projection}" has not reached position ${error.position} yet (it is at ${error.checkpoint}); the write happened: retry the read after the Retry-After delay (GET /projections shows its lag)`,
        projection: error.projection,
        position: error.position.toString(),
        checkpoint: error.checkpoint.toString(),
      },
      retryAfterSeconds: 1,
    };
  }
  if (error instanceof ProjectionFailedError) {
    return {
      status: 503,
      body: {
        code: error.code,
        message: `the read model of projection "${error.projection}" is stopped (failed): ${error.message}. The write happened; the read will answer once an operator fixes and resumes it (POST /projections/${error.projection}/resume)`,
        projection: error.projection,
      },
    };
  }
  // Blue/green: this code reads a projection version still being built; it serves once caught up.
  if (error instanceof ProjectionBuildingError) {
    return {
      status: 503,
      body: { code: error.code, message: error.message, projection: error.projection },
      retryAfterSeconds: 1,
    };
  }
  if (isDatabaseUnavailable(error)) {
    return {
      status: 503,
      body: { code: 'store_unavailable', message: 'the database is unavailable right now; retry with the same Idempotency-Key' },
      retryAfterSeconds: 1,
    };
  }
  if (error instanceof StoreClosedError)
    return {
      status: 503,
      body: { code: error.code, message: 'the server is shutting down; retry shortly' },
      retryAfterSeconds: 1,
    };
  if (hasZodFastifySchemaValidationErrors(error)) {
    const issue = error.validation[0]!;
    const where = error.validationContext ?? 'request';
    const path = String(issue.instancePath ?? '')
      .replace(/^\//, '')
      .replace(/\//g, '.');
    const field = path ? `${where}.${path}` : where;
    return { status: 400, body: { code: 'validation_failed', message: `${field}: ${issue.message}`, field } };
  }
  const fastifyError = error as FastifyError;
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return {
      status: fastifyError.statusCode,
      body: { code: clientErrorCode(fastifyError), message: clientErrorMessage(fastifyError) },
    };
  }
  return {
    status: 500,
    body: { code: 'internal_error', message: `internal error; the server log has the details under request id ${requestId}` },
  };
}

/** The database went away (restart, failover, network): the request may be retried. */
function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown };
  if (
    typeof e?.code === 'string' &&
    (/^(57P0[1-3]|08...)$/.test(e.code) || ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(e.code))
  )
    return true;
  return (
    typeof e?.message === 'string' &&
    /Connection terminated|connection timeout|Client has encountered a connection error/i.test(e.message)
  );
}

function clientErrorMessage(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return `${error.message}: send the body as JSON, with the header content-type: application/json`;
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `${error.message}: send a smaller body`;
    default:
      return error.message;
  }
}

function clientErrorCode(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'body_too_large';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'unsupported_media_type';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return 'bad_request';
    default:
      return error.code === undefined || error.code.startsWith('FST_')
        ? error.statusCode === 400
          ? 'bad_request'
          : 'client_error'
        : String(error.code);
  }
}

export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply) {
  const { status, body, retryAfterSeconds } = toHttpError(error, request.id);
  if (retryAfterSeconds) reply.header('retry-after', String(retryAfterSeconds));
  if (status === 401)
    reply.header('www-authenticate', error instanceof UnauthenticatedError ? error.challenge : 'Bearer realm="fabula"');
  if (status >= 500) request.log.error({ err: error }, 'request failed');
  else request.log.info({ code: body.code, status }, body.message);
  return reply.status(status).type('application/json').send(body);
}
