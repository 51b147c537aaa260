/**
 * JSONB documents kept by id, in collections: a read model without writing SQL. Each projection instance
 * has its own `documents` table (in its own schema), so versions never share documents. Documents are
 * per tenant (docs/tenancy.md): inside `apply`, those of the event's tenant; from outside, those of the
 * tenant asked for (the default tenant unless told).
 */
import { ValidationError } from '../core/errors.js';
import { assertJson } from '../core/validation.js';
import type { SqlExecutor } from '../store/sql-client.js';
import { documentSql } from './sql.js';

/** Read and write access, inside a projection's transaction. */
export interface Documents<T = unknown> {
  get(id: string): Promise<T | null>;
  /** Inserts or replaces the document. */
  upsert(id: string, document: T): Promise<void>;
  /** True when there was a document to delete. */
  delete(id: string): Promise<boolean>;
}

/** Read access from outside the projection (queries), always on the active version. */
export interface ReadDocuments<T = unknown> {
  get(id: string): Promise<T | null>;
  /** Documents ordered by id, a page at a time: pass the last id of a page as `after`. */
  list(options?: { after?: string; limit?: number }): Promise<Array<{ id: string; data: T }>>;
}

const MAX_KEY_LENGTH = 1024;

export function validateDocumentKey(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_KEY_LENGTH) {
    throw new ValidationError(field, `must be a non-empty string of at most ${MAX_KEY_LENGTH} characters`);
  }
  if (value.includes('\u0000') || !value.isWellFormed())
    throw new ValidationError(field, 'contains characters PostgreSQL cannot store');
  return value;
}

/** A collection's documents of `tenantId`, inside a projection's transaction. */
export function documents<T>(sql: SqlExecutor, schemaName: string, tenantId: string, collection: string): Documents<T> {
  validateDocumentKey(collection, 'collection');
  const statements = documentSql(schemaName);
  return {
    async get(id) {
      const rows = await sql.query<{ data: T }>(statements.get, [tenantId, collection, validateDocumentKey(id, 'id')]);
      return rows[0]?.data ?? null;
    },
    async upsert(id, document) {
      validateDocumentKey(id, 'id');
      assertJson(document, 'document');
      await sql.query(statements.upsert, [tenantId, collection, id, JSON.stringify(document)]);
    },
    async delete(id) {
      const rows = await sql.query(statements.delete, [tenantId, collection, validateDocumentKey(id, 'id')]);
      return rows.length > 0;
    },
  };
}

/**
 * Read access to a collection's documents of `tenantId`, where the instance's schema is looked up for
 * every call (it changes on a rebuild).
 */
export function readDocuments<T>(
  sql: SqlExecutor,
  schemaName: () => Promise<string>,
  tenantId: string,
  collection: string,
): ReadDocuments<T> {
  validateDocumentKey(collection, 'collection');
  validateDocumentKey(tenantId, 'tenantId');
  return {
    async get(id) {
      validateDocumentKey(id, 'id');
      const rows = await sql.query<{ data: T }>(documentSql(await schemaName()).get, [tenantId, collection, id]);
      return rows[0]?.data ?? null;
    },
    async list(options = {}) {
      const after = options.after === undefined ? null : validateDocumentKey(options.after, 'after');
      const limit = options.limit ?? 100;
      if (!Number.isSafeInteger(limit) || limit < 1)
        throw new ValidationError('limit', `${String(limit)} is not valid: use an integer >= 1`);
      return sql.query<{ id: string; data: T }>(documentSql(await schemaName()).list, [tenantId, collection, after, limit]);
    },
  };
}
