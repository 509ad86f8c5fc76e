import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/support/testServer';

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer();
});
afterAll(async () => {
  await api.stop();
});

const EVENT_FIELDS = `id streamId revision position type data recordedAt occurredAt actor correlationId causationId
  schemaVersion commandType idempotencyKey inputHash`;
const TRACE = `query($leadId: ID!) { conversionTrace(leadId: $leadId) {
  lead { id status conversion { accountId contactId opportunityId } }
  account { id name kind } contact { id lastName } opportunity { id name status }
  conversion { ${EVENT_FIELDS} } events { ${EVENT_FIELDS} } } }`;
const TRAIL = `query($filter: AuditFilter, $first: Int, $after: String) { auditTrail(filter: $filter, first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { cursor node { ${EVENT_FIELDS} } } } }`;
const HISTORY = `query($streamId: ID!) { history(streamId: $streamId) { ${EVENT_FIELDS} } }`;

const CAPTURE = `mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`;
const LOG_CONTACT = `mutation($input: LogLeadContactInput!) { logLeadContact(input: $input) { lead { id } } }`;
const QUALIFY = `mutation($input: QualifyLeadInput!) { qualifyLead(input: $input) { lead { id } } }`;
const CONVERT = `mutation($input: ConvertLeadInput!) { convertLead(input: $input) {
  lead { id } account { id } contact { id } opportunity { id } } }`;

const DAY = 86_400_000;

/** Sends a mutation that must succeed, as `as`, tagged with a correlation id of our choosing. */
const ok = async (query: string, input: Record<string, unknown>, as: string, correlationId?: string) => {
  const headers: Record<string, string> = correlationId ? { 'x-correlation-id': correlationId } : {};
  const response = await api.gql(query, { input }, { as, headers });
  expect(response.errors).toBeUndefined();
  return Object.values(response.data!)[0] as Record<string, any>;
};

const trail = async (filter: Record<string, unknown>, first?: number, after?: string) => {
  const response = await api.gql(TRAIL, { filter, first, after });
  expect(response.errors).toBeUndefined();
  return response.data!.auditTrail;
};

const pause = () => new Promise((resolve) => setTimeout(resolve, 20));

/**
 * The fixed scenario: alice captures a shop's lead (an e-mail received three days ago), bob
 * reaches it (a call he logs as having happened two days ago) and qualifies it as SQL, carol
 * converts it. Actors and correlation ids are unique to the run, so filters count only these.
 */
const scenario = async () => {
  const run = randomUUID().slice(0, 8);
  const alice = `alice-${run}`;
  const bob = `bob-${run}`;
  const carol = `carol-${run}`;
  const converting = `convert-${run}`;
  const lead = (
    await ok(
      CAPTURE,
      {
        source: 'INBOUND_EMAIL',
        person: { firstName: 'Marta', lastName: 'Puig', email: `marta.${run}@botiga-puig.example` },
        company: { name: `Botiga Puig ${run}` },
        interest: { product: 'Shop refurbishment', estimatedValue: { amount: '18500.00', currency: 'EUR' } },
        idempotencyKey: `web-form-${run}`,
        occurredAt: new Date(Date.now() - 3 * DAY).toISOString(),
      },
      alice,
      `capture-${run}`,
    )
  ).lead;
  await pause();
  const afterCapture = new Date();
  await pause();
  const callAt = new Date(Date.now() - 2 * DAY);
  await ok(LOG_CONTACT, { leadId: lead.id, channel: 'CALL', outcome: 'REACHED', occurredAt: callAt.toISOString() }, bob);
  await ok(QUALIFY, { leadId: lead.id, rank: 'SQL', criteria: { need: true, budget: true, authority: true, timing: true } }, bob);
  const converted = await ok(CONVERT, { leadId: lead.id }, carol, converting);
  return { run, alice, bob, carol, converting, leadId: lead.id as string, converted, afterCapture, callAt };
};

