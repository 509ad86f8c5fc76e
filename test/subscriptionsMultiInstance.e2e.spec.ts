/**
 * Two API processes on one PostgreSQL: a client subscribed to the instance that does not run the
 * projections is told of a change written through the other, once that instance's read models
 * (shared) show it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClient } from 'graphql-ws';
import { afterAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SHARED_DATA_KEY, startChildServer, type ChildServer } from './support/childServer';
import { aSchemaName, dropSchemas, TEST_DATABASE_URL } from './support/postgres';
import { graphqlClient } from './support/testServer';

const schema = aSchemaName('live');
const env = { CRM_EVENT_STORE: 'postgres', CRM_READ_STORE: 'postgres', DATABASE_URL: TEST_DATABASE_URL, CRM_PG_SCHEMA: schema, ...SHARED_DATA_KEY };
const dataDirs: string[] = [];
const servers: ChildServer[] = [];

afterAll(async () => {
  for (const server of servers) server.kill('SIGKILL');
  await Promise.all(servers.map((server) => server.exited));
  await dropSchemas(schema);
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

const startInstance = async (): Promise<ChildServer> => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-live-'));
  dataDirs.push(dataDir);
  const server = await startChildServer(dataDir, env);
  servers.push(server);
  return server;
};

const projectionRole = async (server: ChildServer): Promise<string> =>
  ((await (await fetch(server.url.replace(/\/graphql$/, '/readyz'))).json()) as { projections: string }).projections;

it('the instance that does not project notifies its own clients of writes made through the other', async () => {
  const [first, second] = await Promise.all([startInstance(), startInstance()]);
  const [leader, follower] = (await projectionRole(first)) === 'leader' ? [first, second] : [second, first];
  expect(await projectionRole(follower)).toBe('follower');
  const toLeader = graphqlClient(leader.url);
  const toFollower = graphqlClient(follower.url);

  const client = createClient({
    url: follower.url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${await toFollower.token('ana', ['sales'])}` },
    retryAttempts: 0,
  });
  try {
    const received: { eventType: string; lead: { id: string; status: string } }[] = [];
    const stop = client.subscribe<{ leadChanged: (typeof received)[number] }>(
      { query: 'subscription { leadChanged { eventType lead { id status } } }' },
      { next: ({ data }) => data && received.push(data.leadChanged), error: () => undefined, complete: () => undefined },
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    const captured = await toLeader.gql(`mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`, {
      input: { source: 'WEB_FORM', person: { lastName: 'Across' } },
    });
    const id = captured.data!.captureLead.lead.id as string;
    const deadline = Date.now() + 15_000;
    while (received.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    // The capture first; the lead scorer's score of it may follow in the same delivery.
    expect(received[0]).toEqual({ eventType: 'LeadCaptured', lead: { id, status: 'NEW' } });
    expect(received.slice(1).map((change) => [change.eventType, change.lead.id])).toEqual(received.slice(1).map(() => ['LeadRescored', id]));
    // On receipt, the follower's own queries show it.
    expect((await toFollower.gql(`query($id: ID!) { lead(id: $id) { id } }`, { id })).data!.lead).toEqual({ id });
    stop();
  } finally {
    await client.dispose();
  }
});
