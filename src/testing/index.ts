/**
 * `fabula/testing`: specifications that read like the business rules.
 *
 *   deciderSpec(orderDecider).given([OrderPlaced...]).when(ShipOrder...).then([OrderShipped...])
 *   aggregateSpec(BankAccount).given([...]).when((account) => account.withdraw(50)).thenThrows(DomainError)
 *   await commandSpec(setup).given('account-1', [...]).when('WithdrawMoney', {...}).then([...])
 *
 * Failures throw node's AssertionError, which test runners show as a readable diff. Deciders and
 * aggregates are tested with no store at all; `commandSpec` runs the real command bus on a fresh
 * in-memory PGlite store.
 */
import assert from 'node:assert/strict';
import type { Aggregate, AggregateClass, Decider } from '../core/aggregate.js';
import { decideEvents, evolveAll, initialStateOf } from '../core/aggregate.js';
import type { DomainEvent } from '../core/event-registry.js';
import { CommandBus, type ExecuteOptions } from '../write/command-bus.js';
import type { EventRegistry } from '../core/event-registry.js';
import { EventStore } from '../store/event-store.js';
import { openEventStore } from '../store/open.js';
import { PGlite } from '@electric-sql/pglite';

export { fillStore, type FillOptions } from './fill-store.js';

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

let image: Promise<Blob | File> | null = null;

/**
 * A fresh, migrated, in-memory embedded store. The first call initialises PGlite once (a few seconds);
 * later calls start from a copy of that image (a fraction of a second).
 */
export async function openTestStore(): Promise<EventStore> {
  image ??= (async () => {
    const db = await PGlite.create();
    const dump = await db.dumpDataDir('none');
    await db.close();
    return dump;
  })();
  // Embedded even where DATABASE_URL points at a server: an explicit image beats the environment.
  return openEventStore({ loadDataDir: await image });
}

/**
 * Given/when/then through the real command bus and store. `setup` registers the domain's commands
 * (for example `registerBank`) and returns the registry used to encode the given events.
 */
export function commandSpec(setup: (context: { store: EventStore; bus: CommandBus }) => { registry: EventRegistry }) {
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
