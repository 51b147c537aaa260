import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineCommand, AggregateRepository, QueryBus, defineQuery } from '../../src/index.js';
import { BankAccount } from '../../examples/bank/index.js';
import { drivers, storeFactory } from '../support/drivers.js';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import { checkResponse, specOf } from './contract.js';
import { call, startServer, type FastifyInstance } from './support.js';

describe.each(drivers)('HTTP API (%s)', (driver) => {
  const stores = storeFactory(driver);
  const servers: FastifyInstance[] = [];
  afterAll(async () => {
    for (const server of servers) await server.close();
  });
  async function server(extra: Parameters<typeof startServer>[1] = {}) {
    const store = await stores.open();
    const started = await startServer(store, extra);
    servers.push(started.server);
    return { ...started, store };
  }

  it('handles commands: 202, then 200 for an Idempotency-Key replay', async () => {
    const { url } = await server();
    const open = await call(
      url,
      'POST',
      '/commands/OpenAccount',
      { accountId: 'a1', owner: 'Ada', currency: 'EUR' },
      { 'x-correlation-id': 'corr-9' },
    );
    expect(open.status).toBe(202);
    expect(open.json).toMatchObject({
      streamId: 'account-a1',
      nextExpectedVersion: 1,
      firstPosition: '1',
      lastPosition: '1',
      correlationId: 'corr-9',
      replayed: false,
    });
    const headers = { 'idempotency-key': 'key-1' };
    const first = await call(url, 'POST', '/commands/DepositMoney', { accountId: 'a1', amount: 500 }, headers);
    const again = await call(url, 'POST', '/commands/DepositMoney', { accountId: 'a1', amount: 500 }, headers);
    expect(first.status).toBe(202);
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect({ ...again.json, replayed: false }).toEqual(first.json);
    const state = await call(url, 'GET', '/aggregates/account/a1');
    expect(state.json).toMatchObject({
      type: 'account',
      id: 'a1',
      version: 2,
      state: { balance: 500, owner: 'Ada', status: 'open' },
    });
  });

  it('answers client mistakes with 4xx JSON that says what was wrong', async () => {
    const { url, store } = await server();
    await call(url, 'POST', '/commands/OpenAccount', { accountId: 'a1', owner: 'Ada', currency: 'EUR' });
    const cases: Array<[string, string, unknown, number, string, Record<string, string>?]> = [
      ['POST', '/commands/DepositMoney', { accountId: 'a1', amount: -1 }, 400, 'validation_failed'],
      ['POST', '/commands/DepositMoney', { accountId: 'a1' }, 400, 'validation_failed'],
      ['POST', '/commands/DepositMoney', '{"accountId": "a1", "amount": ', 400, 'bad_request'],
      ['POST', '/commands/DepositMoney', [1, 2], 400, 'validation_failed'],
      ['POST', '/commands/Teleport', { to: 'mars' }, 404, 'unknown_command'],
      ['POST', '/commands/WithdrawMoney', { accountId: 'a1', amount: 10 }, 422, 'insufficient_funds'],
      ['POST', '/commands/DepositMoney', { accountId: 'nobody', amount: 10 }, 422, 'illegal_state'],
      [
        'POST',
        '/commands/DepositMoney',
        { accountId: 'a1', amount: 1 },
        400,
        'validation_failed',
        { 'idempotency-key': 'x'.repeat(300) },
      ],
      ['GET', '/streams?limit=0', undefined, 400, 'validation_failed'],
      ['GET', '/streams?limit=100000', undefined, 400, 'validation_failed'],
      ['GET', '/events?after=-3', undefined, 400, 'validation_failed'],
      ['GET', '/events?types=not%20a%20type', undefined, 400, 'validation_failed'],
      ['GET', '/streams/account-a1?asOf=yesterday', undefined, 400, 'validation_failed'],
      ['GET', '/streams/nope-1', undefined, 404, 'stream_not_found'],
      ['GET', '/aggregates/spaceship/1', undefined, 404, 'unknown_aggregate_type'],
      ['GET', '/aggregates/account/nobody', undefined, 404, 'aggregate_not_found'],
      ['GET', '/no/such/route', undefined, 404, 'not_found'],
      ['GET', '/projections', undefined, 404, 'not_found'],
    ];
    for (const [method, path, body, status, code, headers] of cases) {
      const response = await call(url, method, path, body, headers);
      expect({ path, status: response.status, code: response.json?.code }).toEqual({ path, status, code });
      expect(typeof response.json.message).toBe('string');
      expect(response.text).not.toContain('    at '); // never a stack trace
    }
    const member = await call(url, 'GET', '/aggregates/member/m1');
    expect(member.json).toEqual({
      code: 'unknown_aggregate_type',
      message: 'no aggregate type "member"; known: account, order',
      known: ['account', 'order'],
    });
    const invalid = await call(url, 'POST', '/commands/DepositMoney', { accountId: 'a1', amount: 'ten' });
    expect(invalid.json).toMatchObject({ field: 'DepositMoney.amount' });
    const tooBig = await call(url, 'POST', '/commands/DepositMoney', {
      accountId: 'a1',
      amount: 1,
      pad: 'x'.repeat(2 * 1024 * 1024),
    });
    expect(tooBig.status).toBe(413);
    const text = await call(url, 'POST', '/commands/DepositMoney', 'hello', { 'content-type': 'text/plain' });
    expect(text).toMatchObject({ status: 400, json: { field: 'DepositMoney' } });
    const xml = await call(url, 'POST', '/commands/DepositMoney', '<a/>', { 'content-type': 'application/xml' });
    expect(xml).toMatchObject({ status: 415, json: { code: 'unsupported_media_type' } });
    expect(xml.json.message).toContain('content-type: application/json');
    expect(await store.headPosition()).toBe(1n);
  });

  it('answers 409 for conflicts, with expected and actual', async () => {
    const { url, store } = await server({ retry: { maxRetries: 0 } });
    await call(url, 'POST', '/commands/OpenAccount', { accountId: 'a1', owner: 'Ada', currency: 'EUR' });
    // Another writer (another process, say) keeps appending to the same stream meanwhile.
    const other = driver === 'postgres' ? await stores.openSeparate(store.schema) : store;
    let writing = true;
    const interference = (async () => {
      while (writing) {
        await other.append('account-a1', [{ type: 'MoneyDeposited', data: { accountId: 'a1', amount: 1 } }]);
        await new Promise((r) => setImmediate(r)); // PGlite never waits on I/O: let the server run
      }
    })();
    const responses = await Promise.all(
      Array.from({ length: 12 }, () => call(url, 'POST', '/commands/DepositMoney', { accountId: 'a1', amount: 1 })),
    );
    writing = false;
    await interference;
    const conflicts = responses.filter((r) => r.status === 409);
    expect(responses.every((r) => r.status === 202 || r.status === 409)).toBe(true);
    if (driver === 'postgres') expect(conflicts.length).toBeGreaterThan(0);
    for (const c of conflicts)
      expect(c.json).toMatchObject({
        code: 'concurrency_conflict',
        streamId: 'account-a1',
        expected: expect.any(Number),
        actual: expect.any(Number),
      });
  });

  it('answers 422 for an Idempotency-Key reused with another command or body; the same body replays', async () => {
    const { url, store } = await server();
    await call(url, 'POST', '/commands/OpenAccount', { accountId: 'a1', owner: 'Ada', currency: 'EUR' });
    const key = { 'idempotency-key': 'k' };
    const first = await call(url, 'POST', '/commands/DepositMoney', { accountId: 'a1', amount: 5 }, key);
    expect(first.status).toBe(202);
    // The same body, serialised differently (key order, spaces), is the same request: the recorded outcome.
    const again = await call(url, 'POST', '/commands/DepositMoney', '{ "amount": 5, "accountId": "a1" }', key);
    expect(again).toMatchObject({ status: 200, json: { ...first.json, replayed: true } });
    const otherBody = await call(url, 'POST', '/commands/DepositMoney', { accountId: 'a1', amount: 500 }, key);
    expect(otherBody).toMatchObject({ status: 422, json: { code: 'idempotency_key_reused' } });
    expect(otherBody.json.message).toContain('different body');
    const otherCommand = await call(url, 'POST', '/commands/WithdrawMoney', { accountId: 'a1', amount: 1 }, key);
    expect(otherCommand).toMatchObject({ status: 422, json: { code: 'idempotency_key_reused' } });
    // Racing attempts with one key and different bodies: one is applied, the others are refused.
    const raced = await Promise.all(
      [1, 2, 3, 4].map((amount) =>
        call(url, 'POST', '/commands/DepositMoney', { accountId: 'a1', amount }, { 'idempotency-key': 'race' }),
      ),
    );
    expect(raced.map((r) => r.status).sort()).toEqual([202, 422, 422, 422]);
    const events = await store.readStream('account-a1');
    expect(events.map((e) => e.type)).toEqual(['AccountOpened', 'MoneyDeposited', 'MoneyDeposited']);
    expect(events[1]!.data).toEqual({ accountId: 'a1', amount: 5 });
    expect([1, 2, 3, 4]).toContain((events[2]!.data as { amount: number }).amount);
    const metrics = await call(url, 'GET', '/metrics');
    expect(metrics.text).toContain('fabula_commands_total{command_type="DepositMoney",outcome="idempotency_key_reused"} 4');
    expect(metrics.text).toContain('fabula_commands_total{command_type="WithdrawMoney",outcome="idempotency_key_reused"} 1');
  });

  it('answers 403 when authorisation refuses and 401 when authentication does', async () => {
    const store = await stores.open();
    const Audit = defineCommand('AuditAccount', { schema: z.object({ accountId: z.string() }) });
    const started = await startServer(store, {
      authenticate: (headers) =>
        headers.authorization === 'Bearer alice'
          ? { userId: 'alice' }
          : headers.authorization === 'Bearer bob'
            ? { userId: 'bob' }
            : null,
      configure: (commands, registry) =>
        commands.registerAggregate(Audit, {
          repository: new AggregateRepository(store, BankAccount, { registry }),
          id: (c) => c.accountId,
          handle: (account) => account.freeze('audit'),
          authorize: (_command, context) => context.userId === 'alice',
        }),
    });
    servers.push(started.server);
    const open = { accountId: 'a1', owner: 'Ada', currency: 'EUR' };
    expect(await call(started.url, 'POST', '/commands/OpenAccount', open)).toMatchObject({
      status: 401,
      json: { code: 'unauthenticated' },
    });
    expect(await call(started.url, 'POST', '/commands/OpenAccount', open, { authorization: 'Bearer mallory' })).toMatchObject({
      status: 401,
    });
    expect((await call(started.url, 'POST', '/commands/OpenAccount', open, { authorization: 'Bearer bob' })).status).toBe(202);
    const refused = await call(
      started.url,
      'POST',
      '/commands/AuditAccount',
      { accountId: 'a1' },
      { authorization: 'Bearer bob' },
    );
    expect(refused).toMatchObject({ status: 403, json: { code: 'forbidden' } });
    expect(await store.headPosition()).toBe(1n);
    expect(
      (await call(started.url, 'POST', '/commands/AuditAccount', { accountId: 'a1' }, { authorization: 'Bearer alice' })).status,
    ).toBe(202);
    const [, frozen] = await store.readStream('account-a1');
    expect(frozen!.metadata).toMatchObject({ userId: 'alice', commandType: 'AuditAccount' });
  });

  it('serves streams, events in global order, temporal reads and aggregate state as of a time', async () => {
    const { url } = await server();
    await call(url, 'POST', '/commands/OpenAccount', { accountId: 'a1', owner: 'Ada', currency: 'EUR' });
    await call(url, 'POST', '/commands/DepositMoney', { accountId: 'a1', amount: 100 });
    await sleep(20);
    const between = new Date().toISOString();
    await sleep(20);
    await call(url, 'POST', '/commands/DepositMoney', { accountId: 'a1', amount: 50 });
    await call(url, 'POST', '/commands/PlaceOrder', {
      orderId: 'o1',
      customerId: 'c1',
      items: [{ sku: 'A', quantity: 1, priceCents: 5 }],
    });

    const streams = await call(url, 'GET', '/streams?type=account');
    expect(streams.json.streams.map((s: { streamId: string }) => s.streamId)).toEqual(['account-a1']);
    const stream = await call(url, 'GET', `/streams/account-a1?asOf=${encodeURIComponent(between)}`);
    expect(stream.json.events.map((e: { type: string }) => e.type)).toEqual(['AccountOpened', 'MoneyDeposited']);
    const page1 = await call(url, 'GET', '/events?limit=2');
    expect(page1.json.events.map((e: { globalPosition: string }) => e.globalPosition)).toEqual(['1', '2']);
    const page2 = await call(url, 'GET', `/events?after=${page1.json.next}&limit=2`);
    expect(page2.json.events.map((e: { globalPosition: string }) => e.globalPosition)).toEqual(['3', '4']);
    const orders = await call(url, 'GET', '/events?types=OrderPlaced');
    expect(orders.json.events).toHaveLength(1);
    const then = await call(url, 'GET', `/aggregates/account/a1?asOf=${encodeURIComponent(between)}`);
    expect(then.json).toMatchObject({ version: 2, state: { balance: 100 } });
    const atVersion = await call(url, 'GET', '/aggregates/account/a1?atVersion=1');
    expect(atVersion.json).toMatchObject({ version: 1, state: { balance: 0 } });
    const order = await call(url, 'GET', '/aggregates/order/o1');
    expect(order.json).toMatchObject({ version: 1, state: { status: 'placed' } });
  });

  it('tails events live over Server-Sent Events, in order, resuming from Last-Event-ID', async () => {
    const { url } = await server();
    await call(url, 'POST', '/commands/OpenAccount', { accountId: 'a1', owner: 'Ada', currency: 'EUR' });
    const controller = new AbortController();
    const response = await fetch(`${url}/events/stream?types=MoneyDeposited`, {
      signal: controller.signal,
      headers: { 'last-event-id': '0' },
    });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const received: Array<{ id: string; type: string; amount: number }> = [];
    const reading = (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of response.body!) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = Object.fromEntries(
            block
              .split('\n')
              .filter((l) => !l.startsWith(':'))
              .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]),
          );
          if (fields.data) {
            // A default `message` (no `event:` field), so EventSource.onmessage sees it; the type is in data.
            expect(fields.event).toBeUndefined();
            const event = JSON.parse(fields.data);
            received.push({ id: fields.id!, type: event.type, amount: event.data.amount });
          }
          if (received.length === 5) return;
        }
      }
    })();
    for (let i = 1; i <= 5; i++) await call(url, 'POST', '/commands/DepositMoney', { accountId: 'a1', amount: i });
    await reading;
    controller.abort();
    expect(received.map((r) => r.amount)).toEqual([1, 2, 3, 4, 5]);
    expect(received.map((r) => Number(r.id))).toEqual([2, 3, 4, 5, 6]);
    expect(received.every((r) => r.type === 'MoneyDeposited')).toBe(true);

    // A standard EventSource (Node's, behind a flag) gets every event in onmessage, with its position as id.
    const script = `
      const source = new EventSource(process.env.STREAM_URL);
      const got = [];
      source.onmessage = (m) => {
        got.push({ id: m.lastEventId, type: JSON.parse(m.data).type });
        if (got.length === 3) { source.close(); console.log(JSON.stringify(got)); }
      };
      source.onerror = () => { console.error('EventSource error'); process.exit(1); };`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--experimental-eventsource', '-e', script], {
      env: { ...process.env, STREAM_URL: `${url}/events/stream?after=2` },
      timeout: 20_000,
    });
    expect(JSON.parse(stdout)).toEqual([
      { id: '3', type: 'MoneyDeposited' },
      { id: '4', type: 'MoneyDeposited' },
      { id: '5', type: 'MoneyDeposited' },
    ]);
  });

  it('limits live streams: one over the limit gets 503, and a closed one frees its place', async () => {
    const { url } = await server({ limits: { maxSseConnections: 1 } });
    const first = new AbortController();
    const open = await fetch(`${url}/events/stream`, { signal: first.signal });
    expect(open.status).toBe(200);
    const refused = await call(url, 'GET', '/events/stream');
    expect(refused).toMatchObject({ status: 503, json: { code: 'too_many_streams' } });
    first.abort();
    const deadline = Date.now() + 5000;
    for (;;) {
      const again = new AbortController();
      const response = await fetch(`${url}/events/stream`, { signal: again.signal });
      again.abort();
      if (response.status === 200) break;
      if (Date.now() > deadline) throw new Error('the closed stream did not free its place');
      await sleep(50);
    }
  });

  it('publishes OpenAPI, Swagger UI, the catalog, metrics and health', async () => {
    const queries = new QueryBus()
      .register(
        defineQuery('ping', { schema: z.object({ n: z.coerce.number().optional() }), result: z.object({ pong: z.number() }) }),
        async (p) => ({ pong: p.n ?? 0 }),
      )
      .register(defineQuery('untyped', { schema: z.object({}) }), async () => ({ anything: [1, 'two'] }))
      // A handler that breaks its own result schema: a server bug, a 500, never a wrong answer.
      .register(defineQuery('broken', { schema: z.object({}), result: z.object({ n: z.number() }) }), async () =>
        JSON.parse('{"n": "not a number"}'),
      );
    const { url } = await server({ queries });
    const openapi = await call(url, 'GET', '/openapi.json');
    expect(openapi.json.openapi).toMatch(/^3\./);
    expect(Object.keys(openapi.json.paths)).toEqual(
      expect.arrayContaining(['/commands/OpenAccount', '/commands/PlaceOrder', '/events', '/events/stream', '/queries/ping']),
    );
    const amount =
      openapi.json.paths['/commands/DepositMoney'].post.requestBody.content['application/json'].schema.properties.amount;
    expect(amount).toMatchObject({ type: 'integer' });
    const docs = await fetch(`${url}/docs/`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('swagger');
    expect((await call(url, 'GET', '/queries/ping?n=4')).json).toEqual({ pong: 4 });
    expect(openapi.json.paths['/queries/ping'].get.responses['200'].content['application/json'].schema).toEqual({
      type: 'object',
      properties: { pong: { type: 'number' } },
      required: ['pong'],
      additionalProperties: false,
    });
    expect((await call(url, 'GET', '/queries/untyped')).json).toEqual({ anything: [1, 'two'] });
    expect(await call(url, 'GET', '/queries/broken')).toMatchObject({ status: 500, json: { code: 'internal_error' } });
    expect((await call(url, 'GET', '/queries/ping?n=x')).status).toBe(400);

    const catalog = await call(url, 'GET', '/catalog');
    expect(Object.keys(catalog.json.$defs)).toEqual(expect.arrayContaining(['AccountOpened', 'OrderPlaced']));
    const md = await call(url, 'GET', '/catalog?format=md');
    expect(md.text).toContain('## AccountOpened (version 2)');

    await call(url, 'POST', '/commands/OpenAccount', { accountId: 'm1', owner: 'Ada', currency: 'EUR' });
    await call(url, 'POST', '/commands/WithdrawMoney', { accountId: 'm1', amount: 5 });
    await call(url, 'POST', '/commands/DepositMoney', { accountId: 'm1', amount: 'x' });
    const metrics = await call(url, 'GET', '/metrics');
    expect(metrics.text).toContain('fabula_commands_total{command_type="OpenAccount",outcome="success"} 1');
    expect(metrics.text).toContain('fabula_commands_total{command_type="WithdrawMoney",outcome="rejected"} 1');
    expect(metrics.text).toContain('fabula_commands_total{command_type="DepositMoney",outcome="invalid"} 1');
    expect(metrics.text).toContain('fabula_events_appended_total{event_type="AccountOpened"} 1');
    expect(metrics.text).toContain('fabula_command_duration_seconds_bucket');
    // Default process metrics carry the prefix once.
    expect(metrics.text).toContain('fabula_process_cpu_user_seconds_total');
    expect(metrics.text).toContain('fabula_nodejs_heap_size_total_bytes');
    expect(metrics.text).not.toContain('fabula_process_process_');

    expect((await call(url, 'GET', '/health/live')).json).toEqual({ status: 'ok' });
    expect((await call(url, 'GET', '/health/ready')).json).toMatchObject({ status: 'ready', driver });
  });

  it('checks every answer against the served OpenAPI document, and the check catches what the spec does not say', async () => {
    const { url } = await server();
    const spec = await specOf(url);
    const json = 'application/json; charset=utf-8';
    const good = { status: 404, contentType: json, text: JSON.stringify({ code: 'stream_not_found', message: 'no' }) };
    expect(() => checkResponse(spec, { method: 'GET', path: '/streams/x-1' }, good)).not.toThrow();
    // A status the operation does not document.
    expect(() => checkResponse(spec, { method: 'GET', path: '/streams/x-1' }, { ...good, status: 409 })).toThrow(
      /status not documented/,
    );
    // A body that does not match: an error without a message, a page whose events lack fields.
    expect(() =>
      checkResponse(spec, { method: 'GET', path: '/streams/x-1' }, { ...good, text: JSON.stringify({ code: 'x' }) }),
    ).toThrow(/does not match/);
    expect(() =>
      checkResponse(
        spec,
        { method: 'GET', path: '/events?after=0' },
        { status: 200, contentType: json, text: JSON.stringify({ events: [{ id: 'e' }], next: '0' }) },
      ),
    ).toThrow(/does not match/);
    // A media type the operation does not document; an operation that does not exist.
    expect(() =>
      checkResponse(spec, { method: 'GET', path: '/events' }, { status: 200, contentType: 'text/html', text: '<p>' }),
    ).toThrow(/content-type text\/html not documented/);
    expect(() =>
      checkResponse(spec, { method: 'DELETE', path: '/events' }, { status: 200, contentType: json, text: '{}' }),
    ).toThrow(/no documented operation/);
    // Redocly's recommended rules: no errors; the only warnings are health and metrics having no 4xx.
    const problems = await lintFromString({
      source: JSON.stringify(spec),
      absoluteRef: 'openapi.json',
      config: await createConfig({ extends: ['recommended'] }),
    });
    expect(problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(problems.map((p) => `${p.ruleId} ${p.location[0]?.pointer}`).sort()).toEqual([
      'operation-4xx-response #/paths/~1health~1live/get/responses',
      'operation-4xx-response #/paths/~1health~1ready/get/responses',
      'operation-4xx-response #/paths/~1metrics/get/responses',
    ]);
    // Every operation documents its errors with the shared Error component, and has an operationId.
    for (const [path, operations] of Object.entries(spec.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const { operationId } = operation as { operationId?: string };
        expect(operationId, `${method} ${path}`).toMatch(/^[A-Za-z][A-Za-z0-9]*$/);
        for (const [status, response] of Object.entries(operation.responses)) {
          if (Number(status) >= 400 && path !== '/health/ready')
            expect(response.content?.['application/json']?.schema, `${method} ${path} ${status}`).toEqual({
              $ref: '#/components/schemas/Error',
            });
        }
      }
    }
  });
});
