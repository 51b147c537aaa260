/**
 * Where the CLI and the server get the master key of personal data (the environment is read here, at
 * the edge): `FABULA_MASTER_KEY` (base64, 32 bytes; during a rotation the old one in
 * `FABULA_MASTER_KEY_PREVIOUS`) or `FABULA_MASTER_KEY_FILE`. Without one, an application that declares
 * personal data runs on the embedded store with a development key generated in the data folder (with a
 * loud warning: `npm start` works on a fresh machine), and refuses to start on a PostgreSQL server: a key
 * kept beside the database would protect nothing there.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { ValidationError } from '../core/errors.js';
import type { EventRegistry } from '../core/event-registry.js';
import { environmentKeyProvider, fileKeyProvider, type KeyProvider } from '../store/personal-data/master-keys.js';
import type { PersonalDataOptions } from '../store/personal-data/protection.js';

/** The settings that decide where the key comes from (a subset of the CLI's global options). */
export interface KeySettings {
  databaseUrl?: string;
  dataDir: string;
}

const DEV_KEY_FILE = 'master.key';

/**
 * The store's personal-data options for these settings, or undefined when there is no key and the
 * application (if any) declares no personal data. Throws when a server store would need a key.
 */
export function personalDataFor(options: KeySettings, registry: EventRegistry | undefined): PersonalDataOptions | undefined {
  const keys = masterKeys(options, (registry?.personalData().size ?? 0) > 0);
  return keys ? { keys, ...(registry ? { registry } : {}) } : undefined;
}

function masterKeys(options: KeySettings, declares: boolean): KeyProvider | null {
  const fromEnv = environmentKeyProvider({
    FABULA_MASTER_KEY: process.env.FABULA_MASTER_KEY,
    FABULA_MASTER_KEY_PREVIOUS: process.env.FABULA_MASTER_KEY_PREVIOUS,
  });
  if (fromEnv) return fromEnv;
  const file = process.env.FABULA_MASTER_KEY_FILE;
  if (file) return fileKeyProvider(file);
  if (options.databaseUrl) {
    if (!declares) return null;
    throw new ValidationError(
      'FABULA_MASTER_KEY',
      'the application declares personal data, which is encrypted under a master key: set FABULA_MASTER_KEY to 32 random bytes in base64 (openssl rand -base64 32) or FABULA_MASTER_KEY_FILE to a file holding one; keep it out of the database and its backups',
    );
  }
  const devKey = path.join(path.resolve(options.dataDir), DEV_KEY_FILE);
  if (!existsSync(devKey)) {
    if (!declares) return null;
    mkdirSync(path.dirname(devKey), { recursive: true });
    try {
      writeFileSync(
        devKey,
        `# Development master key of this embedded store, made by fabula because FABULA_MASTER_KEY was not set.\n${randomBytes(32).toString('base64')}\n`,
        { mode: 0o600, flag: 'wx' },
      );
      chmodSync(devKey, 0o600); // whatever the umask
    } catch (error) {
      // Another process made it first: use that one.
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
    }
  }
  process.stderr.write(
    `warning: personal data is encrypted with the DEVELOPMENT master key in ${devKey}, kept beside the data: not for production. Set FABULA_MASTER_KEY (openssl rand -base64 32) or FABULA_MASTER_KEY_FILE.\n`,
  );
  return fileKeyProvider(devKey);
}
