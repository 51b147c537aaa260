// Load generator for bench/http.ts, run in its own process so it does not share the server's event loop:
// node bench/http-load.mjs <url> <connections> <seconds>. Prints autocannon's JSON result.
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';

const [url, connections, seconds] = process.argv.slice(2);
const result = await autocannon({
  url,
  connections: Number(connections),
  duration: Number(seconds),
  requests: [
    {
      method: 'POST',
      path: '/commands/OpenAccount',
      headers: { 'content-type': 'application/json' },
      // Each request opens its own account: a new stream per command.
      setupRequest: (request) => ({
        ...request,
        body: JSON.stringify({ accountId: randomUUID(), owner: 'Bench', currency: 'EUR' }),
      }),
    },
  ],
});
process.stdout.write(JSON.stringify(result));