describe('conversionTrace', () => {
  it('shows what a lead became and every event that took part, with actors, times and ids', async () => {
    const s = await scenario();
    const response = await api.gql(TRACE, { leadId: s.leadId });
    expect(response.errors).toBeUndefined();
    const trace = response.data!.conversionTrace;

    const { account, contact, opportunity } = s.converted;
    expect(trace.lead).toEqual({
      id: s.leadId,
      status: 'CONVERTED',
      conversion: { accountId: account.id, contactId: contact.id, opportunityId: opportunity.id },
    });
    expect(trace.account).toEqual({ id: account.id, name: `Botiga Puig ${s.run}`, kind: 'COMPANY' });
    expect(trace.contact).toEqual({ id: contact.id, lastName: 'Puig' });
    expect(trace.opportunity).toEqual({ id: opportunity.id, name: 'Shop refurbishment', status: 'OPEN' });

    const decision = trace.conversion;
    expect(decision).toMatchObject({ type: 'LeadConverted', streamId: `lead-${s.leadId}`, revision: 3, actor: s.carol, correlationId: s.converting });
    expect(trace.events.map((e: any) => [e.type, e.streamId, e.revision, e.actor])).toEqual([
      ['LeadCaptured', `lead-${s.leadId}`, 0, s.alice],
      ['LeadContactLogged', `lead-${s.leadId}`, 1, s.bob],
      ['LeadQualified', `lead-${s.leadId}`, 2, s.bob],
      ['LeadConverted', `lead-${s.leadId}`, 3, s.carol],
      ['AccountOpened', `account-${account.id}`, 0, s.carol],
      ['ContactCreated', `contact-${contact.id}`, 0, s.carol],
      ['OpportunityOpened', `opportunity-${opportunity.id}`, 0, s.carol],
    ]);
    expect(trace.events[3]).toEqual(decision);
    // What the decision caused: same request, caused by the LeadConverted event itself.
    for (const followUp of trace.events.slice(4)) {
      expect(followUp).toMatchObject({ correlationId: s.converting, causationId: decision.id, occurredAt: decision.occurredAt });
    }
    expect(trace.events[0]).toMatchObject({ correlationId: `capture-${s.run}`, idempotencyKey: `web-form-${s.run}` });
    expect(trace.events[0].inputHash).toEqual(expect.any(String));
    // The call was logged as having happened two days before it was recorded.
    expect(trace.events[1].occurredAt).toBe(s.callAt.toISOString());
    expect(Date.parse(trace.events[1].recordedAt) - Date.parse(trace.events[1].occurredAt)).toBeGreaterThanOrEqual(2 * DAY - 60_000);
    const positions = trace.events.map((e: any) => e.position);
    expect(new Set(positions).size).toBe(7);
  });

  it('is null for a lead not converted, and NOT_FOUND for no lead at all', async () => {
    const lead = (await ok(CAPTURE, { source: 'WEB_FORM', person: { lastName: 'Vidal' } }, 'alice')).lead;
    const open = await api.gql(TRACE, { leadId: lead.id });
    expect(open.errors).toBeUndefined();
    expect(open.data!.conversionTrace).toBeNull();

    const unknown = await api.gql(TRACE, { leadId: randomUUID() });
    expect(unknown.errors![0]!.extensions!.code).toBe('NOT_FOUND');
  });
});

