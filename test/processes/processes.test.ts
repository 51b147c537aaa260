import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import {
  CommandBus,
  createProcesses,
  DeciderRepository,
  defineCommand,
  defineDecider,
  defineEvent,
  defineProcess,
  EventRegistry,
  DomainError,
  ValidationError,
  type EventStore,
  type ProcessDefinition,
} from '../../src/index.js';
import { drivers, serverUrl, storeFactory } from '../support/drivers.js';

const Count = defineCommand('Count', { schema: z.object({ id: z.string() }) });
const Flaky = defineCommand('Flaky', { schema: z.object({ id: z.string() }) });
const Refuse = defineCommand('Refuse', { schema: z.object({ id: z.string() }) });
const registry = new EventRegistry().register(defineEvent('Counted', { schema: z.object({ id: z.string() }) }));

/** `Count` appends Counted to counter-<id>; `Flaky` always fails transiently; `Refuse` always refuses. */
function bus(store: EventStore, sent: Map<string, number>) {
  const decider = defineDecider<{ type: string; data: { id: string } }, { type: 'Counted'; data: { id: string } }, null>({
    initialState: null,
    decide(command) {
      sent.set(`${command.type}:${command.data.id}`, (sent.get(`${command.type}:${command.data.id}`) ?? 0) + 1);
      if (command.type === 'Flaky') throw new Error('the line is busy');
      if (command.type === 'Refuse') throw new DomainError('no', 'refused');
      return { type: 'Counted', data: command.data };
    },
    evolve: () => null,
  });
  const repository = new DeciderRepository(store, decider, { name: 'counter', registry });
  const b = new CommandBus({ store });
  for (const c of [Count, Flaky, Refuse]) b.registerDecider(c, { repository, streamId: (d) => `counter-${d.id}` });
  return b;
}

const fast = { pollIntervalMs: 30, consumers: { pollIntervalMs: 30 } } as const;

