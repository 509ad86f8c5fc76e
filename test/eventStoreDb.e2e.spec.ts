/**
 * The deployment of docker-compose.yml, CRM_EVENT_STORE=eventstoredb, end to end: conversion
 * crash recovery (a child server killed between the conversion's appends), read-your-writes, and
 * two instances with PostgreSQL read models failing over. Events go to the server named by
 * EVENTSTORE_URL when it is set; otherwise to the protocol model of
 * test/support/eventStoreDbModel.ts (not the server), started here on a loopback port, which the
 * child processes reach over gRPC like any client. (capture → convert → close over HTTP runs in
 * the `eventstoredb` vitest project: test/seedsExample.e2e.spec.ts.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStreamOrEmpty } from '../src/core/commandHandler';
import type { RecordedEvent } from '../src/core/eventStore';
import { conversionIds } from '../src/domain/leads/conversion';
import { openEventStoreDbEventStore } from '../src/eventStores/eventStoreDb';
import { mintToken } from '../src/identity/jwt';
import { SHARED_DATA_KEY, startChildServer, type ChildServer } from './support/childServer';
import { startEventStoreDbModel, type EventStoreDbModel } from './support/eventStoreDbModel';
import { aSchemaName, dropSchemas, TEST_DATABASE_URL } from './support/postgres';
import { graphqlClient, startTestServer, TEST_SECRET, type GraphQLClient } from './support/testServer';

const against = process.env.EVENTSTORE_URL ? 'the EventStoreDB server at EVENTSTORE_URL' : 'the EventStoreDB protocol model (not the server)';

let model: EventStoreDbModel | undefined;
let eventStoreUrl: string;
const dataDirs: string[] = [];
const children: ChildServer[] = [];

beforeAll(async () => {
  if (process.env.EVENTSTORE_URL) eventStoreUrl = process.env.EVENTSTORE_URL;
  else {
    model = await startEventStoreDbModel({ systemEventEvery: 5 });
    eventStoreUrl = model.url;
  }
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(children.map((child) => child.exited));
  await model?.close();
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

const aDataDir = (purpose: string) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), `crm-esdb-${purpose}-`));
  dataDirs.push(dir);
  return dir;
};

const esdbEnv = () => ({ CRM_EVENT_STORE: 'eventstoredb', EVENTSTORE_URL: eventStoreUrl });

const streamTypes = async (streamId: string): Promise<string[]> => {
  const store = openEventStoreDbEventStore({ connectionString: eventStoreUrl });
  try {
    return (await readStreamOrEmpty(store, streamId)).map((event) => event.type);
  } finally {
    await store.close();
  }
};

const eventually = async <T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};

const CONVERT = `mutation($input: ConvertLeadInput!) { convertLead(input: $input) {
  lead { status } account { id name } contact { id } opportunity { id } } }`;

describe.each([
  ['conversion:before-follow-ups', { account: [], contact: [] }],
  ['conversion:after-first-follow-up', { account: ['AccountOpened'], contact: [] }],
])(`on ${against}, a conversion crash at %s`, (failpoint, writtenBeforeCrash) => {
  // The log is shared by the tests of this file: a company of its own, or conversion would
  // rightly answer DUPLICATE_SUSPECTED instead of reaching the failpoint.
  const company = `Crash Test ${failpoint.length} SL`;
  it('is completed at restart, exactly once, and a retry gets the same answer', async () => {
    const dataDir = aDataDir('crash');
    const first = await startTestServer({ dataDir, env: esdbEnv() });
    let leadId: string;
    try {
      const captured = await first.gql(`mutation { captureLead(input: { source: WEB_FORM,
        person: { lastName: "Vidal", email: "jan-${failpoint.length}@crash.example" }, company: { name: "${company}" },
        interest: { product: "Facade", estimatedValue: { amount: "9000", currency: "EUR" } } }) { lead { id } } }`);
      expect(captured.errors).toBeUndefined();
      leadId = captured.data!.captureLead.lead.id as string;
      const qualified = await first.gql(`mutation($id: ID!) { qualifyLead(input: { leadId: $id, rank: SQL }) { lead { id } } }`, { id: leadId });
      expect(qualified.errors).toBeUndefined();
    } finally {
      await first.stop();
    }
    const ids = conversionIds(leadId, 1);

    const doomed = await startChildServer(dataDir, { ...esdbEnv(), CRM_FAILPOINTS: failpoint });
    children.push(doomed);
    const token = await mintToken({ sub: 'alice', roles: ['sales'] }, new TextEncoder().encode(TEST_SECRET));
    const request = fetch(doomed.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: CONVERT, variables: { input: { leadId } } }),
    });
    await expect(request).rejects.toThrow();
    expect((await doomed.exited).signal).toBe('SIGKILL');

    expect(await streamTypes(`lead-${leadId}`)).toContain('LeadConverted');
    expect(await streamTypes(`account-${ids.accountId}`)).toEqual(writtenBeforeCrash.account);
    expect(await streamTypes(`contact-${ids.contactId}`)).toEqual(writtenBeforeCrash.contact);

    const api = await startTestServer({ dataDir, env: esdbEnv() });
    try {
      await eventually(
        async () => ((await streamTypes(`opportunity-${ids.opportunityId}`)).length > 0 ? true : undefined),
        'the completer',
        10_000,
      );
      const retried = await api.gql(CONVERT, { input: { leadId } });
      expect(retried.errors).toBeUndefined();
      expect(retried.data!.convertLead).toEqual({
        lead: { status: 'CONVERTED' },
        account: { id: ids.accountId, name: company },
        contact: { id: ids.contactId },
        opportunity: { id: ids.opportunityId },
      });
      expect(await streamTypes(`account-${ids.accountId}`)).toEqual(['AccountOpened']);
      expect(await streamTypes(`contact-${ids.contactId}`)).toEqual(['ContactCreated']);
      expect(await streamTypes(`opportunity-${ids.opportunityId}`)).toEqual(['OpportunityOpened']);
    } finally {
      await api.stop();
    }
  });
});

const LEAD_FIELDS = 'id revision status contactAttempts';
const CAPTURE = `mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { ${LEAD_FIELDS} } } }`;
const LOG_CONTACT = `mutation($input: LogLeadContactInput!) { logLeadContact(input: $input) { lead { ${LEAD_FIELDS} } } }`;
const LEAD = `query($id: ID!) { lead(id: $id) { ${LEAD_FIELDS} } }`;

interface Lead {
  id: string;
  revision: number;
  status: string;
  contactAttempts: number;
}

const mutate = async (client: GraphQLClient, query: string, input: Record<string, unknown>): Promise<Lead> => {
  const response = await client.gql(query, { input });
  expect(response.errors).toBeUndefined();
  return (Object.values(response.data!)[0] as { lead: Lead }).lead;
};

const readLead = async (client: GraphQLClient, id: string): Promise<Lead | null> => {
  const response = await client.gql<{ lead: Lead | null }>(LEAD, { id });
  expect(response.errors).toBeUndefined();
  return response.data!.lead;
};

describe(`on ${against}, with PostgreSQL read models`, () => {
  const schema = aSchemaName('esdb_multi');
  afterAll(() => dropSchemas(schema));

  it('reads its writes at once, on both instances, across a failover, without losing or doubling an event', async () => {
    const env = { ...esdbEnv(), CRM_READ_STORE: 'postgres', DATABASE_URL: TEST_DATABASE_URL, CRM_PG_SCHEMA: schema, ...SHARED_DATA_KEY };
    const [first, second] = await Promise.all([
      startChildServer(aDataDir('multi'), env),
      startChildServer(aDataDir('multi'), env),
    ]);
    children.push(first, second);
    const [a, b] = [graphqlClient(first.url), graphqlClient(second.url)];
    const acknowledged = new Map<string, number>();

    const captureAndContact = async (writer: GraphQLClient, other: GraphQLClient, label: string) => {
      const captured = await mutate(writer, CAPTURE, {
        source: 'WEB_FORM',
        person: { lastName: label, email: `${label}@esdb.example` },
        company: { name: `${label} SL` },
      });
      // Read your writes: the answer waited for the read models, which both instances share.
      expect(await readLead(writer, captured.id)).toEqual(captured);
      expect(await readLead(other, captured.id)).toEqual(captured);
      const contacted = await mutate(other, LOG_CONTACT, {
        leadId: captured.id,
        channel: 'CALL',
        outcome: 'REACHED',
        expectedRevision: captured.revision,
      });
      expect(contacted).toMatchObject({ revision: 1, status: 'CONTACTED', contactAttempts: 1 });
      expect(await readLead(writer, captured.id)).toEqual(contacted);
      acknowledged.set(captured.id, contacted.revision);
    };

    await Promise.all([1, 2, 3].flatMap((n) => [captureAndContact(a, b, `esdbA${n}`), captureAndContact(b, a, `esdbB${n}`)]));

    // Kill one: the other keeps serving and takes over the projections if they were the dead one's.
    first.kill('SIGKILL');
    await first.exited;
    await Promise.all([1, 2, 3].map((n) => captureAndContact(b, b, `esdbAfter${n}`)));

    const store = openEventStoreDbEventStore({ connectionString: eventStoreUrl });
    try {
      const events: RecordedEvent[] = [];
      for (;;) {
        const page = await store.readAll({ fromPosition: events.at(-1)?.position, maxCount: 500 });
        events.push(...page);
        if (page.length < 500) break;
      }
      for (const [leadId, revision] of acknowledged) {
        const ofLead = events.filter((event) => event.streamId === `lead-${leadId}`);
        expect(ofLead.map((event) => event.revision)).toEqual([...Array(revision + 1).keys()]);
      }
      expect(new Set(events.map((event) => event.id)).size).toBe(events.length);
    } finally {
      await store.close();
    }
  });
});
