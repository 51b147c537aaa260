import { describe, expect, it } from 'vitest';
import { EventCatalog, EventRegistry } from '../../src/index.js';
import { registerBankEvents } from '../../examples/bank/index.js';

describe('personal data in the event catalog', () => {
  it('names the subject and the personal fields, in JSON Schema and Markdown', () => {
    const registry = registerBankEvents(new EventRegistry());
    expect(registry.personalData().get('AccountOpened')).toEqual({ subject: ['accountId'], fields: [['owner']] });
    const catalog = new EventCatalog(registry);
    const defs = catalog.toJSONSchema().$defs as Record<string, { 'x-fabula': Record<string, unknown> }>;
    expect(defs.AccountOpened!['x-fabula'].personalData).toEqual({ subject: 'accountId', fields: ['owner'] });
    expect(defs.MoneyDeposited!['x-fabula'].personalData).toBeUndefined();
    expect(catalog.toMarkdown()).toContain(
      'Personal data of subject `accountId`: `owner` (encrypted; `[erased]` once the subject is forgotten).',
    );
  });
});