async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out; last value ${JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe.each(drivers)('process managers (%s)', (driver) => {
  const stores = storeFactory(driver);

  it('a timeout withdraws a command that could not be sent, and the compensation runs instead', async () => {
    const store = await stores.open();
    const sent = new Map<string, number>();
    const process = defineProcess<{ outcome: string }>({
      name: 'guarded',
      on: { Started: (e) => (e.data as { id: string }).id },
      initialState: () => ({ outcome: 'waiting' }),
      react(state, message, { instanceId }) {
        if (message.kind === 'event')
          return { send: [{ type: 'Flaky', data: { id: instanceId }, step: 'flaky' }], schedule: [{ name: 'give-up', after: 400 }] };
        if (message.kind === 'timeout' && message.outstanding.some((c) => c.step === 'flaky'))
          return { state: { outcome: 'compensated' }, withdraw: ['flaky'], send: [{ type: 'Count', data: { id: `undo-${instanceId}` } }] };
        if (message.kind === 'completed') return { end: true };
      },
    });
    const processes = await createProcesses([process], { commands: bus(store, sent), ...fast }).start(store);
    try {
      await store.append('starts-1', [{ type: 'Started', data: { id: 'p1' } }]);
      const instance = await until(
        () => processes.instance('guarded', 'p1'),
        (i) => i?.ended === true,
      );
      expect(instance!.state).toEqual({ outcome: 'compensated' });
      expect(instance!.commands.map((c) => [c.type, c.status])).toEqual([
        ['Flaky', 'withdrawn'],
        ['Count', 'completed'],
      ]);
      expect(instance!.commands[0]!.lastError).toBe('the line is busy');
      const tries = sent.get('Flaky:p1')!;
      expect(tries).toBeGreaterThan(1); // retried, with backoff
      expect(tries).toBeLessThan(12);
      await new Promise((r) => setTimeout(r, 300));
      expect(sent.get('Flaky:p1')).toBe(tries); // withdrawn: never sent again
      expect(await store.readStream('counter-undo-p1')).toHaveLength(1);
    } finally {
      await processes.stop();
    }
  });

  it('hands a refusal to the instance, and timeouts survive a restart', async () => {
    const store = await stores.open();
    const sent = new Map<string, number>();
    const process: ProcessDefinition = defineProcess<{ refusals: string[] }>({
      name: 'patient',
      on: { Started: (e) => (e.data as { id: string }).id },
      initialState: () => ({ refusals: [] }),
      react(state, message, { instanceId }) {
        if (message.kind === 'event') return { send: [{ type: 'Refuse', data: { id: instanceId } }] };
        if (message.kind === 'rejected')
          return { state: { refusals: [message.error.code] }, schedule: [{ name: 'later', after: 700 }] };
        if (message.kind === 'timeout') return { send: [{ type: 'Count', data: { id: instanceId } }] };
        if (message.kind === 'completed') return { end: true };
      },
    });
    const first = await createProcesses([process], { commands: bus(store, sent), ...fast }).start(store);
    await store.append('starts-1', [{ type: 'Started', data: { id: 'p2' } }]);
    await until(
      () => first.instance('patient', 'p2'),
      (i) => (i?.timeouts.length ?? 0) === 1,
    );
    await first.stop(); // "crash" before the timeout is due
    await new Promise((r) => setTimeout(r, 900));
    const second = await createProcesses([process], { commands: bus(store, sent), ...fast }).start(store);
    try {
      const instance = await until(
        () => second.instance('patient', 'p2'),
        (i) => i?.ended === true,
      );
      expect(instance!.state).toEqual({ refusals: ['refused'] });
      expect(instance!.commands.map((c) => [c.type, c.status])).toEqual([
        ['Refuse', 'rejected'],
        ['Count', 'completed'],
      ]);
      expect(instance!.commands[0]!.outcome).toEqual({ code: 'refused', message: 'no' });
      expect(sent.get('Refuse:p2')).toBe(1);
    } finally {
      await second.stop();
    }
  });

  it('a reaction that breaks the rules stops the process with an error naming it', async () => {
    const store = await stores.open();
    const process = defineProcess({
      name: 'sloppy',
      on: { Started: () => 'one' },
      initialState: () => ({}),
      react: () => ({ send: [{ type: 'NoSuchCommand', data: {} }] }),
    });
    const processes = await createProcesses([process], { commands: bus(store, new Map()), ...fast }).start(store);
    try {
      const { lastPosition } = await store.append('starts-1', [{ type: 'Started', data: {} }]);
      await expect(processes.waitFor('sloppy', lastPosition, { timeout: 10_000 })).rejects.toThrow(
        /react\(event\)\.send\[0\]\.type.*"NoSuchCommand" is not a command registered/,
      );
      const [status] = await processes.status();
      expect(status!.consumer).toMatchObject({ status: 'failed' });
      expect(await processes.instance('sloppy', 'one')).toBeNull(); // the step rolled back
    } finally {
      await processes.stop();
    }
  });

  it('a new process reacts to events from its first start on, or to all of history with startAt: beginning', async () => {
    const store = await stores.open();
    const sent = new Map<string, number>();
    await store.append('starts-1', [{ type: 'Started', data: { id: 'old' } }]);
    const make = (name: string, startAt?: 'beginning') =>
      defineProcess({
        name,
        startAt,
        on: { Started: (e) => (e.data as { id: string }).id },
        initialState: () => ({}),
        react: (_s, m, { instanceId }) => (m.kind === 'event' ? { send: [{ type: 'Count', data: { id: `${name}-${instanceId}` } }] } : { end: true }),
      });
    const processes = await createProcesses([make('from-head'), make('from-beginning', 'beginning')], {
      commands: bus(store, sent),
      ...fast,
    }).start(store);
    try {
      const { lastPosition } = await store.append('starts-1', [{ type: 'Started', data: { id: 'new' } }]);
      await processes.waitFor('from-head', lastPosition);
      await processes.waitFor('from-beginning', lastPosition);
      await until(
        () => processes.status(),
        (s) => s.every((p) => p.openCommands === 0),
      );
      expect(await processes.instance('from-head', 'old')).toBeNull();
      expect(await processes.instance('from-head', 'new')).not.toBeNull();
      expect(await processes.instance('from-beginning', 'old')).not.toBeNull();
      expect(() =>
        defineProcess({ name: 'x', on: { E: () => 'x' }, initialState: () => ({}), react: () => {}, startAt: 'later' as never }),
      ).toThrow(/startAt/);
    } finally {
      await processes.stop();
    }
  });

  it('refuses bad definitions with errors naming the field', () => {
    const ok = { name: 'p', on: { E: () => 'x' }, initialState: () => ({}), react: () => {} };
    expect(() => defineProcess({ ...ok, name: 'Bad Name' })).toThrow(ValidationError);
    expect(() => defineProcess({ ...ok, on: {} })).toThrow(/at least one event type/);
    expect(() => defineProcess({ ...ok, initialState: {} as never })).toThrow(/initialState/);
    expect(() => createProcesses([ok as never], { commands: {} as never })).toThrow(/command bus/);
  });

  it.runIf(driver === 'postgres' && serverUrl)('two processes running the same process managers send every command once', async () => {
    const store = await stores.open();
    const other = await stores.openSeparate(store.schema);
    const sent = new Map<string, number>();
    const process = defineProcess({
      name: 'counting',
      on: { Started: (e) => (e.data as { id: string }).id },
      initialState: () => ({}),
      react: (_s, message, { instanceId }) =>
        message.kind === 'event'
          ? { send: [{ type: 'Count', data: { id: `${instanceId}-a` } }, { type: 'Count', data: { id: `${instanceId}-b` } }] }
          : message.kind === 'completed' && message.command.data && (message.command.data as { id: string }).id.endsWith('-b')
            ? { end: true }
            : undefined,
    });
    const options = { ...fast, claimTimeoutMs: 60_000 };
    const a = await createProcesses([process], { commands: bus(store, sent), ...options }).start(store);
    const b = await createProcesses([process], { commands: bus(other, sent), ...options }).start(other);
    try {
      for (let i = 0; i < 60; i++) await store.append(`starts-${i % 7}`, [{ type: 'Started', data: { id: `i${i}` } }]);
      await until(
        async () => (await a.status())[0]!,
        (s) => s.endedInstances === 60,
        30_000,
      );
      for (let i = 0; i < 60; i++) {
        expect(sent.get(`Count:i${i}-a`)).toBe(1);
        expect(await store.readStream(`counter-i${i}-b`)).toHaveLength(1);
        // Claimed once each: never sent by both processes.
        expect((await a.instance('counting', `i${i}`))!.commands.map((c) => c.attempts)).toEqual([1, 1]);
      }
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
