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
  FabulaError,
  ForbiddenError,
  IdempotencyError,
  NotFoundError,
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

export function toHttpError(error: unknown, requestId: string): { status: number; body: ErrorBody; retryAfterSeconds?: number } {
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
  if (error instanceof IdempotencyError)
    return { status: 409, body: { code: error.code, message: error.message, eventId: error.eventId } };
  if (error instanceof ForbiddenError) return { status: 403, body: { code: error.code, message: error.message } };
  if (error instanceof UnknownMessageError || error instanceof NotFoundError || error instanceof ProjectionNotFoundError)
    return { status: 404, body: { code: error.code, message: error.message } };
  if (error instanceof StreamDeletedError)
    return { status: 410, body: { code: error.code, message: error.message, streamId: error.streamId } };
  if (error instanceof DomainError) return { status: 422, body: { code: error.code, message: error.message } };
  // The read model is behind (or stopped): the write happened; the caller may retry the read.
  if (error instanceof ProjectionTimeoutError || error instanceof ProjectionFailedError) {
    return { status: 503, body: { code: error.code, message: error.message }, retryAfterSeconds: 1 };
  }
  if (isDatabaseUnavailable(error)) {
    return {
      status: 503,
      body: { code: 'store_unavailable', message: 'the database is unavailable right now; retry with the same Idempotency-Key' },
      retryAfterSeconds: 1,
    };
  }
  if (error instanceof StoreClosedError)
    return { status: 503, body: { code: error.code, message: 'the server is shutting down; retry shortly' } };
  if (error instanceof FabulaError && (error as { status?: number }).status) {
    return { status: (error as unknown as { status: number }).status, body: { code: error.code, message: error.message } };
  }
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
    return { status: fastifyError.statusCode, body: { code: clientErrorCode(fastifyError), message: fastifyError.message } };
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
  if (status >= 500) request.log.error({ err: error }, 'request failed');
  else request.log.info({ code: body.code, status }, body.message);
  return reply.status(status).type('application/json').send(body);
}
