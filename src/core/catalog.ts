/**
 * The event catalog: every event type of a registry, its version history, its schema, its description,
 * and who consumes it, as JSON Schema (for tools and agents) and as Markdown (for people).
 */
import { z } from 'zod';
import type { EventRegistry } from './event-registry.js';

/** Something that reads events: a projection, a process manager, an aggregate, a handler. */
export interface EventConsumer {
  name: string;
  kind: 'projection' | 'process-manager' | 'aggregate' | 'handler' | string;
  handles: readonly string[];
}

export interface CatalogOptions {
  title?: string;
  consumers?: readonly EventConsumer[];
}

export interface CatalogEntry {
  type: string;
  version: number;
  description?: string;
  history: Array<{ fromVersion: number; toVersion: number; description?: string }>;
  consumers: Array<{ name: string; kind: string }>;
  schema: Record<string, unknown>;
  /** Which fields are personal data and whose (encrypted per subject; `[erased]` once it is forgotten). */
  personalData?: { subject: string; fields: string[] };
}

export class EventCatalog {
  constructor(
    private readonly registry: EventRegistry,
    private readonly options: CatalogOptions = {},
  ) {}

  entries(): CatalogEntry[] {
    return this.registry
      .all()
      .sort((a, b) => a.type.localeCompare(b.type))
      .map((definition) => ({
        type: definition.type,
        version: definition.version,
        description: definition.description,
        history: this.registry.history(definition.type),
        consumers: (this.options.consumers ?? [])
          .filter((c) => c.handles.includes(definition.type))
          .map((c) => ({ name: c.name, kind: c.kind })),
        schema: dataSchema(definition.schema),
        ...(definition.personalData
          ? { personalData: { subject: definition.personalData.subject, fields: [...definition.personalData.fields] } }
          : {}),
      }));
  }

  /**
   * One JSON Schema document: `$defs` holds each event's data schema (with `x-fabula` facts: version,
   * history, consumers), and the document itself validates an event envelope `{ type, data }`.
   */
  toJSONSchema(): Record<string, unknown> {
    const entries = this.entries();
    const defs: Record<string, unknown> = {};
    for (const entry of entries) {
      defs[entry.type] = {
        ...entry.schema,
        ...(entry.description ? { description: entry.description } : {}),
        'x-fabula': {
          version: entry.version,
          history: entry.history,
          consumers: entry.consumers,
          ...(entry.personalData ? { personalData: entry.personalData } : {}),
        },
      };
    }
    return {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      title: this.options.title ?? 'Event catalog',
      description: 'Every event type: an event is { type, data } where data matches $defs[type].',
      oneOf: entries.map((entry) => ({
        type: 'object',
        required: ['type', 'data'],
        properties: { type: { const: entry.type }, data: { $ref: `#/$defs/${entry.type}` } },
      })),
      $defs: defs,
    };
  }

  toMarkdown(): string {
    const lines = [`# ${this.options.title ?? 'Event catalog'}`, ''];
    const entries = this.entries();
    lines.push(`${entries.length} event types.`, '');
    for (const entry of entries) {
      lines.push(`## ${entry.type} (version ${entry.version})`, '');
      if (entry.description) lines.push(entry.description, '');
      const properties = (entry.schema.properties ?? {}) as Record<string, Record<string, unknown>>;
      const required = new Set((entry.schema.required ?? []) as string[]);
      if (Object.keys(properties).length > 0) {
        lines.push('| field | type | required | description |', '|---|---|---|---|');
        for (const [name, property] of Object.entries(properties)) {
          lines.push(
            `| ${name} | ${typeName(property)} | ${required.has(name) ? 'yes' : 'no'} | ${String(property.description ?? '').replace(/\|/g, '\\|')} |`,
          );
        }
        lines.push('');
      }
      if (entry.personalData) {
        lines.push(
          `Personal data of subject \`${entry.personalData.subject}\`: ${entry.personalData.fields.map((f) => `\`${f}\``).join(', ')} (encrypted; \`[erased]\` once the subject is forgotten).`,
          '',
        );
      }
      if (entry.history.length > 0) {
        lines.push('History:', '');
        for (const step of entry.history)
          lines.push(`- v${step.fromVersion} → v${step.toVersion}${step.description ? `: ${step.description}` : ''}`);
        lines.push('');
      }
      lines.push(
        `Consumed by: ${entry.consumers.length ? entry.consumers.map((c) => `${c.name} (${c.kind})`).join(', ') : 'nobody yet'}.`,
        '',
      );
    }
    return lines.join('\n');
  }
}

function dataSchema(schema: z.ZodType): Record<string, unknown> {
  // Dates, bigints and the like have no JSON Schema form; they are stored by the transcoder as tagged
  // objects, so "any" is the honest description of their stored shape.
  const json = z.toJSONSchema(schema, { unrepresentable: 'any', io: 'input' }) as Record<string, unknown>;
  delete json.$schema;
  return json;
}

function typeName(property: Record<string, unknown>): string {
  if (property.type) return Array.isArray(property.type) ? property.type.join(' \\| ') : String(property.type);
  if (property.enum) return (property.enum as unknown[]).map((v) => JSON.stringify(v)).join(' \\| ');
  if (property.anyOf) return 'one of several';
  return 'any';
}
