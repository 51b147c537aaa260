/** What `fabula serve` logs about its projections, from a real daemon into a real pino logger. */
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { logProjections } from '../../src/cli/projection-logs.js';
import { drivers } from '../support/drivers.js';
import { counters, deposit, projectionsFactory, waitUntil } from '../projections/support.js';

function memoryLogger() {
  const lines: Array<{ level: number; msg: string } & Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines, messages: () => lines.map((l) => l.msg) };
}

describe.each(drivers)('projection logs of fabula serve (%s)', (driver) => {
  const factory = projectionsFactory(driver);

  it('logs a build starting, its progress, the take-over, a failure with what to do, and a parked event', async () => {
    const store = await factory.open();
    await deposit(store, 300, { streams: 5, perAppend: 10 });
    const { logger, lines, messages } = memoryLogger();

    const v1 = factory.projections([counters({ version: 1 })], { batchSize: 50 });
    logProjections(v1, logger, 0);
    await v1.start(store);
    await v1.waitFor('counters', await store.headPosition());
    const v2 = factory.projections([counters({ version: 2 })], { batchSize: 50 });
    logProjections(v2, logger, 0);
    const activated = new Promise((resolve) => v2.once('activated', resolve));
    await v2.start(store);
    await activated;
    expect(messages()).toContain('projection counters v2: building from the start of the log');
    expect(messages().some((m) => /^projection counters v2: \d+\/\d+ events/.test(m))).toBe(true);
    expect(messages()).toContain('projection counters v2 caught up and now serves reads (older versions retired)');
    await v1.stop();

    const poison = await store.append('acct-1', [{ type: 'Poison', data: { amount: 1 } }]);
    const failing = factory.projections([counters({ name: 'stopper', attempts: 1, failWhen: (e) => e.type === 'Poison' })]);
    const parking = factory.projections([
      counters({ name: 'parker', onFailure: 'park', attempts: 1, failWhen: (e) => e.type === 'Poison' }),
    ]);
    logProjections(failing, logger, 0);
    logProjections(parking, logger, 0);
    await failing.start(store);
    await parking.start(store);
    await waitUntil(
      () => lines.some((l) => l.level === 50) && lines.some((l) => l.level === 40),
      20_000,
      'the failure and the parking',
    );
    const failed = lines.find((l) => l.level === 50)!;
    expect(failed.msg).toMatch(
      new RegExp(
        `^projection stopper v1 stopped \\(status failed\\) at position ${poison.lastPosition}: Poison .*cannot apply Poison.*; fix it and run "fabula projections resume stopper", or "fabula projections skip stopper ${poison.lastPosition}"$`,
      ),
    );
    expect(failed).toMatchObject({ projection: 'stopper', position: String(poison.lastPosition) });
    const parked = lines.find((l) => l.level === 40)!;
    expect(parked.msg).toMatch(
      new RegExp(`^projection parker v1 parked the event at position ${poison.lastPosition} \\(stream "acct-1"\\)`),
    );
  });

  it('throttles progress lines per build, and is quiet about an active projection keeping up', async () => {
    const store = await factory.open();
    await deposit(store, 400, { streams: 4, perAppend: 20 });
    const { logger, messages } = memoryLogger();
    const v1 = factory.projections([counters()], { batchSize: 20 });
    logProjections(v1, logger, 0);
    await v1.start(store);
    await v1.waitFor('counters', await store.headPosition());
    await deposit(store, 100, { streams: 4, perAppend: 5 });
    await v1.waitFor('counters', await store.headPosition());
    expect(messages()).toEqual([]); // 25 batches, never far behind
    await v1.stop();

    const v2 = factory.projections([counters({ version: 2 })], { batchSize: 20 });
    logProjections(v2, logger, 60_000);
    const activated = new Promise((resolve) => v2.once('activated', resolve));
    await v2.start(store);
    await activated;
    // 25 batches: the start, none of the throttled ones within a minute, the take-over.
    expect(messages()).toEqual([
      'projection counters v2: building from the start of the log',
      'projection counters v2 caught up and now serves reads (older versions retired)',
    ]);
  });
});
