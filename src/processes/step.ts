/**
 * One step of one instance, inside a transaction: lock (or create) the instance, hand it the message,
 * and write what it decided — state, commands (an outbox: sent after commit), timeouts — in the same
 * transaction. Commands get ids derived from the process, the instance, what caused the step and their
 * index, so a step replayed after a crash writes the same commands, and the command bus, seeing a command
 * id it has handled, answers with the recorded outcome instead of running it twice.
 */
import { v5 as uuidv5 } from 'uuid';
import { ValidationError } from '../core/errors.js';
import { DEFAULT_TENANT } from '../core/events.js';
import type { SqlExecutor } from '../store/sql-client.js';
import type { ProcessDefinition, ProcessMessage } from './define.js';
import { checkReaction } from './reaction.js';
import type { InstanceRow, ProcessSql } from './sql.js';

// Namespace of the ids of commands and timeouts that processes issue. Never change it: ids must stay stable.
const PROCESS_NAMESPACE = '2b0f6c1e-8f4a-4c2d-b7e9-3a5d1f0c9e84';

export interface StepInput {
  definition: ProcessDefinition;
  instanceId: string;
  message: ProcessMessage;
  /** What caused the step: an event id, a command id (its outcome), a timeout id. */
  cause: string;
  /** For a new instance: the correlation id its commands will carry. */
  correlationId: string;
  /** The bus the step's commands will be sent on: each must be registered there. */
  commands: { has(type: string): boolean };
  /** For a step caused by an event: the event's tenant, which a new instance works in (docs/tenancy.md). */
  tenantId?: string;
}

/** Runs the step; false when the instance had ended (the message is not handed to it). */
export async function runStep(tx: SqlExecutor, sql: ProcessSql, input: StepInput): Promise<boolean> {
  const { definition, instanceId, cause } = input;
  const key = [definition.name, instanceId];
  const row = (
    await tx.query<InstanceRow>(sql.enter, [
      ...key,
      JSON.stringify(definition.initialState() ?? null),
      input.correlationId,
      input.tenantId ?? DEFAULT_TENANT,
    ])
  )[0]!;
  // One instance never mixes tenants: its commands go to one tenant's streams.
  if (input.tenantId !== undefined && (row.tenant_id ?? DEFAULT_TENANT) !== input.tenantId)
    throw new ValidationError(
      `process ${definition.name}: instance ${JSON.stringify(instanceId)}`,
      `an event of tenant ${JSON.stringify(input.tenantId)} was routed to an instance of another tenant: route each tenant's events to instance ids of its own`,
    );
  if (row.ended) return false;
  const now = new Date(row.now);
  const reaction = checkReaction(
    definition.react(row.state, input.message, { processName: definition.name, instanceId, now }),
    now,
    (type) => input.commands.has(type),
    `process ${definition.name}: react(${input.message.kind})`,
  );
  const state = 'state' in reaction ? reaction.state : row.state;
  const commands = reaction.send.map((c, i) => ({ ...c, id: commandId(definition.name, instanceId, cause, i) }));
  const timeouts = reaction.end
    ? []
    : reaction.schedule.map((t) => ({
        id: uuidv5(`${definition.name}\n${instanceId}\n${cause}\ntimeout:${t.name}`, PROCESS_NAMESPACE),
        name: t.name,
        dueAt: t.dueAt.toISOString(),
      }));
  const scheduled = new Set(timeouts.map((t) => t.name));
  if (scheduled.size !== timeouts.length)
    throw new ValidationError(`process ${definition.name}: react().schedule`, 'names a timeout twice');
  await tx.query(sql.apply, [
    ...key,
    JSON.stringify(state ?? null),
    reaction.end,
    reaction.withdraw,
    JSON.stringify(commands),
    cause,
    reaction.cancel.filter((name) => !scheduled.has(name)), // a rescheduled timeout is moved, not dropped
    JSON.stringify(timeouts),
  ]);
  return true;
}

export function commandId(process: string, instanceId: string, cause: string, index: number): string {
  return uuidv5(`${process}\n${instanceId}\n${cause}\n${index}`, PROCESS_NAMESPACE);
}
