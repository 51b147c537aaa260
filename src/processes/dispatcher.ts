/**
 * Sends the commands that process instances decided, and fires their due timeouts.
 *
 * A command is claimed (`pending` -> `dispatching`, with a token), sent through the command bus under
 * its deterministic id, and its outcome recorded in the transaction that hands it to the instance, by
 * the holder of the claim only. A process that dies while sending leaves its claim behind; after
 * `claimTimeoutMs` another takes it over and sends the command again under the same id: the bus answers
 * a command id it has handled with the recorded outcome, so the command takes effect once.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConcurrencyError, FabulaError, StoreClosedError } from '../core/errors.js';
import { DEFAULT_TENANT } from '../core/events.js';
import type { EventStore } from '../store/event-store.js';
import { Wakeup } from '../store/wakeup.js';
import type { CommandBus } from '../write/command-bus.js';
import type { ProcessDefinition, ProcessMessage, SentCommand } from './define.js';
import type { CommandRow, ProcessSql, TimeoutRow } from './sql.js';
import { runStep } from './step.js';

export interface DispatcherSettings {
  claimTimeoutMs: number;
  pollIntervalMs: number;
  /** Commands sent at once (of different instances). */
  concurrency: number;
}

export type DispatcherError = { process: string; instanceId: string; error: unknown; during: 'send' | 'outcome' | 'timeout' };

export class Dispatcher {
  readonly wakeup = new Wakeup();
  private readonly stopping = new AbortController();
  private running: Promise<void> | null = null;
  private readonly names: string[];

  constructor(
    private readonly store: EventStore,
    private readonly sql: ProcessSql,
    private readonly definitions: ReadonlyMap<string, ProcessDefinition>,
    private readonly commands: CommandBus,
    private readonly settings: DispatcherSettings,
    private readonly onError: (error: DispatcherError) => void,
  ) {
    this.names = [...definitions.keys()];
  }

  start() {
    this.running ??= this.loop();
  }

  async stop() {
    this.stopping.abort();
    await this.running;
  }

  private async loop() {
    let failures = 0;
    while (!this.stopping.signal.aborted) {
      const since = this.wakeup.generation;
      try {
        const busy = (await this.dispatch()) + (await this.fireTimeouts());
        failures = 0;
        if (busy > 0) continue;
        const next =
          this.inFlight.size >= this.settings.concurrency
            ? null
            : ((await this.store.sql.query<{ ms: number | null }>(this.sql.nextDue, [this.names]))[0]?.ms ?? null);
        await this.wakeup.wait(since, Math.min(this.settings.pollIntervalMs, next ?? Infinity), this.stopping.signal);
      } catch (error) {
        if (this.stopping.signal.aborted || error instanceof StoreClosedError) break;
        this.onError({ process: this.names.join(','), instanceId: '', error, during: 'send' });
        failures++;
        await sleep(Math.min(5_000, 100 * 2 ** failures), undefined, { signal: this.stopping.signal }).catch(() => {});
      }
    }
    await Promise.all(this.inFlight);
  }

  private readonly inFlight = new Set<Promise<void>>();

  /**
   * Claims as many commands as there are free sending slots and starts sending them; each send that
   * ends frees its slot and wakes the loop, so a step's next command goes out at once (a pipeline, not
   * rounds that wait for their slowest send). Resolves with how many were claimed.
   */
  private async dispatch(): Promise<number> {
    const free = this.settings.concurrency - this.inFlight.size;
    if (free <= 0) return 0;
    const token = randomUUID();
    const claimed = await this.store.sql.query<CommandRow>(this.sql.claim, [
      this.names,
      this.settings.claimTimeoutMs,
      free,
      token,
    ]);
    for (const row of claimed) {
      const sending: Promise<void> = this.send(row, token)
        .catch((error) => this.onError({ process: row.process, instanceId: row.instance_id, error, during: 'send' }))
        .finally(() => {
          this.inFlight.delete(sending);
          this.wakeup.signal();
        });
      this.inFlight.add(sending);
    }
    return claimed.length;
  }

