/**
 * `fabula consumers ...`: the checkpointed consumers that are not projections (the NATS publisher,
 * process managers): status, parked events, retry, skip; and the inbound NATS messages that were parked.
 */
import type { Command } from 'commander';
import { ValidationError } from '../core/errors.js';
import { deleteParkedInbound, InboundConsumer, listParkedInbound, type ParkedInboundMessage } from '../integration/inbound.js';
import { createConsumers, type Consumers } from '../processing/consumers.js';
import type { ParkedConsumerEvent } from '../processing/control.js';
import type { ConsumerStatus } from '../processing/status.js';
import { loadApp, openStore, output, setupApp, withStore, type GlobalOptions } from './context.js';
import type { EventStore } from '../store/event-store.js';
import { audited } from './cli-audit.js';
import { positionOption } from './options.js';

async function withConsumers<T>(
  globals: GlobalOptions,
  run: (consumers: Consumers, store: EventStore) => Promise<T>,
): Promise<T> {
  return withStore(globals, (store) => run(createConsumers([]).attach(store), store));
}

export function consumerCommands(program: Command, globals: () => GlobalOptions) {
  const group = program
    .command('consumers')
    .description(
      'operate the consumers that are not projections (the NATS publisher, process managers) and parked inbound messages',
    );

  group
    .command('status')
    .description('status, checkpoint, lag and errors of every consumer that is not a projection')
    .action(async () => {
      await withConsumers(globals(), async (consumers) => {
        const statuses = (await consumers.status()).filter((s) => !s.name.startsWith('projection:'));
        output(globals(), statuses, () => statuses.map(formatStatus).join('\n') || '(no consumers)');
      });
    });

  group
    .command('parked')
    .description("a consumer's parked (dead-letter) events; with --inbound, the parked inbound NATS messages")
    .argument('[name]', 'consumer name (not needed with --inbound)')
    .option('--inbound', 'list parked inbound messages instead')
    .action(async (name: string | undefined, options: { inbound?: boolean }) => {
      if (!options.inbound && !name)
        throw new ValidationError('name', 'give the consumer name (see `fabula consumers status`), or --inbound');
      await withStore(globals(), async (store) => {
        if (options.inbound) {
          const parked = await listParkedInbound(store, name);
          output(globals(), parked, () => parked.map(formatInbound).join('\n') || '(no parked inbound messages)');
          return;
        }
        const parked = await createConsumers([]).attach(store).parkedEvents(name!);
        output(globals(), parked, () => parked.map(formatParked).join('\n') || `(no parked events of ${name})`);
      });
    });

  group
    .command('retry')
    .description(
      "retry a consumer's parked events (a running process handles them); with --inbound <id>, run a parked inbound message's command now (needs --app)",
    )
    .argument('[name]', 'consumer name')
    .option('--stream <id>', 'only this stream')
    .option('--inbound <id>', 'the id of a parked inbound message')
    .action(async (name: string | undefined, options: { stream?: string; inbound?: string }) => {
      if (options.inbound !== undefined) return retryInbound(globals(), options.inbound);
      if (!name) throw new ValidationError('name', 'give the consumer name, or --inbound <id>');
      await withConsumers(globals(), async (consumers, store) => {
        const retried = await audited(store, 'consumer.retry-parked', name, () =>
          consumers.retryParked(name, options.stream ? { streamId: options.stream } : {}),
        );
        output(globals(), { consumer: name, retried }, () => `${retried} parked events of ${name} will be retried`);
      });
    });

  group
    .command('skip')
    .description(
      'give up on a parked event that failed (the events of its stream behind it go ahead); with --inbound <id>, delete a parked inbound message',
    )
    .argument('[name]', 'consumer name')
    .argument('[position]', 'global position of the failed event')
    .option('--inbound <id>', 'the id of a parked inbound message')
    .action(async (name: string | undefined, position: string | undefined, options: { inbound?: string }) => {
      if (options.inbound !== undefined) {
        const id = options.inbound;
        await withStore(globals(), async (store) => {
          const row = await audited(store, 'inbound.delete-parked', id, () => deleteParkedInbound(store, id));
          output(globals(), { deleted: id }, () => `parked inbound message ${id} (${row.messageId}) deleted`);
        });
        return;
      }
      if (!name || position === undefined)
        throw new ValidationError('position', 'give the consumer name and the position of the failed event');
      const at = positionOption(position, 'position');
      await withConsumers(globals(), async (consumers, store) => {
        await audited(store, 'consumer.skip', `${name}@${at}`, () => consumers.skipParked(name, at));
        output(globals(), { consumer: name, skipped: at.toString() }, () => `${name}: the event at ${at} is skipped`);
      });
    });
}

/** Runs a parked inbound message's command again with the application's command bus. */
async function retryInbound(globals: GlobalOptions, id: string) {
  const app = await loadApp(globals);
  if (!app.integration?.inbound)
    throw new ValidationError('--app', `${app.name} declares no inbound integration events (integration.inbound)`);
  const store = await openStore(globals, {}, app);
  try {
    const { commands } = await setupApp(app, store);
    const inbound = new InboundConsumer(app.integration.inbound, { commands, store });
    const outcome = await audited(store, 'inbound.retry-parked', id, () => inbound.retryParked(id));
    output(globals, { id, ...outcome }, () =>
      outcome.kind === 'handled' || outcome.kind === 'ignored'
        ? `parked inbound message ${id}: ${outcome.kind}, removed`
        : `parked inbound message ${id}: ${outcome.kind} again: ${outcome.error}`,
    );
    if (outcome.kind === 'failed' || outcome.kind === 'rejected') process.exitCode = 1;
  } finally {
    await store.close();
  }
}

function formatStatus(s: ConsumerStatus): string {
  const lag = `lag ${s.lagEvents} events / ${s.lagSeconds.toFixed(1)} s`;
  const problems = [s.parkedEvents ? `${s.parkedEvents} parked` : '', s.lastError ? `last error: ${s.lastError.message}` : '']
    .filter(Boolean)
    .join('; ');
  return `${s.name} ${s.status} at ${s.checkpoint}/${s.headPosition}, ${lag}${s.owner ? `, run by ${s.owner}` : ''}${problems ? ` (${problems})` : ''}`;
}

function formatParked(p: ParkedConsumerEvent): string {
  return `#${p.position} ${p.streamId} ${p.eventType} [${p.reason}${p.retryRequested ? ', retry requested' : ''}] ${p.error ?? ''}`;
}

function formatInbound(p: ParkedInboundMessage): string {
  return `${p.id} ${p.consumer} ${p.subject} ${p.messageId} [${p.reason}, ${p.deliveries} deliveries] ${p.error}`;
}
