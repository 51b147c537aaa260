/**
 * `fabula keys ...`: API keys for the HTTP API (`fabula serve --api-keys`). `create` prints the key
 * once (only its hash is stored); `list` shows ids, users, tenants and roles; `revoke` refuses the key
 * from the next request on. Creation and revocation are recorded in the audit stream.
 */
import type { Command } from 'commander';
import { ApiKeys, type ApiKey } from '../server/auth/api-keys.js';
import { Audit } from '../server/auth/audit.js';
import { audited, cliActor } from './cli-audit.js';
import { output, withStore, type GlobalOptions } from './context.js';

export function keyCommands(program: Command, globals: () => GlobalOptions) {
  const group = program.command('keys').description('API keys for the HTTP API: create (shown once), list, revoke');

  group
    .command('create')
    .description('create an API key for a user (and tenant, roles); the key is printed once')
    .requiredOption('--user <id>', 'the user the key acts for')
    .option('--tenant <id>', 'its tenant')
    .option('--role <role>', 'a role (repeat for more)', (role: string, roles: string[] = []) => [...roles, role])
    .option('--description <text>', 'what the key is for')
    .action(async (options: { user: string; tenant?: string; role?: string[]; description?: string }) => {
      await withStore(globals(), async (store) => {
        const keys = new ApiKeys(store.sql, store.schema);
        const { key, apiKey } = await keys.create({
          userId: options.user,
          ...(options.tenant !== undefined ? { tenantId: options.tenant } : {}),
          roles: options.role ?? [],
          ...(options.description !== undefined ? { description: options.description } : {}),
        });
        await new Audit(store).record(cliActor(), {
          action: 'key.create',
          target: apiKey.id,
          outcome: 'succeeded',
          detail: { userId: apiKey.userId, tenantId: apiKey.tenantId ?? null, roles: apiKey.roles },
        });
        output(
          globals(),
          { key, ...apiKey },
          () => `${key}\ncreated API key ${apiKey.id} for ${describe(apiKey)}: keep it now, it is not shown again`,
        );
      });
    });

  group
    .command('list')
    .description('the API keys (never the keys themselves); --all includes revoked ones')
    .option('--all', 'include revoked keys')
    .action(async (options: { all?: boolean }) => {
      await withStore(globals(), async (store) => {
        const list = await new ApiKeys(store.sql, store.schema).list({ includeRevoked: options.all === true });
        output(globals(), list, () => list.map(formatKey).join('\n') || '(no API keys)');
      });
    });

  group
    .command('revoke')
    .description('revoke an API key: refused from the next request on')
    .argument('<id>', 'the key id (fabula keys list)')
    .action(async (id: string) => {
      await withStore(globals(), async (store) => {
        const keys = new ApiKeys(store.sql, store.schema);
        const revoked = await audited(store, 'key.revoke', id, () => keys.revoke(id));
        output(globals(), revoked, () => `revoked API key ${revoked.id} of ${describe(revoked)}`);
      });
    });
}

function describe(key: ApiKey): string {
  return `${key.userId}${key.tenantId !== undefined ? `@${key.tenantId}` : ''} (roles: ${key.roles.join(', ') || 'none'})`;
}

function formatKey(key: ApiKey): string {
  const state = key.revokedAt ? `revoked ${key.revokedAt.toISOString()}` : 'active';
  return `${key.id}  ${describe(key)}  created ${key.createdAt.toISOString()}  ${state}${key.description ? `  ${key.description}` : ''}`;
}
