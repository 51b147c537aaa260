/** Subjects of published events and subject patterns: pure. */
import { describe, expect, it } from 'vitest';
import { subjectFor, subjectMatches, subjectToken } from '../../src/integration/index.js';
import { subjectCovers, validatePrefix } from '../../src/integration/subjects.js';
import { ValidationError } from '../../src/index.js';

describe('subjects', () => {
  it('are <prefix>.<streamType>.<eventType>, the stream type being the stream id before the first "-"', () => {
    expect(subjectFor('fabula', 'account-42', 'MoneyDeposited')).toBe('fabula.account.MoneyDeposited');
    expect(subjectFor('acme.bank', 'account-42-x', 'MoneyDeposited')).toBe('acme.bank.account.MoneyDeposited');
    expect(subjectFor('fabula', 'settings', 'Changed')).toBe('fabula.settings.Changed');
  });

  it('turn characters NATS gives a meaning to into "_" so that one value stays one token', () => {
    expect(subjectToken('bank.Deposited')).toBe('bank_Deposited');
    expect(subjectToken('a b*c>d')).toBe('a_b_c_d');
    expect(subjectToken('x:y-z')).toBe('x:y-z');
    expect(subjectFor('fabula', 'order.v2 eu-1', 'Placed')).toBe('fabula.order_v2_eu.Placed');
  });

  it('refuse a prefix that is not dot-separated tokens', () => {
    for (const bad of ['', 'a..b', 'a.*', 'a.>', 'has space', '.a', 'a.'])
      expect(() => validatePrefix(bad)).toThrow(ValidationError);
    expect(validatePrefix('acme.bank-1')).toBe('acme.bank-1');
  });

  it('match patterns with * and >', () => {
    expect(subjectMatches('partner.*.created', 'partner.x.created')).toBe(true);
    expect(subjectMatches('partner.*.created', 'partner.x.y.created')).toBe(false);
    expect(subjectMatches('partner.>', 'partner.x.y')).toBe(true);
    expect(subjectMatches('partner.>', 'partner')).toBe(false);
    expect(subjectMatches('a.b', 'a.b.c')).toBe(false);
    expect(subjectCovers('>', 'fabula.>')).toBe(true);
    expect(subjectCovers('*.>', 'fabula.>')).toBe(true);
    expect(subjectCovers('fabula.>', 'fabula.>')).toBe(true);
    expect(subjectCovers('fabula.*', 'fabula.>')).toBe(false);
    expect(subjectCovers('fabula.*.*', 'fabula.>')).toBe(false);
    expect(subjectCovers('other.>', 'fabula.>')).toBe(false);
  });
});
