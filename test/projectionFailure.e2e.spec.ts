/**
 * One bad event never stops the service: two API processes on one PostgreSQL, events written
 * straight into the log (as data recorded before a fix would be). An event carrying U+0000 is
 * projected like any other; an event the leads projection cannot apply sets that projection
 * aside, and then writes of other read models still answer, writes of leads answer
 * READ_MODEL_STOPPED (recorded), both instances' /readyz report the failure, and the instance
 * that takes over retries it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ANY, type EventStore } from '../src/core/eventStore';
import { newId } from '../src/core/ids';
import { openPostgresEventStore } from '../src/eventStores/postgres';
import { SHARED_DATA_KEY, startChildServer, type ChildServer } from './support/childServer';
import { aSchemaName, dropSchemas, TEST_DATABASE_URL } from './support/postgres';
import { graphqlClient } from './support/testServer';

/** The read models that fold a lead's contacts, alphabetically. */
const LEAD_CONTACT_FOLDERS = ['kpi-facts', 'leads'];

const schema = aSchemaName('setaside');
const env = { CRM_EVENT_STORE: 'postgres', CRM_READ_STORE: 'postgres', DATABASE_URL: TEST_DATABASE_URL, CRM_PG_SCHEMA: schema, ...SHARED_DATA_KEY };
const dataDirs: string[] = [];
const servers: ChildServer[] = [];
let store: EventStore | undefined;

afterAll(async () => {
  for (const server of servers) server.kill('SIGKILL');
  await Promise.all(servers.map((server) => server.exited));
  await store?.close();
  await dropSchemas(schema);
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

const startInstance = async (): Promise<ChildServer> => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-setaside-'));
  dataDirs.push(dataDir);
  const server = await startChildServer(dataDir, env);
  servers.push(server);
  return server;
};

interface FailedProjection {
  name: string;
  eventId: string;
  eventType: string;
  streamId: string;
  position: string;
  error: string;
  since: string;
  attempts: number;
}

interface Readiness {
  httpStatus: number;
  status: string;
  store: string;
  projections: string;
  failedProjections: FailedProjection[];
}

const readiness = async (server: ChildServer): Promise<Readiness> => {
  const response = await fetch(server.url.replace(/\/graphql$/, '/readyz'));
  return { httpStatus: response.status, ...((await response.json()) as Omit<Readiness, 'httpStatus'>) };
};

const eventually = async <T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};

/** Appends one event as the command handler would, bypassing the API and its validation. */
const appendStraight = (streamId: string, type: string, data: Record<string, unknown>) => {
  const now = new Date().toISOString();
  const commandId = newId();
  return store!.appendToStream(
    streamId,
    [
      {
        id: newId(),
        type,
        data,
        metadata: { actor: 'user-legacy', recordedAt: now, occurredAt: now, correlationId: commandId, causationId: commandId, schemaVersion: 1 },
      },
    ],
    { expectedRevision: ANY },
  );
};

const LEAD = `query($id: ID!) { lead(id: $id) { id campaign company { name } status } }`;
const OPEN_ACCOUNT = `mutation($input: OpenAccountInput!) { openAccount(input: $input) { account { id name kind } } }`;
const CAPTURE = `mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`;

