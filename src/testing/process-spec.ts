/**
 * `processSpec`: a process manager's rules as given/when/then, with no store. `given` messages are
 * folded through `react` (keeping the state and the commands sent); `when` is the message under test;
 * `then` states what its reaction must hold.
 *
 *   processSpec(transferProcess())
 *     .given({ event: { type: 'TransferRequested', data: {...} } }, { completed: 'debit' })
 *     .when({ rejected: 'credit', code: 'account_frozen' })
 *     .then({ send: [{ type: 'RefundTransfer', data: {...}, step: 'refund' }] });
 */
import assert from 'node:assert/strict';
import type { StoredDomainEvent } from '../core/event-registry.js';
import type { ProcessDefinition, ProcessMessage, ProcessReaction, SentCommand } from '../processes/define.js';

/** A message in a spec: an event, the outcome of an earlier command (by step, else type), a timeout. */
export type SpecMessage =
  | { event: { type: string; data: unknown; metadata?: Record<string, unknown>; streamId?: string } }
  | { completed: string; streamId?: string }
  | { rejected: string; code: string; message?: string }
  | { timeout: string };

/** What the reaction must hold; only the keys given are compared. Commands compare by type, data, step. */
export type ReactionExpectation<S> = Partial<{
  state: S;
  send: ReadonlyArray<{ type: string; data: unknown; step?: string }>;
  schedule: ReadonlyArray<{ name: string; after?: number; at?: Date }>;
  cancel: readonly string[];
  withdraw: readonly string[];
  end: boolean;
}>;

interface Sent extends SentCommand {
  open: boolean;
}

export function processSpec<S>(definition: ProcessDefinition<S, any>, options: { instanceId?: string; now?: Date } = {}) {
  const instanceId = options.instanceId ?? 'spec';
  const now = options.now ?? new Date('2026-01-01T00:00:00.000Z');
  let position = 0n;
  let ids = 0;

  const toMessage = (m: SpecMessage, sent: Sent[]): ProcessMessage => {
    if ('event' in m) {
      position++;
      const event = {
        id: `00000000-0000-4000-8000-${String(position).padStart(12, '0')}`,
        type: m.event.type,
        data: m.event.data,
        metadata: m.event.metadata ?? {},
        streamId: m.event.streamId ?? `spec-${instanceId}`,
        streamVersion: Number(position),
        globalPosition: position,
        recordedAt: now,
        storedSchemaVersion: 1,
      } as unknown as StoredDomainEvent;
      return { kind: 'event', event };
    }
    if ('timeout' in m) return { kind: 'timeout', name: m.timeout, outstanding: sent.filter((c) => c.open).map(strip) };
    const name = 'completed' in m ? m.completed : m.rejected;
    const command = [...sent].reverse().find((c) => c.open && (c.step === name || c.type === name));
    if (!command)
      assert.fail(
        `no command sent earlier by step or type "${name}" is waiting for its outcome; sent: ${sent.map((c) => c.step ?? c.type).join(', ') || 'none'}`,
      );
    command.open = false;
    if ('completed' in m)
      return { kind: 'completed', command: strip(command), result: { streamId: m.streamId ?? 'spec', events: [], nextExpectedVersion: 1 } };
    return { kind: 'rejected', command: strip(command), error: { code: m.code, message: m.message ?? m.code } };
  };

  const step = (state: S, sent: Sent[], m: SpecMessage) => {
    const reaction = (definition.react(state, toMessage(m, sent), { processName: definition.name, instanceId, now }) ??
      {}) as ProcessReaction<S>;
    for (const w of reaction.withdraw ?? []) for (const c of sent) if (c.open && c.step === w) c.open = false;
    for (const c of reaction.send ?? []) sent.push({ id: `spec-command-${++ids}`, type: c.type, data: c.data, step: c.step ?? null, open: true });
    return { reaction, state: 'state' in reaction && reaction.state !== undefined ? reaction.state : state, ended: reaction.end === true };
  };

  return {
    given(...history: SpecMessage[]) {
      let state = definition.initialState();
      const sent: Sent[] = [];
      for (const m of history) {
        const r = step(state, sent, m);
        state = r.state;
        if (r.ended) assert.fail(`the instance ended at a given message (${JSON.stringify(m)}): nothing can come after it`);
      }
      return {
        when(message: SpecMessage) {
          const run = () => step(state, sent, message);
          return {
            then(expected: ReactionExpectation<S>) {
              const { reaction, state: after } = run();
              const actual: Record<string, unknown> = {};
              const wanted: Record<string, unknown> = {};
              for (const key of Object.keys(expected) as Array<keyof ReactionExpectation<S>>) {
                wanted[key] = key === 'send' ? expected.send!.map(commandEssence) : expected[key];
                actual[key] =
                  key === 'state'
                    ? after
                    : key === 'send'
                      ? (reaction.send ?? []).map(commandEssence)
                      : key === 'end'
                        ? reaction.end === true
                        : (reaction[key] ?? []);
              }
              assert.deepStrictEqual(actual, wanted, 'the process reacted otherwise');
            },
            /** The reaction changes nothing: no state change, no commands, no timeouts, not the end. */
            thenIgnores() {
              const { reaction } = run();
              const empty = ['send', 'schedule', 'cancel', 'withdraw'].every((k) => ((reaction as Record<string, unknown[]>)[k] ?? []).length === 0);
              assert.ok(empty && reaction.end !== true && reaction.state === undefined, `expected no reaction, got ${JSON.stringify(reaction)}`);
            },
          };
        },
      };
    },
  };
}

const strip = ({ open: _open, ...command }: Sent): SentCommand => command;
const commandEssence = (c: { type: string; data: unknown; step?: string | null }) => ({ type: c.type, data: c.data, step: c.step ?? null });
