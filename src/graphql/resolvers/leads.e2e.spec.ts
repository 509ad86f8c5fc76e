import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/support/testServer';

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer();
});
afterAll(async () => {
  await api.stop();
});

const LEAD_FIELDS = `
  id revision status rank source campaign ownerId cycle contactAttempts lastContactedAt lastContactOutcome
  person { firstName lastName email } company { name website } interest { product estimatedValue { amount currency } }
  qualification { rank criteria { need budget authority timing } notes qualifiedAt }
  disqualification { reason { code label } notes disqualifiedAt }
  capturedAt capturedBy updatedAt`;

const CAPTURE = `mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { ${LEAD_FIELDS} } } }`;
const LOG_CONTACT = `mutation($input: LogLeadContactInput!) { logLeadContact(input: $input) { lead { ${LEAD_FIELDS} } } }`;
const QUALIFY = `mutation($input: QualifyLeadInput!) { qualifyLead(input: $input) { lead { ${LEAD_FIELDS} } } }`;
const DISQUALIFY = `mutation($input: DisqualifyLeadInput!) { disqualifyLead(input: $input) { lead { ${LEAD_FIELDS} } } }`;
const RECYCLE = `mutation($input: RecycleLeadInput!) { recycleLead(input: $input) { lead { ${LEAD_FIELDS} } } }`;
const UPDATE = `mutation($input: UpdateLeadDetailsInput!) { updateLeadDetails(input: $input) { lead { ${LEAD_FIELDS} } } }`;
const ASSIGN = `mutation($input: AssignLeadInput!) { assignLead(input: $input) { lead { ${LEAD_FIELDS} } } }`;
const LEAD = `query($id: ID!) { lead(id: $id) { ${LEAD_FIELDS} } }`;
const HISTORY = `query($streamId: ID!) { history(streamId: $streamId) {
  id streamId revision position type data recordedAt occurredAt actor correlationId causationId schemaVersion } }`;

const shopEmail = {
  source: 'INBOUND_EMAIL',
  campaign: 'shop-refit-2026',
  person: { firstName: 'Marta', lastName: 'Puig', email: 'marta@botiga-puig.example' },
  company: { name: 'Botiga Puig', website: 'botiga-puig.example' },
  interest: { product: 'Shop refurbishment', estimatedValue: { amount: '18500.00', currency: 'EUR' } },
};

const capture = async (input: Record<string, unknown> = shopEmail, as = 'alice') => {
  const response = await api.gql(CAPTURE, { input }, { as });
  expect(response.errors).toBeUndefined();
  return response.data!.captureLead.lead;
};

