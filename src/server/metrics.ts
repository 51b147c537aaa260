/**
 * Prometheus metrics (prom-client), one registry per server so that several servers in one process
 * (tests) do not share counters.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Integration } from '../integration/integration.js';
import type { Processes, ProcessStatus } from '../processes/processes.js';
import type { Projections } from '../projections/projections.js';
import type { ProjectionStatus } from '../projections/status.js';

export type CommandOutcome = 'success' | 'conflict' | 'invalid' | 'forbidden' | 'rejected' | 'idempotency_key_reused' | 'error';

export class Metrics {
  readonly registry = new Registry();
  readonly appends = new Counter({ name: 'fabula_appends_total', help: 'Appends committed', registers: [this.registry] });
  readonly events = new Counter({
    name: 'fabula_events_appended_total',
    help: 'Events appended, by event type',
    labelNames: ['event_type'] as const,
    registers: [this.registry],
  });
  readonly commands = new Counter({
    name: 'fabula_commands_total',
    help: 'Commands handled, by type and outcome (success, conflict, invalid, forbidden, rejected by a business rule, idempotency_key_reused, error)',
    labelNames: ['command_type', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly commandSeconds = new Histogram({
    name: 'fabula_command_duration_seconds',
    help: 'Command latency, by type and outcome',
    labelNames: ['command_type', 'outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly projectionErrors = new Counter({
    name: 'fabula_projection_errors_total',
    help: 'Projection daemon errors, by projection and kind (failed, parked, error)',
    labelNames: ['projection', 'kind'] as const,
    registers: [this.registry],
  });

  constructor(options: { projections?: Projections; defaultMetrics?: boolean } = {}) {
    // prom-client names its defaults `process_...` and `nodejs_...`: the prefix makes them `fabula_process_...`.
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'fabula_' });
    const projections = options.projections;
    if (!projections) return;
    // Each gauge collects for itself (a scrape may ask for any one of them); one status read serves all
    // the gauges of a scrape, which prom-client collects concurrently.
    const statuses = oncePerScrape(() => projections.status());
    const perProjection = (
      name: string,
      help: string,
      labels: 'instance' | 'projection',
      value: (s: ProjectionStatus) => number,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: labels === 'instance' ? (['projection', 'version', 'phase'] as const) : (['projection'] as const),
        registers: [this.registry],
        async collect() {
          const all = await statuses();
          this.reset();
          for (const s of all) {
            if (labels === 'instance') this.set({ projection: s.name, version: String(s.version), phase: s.phase }, value(s));
            else this.inc({ projection: s.name }, value(s));
          }
        },
      });
    perProjection(
      'fabula_projection_lag_events',
      'Events appended after the projection checkpoint',
      'instance',
      (s) => s.lagEvents,
    );
    perProjection(
      'fabula_projection_lag_seconds',
      'Age of the oldest event the projection has not applied yet',
      'instance',
      (s) => s.lagSeconds,
    );
    perProjection(
      'fabula_projection_parked_events',
      'Events in the dead-letter table, by projection',
      'projection',
      (s) => s.parkedEvents,
    );
    projections.on('failed', (e) => this.projectionErrors.inc({ projection: e.projection, kind: 'failed' }));
    projections.on('parked', (e) => this.projectionErrors.inc({ projection: e.projection, kind: 'parked' }));
    projections.on('error', (e) => this.projectionErrors.inc({ projection: e.projection, kind: 'error' }));
  }

  /** NATS publishing: events published, failed batches, and the publisher's lag (from its consumer status). */
  /** Process managers: instances, open commands, timeouts, lag, and errors of steps and sends. */
  observeProcesses(processes: Processes) {
    if (processes.definitions.size === 0) return;
    const errors = new Counter({
      name: 'fabula_process_manager_errors_total',
      help: 'Process manager failures, retried: sending a command, handing over an outcome, firing a timeout',
      labelNames: ['process', 'during'] as const,
      registers: [this.registry],
    });
    processes.on('error', (e) => {
      for (const name of e.process.split(',')) errors.inc({ process: name, during: e.during });
    });
    const statuses = oncePerScrape(() => processes.status());
    const gauge = (
      name: string,
      help: string,
      labelNames: readonly string[],
      points: (s: ProcessStatus) => Array<[Record<string, string>, number]>,
    ) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers: [this.registry],
        async collect() {
          const all = await statuses();
          this.reset();
          for (const s of all) for (const [labels, value] of points(s)) this.set(labels, value);
        },
      });
    gauge(
      'fabula_process_manager_instances',
      'Process instances, active (ended="false") and ended',
      ['process', 'ended'],
      (s) => [
        [{ process: s.name, ended: 'false' }, s.activeInstances],
        [{ process: s.name, ended: 'true' }, s.endedInstances],
      ],
    );
    gauge(
      'fabula_process_manager_open_commands',
      'Commands decided and not yet answered (pending or being sent)',
      ['process'],
      (s) => [[{ process: s.name }, s.openCommands]],
    );
    gauge('fabula_process_manager_timeouts', 'Timeouts scheduled', ['process'], (s) => [
      [{ process: s.name }, s.scheduledTimeouts],
    ]);
    gauge(
      'fabula_process_manager_lag_events',
      'Events appended after the checkpoint of the consumer feeding the process',
      ['process'],
      (s) => [[{ process: s.name }, s.consumer?.lagEvents ?? 0]],
    );
  }

  observeIntegration(integration: Integration) {
    const published = new Counter({
      name: 'fabula_nats_published_total',
      help: 'Messages the NATS publisher got a PubAck for (re-publications the broker dropped as duplicates included)',
      registers: [this.registry],
    });
    const failures = new Counter({
      name: 'fabula_nats_publish_failures_total',
      help: 'Batches the NATS publisher failed to publish (retried with backoff)',
      registers: [this.registry],
    });
    const inbound = new Counter({
      name: 'fabula_nats_inbound_total',
      help: 'Inbound NATS messages, by outcome (handled, ignored, rejected, failed)',
      labelNames: ['outcome'] as const,
      registers: [this.registry],
    });
    integration.inbound?.on('handled', (e) => inbound.inc({ outcome: e.outcome.kind }));
    const publisher = integration.publisher;
    if (!publisher) return;
    publisher.on('published', (e) => published.inc(e.published));
    publisher.on('failed', () => failures.inc());
    const lagSeconds = new Gauge({
      name: 'fabula_nats_publisher_lag_seconds',
      help: 'Age of the oldest event the NATS publisher has not published yet',
      registers: [],
    });
    new Gauge({
      name: 'fabula_nats_publisher_lag_events',
      help: 'Events appended after the NATS publisher checkpoint',
      registers: [this.registry],
      async collect() {
        const [status] = await integration.consumers.status(publisher.consumer.name);
        this.set(status?.lagEvents ?? 0);
        lagSeconds.set(status?.lagSeconds ?? 0);
      },
    });
    this.registry.registerMetric(lagSeconds);
  }

  recordCommand(commandType: string, outcome: CommandOutcome, seconds: number) {
    this.commands.inc({ command_type: commandType, outcome });
    this.commandSeconds.observe({ command_type: commandType, outcome }, seconds);
  }

  recordAppend(eventTypes: readonly string[]) {
    this.appends.inc();
    for (const type of eventTypes) this.events.inc({ event_type: type });
  }
}

/**
 * One read shared by the gauges of a scrape (prom-client collects them concurrently), made again at the
 * next scrape.
 */
function oncePerScrape<T>(read: () => Promise<T>): () => Promise<T> {
  let reading: Promise<T> | null = null;
  return () =>
    (reading ??= read().finally(() => {
      reading = null;
    }));
}
