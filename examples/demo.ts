/**
 * `npm start`: a short tour of the event store on the embedded database in ./.fabula/data.
 * Appends to a bank account stream, reads it back (also as it was a moment ago), and tails the global
 * order live while more events arrive. Run it twice: the data is kept, and the tail resumes.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConcurrencyError, openEventStore, StoreLockedError } from '../src/index.js';

const dataDir = process.env.FABULA_DATA_DIR ?? '.fabula/data';
const usingServer = Boolean(process.env.DATABASE_URL);

console.log(
  usingServer
    ? `Opening the event store on ${redact(process.env.DATABASE_URL!)} ...`
    : `Opening the embedded event store in ${dataDir} ...`,
);
let store;
try {
  store = await openEventStore(usingServer ? { connectionString: process.env.DATABASE_URL } : { dataDir });
} catch (error) {
  if (error instanceof StoreLockedError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}

const accountId = randomUUID().slice(0, 8);
const streamId = `account-${accountId}`;
const before = await store.headPosition();
console.log(`The store holds ${before} events. Opening account ${accountId}.`);

const opened = await store.append(
  streamId,
  [
    {
      type: 'AccountOpened',
      data: { accountId, owner: 'Ada Lovelace', currency: 'EUR', overdraftLimit: 0 },
      metadata: { userId: 'demo' },
    },
  ],
  { expectedVersion: 'no_stream' },
);
const deposit = await store.append(streamId, [{ type: 'MoneyDeposited', data: { accountId, amount: 10_000 } }], {
  expectedVersion: opened.nextExpectedVersion,
});
const momentAfterDeposit = new Date();
await sleep(5);
await store.append(streamId, [{ type: 'MoneyWithdrawn', data: { accountId, amount: 2_500 } }], {
  expectedVersion: deposit.nextExpectedVersion,
});

// Optimistic concurrency: a writer that read version 1 and tries to append loses.
try {
  await store.append(streamId, [{ type: 'MoneyWithdrawn', data: { accountId, amount: 1 } }], { expectedVersion: 1 });
} catch (error) {
  if (error instanceof ConcurrencyError) console.log(`A stale writer was refused: ${error.message}`);
}

console.log(`\nStream ${streamId}:`);
for (const event of await store.readStream(streamId)) {
  console.log(`  v${event.streamVersion}  #${event.globalPosition}  ${event.type.padEnd(15)} ${JSON.stringify(event.data)}`);
}
const then = await store.readStream(streamId, { asOf: momentAfterDeposit });
console.log(`As of ${momentAfterDeposit.toISOString()} it had ${then.length} events: ${then.map((e) => e.type).join(', ')}.`);

console.log(`\nTailing the global order after position ${before}, while two more deposits arrive:`);
const controller = new AbortController();
const tail = (async () => {
  for await (const event of store.subscribe({ after: before, signal: controller.signal })) {
    console.log(`  #${event.globalPosition}  ${event.streamId}  ${event.type}`);
  }
})();
await sleep(100);
await store.append(streamId, [{ type: 'MoneyDeposited', data: { accountId, amount: 700 } }]);
await store.append(streamId, [{ type: 'MoneyDeposited', data: { accountId, amount: 800 } }]);
await sleep(300);
controller.abort();
await tail;

console.log(`\nThe store now holds ${await store.headPosition()} events. Run \`npm start\` again: they are kept.`);
await store.close();

function redact(url: string) {
  return url.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@');
}
