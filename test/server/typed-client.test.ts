/**
 * A client generated from the served OpenAPI document, as a user would make one: openapi-typescript
 * writes the types, a small program calls the API through openapi-fetch without a single cast, and it
 * must compile under `tsc --strict` (its `@ts-expect-error` lines fail the compile if the responses were
 * typed `never` or `any`) and then run against the reference service, on each driver.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import openapiTS, { astToString, type OpenAPI3 } from 'openapi-typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../../src/server/service.js';
import referenceApp from '../../examples/reference-app.js';
import { drivers } from '../support/drivers.js';
import { storeLocations } from '../support/locations.js';

const root = path.resolve(import.meta.dirname, '../..');
const location = storeLocations('svc');
const services: Service[] = [];
const dir = fs.mkdtempSync(path.join(root, '.typed-client-'));
afterAll(async () => {
  for (const service of services) await service.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const program = `
import createClient from 'openapi-fetch';
import type { components, paths } from './api.js';

type ApiError = components['schemas']['Error'];

export async function run(baseUrl: string, id: string) {
  const client = createClient<paths>({ baseUrl });

  const opened = await client.POST('/commands/OpenAccount', {
    body: { accountId: id, owner: 'Tess', currency: 'EUR' },
    params: { header: { 'idempotency-key': 'open-' + id } },
  });
  if (!opened.data) throw new Error('OpenAccount failed: ' + opened.error.code);
  const depositing = { accountId: id, amount: 70 };
  const deposited = await client.POST('/commands/{type}', { params: { path: { type: 'DepositMoney' } }, body: depositing });
  if (!deposited.data) throw new Error('DepositMoney failed: ' + deposited.error.message);
  const lastPosition: string | null = deposited.data.lastPosition;

  const balance = await client.GET('/queries/account-balances', {
    params: { query: { accountId: id, minPosition: lastPosition ?? undefined } },
  });
  // The query declares its result: a union (one account, or a page), narrowed without a cast.
  const account = balance.data && 'balance' in balance.data ? balance.data : undefined;
  const cents: number | undefined = account?.balance;

  const stream = await client.GET('/streams/{id}', { params: { path: { id: 'account-' + id } } });
  if (!stream.data) throw new Error('no stream: ' + stream.error.code);
  const versions: number[] = stream.data.events.map((e) => e.streamVersion);

  const page = await client.GET('/events', { params: { query: { after: '0', limit: 1000, types: 'MoneyDeposited' } } });
  if (!page.data) throw new Error('no events: ' + page.error.code);
  const next: string = page.data.next;
  const amounts = page.data.events.filter((e) => e.streamId === 'account-' + id).map((e) => e.data);

  const aggregate = await client.GET('/aggregates/{type}/{id}', { params: { path: { type: 'account', id } } });
  const aggregateVersion: number | undefined = aggregate.data?.version;

  const projections = await client.GET('/projections');
  const statuses: string[] = projections.data?.projections.map((p) => p.name + ':' + p.status) ?? [];

  const refused = await client.POST('/commands/WithdrawMoney', { body: { accountId: id, amount: 1_000_000 } });
  let refusal: ApiError | undefined;
  if (refused.error) refusal = refused.error;

  const member = await client.GET('/aggregates/{type}/{id}', { params: { path: { type: 'member', id: 'm1' } } });
  const memberError: string | undefined = member.error?.code;

  const ready = await client.GET('/health/ready');
  const readiness: string | undefined = ready.data?.status ?? ready.error?.status;

  return {
    opened: opened.response.status,
    deposited: deposited.response.status,
    lastPosition,
    cents,
    status: account?.status,
    versions,
    next,
    amounts,
    aggregateVersion,
    statuses,
    refused: { status: refused.response.status, code: refusal?.code, message: refusal?.message },
    member: { status: member.response.status, code: memberError },
    readiness,
  };
}

/** Never run: each line must not compile, else the types are too loose (never, any) to protect a caller. */
export async function mistakes(baseUrl: string) {
  const client = createClient<paths>({ baseUrl });
  // @ts-expect-error amount is a number
  await client.POST('/commands/DepositMoney', { body: { accountId: 'a', amount: 'ten' } });
  const page = await client.GET('/events');
  // @ts-expect-error positions are decimal strings
  const position: number | undefined = page.data?.next;
  const refused = await client.POST('/commands/WithdrawMoney', { body: { accountId: 'a', amount: 1 } });
  // @ts-expect-error an error body is { code, message, field? }: code is a string
  const code: number | undefined = refused.error?.code;
  // @ts-expect-error no such route
  await client.GET('/accounts');
  const orders = await client.GET('/queries/orders-for-display', { params: { query: { customerId: 'c1' } } });
  // @ts-expect-error a page of orders has items, not a balance
  const balance: number | undefined = orders.data && 'items' in orders.data ? orders.data.balance : undefined;
  return { position, code, balance };
}
`;

let compiled: Promise<void> | null = null;

/** Generates the client's types from the served document and compiles the program, once per file. */
function generateAndCompile(url: string): Promise<void> {
  return (compiled ??= (async () => {
    const spec = (await (await fetch(`${url}/openapi.json`)).json()) as OpenAPI3;
    fs.writeFileSync(path.join(dir, 'api.ts'), astToString(await openapiTS(spec)));
    fs.writeFileSync(path.join(dir, 'client.ts'), program);
    const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
    const flags = ['--noEmit', '--strict', '--noUncheckedIndexedAccess', '--target', 'es2022', '--lib', 'es2024'];
    const modules = ['--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', '--skipLibCheck'];
    await promisify(execFile)(process.execPath, [tsc, ...flags, ...modules, 'client.ts', 'api.ts'], { cwd: dir }).catch(
      (error: { stdout?: string }) => {
        throw new Error(`the generated client does not compile:\n${error.stdout}`);
      },
    );
  })());
}

describe.each(drivers)('a client generated from the OpenAPI document (%s)', (driver) => {
  it('compiles under tsc --strict without casts, and talks to the service', async () => {
    const code = program.replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
    expect(code).not.toMatch(/\bas\s+(?!const\b)[A-Za-z{[]|<[A-Za-z]+>\s*\w|\bany\b|!\./); // no casts, no any, no !
    const service = await startService({ app: referenceApp, port: 0, ...location(driver) });
    services.push(service);
    await generateAndCompile(service.url);
    const { run } = (await import(path.join(dir, 'client.ts'))) as {
      run: (baseUrl: string, id: string) => Promise<Record<string, unknown>>;
    };
    const answer = await run(service.url, 'tc1');
    expect(answer).toMatchObject({
      opened: 202,
      deposited: 202,
      lastPosition: '2',
      cents: 70,
      status: 'open',
      versions: [1, 2],
      amounts: [{ accountId: 'tc1', amount: 70 }],
      aggregateVersion: 2,
      refused: { status: 422, code: 'insufficient_funds', message: expect.any(String) },
      member: { status: 404, code: 'unknown_aggregate_type' },
      readiness: 'ready',
    });
    expect(answer.statuses).toEqual(expect.arrayContaining(['account-balances:running', 'orders-for-display:running']));
  });
});
