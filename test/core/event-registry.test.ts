import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineEvent, EventCatalog, EventRegistry, FabulaError, ValidationError, type RecordedEvent } from '../../src/index.js';

const stored = (type: string, schemaVersion: number, data: unknown): RecordedEvent => ({
  id: '00000000-0000-4000-8000-000000000001',
  type,
  data,
  metadata: {},
  schemaVersion,
  streamId: 'user-1',
  streamVersion: 1,
  globalPosition: 1n,
  recordedAt: new Date(0),
  tenantId: 'default',
});

const UserRegistered = defineEvent('UserRegistered', {
  version: 3,
  description: 'Someone signed up.',
  schema: z.object({
    userId: z.string(),
    name: z.object({ first: z.string(), last: z.string() }),
    email: z.email(),
    since: z.date(),
  }),
});

function registry() {
  return new EventRegistry()
    .register(UserRegistered)
    .upcast(
      'UserRegistered',
      1,
      (d) => {
        const { fullName, ...rest } = d as { fullName: string };
        const [first = '', last = ''] = fullName.split(' ');
        return { ...rest, name: { first, last } };
      },
      'v2 split fullName into name.first and name.last',
    )
    .upcast(
      'UserRegistered',
      2,
      (d, event) => ({ ...(d as object), since: event.recordedAt }),
      'v3 added since (the registration time)',
    );
}

describe('event registry', () => {
  it('upcasts stored v1 and v2 events to the current version on read, without rewriting them', () => {
    const r = registry();
    const v1 = stored('UserRegistered', 1, { userId: 'u1', fullName: 'Ada Lovelace', email: 'ada@example.com' });
    expect(r.decode(v1)).toMatchObject({
      type: 'UserRegistered',
      storedSchemaVersion: 1,
      data: { userId: 'u1', name: { first: 'Ada', last: 'Lovelace' }, email: 'ada@example.com', since: new Date(0) },
    });
    expect(v1.data).toEqual({ userId: 'u1', fullName: 'Ada Lovelace', email: 'ada@example.com' });
    const v2 = stored('UserRegistered', 2, { userId: 'u1', name: { first: 'A', last: 'B' }, email: 'a@b.co' });
    expect(r.decode(v2).data).toEqual({ userId: 'u1', name: { first: 'A', last: 'B' }, email: 'a@b.co', since: new Date(0) });
  });

  it('encodes with the current version, restoring Dates exactly', () => {
    const r = registry();
    const since = new Date('2024-02-29T12:34:56.789Z');
    const encoded = r.encode({
      type: 'UserRegistered',
      data: { userId: 'u1', name: { first: 'A', last: 'B' }, email: 'a@b.co', since },
    });
    expect(encoded.schemaVersion).toBe(3);
    const back = r.decode(stored('UserRegistered', 3, JSON.parse(JSON.stringify(encoded.data))));
    expect((back.data as { since: Date }).since).toEqual(since);
  });

  it('refuses data that breaks the schema, naming the event type and field', () => {
    const r = registry();
    expect(() =>
      r.encode({
        type: 'UserRegistered',
        data: { userId: 'u1', name: { first: 'A', last: 'B' }, email: 'not-an-email', since: new Date() },
      }),
    ).toThrow(expect.objectContaining({ field: 'event(UserRegistered).data.email' }));
    expect(() => r.encode({ type: 'Unknown', data: {} })).toThrow(ValidationError);
  });

  it('rejects duplicate type names and bad upcasters; reports a missing link in the chain', () => {
    expect(() => registry().register(UserRegistered)).toThrow(/already registered/);
    expect(() => registry().upcast('UserRegistered', 1, (d) => d)).toThrow(/already has an upcaster/);
    expect(() => registry().upcast('UserRegistered', 3, (d) => d)).toThrow(ValidationError);
    const gap = new EventRegistry().register(UserRegistered).upcast('UserRegistered', 2, (d) => d);
    expect(() => gap.assertComplete()).toThrow(/no upcaster from version 1/);
    expect(() => gap.decode(stored('UserRegistered', 1, {}))).toThrow(FabulaError);
    expect(() => registry().decode(stored('UserRegistered', 4, {}))).toThrow(/newer than this code knows/);
    expect(() => defineEvent('bad name', { schema: z.object({}) })).toThrow(ValidationError);
  });

  it('passes unregistered event types through', () => {
    expect(registry().decode(stored('SomethingElse', 1, { a: 1 })).data).toEqual({ a: 1 });
  });
});

describe('event catalog', () => {
  const catalog = new EventCatalog(registry(), {
    title: 'Users',
    consumers: [
      { name: 'user-directory', kind: 'projection', handles: ['UserRegistered'] },
      { name: 'welcome-mail', kind: 'process-manager', handles: ['UserRegistered', 'Other'] },
    ],
  });

  it('is JSON Schema with versions, history and consumers', () => {
    const schema = catalog.toJSONSchema() as { $defs: Record<string, any>; oneOf: unknown[]; $schema: string };
    expect(schema.$schema).toContain('json-schema.org');
    const user = schema.$defs.UserRegistered;
    expect(user.description).toBe('Someone signed up.');
    expect(user.properties.email).toMatchObject({ type: 'string', format: 'email' });
    expect(user.required).toEqual(['userId', 'name', 'email', 'since']);
    expect(user['x-fabula']).toEqual({
      version: 3,
      history: [
        { fromVersion: 1, toVersion: 2, description: 'v2 split fullName into name.first and name.last' },
        { fromVersion: 2, toVersion: 3, description: 'v3 added since (the registration time)' },
      ],
      consumers: [
        { name: 'user-directory', kind: 'projection' },
        { name: 'welcome-mail', kind: 'process-manager' },
      ],
    });
    expect(schema.oneOf).toHaveLength(1);
    expect(JSON.parse(JSON.stringify(schema))).toEqual(schema);
  });

  it('renders Markdown for people', () => {
    const md = catalog.toMarkdown();
    expect(md).toContain('## UserRegistered (version 3)');
    expect(md).toContain('| email | string | yes |');
    expect(md).toContain('- v1 → v2: v2 split fullName');
    expect(md).toContain('Consumed by: user-directory (projection), welcome-mail (process-manager).');
  });
});
