/**
 * `fabula/testing`: specifications that read like the business rules.
 *
 *   deciderSpec(orderDecider).given([OrderPlaced...]).when(ShipOrder...).then([OrderShipped...])
 *   aggregateSpec(BankAccount).given([...]).when((account) => account.withdraw(50)).thenThrows(DomainError)
 *   await commandSpec(setup).given('account-1', [...]).when('WithdrawMoney', {...}).then([...])
 *
 * Failures throw node's AssertionError, which test runners show as a readable diff. Deciders and
 * aggregates are tested with no store at all; `commandSpec` runs the real command bus on a fresh
 * in-memory PGlite store (see `openTestStore` for what the first one costs).
 */
import assert from 'node:assert/strict';
import type { Aggregate, AggregateClass, Decider } from '../core/aggregate.js';
import { decideEvents, evolveAll, initialStateOf } from '../core/aggregate.js';
import type { DomainEvent } from '../core/event-registry.js';
import { CommandBus, type ExecuteOptions } from '../write/command-bus.js';
import type { EventRegistry } from '../core/event-registry.js';
import { EventStore } from '../store/event-store.js';
import { openEventStore } from '../store/open.js';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { createPgliteClient, pgliteClient } from '../store/drivers/pglite.js';
import type { SqlClient } from '../store/sql-client.js';

export { fillStore, type FillOptions } from './fill-store.js';
import { setupOutsideService, type AppDefinition } from '../app-definition.js';

type ErrorExpectation = (new (...args: any[]) => Error) | ((error: unknown) => boolean);

/** Only what a specification states: type and data. */
const essence = (events: readonly DomainEvent[]) => events.map((e) => ({ type: e.type, data: e.data }));

function expectError(run: () => unknown, expectation: ErrorExpectation, what: string) {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  checkError(thrown, expectation, what);
}

function checkError(thrown: unknown, expectation: ErrorExpectation, what: string) {
  if (thrown === undefined) assert.fail(`expected ${what} to throw, but it succeeded`);
  const isClass = typeof expectation === 'function' && expectation.prototype instanceof Error;
  const ok = isClass ? thrown instanceof (expectation as new () => Error) : (expectation as (e: unknown) => boolean)(thrown);
  if (!ok)
    assert.fail(
      `${what} threw ${String(thrown)}, which is not the expected ${isClass ? (expectation as { name: string }).name : 'error'}`,
    );
}

export function deciderSpec<Command, Event extends DomainEvent, State>(decider: Decider<Command, Event, State>) {
  return {
    given(history: readonly Event[]) {
      const state = evolveAll(decider, initialStateOf(decider), history);
      return {
        when(command: Command) {
          const run = () => decideEvents(decider, command, state);
          return {
            then(expected: readonly Event[]) {
              assert.deepStrictEqual(essence(run()), essence(expected), 'the decider decided other events');
            },
            thenThrows(expectation: ErrorExpectation) {
              expectError(run, expectation, 'the decider');
            },
          };
        },
      };
    },
  };
}

export function aggregateSpec<A extends Aggregate<any>>(aggregateClass: AggregateClass<A>, id = 'spec') {
  return {
    given(history: readonly DomainEvent[]) {
      return {
        when(act: (aggregate: A) => void) {
          const run = () => {
            const aggregate = new aggregateClass(id);
            aggregate.replayHistory(history);
            act(aggregate);
            return aggregate.pendingEvents as readonly DomainEvent[];
          };
          return {
            then(expected: readonly DomainEvent[]) {
              assert.deepStrictEqual(essence(run()), essence(expected), `${aggregateClass.name} triggered other events`);
            },
            thenThrows(expectation: ErrorExpectation) {
              expectError(run, expectation, aggregateClass.name);
            },
          };
        },
      };
    },
  };
}

let shared: Promise<SqlClient> | null = null;

/**
 * A fresh, migrated, in-memory embedded store, in a schema of its own on one PGlite shared by the whole
 * process (closing the store drops its schema). Starting PGlite is the slow part (seconds: it runs
 * initdb); it happens once per process, and after the first run from an image cached in the
 * temporary folder (about a second). Later stores take a fraction of a second.
 */
