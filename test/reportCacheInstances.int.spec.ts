/**
 * Two API processes on one PostgreSQL schema: the one that leads (runs the projections) answers a
 * report again from memory, the one that follows computes it every time, and neither ever answers
 * with less than the mutations answered before the ask, whichever instance took them. When the
 * lead changes hands, the new leader answers nothing it computed before its term. Processes of
 * their own, as deployed: one process does not see the other's commits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SHARED_DATA_KEY, startChildServer, type ChildServer } from './support/childServer';
import { TEST_DATABASE_URL, aSchemaName, dropSchemas } from './support/postgres';
import { graphqlClient } from './support/testServer';

const schema = aSchemaName('report_cache_instances');
const env = { CRM_EVENT_STORE: 'postgres', CRM_READ_STORE: 'postgres', DATABASE_URL: TEST_DATABASE_URL, CRM_PG_SCHEMA: schema, ...SHARED_DATA_KEY };
const dataDirs: string[] = [];
let first: ChildServer;
let second: ChildServer;

const start = (): Promise<ChildServer> => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-report-cache-'));
  dataDirs.push(dataDir);
  return startChildServer(dataDir, env);
};

beforeAll(async () => {
  first = await start();
  second = await start();
});
afterAll(async () => {
  for (const server of [first, second]) server?.kill('SIGKILL');
  await Promise.all([first, second].map((server) => server?.exited));
  await dropSchemas(schema);
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

const HOUR = 3_600_000;
const period = { from: new Date(Date.now() - 24 * HOUR).toISOString(), to: new Date(Date.now() + HOUR).toISOString() };
const FUNNEL = `query($from: DateTime!, $to: DateTime!) { kpis(from: $from, to: $to) { leadFunnel { captured } } }`;
const captured = async (server: ChildServer): Promise<number> => {
  const response = await graphqlClient(server.url).gql(FUNNEL, period);
  expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
  return response.data!.kpis.leadFunnel[0]?.captured ?? 0;
};
let leads = 0;
const capture = async (server: ChildServer) => {
  leads += 1;
  const response = await graphqlClient(server.url).gql(`mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`, {
    input: { source: 'WEB_FORM', person: { lastName: `Instance ${leads}`, email: `instance-${leads}@example.com` } },
  });
  expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
};
const base = (server: ChildServer) => server.url.replace(/\/graphql$/, '');
const role = async (server: ChildServer): Promise<string | undefined> =>
  ((await (await fetch(`${base(server)}/readyz`)).json()) as { projections?: string }).projections;
/** Reports answered from memory and computed so far, as /metrics counts them. */
const answers = async (server: ChildServer): Promise<{ hit: number; miss: number }> => {
  const text = await (await fetch(`${base(server)}/metrics`)).text();
  const count = (result: string) => Number(new RegExp(`^crm_report_answers_total\\{result="${result}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { hit: count('hit'), miss: count('miss') };
};

it('answers from memory on the leader only, and every answer includes the writes acknowledged before it', async () => {
  expect(await role(first)).toBe('leader');
  expect(await role(second)).toBe('follower');

  await capture(second);
  const leaderBefore = await answers(first);
  expect(await captured(first)).toBe(1);
  expect(await captured(first)).toBe(1);
  expect(await answers(first)).toEqual({ hit: leaderBefore.hit + 1, miss: leaderBefore.miss + 1 });

  const followerBefore = await answers(second);
  expect(await captured(second)).toBe(1);
  expect(await captured(second)).toBe(1);
  expect(await answers(second)).toEqual({ hit: followerBefore.hit, miss: followerBefore.miss + 2 });

  // A write taken by the follower, projected by the leader: both answer with it at once, and the
  // other way round.
  await capture(second);
  expect(await captured(first)).toBe(2);
  expect(await captured(second)).toBe(2);
  await capture(first);
  expect(await captured(second)).toBe(3);
  expect(await captured(first)).toBe(3);
});

it('answers nothing it computed before its term once the lead comes to it', async () => {
  // Computed while it follows; then the leader takes a write and hands the lead over.
  expect(await captured(second)).toBe(3);
  await capture(first);
  first.kill('SIGTERM');
  await first.exited;
  await expect.poll(() => role(second), { timeout: 15_000, interval: 100 }).toBe('leader');

  const before = await answers(second);
  expect(await captured(second)).toBe(4);
  expect(await captured(second)).toBe(4);
  expect(await answers(second)).toEqual({ hit: before.hit + 1, miss: before.miss + 1 });
  await capture(second);
  expect(await captured(second)).toBe(5);
});
