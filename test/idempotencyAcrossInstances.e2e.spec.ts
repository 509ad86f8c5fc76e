/**
 * The same idempotency key sent at once, with different inputs, to two API processes on one
 * PostgreSQL: exactly one request is applied and answered with its own data; the other is
 * BAD_USER_INPUT on `idempotencyKey`, whichever instance it reached. (Before the key was
 * recorded on a stream of its own, both derived the same event ids, and the loser's append
 * passed for an idempotent re-append of the winner's events: "success" with the other's data.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RecordedEvent } from '../src/core/eventStore';
import { SHARED_DATA_KEY, startChildServer, type ChildServer } from './support/childServer';
import { openEventLog } from '../src/composition/eventLog';
import { aSchemaName, dropSchemas, TEST_DATABASE_URL } from './support/postgres';
import { graphqlClient, type GraphQLClient, type GraphQLResponse } from './support/testServer';

const schema = aSchemaName('idem');
const env = { CRM_EVENT_STORE: 'postgres', CRM_READ_STORE: 'postgres', DATABASE_URL: TEST_DATABASE_URL, CRM_PG_SCHEMA: schema, ...SHARED_DATA_KEY };
const dataDirs: string[] = [];
const servers: ChildServer[] = [];
let clients: [GraphQLClient, GraphQLClient];

beforeAll(async () => {
  const started = await Promise.all(
    [0, 1].map(async () => {
      const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-idem-'));
      dataDirs.push(dataDir);
      const server = await startChildServer(dataDir, env);
      servers.push(server);
      return server;
    }),
  );
  clients = [graphqlClient(started[0]!.url), graphqlClient(started[1]!.url)];
}, 120_000);

afterAll(async () => {
  for (const server of servers) server.kill('SIGKILL');
  await Promise.all(servers.map((server) => server.exited));
  await dropSchemas(schema);
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

const PAIRS = 20;
const LEAD_FIELDS = 'id revision status contactAttempts lastContactOutcome person { lastName }';
const CAPTURE = `mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { ${LEAD_FIELDS} } } }`;
const LOG_CONTACT = `mutation($input: LogLeadContactInput!) { logLeadContact(input: $input) { lead { ${LEAD_FIELDS} } } }`;

interface Lead {
  id: string;
  revision: number;
  status: string;
  contactAttempts: number;
  lastContactOutcome: string | null;
  person: { lastName: string };
}

const leadOf = (response: GraphQLResponse): Lead => (Object.values(response.data!)[0] as { lead: Lead }).lead;

/** The streams as the instances read them: personal data opened with the keys they share. */
const streamEvents = async (streamIds: readonly string[]): Promise<Map<string, RecordedEvent[]>> => {
  const store = await openEventLog({
    eventStore: { kind: 'postgres', connectionString: TEST_DATABASE_URL, schema },
    readStore: { kind: 'postgres', connectionString: TEST_DATABASE_URL, schema },
    dataKey: { key: Buffer.from(SHARED_DATA_KEY.CRM_DATA_KEY, 'hex') },
  });
  try {
    const found = new Map<string, RecordedEvent[]>();
    for (const streamId of streamIds) found.set(streamId, await store.readStream(streamId).catch(() => []));
    return found;
  } finally {
    await store.close();
  }
};

/** One of the pair is applied and answered with its own data, the other refused on its key. */
const expectOneWinner = (responses: readonly GraphQLResponse[], ownData: (lead: Lead, index: number) => void) => {
  const winners = responses.flatMap((response, index) => (response.errors === undefined ? [index] : []));
  expect(winners).toHaveLength(1);
  const winner = winners[0]!;
  ownData(leadOf(responses[winner]!), winner);
  const loser = responses[1 - winner]!;
  expect(loser.errors?.[0]?.extensions).toMatchObject({
    code: 'BAD_USER_INPUT',
    fields: [{ field: 'input.idempotencyKey' }],
  });
  return winner;
};

it('captureLead: the same key with different inputs on two instances at once applies one, refuses the other', async () => {
  const outcomes = await Promise.all(
    Array.from({ length: PAIRS }, async (_, n) => {
      const key = `capture-race-${n}`;
      const lastNames = [`Abril-${n}`, `Bosch-${n}`];
      const responses = await Promise.all(
        clients.map((client, index) =>
          client.gql(CAPTURE, {
            input: { source: 'WEB_FORM', person: { lastName: lastNames[index] }, idempotencyKey: key },
          }),
        ),
      );
      const winner = expectOneWinner(responses, (lead, index) => expect(lead.person.lastName).toBe(lastNames[index]));
      return { leadId: leadOf(responses[winner]!).id, lastName: lastNames[winner]! };
    }),
  );
  const streams = await streamEvents(outcomes.map(({ leadId }) => `lead-${leadId}`));
  for (const { leadId, lastName } of outcomes) {
    const events = streams.get(`lead-${leadId}`)!;
    expect(events.map((event) => event.type)).toEqual(['LeadCaptured']);
    expect((events[0]!.data as { person: { lastName: string } }).person.lastName).toBe(lastName);
  }
  // A plain retry of the winner still answers the original result, on either instance.
  const retried = await clients[1].gql(CAPTURE, {
    input: { source: 'WEB_FORM', person: { lastName: outcomes[0]!.lastName }, idempotencyKey: 'capture-race-0' },
  });
  expect(retried.errors).toBeUndefined();
  expect(leadOf(retried)).toMatchObject({ id: outcomes[0]!.leadId, revision: 0 });
}, 120_000);

it('logLeadContact: the same key with different inputs on two instances at once applies one, refuses the other', async () => {
  const leads = await Promise.all(
    Array.from({ length: PAIRS }, async (_, n) => {
      const response = await clients[n % 2]!.gql(CAPTURE, { input: { source: 'WEB_FORM', person: { lastName: `Coll-${n}` } } });
      expect(response.errors).toBeUndefined();
      return leadOf(response).id;
    }),
  );
  const outcomesByPair = ['REACHED', 'NO_ANSWER'];
  const winners = await Promise.all(
    leads.map(async (leadId, n) => {
      const key = `contact-race-${n}`;
      const responses = await Promise.all(
        clients.map((client, index) =>
          client.gql(LOG_CONTACT, {
            input: { leadId, channel: 'CALL', outcome: outcomesByPair[index], idempotencyKey: key },
          }),
        ),
      );
      return expectOneWinner(responses, (lead, index) =>
        expect(lead).toMatchObject({ id: leadId, revision: 1, contactAttempts: 1, lastContactOutcome: outcomesByPair[index] }),
      );
    }),
  );
  const streams = await streamEvents(leads.map((leadId) => `lead-${leadId}`));
  leads.forEach((leadId, n) => {
    const events = streams.get(`lead-${leadId}`)!;
    expect(events.map((event) => event.type)).toEqual(['LeadCaptured', 'LeadContactLogged']);
    expect((events[1]!.data as { outcome: string }).outcome).toBe(outcomesByPair[winners[n]!]);
  });
}, 120_000);
