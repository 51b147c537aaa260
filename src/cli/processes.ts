/** `fabula processes ...`: the application's process managers (sagas): status, and one instance. */
import type { Command } from 'commander';
import { createProcesses, type ProcessInstance, type ProcessStatus } from '../processes/processes.js';
import { jsonReplacer, loadApp, output, setupApp, withStore, type GlobalOptions } from './context.js';

export function processCommands(program: Command, globals: () => GlobalOptions) {
  const group = program
    .command('processes')
    .description("the application's process managers (sagas): status and instances (needs --app)");

  const withProcesses = async <T>(run: (processes: ReturnType<typeof createProcesses>) => Promise<T>) => {
    const app = await loadApp(globals());
    return withStore(
      globals(),
      async (store) => {
        const { commands } = await setupApp(app, store);
        return run(createProcesses(app.processes ?? [], { commands, registry: app.registry }).attach(store));
      },
      app,
    );
  };

  group
    .command('status')
    .description('instances active and ended, commands not yet answered, timeouts, and lag of every process manager')
    .action(async () => {
      await withProcesses(async (processes) => {
        const statuses = await processes.status();
        output(globals(), statuses, () => statuses.map(formatStatus).join('\n') || '(the application has no process managers)');
      });
    });

  group
    .command('show')
    .description('one instance: its state, the commands it sent with their outcomes, its timeouts')
    .argument('<process>', 'process name')
    .argument('<instance>', 'instance id (for transfers: the transferId)')
    .action(async (name: string, instanceId: string) => {
      await withProcesses(async (processes) => {
        const instance = await processes.instance(name, instanceId);
        if (!instance) {
          process.exitCode = 1;
          console.error(`error: process ${name} has no instance ${JSON.stringify(instanceId)}`);
          return;
        }
        output(globals(), instance, () => formatInstance(instance));
      });
    });
}

function formatStatus(s: ProcessStatus): string {
  const consumer = s.consumer ? `, ${s.consumer.status}, lag ${s.consumer.lagEvents} events` : ', not started yet';
  return `${s.name}: ${s.activeInstances} active, ${s.endedInstances} ended, ${s.openCommands} commands open, ${s.scheduledTimeouts} timeouts${consumer}`;
}

function formatInstance(i: ProcessInstance): string {
  const lines = [
    `${i.process} ${i.instanceId}: ${i.ended ? 'ended' : 'active'}, ${i.steps} steps, correlation ${i.correlationId}`,
    `state: ${JSON.stringify(i.state, jsonReplacer)}`,
    ...i.commands.map(
      (c) =>
        `  ${c.step ?? '-'} ${c.type} ${c.status}${c.attempts > 1 ? ` (${c.attempts} attempts)` : ''}${c.outcome && c.status === 'rejected' ? `: ${JSON.stringify(c.outcome)}` : ''}${c.lastError && c.status !== 'completed' ? ` last error: ${c.lastError}` : ''}`,
    ),
    ...i.timeouts.map((t) => `  timeout ${t.name} due ${t.dueAt.toISOString()}`),
  ];
  return lines.join('\n');
}