export async function openTestStore(): Promise<EventStore> {
  const sql = await prepareTestStore();
  const schema = `spec_${randomBytes(6).toString('hex')}`;
  const store = await openEventStore({ sql, schema });
  const close = store.close.bind(store);
  // The PGlite stays for the next store; what this one wrote goes.
  store.close = async () => {
    await close();
    await sql.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
  };
  return store;
}

/**
 * Starts the PGlite that test stores (and `commandSpec`) share, so that the cost falls in a hook with a
 * timeout of its own rather than in the first test: `beforeAll(prepareTestStore, 30_000)`.
 */
export function prepareTestStore(): Promise<SqlClient> {
  return (shared ??= startSharedPglite());
}

async function startSharedPglite(): Promise<SqlClient> {
  const cached = imageCacheFile();
  if (cached) {
    try {
      return await createPgliteClient({ loadDataDir: new Blob([await fs.readFile(cached)]) });
    } catch {
      // no image yet (or a damaged one): make one below
    }
  }
  const db = await PGlite.create();
  if (cached) {
    try {
      const image = await db.dumpDataDir('gzip');
      await fs.mkdir(path.dirname(cached), { recursive: true });
      await fs.writeFile(`${cached}.${process.pid}`, Buffer.from(await image.arrayBuffer()));
      await fs.rename(`${cached}.${process.pid}`, cached); // atomic: parallel workers never read half a file
    } catch {
      // a read-only folder: no cache, only slower
    }
  }
  return pgliteClient(db, () => db.close());
}

/** Where the image of a fresh PGlite is kept (the temporary folder), per PGlite build. */
function imageCacheFile(): string | null {
  try {
    const { size, mtimeMs } = statSync(fileURLToPath(import.meta.resolve('@electric-sql/pglite/pglite.wasm')));
    return path.join(os.tmpdir(), 'fabula-test-store', `pglite-${size}-${Math.floor(mtimeMs)}.tar.gz`);
  } catch {
    return null;
  }
}

type SpecSetup = (context: { store: EventStore; bus: CommandBus }) => { registry: EventRegistry };

/**
 * Given/when/then through the real command bus and store. Pass your application (`defineApp(...)`: its
 * `setup` registers the commands, its registry encodes the given events), or a function that registers
 * the commands on `bus` (for example `registerBank`) and returns the registry.
 */
export function commandSpec(app: AppDefinition | SpecSetup) {
  const setup: SpecSetup =
    typeof app === 'function'
      ? app
      : ({ store, bus }) => {
          setupOutsideService(app, store, bus);
          return app;
        };
  return {
    given(streamId: string, history: readonly DomainEvent[]) {
      return {
        when(commandType: string, payload: unknown, options: ExecuteOptions = {}) {
          const run = async () => {
            const store = await openTestStore();
            try {
              const bus = new CommandBus({ store });
              const { registry } = setup({ store, bus });
              if (history.length > 0)
                await store.append(
                  streamId,
                  history.map((e, i) => registry.encode(e, `given[${i}]`)),
                );
              const before = await store.headPosition();
              let error: unknown;
              try {
                await bus.execute(commandType, payload, options);
              } catch (e) {
                error = e;
              }
              const written = (await store.readAll({ after: before })).map((e) => registry.decode(e));
              return { error, written };
            } finally {
              await store.close();
            }
          };
          return {
            async then(expected: readonly DomainEvent[]) {
              const { error, written } = await run();
              if (error) throw error;
              assert.deepStrictEqual(essence(written), essence(expected), `${commandType} wrote other events`);
            },
            async thenThrows(expectation: ErrorExpectation) {
              const { error, written } = await run();
              checkError(error, expectation, commandType);
              assert.deepStrictEqual(essence(written), [], `${commandType} failed but wrote events`);
            },
          };
        },
      };
    },
  };
}
export { processSpec, type ReactionExpectation, type SpecMessage } from './process-spec.js';
