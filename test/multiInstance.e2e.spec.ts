/**
 * Two API processes on one PostgreSQL (events and read models): both serve reads and writes,
 * exactly one runs the projections, and when that one is killed the other takes over within
 * seconds, with read models that end up holding every acknowledged write exactly once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { openPostgresEventStore } from '../src/eventStores/postgres';
import type { RecordedEvent } from '../src/core/eventStore';
import { SHARED_DATA_KEY, startChildServer, type ChildServer } from './support/childServer';
import { aSchemaName, connectForTest, dropSchemas, TEST_DATABASE_URL } from './support/postgres';
import { graphqlClient, type GraphQLClient } from './support/testServer';

const schema = aSchemaName('multi');
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
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-multi-'));
  dataDirs.push(dataDir);
  const server = await startChildServer(dataDir, env);
  servers.push(server);
  return server;
};

const readiness = async (server: ChildServer): Promise<{ ready: boolean; projections?: string }> => {
  const response = await fetch(server.url.replace(/\/graphql$/, '/readyz')).catch(() => undefined);
  if (response === undefined) return { ready: false };
  const { projections } = (await response.json()) as { projections: string };
  return { ready: response.status === 200, projections };
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

/** Every acknowledged lead, with the revision of its last acknowledged write. */
const acknowledged = new Map<string, number>();

const mutate = async (client: GraphQLClient, query: string, input: Record<string, unknown>): Promise<Lead> => {
  const response = await client.gql(query, { input });
  expect(response.errors).toBeUndefined();
  const lead = (Object.values(response.data!)[0] as { lead: Lead }).lead;
  acknowledged.set(lead.id, lead.revision);
  return lead;
};

const readLead = async (client: GraphQLClient, id: string): Promise<Lead | null> => {
  const response = await client.gql<{ lead: Lead | null }>(LEAD, { id });
  expect(response.errors).toBeUndefined();
  return response.data!.lead;
};

/**
 * Captures through `writer` and logs a contact through `other`: each instance reads its own
 * write at once, and the other instance sees it soon after.
 */
const captureAndContact = async (writer: GraphQLClient, other: GraphQLClient, label: string) => {
  const captured = await mutate(writer, CAPTURE, {
    source: 'WEB_FORM',
    person: { lastName: label, email: `${label}@multi.example` },
    company: { name: `${label} SL` },
  });
  expect(await readLead(writer, captured.id)).toEqual(captured);
  await eventually(() => readLead(other, captured.id).then((lead) => lead ?? undefined), `${label} on the other`);

  const contacted = await mutate(other, LOG_CONTACT, {
    leadId: captured.id,
    channel: 'CALL',
    outcome: 'REACHED',
    expectedRevision: 0,
  });
  expect(contacted).toMatchObject({ revision: 1, status: 'CONTACTED', contactAttempts: 1 });
  expect(await readLead(other, captured.id)).toEqual(contacted);
  await eventually(
    () => readLead(writer, captured.id).then((lead) => (lead?.revision === 1 ? lead : undefined)),
    `${label}'s contact on the writer`,
  );
};

const allEvents = async (): Promise<RecordedEvent[]> => {
  const store = await openPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema });
  try {
    const events: RecordedEvent[] = [];
    for (;;) {
      const page = await store.readAll({ fromPosition: events.at(-1)?.position, maxCount: 500 });
      events.push(...page);
      if (page.length < 500) return events;
    }
  } finally {
    await store.close();
  }
};