describe('a lead walked through its life cycle over HTTP', () => {
  it('captures, contacts, qualifies, disqualifies, recycles, and keeps the whole history', async () => {
    const lead = await capture();
    expect(lead).toMatchObject({
      revision: 0,
      status: 'NEW',
      rank: 'UNRANKED',
      cycle: 1,
      capturedBy: 'alice',
      interest: { estimatedValue: { amount: '18500.00', currency: 'EUR' } },
    });

    const noAnswer = await api.gql(LOG_CONTACT, {
      input: { leadId: lead.id, channel: 'CALL', outcome: 'NO_ANSWER', expectedRevision: 0 },
    });
    expect(noAnswer.data!.logLeadContact.lead).toMatchObject({ status: 'NEW', contactAttempts: 1, revision: 1 });

    const reached = await api.gql(LOG_CONTACT, {
      input: { leadId: lead.id, channel: 'MEETING', outcome: 'REACHED', notes: 'Visited the shop' },
    }, { as: 'bob' });
    expect(reached.data!.logLeadContact.lead).toMatchObject({
      status: 'CONTACTED',
      contactAttempts: 2,
      lastContactOutcome: 'REACHED',
      revision: 2,
    });

    const qualified = await api.gql(QUALIFY, {
      input: { leadId: lead.id, rank: 'SQL', criteria: { need: true, budget: true, authority: true }, notes: 'Owner decides' },
    });
    expect(qualified.data!.qualifyLead.lead).toMatchObject({
      status: 'QUALIFIED',
      rank: 'SQL',
      qualification: { rank: 'SQL', criteria: { need: true, budget: true, authority: true, timing: false } },
    });

    const disqualified = await api.gql(DISQUALIFY, {
      input: { leadId: lead.id, reason: 'NO_BUDGET', notes: 'Bank said no' },
    });
    expect(disqualified.data!.disqualifyLead.lead).toMatchObject({
      status: 'DISQUALIFIED',
      disqualification: { reason: { code: 'NO_BUDGET', label: 'No budget' }, notes: 'Bank said no' },
    });

    const recycled = await api.gql(RECYCLE, {
      input: { leadId: lead.id, source: 'EMAIL_CAMPAIGN', campaign: 'spring-2027' },
    });
    expect(recycled.data!.recycleLead.lead).toMatchObject({
      status: 'NEW',
      rank: 'UNRANKED',
      cycle: 2,
      source: 'EMAIL_CAMPAIGN',
      campaign: 'spring-2027',
      disqualification: null,
      revision: 5,
    });

    const history = await api.gql(HISTORY, { streamId: `lead-${lead.id}` });
    const events = history.data!.history;
    expect(events.map((e: any) => e.type)).toEqual([
      'LeadCaptured',
      'LeadContactLogged',
      'LeadContactLogged',
      'LeadQualified',
      'LeadDisqualified',
      'LeadRecycled',
    ]);
    expect(events.map((e: any) => e.revision)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(events.map((e: any) => e.actor)).toEqual(['alice', 'alice', 'bob', 'alice', 'alice', 'alice']);
    for (const event of events) {
      expect(new Date(event.recordedAt).getTime()).not.toBeNaN();
      expect(event.occurredAt).toBe(event.recordedAt);
      expect(event.correlationId).toMatch(/\S/);
      expect(event.causationId).toMatch(/\S/);
      expect(event.schemaVersion).toBe(1);
    }
    expect(events[4].data).toMatchObject({ reason: 'NO_BUDGET', notes: 'Bank said no', statusBefore: 'QUALIFIED' });
  });

  it('updates details and reassigns, and lists leads with filters and pages', async () => {
    const lead = await capture({ source: 'TRADE_FAIR', company: { name: 'Ferretería Núñez' }, person: { lastName: 'Núñez' } });
    const updated = await api.gql(UPDATE, {
      input: { leadId: lead.id, person: { lastName: 'Núñez', firstName: 'Jordi', email: 'jordi@nunez.example' } },
    });
    expect(updated.data!.updateLeadDetails.lead).toMatchObject({ person: { firstName: 'Jordi' }, revision: 1 });
    const assigned = await api.gql(ASSIGN, { input: { leadId: lead.id, ownerId: 'carla' } });
    expect(assigned.data!.assignLead.lead).toMatchObject({ ownerId: 'carla', revision: 2 });

    const search = await api.gql(`{ leads(filter: { search: "FERRETERIA nunez" }) { totalCount edges { node { id } } } }`);
    expect(search.data!.leads.edges.map((e: any) => e.node.id)).toEqual([lead.id]);
    // A search's count is remembered between writes to the leads, never past one.
    const searchCount = async () => (await api.gql(`{ leads(filter: { search: "ferreteria nunez" }) { totalCount } }`)).data!.leads.totalCount;
    expect(await searchCount()).toBe(1);
    const second = await capture({ source: 'WEB_FORM', company: { name: 'Ferretería Núñez' }, person: { lastName: 'Puig' } });
    expect(await searchCount()).toBe(2);
    await api.gql(UPDATE, { input: { leadId: second.id, company: { name: 'Ferretería Puig' } } });
    expect(await searchCount()).toBe(1);
    const byOwner = await api.gql(`{ leads(filter: { ownerId: "carla", source: TRADE_FAIR }) { totalCount } }`);
    expect(byOwner.data!.leads.totalCount).toBe(1);

    for (let i = 0; i < 3; i++) await capture({ source: 'REFERRAL', campaign: 'paging', person: { lastName: `P${i}` } });
    const page1 = await api.gql(`{ leads(first: 2, filter: { campaign: "paging" }) {
      totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } } } }`);
    expect(page1.data!.leads).toMatchObject({ totalCount: 3, pageInfo: { hasNextPage: true } });
    const page2 = await api.gql(`query($after: String) { leads(first: 2, after: $after, filter: { campaign: "paging" }) {
      pageInfo { hasNextPage } edges { node { id } } } }`, { after: page1.data!.leads.pageInfo.endCursor });
    expect(page2.data!.leads.pageInfo.hasNextPage).toBe(false);
    const ids = [...page1.data!.leads.edges, ...page2.data!.leads.edges].map((e: any) => e.node.id);
    expect(new Set(ids).size).toBe(3);
    // Past the last page, and a filter nothing matches: no leads, and the count still told.
    const pageAfter = async (after: string | null, orderBy = 'NEWEST', campaign = 'paging') =>
      (
        await api.gql(`query($after: String) { leads(first: 2, after: $after, orderBy: ${orderBy}, filter: { campaign: "${campaign}" }) {
          totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }`, { after })
      ).data!.leads;
    const last = await pageAfter(page1.data!.leads.pageInfo.endCursor);
    expect(await pageAfter(last.pageInfo.endCursor)).toEqual({ totalCount: 3, pageInfo: { hasNextPage: false, endCursor: null }, edges: [] });
    expect(await pageAfter(null, 'NEWEST', 'nobody')).toEqual({ totalCount: 0, pageInfo: { hasNextPage: false, endCursor: null }, edges: [] });
    // In score order, newest first among equal scores: the same three leads, each once, newest first.
    const byScore1 = await pageAfter(null, 'SCORE');
    const byScore2 = await pageAfter(byScore1.pageInfo.endCursor, 'SCORE');
    expect(byScore1).toMatchObject({ totalCount: 3, pageInfo: { hasNextPage: true } });
    expect(byScore2).toMatchObject({ totalCount: 3, pageInfo: { hasNextPage: false } });
    expect([...byScore1.edges, ...byScore2.edges].map((e: any) => e.node.id)).toEqual(ids);
  });

  it('serves the reason catalogs', async () => {
    const response = await api.gql(`{ disqualificationReasons { code label } lossReasons { code label } }`);
    expect(response.data!.disqualificationReasons).toContainEqual({ code: 'NO_BUDGET', label: 'No budget' });
    expect(response.data!.lossReasons.length).toBeGreaterThan(0);
  });
});

describe('refusals carry their own code', () => {
  it('BAD_USER_INPUT lists each offending field and why', async () => {
    const response = await api.gql(CAPTURE, {
      input: {
        source: 'WEB_FORM',
        person: { lastName: '', email: 'not-an-email' },
        interest: { estimatedValue: { amount: '12.5', currency: 'euro' } },
      },
    });
    expect(response.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const fields = response.errors![0]!.extensions!.fields.map((f: any) => f.field);
    expect(fields).toEqual(
      expect.arrayContaining(['input.person.lastName', 'input.person.email', 'input.interest.estimatedValue.currency']),
    );
    const total = await api.gql(`{ leads(filter: { source: WEB_FORM, search: "not-an-email" }) { totalCount } }`);
    expect(total.data!.leads.totalCount).toBe(0);
  });

  it('BAD_USER_INPUT for an amount that is not a decimal string', async () => {
    const response = await api.gql(CAPTURE, {
      input: { source: 'WEB_FORM', person: { lastName: 'X' }, interest: { estimatedValue: { amount: '1e5', currency: 'EUR' } } },
    });
    expect(response.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(response.errors?.[0]?.message).toMatch(/Decimal/);
  });

  it('BAD_USER_INPUT for a reason code outside the catalog', async () => {
    const lead = await capture();
    const response = await api.gql(DISQUALIFY, { input: { leadId: lead.id, reason: 'BORED' } });
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: [{ field: 'input.reason' }] });
  });

  it('NOT_FOUND for an unknown lead, and null from lead(id)', async () => {
    const response = await api.gql(LOG_CONTACT, { input: { leadId: 'no-such-lead', channel: 'CALL', outcome: 'REACHED' } });
    expect(response.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const query = await api.gql(LEAD, { id: 'no-such-lead' });
    expect(query.data!.lead).toBeNull();
    const history = await api.gql(HISTORY, { streamId: 'lead-no-such-lead' });
    expect(history.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('INVALID_TRANSITION names the state: a disqualified lead cannot be qualified', async () => {
    const lead = await capture();
    await api.gql(DISQUALIFY, { input: { leadId: lead.id, reason: 'NO_NEED' } });
    const response = await api.gql(QUALIFY, { input: { leadId: lead.id, rank: 'MQL' } });
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_TRANSITION', state: 'DISQUALIFIED' });
  });

  it('CONFLICT with the actual revision when expectedRevision is stale, and nothing is written', async () => {
    const lead = await capture();
    await api.gql(LOG_CONTACT, { input: { leadId: lead.id, channel: 'CALL', outcome: 'NO_ANSWER' } });
    const response = await api.gql(LOG_CONTACT, {
      input: { leadId: lead.id, channel: 'CALL', outcome: 'REACHED', expectedRevision: 0 },
    });
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', actualRevision: 1 });
    const after = await api.gql(LEAD, { id: lead.id });
    expect(after.data!.lead).toMatchObject({ revision: 1, status: 'NEW' });
  });

  it('UNAUTHENTICATED without a token or with a bad one', async () => {
    const anonymous = await api.gql(CAPTURE, { input: shopEmail }, { as: null });
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const forged = await api.gql(CAPTURE, { input: shopEmail }, { as: null, headers: { authorization: 'Bearer abc.def.ghi' } });
    expect(forged.status).toBe(401);
    expect(forged.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('refuses malformed JSON and oversized bodies cleanly', async () => {
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${await api.token()}` };
    const malformed = await fetch(api.url, { method: 'POST', headers, body: '{"query": "{ leads { totalCount } }"' });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as any).errors[0].extensions.code).toBe('BAD_REQUEST');

    const huge = JSON.stringify({ query: CAPTURE, variables: { input: { ...shopEmail, campaign: 'x'.repeat(2_000_000) } } });
    const oversized = await fetch(api.url, { method: 'POST', headers, body: huge });
    expect(oversized.status).toBe(413);
    expect(((await oversized.json()) as any).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
  });
});

describe('idempotency keys', () => {
  it('a replay with the same key and input returns the original result and records nothing new', async () => {
    const input = { ...shopEmail, idempotencyKey: `form-${Math.random()}` };
    const first = await capture(input);
    const second = await capture(input);
    expect(second).toEqual(first);

    const contact = { leadId: first.id, channel: 'CALL', outcome: 'REACHED', idempotencyKey: 'call-1' };
    const once = await api.gql(LOG_CONTACT, { input: contact });
    const twice = await api.gql(LOG_CONTACT, { input: contact });
    expect(twice.data).toEqual(once.data);
    const history = await api.gql(HISTORY, { streamId: `lead-${first.id}` });
    expect(history.data!.history.map((e: any) => e.type)).toEqual(['LeadCaptured', 'LeadContactLogged']);
  });

  it('the same key with a different input is BAD_USER_INPUT', async () => {
    const key = `form-${Math.random()}`;
    await capture({ ...shopEmail, idempotencyKey: key });
    const reused = await api.gql(CAPTURE, { input: { ...shopEmail, campaign: 'other', idempotencyKey: key } });
    expect(reused.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: [{ field: 'input.idempotencyKey' }] });
  });

  it('keys are per user: the same key from two users makes two leads', async () => {
    const input = { ...shopEmail, idempotencyKey: 'shared-key' };
    const alices = await capture(input, 'alice');
    const bobs = await capture(input, 'bob');
    expect(bobs.id).not.toBe(alices.id);
  });
});

describe('concurrency', () => {
  it('50 concurrent mutations at one revision: each applies or gets CONFLICT, none lost or doubled', async () => {
    const lead = await capture();
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        api.gql(LOG_CONTACT, {
          input: { leadId: lead.id, channel: 'CALL', outcome: 'NO_ANSWER', notes: `attempt ${i}`, expectedRevision: 0 },
        }),
      ),
    );
    const applied = responses.filter((r) => r.data?.logLeadContact);
    const conflicts = responses.filter((r) => r.errors?.[0]?.extensions?.code === 'CONFLICT');
    expect(applied.length + conflicts.length).toBe(50);
    expect(applied).toHaveLength(1);

    const history = await api.gql(HISTORY, { streamId: `lead-${lead.id}` });
    expect(history.data!.history.map((e: any) => e.revision)).toEqual([0, 1]);
  });

  it('50 concurrent mutations without a revision: every one applies exactly once', async () => {
    // One process serialises commands per stream, so no retry is even needed here; across
    // processes the bounded retry takes over (see the command handler's tests).
    const lead = await capture();
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        api.gql(LOG_CONTACT, { input: { leadId: lead.id, channel: 'EMAIL', outcome: 'BOUNCED', notes: `mail ${i}` } }),
      ),
    );
    const applied = responses.filter((r) => r.data?.logLeadContact);
    const conflicts = responses.filter((r) => r.errors?.[0]?.extensions?.code === 'CONFLICT');
    expect(applied.length + conflicts.length).toBe(50);
    expect(applied).toHaveLength(50);

    const history = await api.gql(HISTORY, { streamId: `lead-${lead.id}` });
    const contacts = history.data!.history.filter((e: any) => e.type === 'LeadContactLogged');
    expect(contacts).toHaveLength(applied.length);
    expect(new Set(contacts.map((e: any) => e.data.notes)).size).toBe(applied.length);
    expect(history.data!.history.map((e: any) => e.revision)).toEqual(
      Array.from({ length: applied.length + 1 }, (_, i) => i),
    );
    const read = await api.gql(LEAD, { id: lead.id });
    expect(read.data!.lead.contactAttempts).toBe(applied.length);
  });
});

describe('health', () => {
  it('answers /healthz and /readyz', async () => {
    const base = api.url.replace('/graphql', '');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready' });
  });
});

describe('query arguments', () => {
  it('name the offending argument itself, not a mutation input', async () => {
    const tooMany = await api.gql(`{ leads(first: 500) { totalCount } }`);
    expect(tooMany.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: [{ field: 'first' }] });
    const badCursor = await api.gql(`{ leads(after: "not-a-cursor") { totalCount } }`);
    expect(badCursor.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: [{ field: 'after' }] });
  });
});
