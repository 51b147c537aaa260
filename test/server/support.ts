import type { FastifyInstance } from 'fastify';
import { CommandBus, EventCatalog, EventRegistry, QueryBus, type EventStore } from '../../src/index.js';
import { buildServer, type ServerParts } from '../../src/server/http-server.js';
import { registerBank, registerBankEvents } from '../../examples/bank/index.js';
import { registerOrderEvents, registerOrders } from '../../examples/orders/index.js';
import { checkResponse, specOf } from './contract.js';

/** A server with the bank and orders domains on `store`, listening on a free port. */
export async function startServer(
  store: EventStore,
  extra: Partial<ServerParts> & {
    retry?: { maxRetries: number };
    configure?: (commands: CommandBus, registry: EventRegistry) => void;
  } = {},
) {
  const registry = registerOrderEvents(registerBankEvents(new EventRegistry()));
  const commands = new CommandBus({ store, retry: extra.retry });
  const bank = registerBank({ store, bus: commands, registry });
  const orders = registerOrders({ store, bus: commands, registry });
  extra.configure?.(commands, registry);
  const { server } = await buildServer({
    store,
    commands,
    queries: extra.queries ?? new QueryBus(),
    catalog: new EventCatalog(registry),
    aggregates: { account: bank.readState, order: orders.readState },
    ...extra,
  });
  const address = await server.listen({ port: 0, host: '127.0.0.1' });
  return { server, url: address, registry, commands };
}

export interface Answer {
  status: number;
  json: any;
  text: string;
  headers: Headers;
}

/**
 * One request; the answer is checked against the OpenAPI document the server serves (`contract.ts`),
 * so every test through `call` also proves the spec documents what the server sends.
 */
export async function call(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  checkResponse(
    await specOf(url),
    { method, path },
    { status: response.status, contentType: response.headers.get('content-type'), text },
  );
  return { status: response.status, json, text, headers: response.headers };
}

export type { FastifyInstance };

/**
 * Reads a Server-Sent Events stream until `count` events arrived or `ms` passed: the status, and each
 * event's `id` and parsed `data` (comments and keep-alives skipped).
 */
export async function readSse(
  url: string,
  path: string,
  headers: Record<string, string>,
  count: number,
  ms: number,
): Promise<{ status: number; events: Array<{ id: string | undefined; data: any }> }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  const events: Array<{ id: string | undefined; data: any }> = [];
  try {
    const response = await fetch(`${url}${path}`, { headers, signal: controller.signal });
    if (response.status !== 200) return { status: response.status, events };
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body!) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (data !== undefined) events.push({ id: /^id: (.*)$/m.exec(block)?.[1], data: JSON.parse(data) });
      }
      if (events.length >= count) break;
    }
  } catch {
    // aborted after `ms`: what arrived is the answer
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return { status: 200, events };
}

/** Reads `read()` until `done` says yes, or fails after `timeoutMs` with the last value. */
export async function until<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 20_000,
  pollMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out; last value: ${JSON.stringify(value).slice(0, 300)}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