describe('auditTrail', () => {
  it('filters the whole log by actor, entity, stream, type, correlation and both time axes', async () => {
    const s = await scenario();
    const types = async (filter: Record<string, unknown>) => {
      const page = await trail(filter);
      expect(page.totalCount).toBe(page.edges.length);
      return page.edges.map((edge: any) => edge.node.type);
    };
    expect(await types({ actor: s.bob })).toEqual(['LeadContactLogged', 'LeadQualified']);
    expect(await types({ actor: s.carol })).toEqual(['LeadConverted', 'AccountOpened', 'ContactCreated', 'OpportunityOpened']);
    expect(await types({ actor: s.carol, entity: 'ACCOUNT' })).toEqual(['AccountOpened']);
    expect(await types({ actor: s.carol, entity: 'LEAD' })).toEqual(['LeadConverted']);
    expect(await types({ correlationId: s.converting })).toEqual(['LeadConverted', 'AccountOpened', 'ContactCreated', 'OpportunityOpened']);
    expect(await types({ streamId: `lead-${s.leadId}` })).toEqual(['LeadCaptured', 'LeadContactLogged', 'LeadQualified', 'LeadConverted']);
    expect(await types({ streamId: `lead-${s.leadId}`, types: ['LeadQualified', 'LeadCaptured'] })).toEqual(['LeadCaptured', 'LeadQualified']);
    expect(await types({ streamId: `lead-${s.leadId}`, types: [] })).toEqual([]);

    // recordedAt: what was learnt after the capture; occurredAt: what happened before yesterday.
    const yesterday = new Date(Date.now() - DAY).toISOString();
    expect(await types({ streamId: `lead-${s.leadId}`, recordedAt: { from: s.afterCapture.toISOString() } })).toEqual([
      'LeadContactLogged',
      'LeadQualified',
      'LeadConverted',
    ]);
    expect(await types({ streamId: `lead-${s.leadId}`, recordedAt: { to: s.afterCapture.toISOString() } })).toEqual(['LeadCaptured']);
    expect(await types({ streamId: `lead-${s.leadId}`, occurredAt: { to: yesterday } })).toEqual(['LeadCaptured', 'LeadContactLogged']);
    expect(await types({ streamId: `lead-${s.leadId}`, occurredAt: { from: s.callAt.toISOString(), to: yesterday } })).toEqual(['LeadContactLogged']);
    expect(await types({ actor: s.bob, occurredAt: { from: yesterday } })).toEqual(['LeadQualified']);
  });

  it('pages through the log in recorded order with opaque cursors, each node the recorded event', async () => {
    const s = await scenario();
    const filter = { correlationId: s.converting };
    const first = await trail(filter, 3);
    expect(first.totalCount).toBe(4);
    expect(first.pageInfo.hasNextPage).toBe(true);
    expect(first.pageInfo.endCursor).toBe(first.edges[2].cursor);
    expect(first.pageInfo.endCursor).not.toContain(first.edges[2].node.position);
    const rest = await trail(filter, 3, first.pageInfo.endCursor);
    expect(rest.pageInfo.hasNextPage).toBe(false);
    expect(rest.totalCount).toBe(4);
    // Past the last event, the count all the same.
    expect(await trail(filter, 3, rest.pageInfo.endCursor)).toMatchObject({ totalCount: 4, edges: [], pageInfo: { hasNextPage: false } });
    const nodes = [...first.edges, ...rest.edges].map((edge: any) => edge.node);
    expect(nodes.map((node: any) => node.type)).toEqual(['LeadConverted', 'AccountOpened', 'ContactCreated', 'OpportunityOpened']);

    const trace = (await api.gql(TRACE, { leadId: s.leadId })).data!.conversionTrace;
    expect(nodes).toEqual(trace.events.slice(3));
    const everything = await trail({}, 1);
    expect(everything.totalCount).toBeGreaterThanOrEqual(7);
  });

  it('counts the whole trail as every event it pages through, after a cursor too', async () => {
    await scenario();
    const pages: any[] = [];
    let after: string | undefined;
    do {
      const page = await trail({}, 200, after);
      pages.push(page);
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : undefined;
    } while (after !== undefined);
    const events = pages.flatMap((page) => page.edges).length;
    expect(events).toBeGreaterThanOrEqual(7);
    expect(pages.map((page) => page.totalCount)).toEqual(pages.map(() => events));
    // Past the last event, the count all the same.
    expect((await trail({}, 5, pages.at(-1).pageInfo.endCursor)).totalCount).toBe(events);
  });

  it('refuses a foreign cursor, an oversized page and an anonymous caller', async () => {
    const badCursor = await api.gql(TRAIL, { after: 'not-a-cursor' });
    expect(badCursor.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
    expect(badCursor.errors![0]!.extensions!.fields[0].field).toMatch(/after$/);
    const tooMany = await api.gql(TRAIL, { first: 201 });
    expect(tooMany.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
    const anonymous = await api.gql(TRAIL, {}, { as: null });
    expect(anonymous.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
  });
});

describe('history', () => {
  it("gives every event's full metadata, exactly as stored", async () => {
    const s = await scenario();
    const streamId = `lead-${s.leadId}`;
    const response = await api.gql(HISTORY, { streamId });
    expect(response.errors).toBeUndefined();
    const stored = await api.server.app.store.readStream(streamId);
    expect(response.data!.history).toHaveLength(stored.length);
    response.data!.history.forEach((served: Record<string, unknown>, index: number) => {
      const event = stored[index]!;
      expect(served).toMatchObject({ id: event.id, position: event.position, type: event.type, data: event.data });
      // Every metadata field the store keeps, present ones and absent ones alike.
      for (const [key, value] of Object.entries(event.metadata)) expect([key, served[key]]).toEqual([key, value]);
    });
  });
});
