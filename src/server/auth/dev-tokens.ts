/**
 * Development bearer tokens (`FABULA_API_TOKENS`): a fixed map of token → caller. Compared in constant
 * time against every configured token, so the timing tells nothing about how much of a token matched.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Caller } from './caller.js';

export function devTokens(tokens: ReadonlyMap<string, Caller>): (credential: string) => Caller | null {
  // Digests have one length, so timingSafeEqual never throws and the lengths leak nothing either.
  const entries = [...tokens].map(([token, caller]) => ({ digest: sha256(token), caller }));
  return (credential) => {
    const given = sha256(credential);
    let found: Caller | null = null;
    for (const entry of entries) if (timingSafeEqual(entry.digest, given)) found = entry.caller;
    return found ? { ...found, via: { method: 'token' } } : null;
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