it('serves from both, projects on one, and fails over to the other without losing or doubling anything', async () => {
  const [first, second] = await Promise.all([startInstance(), startInstance()]);
  const roles = await Promise.all([readiness(first), readiness(second)]);
  expect(roles.map((role) => role.ready)).toEqual([true, true]);
  expect(roles.map((role) => role.projections).sort()).toEqual(['follower', 'leader']);
  const [leader, follower] = roles[0]!.projections === 'leader' ? [first, second] : [second, first];
  const toLeader = graphqlClient(leader.url);
  const toFollower = graphqlClient(follower.url);

  // Both instances write; each lead is then contacted through the other one.
  await Promise.all([
    ...[1, 2, 3, 4].map((n) => captureAndContact(toLeader, toFollower, `vialeader${n}`)),
    ...[1, 2, 3, 4].map((n) => captureAndContact(toFollower, toLeader, `viafollower${n}`)),
  ]);

  // A re-scoring job started through the follower is run by the leader, and followed through either.
  const started = await toFollower.gql<{ rescoreOpenLeads: { job: { id: string; status: string } } }>('mutation { rescoreOpenLeads { job { id status } } }');
  expect(started.errors).toBeUndefined();
  const jobId = started.data!.rescoreOpenLeads.job.id;
  const done = await eventually(async () => {
    const job = await toFollower.gql<{ scoringJob: { status: string; total: number; examined: number } }>(
      'query($id: ID!) { scoringJob(id: $id) { status total examined } }',
      { id: jobId },
    );
    return job.data!.scoringJob.status === 'RUNNING' ? undefined : job.data!.scoringJob;
  }, 'the job run by the leader');
  expect(done).toEqual({ status: 'SUCCEEDED', total: 8, examined: 8 });

  leader.kill('SIGKILL');
  const killedAt = Date.now();
  await leader.exited;
  // The survivor keeps answering writes while it takes over the projections.
  const duringTakeover = Promise.all(
    [1, 2, 3, 4, 5, 6].map((n) => captureAndContact(toFollower, toFollower, `takeover${n}`)),
  );
  const takenOver = await eventually(async () => {
    const state = await readiness(follower);
    return state.projections === 'leader' && state.ready ? state : undefined;
  }, 'the survivor leading');
  const takeoverMs = Date.now() - killedAt;
  await duringTakeover;
  expect(takenOver.projections).toBe('leader');
  expect(takeoverMs).toBeLessThan(15_000);
  await Promise.all([1, 2].map((n) => captureAndContact(toFollower, toFollower, `after${n}`)));

  // The log holds each acknowledged lead once, at the revision the client was told.
  const events = await allEvents();
  const leadEvents = events.filter((event) => event.streamId.startsWith('lead-'));
  const captures = leadEvents.filter((event) => event.type === 'LeadCaptured');
  expect(captures).toHaveLength(acknowledged.size);
  expect(acknowledged.size).toBe(4 + 4 + 6 + 2);
  const lastRevisions = new Map(leadEvents.map((event) => [event.streamId.slice('lead-'.length), event.revision]));
  expect(lastRevisions).toEqual(acknowledged);

  // The read models hold the same leads, each once, at the same revision, counted once.
  const client = await connectForTest();
  try {
    const { rows } = await client.query<{ id: string; revision: number; contact_attempts: number }>(
      `SELECT id, revision, contact_attempts FROM ${pg.escapeIdentifier(schema)}.read_leads`,
    );
    expect(new Map(rows.map((row) => [row.id, Number(row.revision)]))).toEqual(acknowledged);
    expect(rows).toHaveLength(acknowledged.size);
    const contacts = leadEvents.filter((event) => event.type === 'LeadContactLogged');
    expect(rows.reduce((sum, row) => sum + Number(row.contact_attempts), 0)).toBe(contacts.length);
  } finally {
    await client.end();
  }
  const listed = await toFollower.gql<{ leads: { totalCount: number } }>('{ leads(first: 1) { totalCount } }');
  expect(listed.data!.leads.totalCount).toBe(acknowledged.size);

  // The lead scorer ran on whichever instance led: every lead ends scored (a web form, reached
  // once: 20 by the built-in rules), each fact's score recorded once, even those of the facts the
  // killed leader had scored or not yet when it died.
  await eventually(async () => {
    const scored = await toFollower.gql<{ leads: { edges: Array<{ node: { score: number | null } }> } }>(
      '{ leads(first: 100) { edges { node { score } } } }',
    );
    return scored.data!.leads.edges.every((edge) => edge.node.score === 20) ? true : undefined;
  }, 'every lead scored', 30_000);
  const scores = (await allEvents()).filter((event) => event.type === 'LeadRescored');
  const leadEventIds = new Set(leadEvents.map((event) => event.id));
  expect(scores.every((score) => leadEventIds.has(score.metadata.causationId))).toBe(true);
  expect(new Set(scores.map((score) => score.metadata.causationId)).size).toBe(scores.length);
  expect(new Set(scores.map((score) => score.streamId))).toEqual(new Set([...acknowledged.keys()].map((id) => `leadscore-${id}`)));
}, 120_000);
