/**
 * Where a projection instance keeps its tables. Every instance (one build of one version) has a
 * PostgreSQL schema of its own, so two versions run side by side without their table or index names
 * meeting, and retiring one is a single DROP SCHEMA. Pure.
 */
import { ValidationError } from '../core/errors.js';

const POSTGRES_IDENTIFIER_LIMIT = 63;
const TABLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** `fabula_p_orders_for_display_v2`, and `..._v2_r1` for the first rebuild of version 2. */
export function instanceSchemaName(storeSchema: string, name: string, version: number, build: number): string {
  const schema = `${storeSchema}_p_${name.replaceAll('-', '_')}_v${version}${build > 0 ? `_r${build}` : ''}`;
  if (schema.length > POSTGRES_IDENTIFIER_LIMIT) {
    throw new ValidationError(
      'name',
      `projection "${name}" v${version} would keep its tables in the schema "${schema}", longer than PostgreSQL's ${POSTGRES_IDENTIFIER_LIMIT}-character limit; use a shorter projection name or store schema`,
    );
  }
  return schema;
}

export function quoted(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}

/** A table of an instance, schema-qualified and quoted. */
export function qualifiedTable(schemaName: string, table: unknown): string {
  if (typeof table !== 'string' || !TABLE_NAME.test(table)) {
    throw new ValidationError(
      'table',
      `${JSON.stringify(table)} is not a valid table name: use lower-case letters, digits and '_', starting with a letter or '_'`,
    );
  }
  return `${quoted(schemaName)}.${quoted(table)}`;
}
