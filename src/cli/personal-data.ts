/**
 * Personal data from the command line: `fabula forget <subjectId>` and `fabula personal-data rewrap`
 * (the master key comes from master-key.ts).
 */
import type { Command } from 'commander';
import { ValidationError } from '../core/errors.js';
import { createProjections } from '../projections/projections.js';
import { forgetSubject } from '../projections/forget.js';
import { audited } from './cli-audit.js';
import { loadApp, openStore, output, withStore, type GlobalOptions } from './context.js';

export function personalDataCommands(program: Command, globals: () => GlobalOptions) {
  program
    .command('forget')
    .description(
      "forget a subject's personal data (crypto-shredding): destroy its key, erase legacy plain text, delete its snapshots, rebuild the projections that hold it",
    )
    .argument('<subjectId>', 'the subject, as its events name it (for the bank: the accountId)')
    .option('--yes', 'confirm: this cannot be undone')
    .option('--tenant <tenantId>', "the subject's tenant (subjects are per tenant)", 'default')
    .action(async (subjectId: string, options: { yes?: boolean; tenant: string }) => {
      if (!options.yes)
        throw new ValidationError(
          '--yes',
          `forgetting ${JSON.stringify(subjectId)} cannot be undone: run again with --yes to confirm`,
        );
      const app = await loadApp(globals());
      const projections = createProjections(app.projections ?? [], { registry: app.registry });
      const store = await openStore(globals(), { inlineHandlers: [projections.inlineHandler] }, app);
      try {
        const report = await audited(store, 'personal-data.forget', `${options.tenant}/${subjectId}`, () =>
          forgetSubject(subjectId, { store, projections, tenantId: options.tenant }),
        );
        output(globals(), report, () =>
          [
            `forgot ${subjectId}: ${report.keyDestroyed ? 'data key destroyed' : 'no data key (unknown subject, or forgotten before)'}; ${report.events} events carry it (${report.erasedInPlace} plain-text ones erased in place), ${report.snapshotsDeleted} snapshots deleted`,
            report.projectionsRebuilt.length > 0
              ? `rebuilding ${report.projectionsRebuilt.map((p) => `${p.projection} (build ${p.build})`).join(', ')}: the service's projection daemon does it; their old read models are dropped once the new ones serve`
              : 'no projection to rebuild',
          ].join('\n'),
        );
      } finally {
        await store.close();
      }
    });

  program
    .command('personal-data')
    .description('personal-data keys')
    .command('rewrap')
    .description(
      'after a master key rotation (new key in FABULA_MASTER_KEY, old one in FABULA_MASTER_KEY_PREVIOUS): wrap every data key under the new master key',
    )
    .action(async () => {
      await withStore(globals(), async (store) => {
        const result = await store.rewrapDataKeys();
        output(
          globals(),
          result,
          () =>
            `${result.rewrapped} data keys re-wrapped under master key ${result.masterKeyId}; the previous master key is no longer needed`,
        );
      });
    });
}