it('sets a failing projection aside, keeps serving the other read models, and reports it on every instance', async () => {
  const [first, second] = await Promise.all([startInstance(), startInstance()]);
  store = await openPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema });
  const roles = await Promise.all([readiness(first), readiness(second)]);
  expect(roles.map((role) => role.httpStatus)).toEqual([200, 200]);
  expect(roles.map((role) => role.failedProjections)).toEqual([[], []]);
  const [leader, follower] = roles[0]!.projections === 'leader' ? [first, second] : [second, first];
  const toLeader = graphqlClient(leader.url);
  const toFollower = graphqlClient(follower.url);

  // U+0000 in the log: projected like anything else, and read back as it was.
  const nulLead = newId();
  await appendStraight(`lead-${nulLead}`, 'LeadCaptured', {
    leadId: nulLead,
    source: 'OTHER',
    campaign: 'a\u0000b',
    company: { name: 'Nul\u0000 Co' },
  });
  const read = await eventually(async () => {
    const response = await toFollower.gql<{ lead: { campaign: string; company: { name: string } } | null }>(LEAD, { id: nulLead });
    return response.data?.lead ?? undefined;
  }, 'the lead with U+0000');
  expect(read).toMatchObject({ campaign: 'a\u0000b', company: { name: 'Nul\u0000 Co' }, status: 'NEW' });
  expect((await readiness(leader)).httpStatus).toBe(200);

  // An event the lead projections cannot apply: a contact logged on a lead never captured. Both
  // read models that fold lead contacts (leads, and kpi-facts for the funnel's contacted step)
  // set it aside; the others go on.
  const orphan = newId();
  const { position } = await appendStraight(`lead-${orphan}`, 'LeadContactLogged', { leadId: orphan, channel: 'CALL', outcome: 'REACHED' });
  const events = await store.readAll();
  const bad = events.find((event) => event.position === position)!;

  // Both instances report it (the follower from the shared read store), keeping their other fields.
  for (const [server, role] of [
    [leader, 'leader'],
    [follower, 'follower'],
  ] as const) {
    const state = await eventually(async () => {
      const current = await readiness(server);
      return current.failedProjections.length >= LEAD_CONTACT_FOLDERS.length ? current : undefined;
    }, `${role} reporting the failure`);
    expect(state).toMatchObject({ httpStatus: 503, status: 'degraded', store: 'postgres', projections: role });
    expect([...state.failedProjections].sort((a, b) => a.name.localeCompare(b.name))).toEqual(
      LEAD_CONTACT_FOLDERS.map((name) => ({
        name,
        eventId: bad.id,
        eventType: 'LeadContactLogged',
        streamId: `lead-${orphan}`,
        position,
        error: expect.stringContaining('was never captured'),
        since: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        attempts: 1,
      })),
    );
  }

  // Writes of other read models answer normally, through either instance.
  for (const [client, name] of [
    [toFollower, 'Via Follower SL'],
    [toLeader, 'Via Leader SL'],
  ] as const) {
    const opened = await client.gql<{ openAccount: { account: { id: string; name: string } } }>(OPEN_ACCOUNT, {
      input: { kind: 'COMPANY', name },
    });
    expect(opened.errors).toBeUndefined();
    expect(opened.data!.openAccount.account.name).toBe(name);
  }

  // A write whose answer reads the stopped model says so, and that it is recorded.
  const capture = await toFollower.gql(CAPTURE, { input: { source: 'OTHER', company: { name: 'Stopped Read Model SA' }, idempotencyKey: 'stopped-1' } });
  expect(capture.errors?.[0]?.extensions).toMatchObject({
    code: 'READ_MODEL_STOPPED',
    recorded: true,
    readModels: [{ name: 'leads', eventId: bad.id, position }],
  });
  const captures = (await store.readAll()).filter((event) => event.type === 'LeadCaptured');
  expect(captures.map((event) => (event.data as { company?: { name?: string } }).company?.name)).toContain('Stopped Read Model SA');
  // Reads of the healthy models keep working.
  const listed = await toFollower.gql<{ accounts: { totalCount: number } }>('{ accounts(first: 1) { totalCount } }');
  expect(listed.errors).toBeUndefined();
  expect(listed.data!.accounts.totalCount).toBe(2);

  // The instance that takes over retries the projection: it fails again on the same event.
  const since = (await readiness(follower)).failedProjections.find((failure) => failure.name === 'leads')!.since;
  leader.kill('SIGKILL');
  await leader.exited;
  const retried = await eventually(async () => {
    const current = await readiness(follower);
    const leads = current.failedProjections.find((failure) => failure.name === 'leads');
    return current.projections === 'leader' && leads?.attempts === 2 ? current : undefined;
  }, 'the survivor leading and retrying');
  expect(retried).toMatchObject({ httpStatus: 503, status: 'degraded' });
  expect(retried.failedProjections).toEqual(
    expect.arrayContaining([expect.objectContaining({ name: 'leads', eventId: bad.id, since })]),
  );
  const afterTakeover = await toFollower.gql(OPEN_ACCOUNT, { input: { kind: 'COMPANY', name: 'After Takeover SL' } });
  expect(afterTakeover.errors).toBeUndefined();
}, 120_000);