  private async send(row: CommandRow, token: string) {
    const command: SentCommand = { id: row.command_id, type: row.command_type, data: row.data, step: row.step };
    let message: ProcessMessage;
    try {
      const result = await this.commands.execute(row.command_type, row.data, {
        commandId: row.command_id,
        correlationId: row.correlation_id,
        // In the instance's tenant; the default one through the store's system view, as before tenants.
        ...(row.tenant_id !== null && row.tenant_id !== DEFAULT_TENANT ? { tenantId: row.tenant_id } : {}),
        metadata: {
          process: row.process,
          processInstance: row.instance_id,
          causedBy: row.caused_by,
          ...(row.step !== null ? { processStep: row.step } : {}),
        },
      });
      message = {
        kind: 'completed',
        command,
        result: {
          streamId: result.streamId,
          events: result.events.map((e) => ({ ...e, globalPosition: e.globalPosition.toString() })),
          nextExpectedVersion: result.nextExpectedVersion,
        },
      };
    } catch (error) {
      if (!isFinal(error)) {
        // The outcome is unknown or transient (a lost connection, conflicts beyond the bus's retries):
        // give the command back; it is sent again, under the same id.
        await this.store.sql.query(this.sql.release, [row.command_id, token, String((error as Error)?.message ?? error)]);
        this.onError({ process: row.process, instanceId: row.instance_id, error, during: 'send' });
        return;
      }
      message = { kind: 'rejected', command, error: { code: error.code, message: error.message } };
    }
    try {
      await this.store.sql.transaction(async (tx) => {
        const outcome = message.kind === 'completed' ? message.result : message.kind === 'rejected' ? message.error : null;
        const finished = await tx.query(this.sql.finish, [row.command_id, token, message.kind, JSON.stringify(outcome)]);
        if (finished.length === 0) return; // taken over by another process, which records it
        await runStep(tx, this.sql, {
          definition: this.definitions.get(row.process)!,
          instanceId: row.instance_id,
          message,
          cause: row.command_id,
          correlationId: row.correlation_id,
          commands: this.commands,
        });
      });
    } catch (error) {
      // The step failed (react threw, or the database): the claim stays, so the command is taken over
      // after claimTimeoutMs, sent again under its id (answered from the record) and handed over again.
      this.onError({ process: row.process, instanceId: row.instance_id, error, during: 'outcome' });
    }
  }

  /** Fires due timeouts, each in its own transaction; resolves with how many fired. */
  private async fireTimeouts(): Promise<number> {
    const due = await this.store.sql.query<TimeoutRow>(this.sql.due, [this.names, 64]);
    let fired = 0;
    for (const candidate of due) {
      if (this.stopping.signal.aborted) break;
      try {
        fired += await this.store.sql.transaction(async (tx) => {
          const timeout = (await tx.query<TimeoutRow>(this.sql.lockDue, [candidate.timeout_id]))[0];
          if (!timeout) return 0; // fired, moved or cancelled meanwhile
          const key = [timeout.process, timeout.instance_id];
          const open = await tx.query<CommandRow>(this.sql.openCommands, key);
          // A command being sent has an unknown outcome: wait for it, so that the reaction can trust
          // `outstanding` (and a withdrawn command is certainly never sent).
          if (open.some((c) => c.status === 'dispatching')) {
            await tx.query(this.sql.postpone, [timeout.timeout_id, Math.min(1_000, this.settings.pollIntervalMs)]);
            return 0;
          }
          await tx.query(this.sql.fired, [timeout.timeout_id]);
          await runStep(tx, this.sql, {
            definition: this.definitions.get(timeout.process)!,
            instanceId: timeout.instance_id,
            message: {
              kind: 'timeout',
              name: timeout.name,
              outstanding: open.map((c) => ({ id: c.command_id, type: c.command_type, data: c.data, step: c.step })),
            },
            cause: timeout.timeout_id,
            correlationId: timeout.timeout_id,
            commands: this.commands,
          });
          return 1;
        });
      } catch (error) {
        if (error instanceof StoreClosedError) throw error;
        this.onError({ process: candidate.process, instanceId: candidate.instance_id, error, during: 'timeout' });
      }
    }
    return fired;
  }
}

/** A refusal that sending again would not change: the instance is told, and may compensate. */
function isFinal(error: unknown): error is FabulaError {
  return error instanceof FabulaError && !(error instanceof ConcurrencyError) && !(error instanceof StoreClosedError);
}
