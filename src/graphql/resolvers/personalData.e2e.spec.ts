/**
 * Personal data over HTTP: the access report (`personalData`) lists every personal value held
 * about a person with its source; `erasePersonalData` erases it everywhere (read models, history,
 * audit trail, access report) without touching the events, KPIs or the pipeline; it is idempotent
 * under any id of the person; later personal data about the person is refused; and only
 * `privacy_officer` and `admin` may do either.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scoresSettled } from '../../../test/support/scoring';
import { startTestServer, type GraphQLResponse, type TestServer } from '../../../test/support/testServer';

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer();
});
afterAll(async () => {
  await api.stop();
});

type Caller = { as: string; roles: string[] };
const ALICE: Caller = { as: 'alice', roles: ['admin'] };
const PRIVACY_OFFICER: Caller = { as: 'priya', roles: ['privacy_officer'] };
const ADMIN: Caller = { as: 'ada', roles: ['admin'] };

/** The data, or the test fails with the errors. */
const ok = async (query: string, variables: Record<string, unknown> = {}, caller: Caller = ALICE) => {
  const response = await api.gql(query, variables, caller);
  expect(response.errors, query).toBeUndefined();
  return response.data!;
};
const codeOf = (response: GraphQLResponse) => response.errors?.[0]?.extensions?.code;

const ERASE = `mutation($input: ErasePersonalDataInput!) { erasePersonalData(input: $input) {
  subjectId leadIds contactIds keyCount reason origin erasedAt erasedBy alreadyErased unsealedEvents } }`;
const REPORT = `query($id: ID!) { personalData(subjectId: $id) {
  subjectId leadIds contactIds opportunityIds
  erasures { subjectId reason origin erasedAt erasedBy leadIds contactIds keyCount }
  values { streamId eventId eventType revision field value erased sealed recordedAt occurredAt actor } } }`;
const LEAD = `query($id: ID!) { lead(id: $id) {
  id status person { firstName lastName email phone jobTitle } company { name website }
  interest { product notes estimatedValue { amount currency } } qualification { rank notes } personalDataErased } }`;
const CONTACT = `query($id: ID!) { contact(id: $id) { id firstName lastName email phone jobTitle accountId active personalDataErased } }`;
const OPPORTUNITY = `query($id: ID!) { opportunity(id: $id) {
  id name stage amount { amount currency } activities { id kind subject notes done } personalDataErased } }`;
const HISTORY = `query($id: ID!) { history(streamId: $id) { id type revision actor data } }`;
const AUDIT = `query($id: ID!) { auditTrail(filter: { streamId: $id }, first: 200) { totalCount edges { node { id type data } } } }`;
const EVENT_COUNT = `{ auditTrail(first: 0) { totalCount } }`;
const PERIOD = { from: '2020-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' };
const SLICE = 'count share amount { amount currency } amountShare';
const KPIS = `query($from: DateTime!, $to: DateTime!) { kpis(from: $from, to: $to, groupBy: [SOURCE, OWNER]) {
  leadFunnel { group { source ownerId } captured contacted reachedMql reachedSql disqualified converted conversionRatio }
  disqualificationReasons { total reasons { reason { code } count share } }
  lossReasons { total amount { amount } reasons { reason { code } ${SLICE} } }
  salesOutcomes { closed won lost winRate wonAmount { amount } averageSalesCycleDays }
  timeInStage { stages { stage stays totalDays averageDays } }
  pipelineValue { pipeline { count amount { amount } weightedAmount { amount } stages { stage count amount { amount } } } } } }`;
const PIPELINE = `{ pipeline { currency count amount { amount currency } weightedAmount { amount }
  byCurrency { currency count amount { amount } }
  stages { stage label order probability count amount { amount } weightedAmount { amount } } } }`;

/** Once the automatic scores are in: the lead scorer writes in the background after each change of a lead. */
const eventCount = async (): Promise<number> => {
  await scoresSettled(api.server.app);
  return (await ok(EVENT_COUNT)).auditTrail.totalCount;
};
const historyOf = async (streamId: string): Promise<any[]> => (await ok(HISTORY, { id: streamId })).history;

/** The person whose data is erased in the story below: a lead converted into a contact and an opportunity. */
const NURIA = { firstName: 'Núria', lastName: 'Vidal', email: 'nuria@vidal-forns.example', phone: '+34 600 000 001', jobTitle: 'Gerente' };
const ids = { leadId: '', contactId: '', accountId: '', opportunityId: '', activityId: '', otherLeadId: '' };

beforeAll(async () => {
  const captured = await ok(`mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`, {
    input: {
      source: 'WEB_FORM',
      campaign: 'ovens-2026',
      person: NURIA,
      company: { name: 'Forns Vidal SL', website: 'forns-vidal.example' },
      interest: { product: 'Bakery oven', notes: 'Núria wants it before the summer', estimatedValue: { amount: '24000.00', currency: 'EUR' } },
    },
  });
  ids.leadId = captured.captureLead.lead.id;
  await ok(`mutation($input: LogLeadContactInput!) { logLeadContact(input: $input) { lead { id } } }`, {
    input: { leadId: ids.leadId, channel: 'CALL', outcome: 'REACHED', notes: 'Called her mobile; she prefers mornings' },
  });
  await ok(`mutation($input: QualifyLeadInput!) { qualifyLead(input: $input) { lead { id } } }`, {
    input: { leadId: ids.leadId, rank: 'SQL', criteria: { need: true, budget: true, authority: true, timing: true }, notes: 'Her partner approved the budget' },
  });
  const converted = await ok(
    `mutation($input: ConvertLeadInput!) { convertLead(input: $input) { account { id } contact { id } opportunity { id } } }`,
    { input: { leadId: ids.leadId, opportunity: { expectedCloseDate: '2027-06-30' } } },
  );
  ids.accountId = converted.convertLead.account.id;
  ids.contactId = converted.convertLead.contact.id;
  ids.opportunityId = converted.convertLead.opportunity.id;
  const scheduled = await ok(
    `mutation($input: ScheduleActivityInput!) { scheduleActivity(input: $input) { activity { id } } }`,
    { input: { opportunityId: ids.opportunityId, kind: 'VISIT', subject: 'Visit Núria at the bakery', notes: 'Ask for her daughter, who runs the ovens' } },
  );
  ids.activityId = scheduled.scheduleActivity.activity.id;

  // Another person, never converted: erased by an administrator below.
  const other = await ok(`mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`, {
    input: { source: 'TRADE_FAIR', person: { firstName: 'Pau', lastName: 'Serra', email: 'pau@serra.example' }, company: { name: 'Serra Obradors' } },
  });
  ids.otherLeadId = other.captureLead.lead.id;
  await ok(`mutation($input: LogLeadContactInput!) { logLeadContact(input: $input) { lead { id } } }`, {
    input: { leadId: ids.otherLeadId, channel: 'MEETING', outcome: 'REACHED', notes: 'Met Pau at the fair' },
  });
});

describe('the events as the store keeps them', () => {
  it('hold the personal fields sealed, on whichever store the server runs (SQLite, PostgreSQL, EventStoreDB)', async () => {
    const sealed = api.server.app.personalData.sealedStore;
    const stored = JSON.stringify([
      ...(await sealed.readStream(`lead-${ids.leadId}`)),
      ...(await sealed.readStream(`contact-${ids.contactId}`)),
      ...(await sealed.readStream(`opportunity-${ids.opportunityId}`)),
    ]);
    for (const plaintext of [NURIA.email, NURIA.phone, `"lastName":"${NURIA.lastName}"`, 'she prefers mornings', 'Visit Núria at the bakery']) {
      expect(stored).not.toContain(plaintext);
    }
    expect(stored).toContain('"personalData":{"keyId":');
    // Company data stays readable in the log.
    const opened = JSON.stringify(await api.server.app.store.readStream(`lead-${ids.leadId}`));
    expect(opened).toContain(NURIA.email);
  });
});

describe('personalData (the access report)', () => {
  it("lists every personal value of the person's lead, contact and opportunity, with its event, actor and times", async () => {
    const report = (await ok(REPORT, { id: ids.leadId }, PRIVACY_OFFICER)).personalData;
    expect(report).toMatchObject({
      subjectId: ids.leadId,
      leadIds: [ids.leadId],
      contactIds: [ids.contactId],
      opportunityIds: [ids.opportunityId],
      erasures: [],
    });
    const lead = `lead-${ids.leadId}`;
    const contact = `contact-${ids.contactId}`;
    const opportunity = `opportunity-${ids.opportunityId}`;
    const where = report.values.map((value: any) => `${value.streamId} ${value.eventType} ${value.field}`);
    expect(where).toEqual(
      expect.arrayContaining([
        `${lead} LeadCaptured person`,
        `${lead} LeadCaptured interest.notes`,
        `${lead} LeadContactLogged notes`,
        `${lead} LeadQualified notes`,
        `${lead} LeadConverted newContact.lastName`,
        `${lead} LeadConverted newContact.email`,
        `${contact} ContactCreated firstName`,
        `${contact} ContactCreated lastName`,
        `${contact} ContactCreated email`,
        `${contact} ContactCreated phone`,
        `${contact} ContactCreated jobTitle`,
        `${opportunity} ActivityScheduled subject`,
        `${opportunity} ActivityScheduled notes`,
      ]),
    );
    const value = (streamId: string, eventType: string, field: string) =>
      report.values.find((v: any) => v.streamId === streamId && v.eventType === eventType && v.field === field).value;
    expect(value(lead, 'LeadCaptured', 'person')).toEqual(NURIA);
    expect(value(lead, 'LeadCaptured', 'interest.notes')).toBe('Núria wants it before the summer');
    expect(value(lead, 'LeadContactLogged', 'notes')).toBe('Called her mobile; she prefers mornings');
    expect(value(lead, 'LeadQualified', 'notes')).toBe('Her partner approved the budget');
    expect(value(contact, 'ContactCreated', 'email')).toBe(NURIA.email);
    expect(value(opportunity, 'ActivityScheduled', 'subject')).toBe('Visit Núria at the bakery');

    // Each value names its event as the log holds it: id, type, revision, actor and times.
    const histories = new Map<string, any[]>();
    for (const streamId of [lead, contact, opportunity]) histories.set(streamId, await historyOf(streamId));
    for (const v of report.values) {
      expect(v).toMatchObject({ erased: false, sealed: true, actor: 'alice' });
      const event = histories.get(v.streamId)!.find((e) => e.id === v.eventId);
      expect(event, `${v.eventType} ${v.field}`).toMatchObject({ type: v.eventType, revision: v.revision, actor: 'alice' });
      expect(Date.parse(v.recordedAt)).not.toBeNaN();
      expect(Date.parse(v.occurredAt)).toBeLessThanOrEqual(Date.parse(v.recordedAt));
    }
    // Company data is not personal: it is not listed.
    expect(where.some((w: string) => w.includes('company'))).toBe(false);

    // Asked by the contact id, it is the same person.
    const byContact = (await ok(REPORT, { id: ids.contactId }, PRIVACY_OFFICER)).personalData;
    expect(byContact).toMatchObject({ subjectId: ids.contactId, leadIds: [ids.leadId], contactIds: [ids.contactId], opportunityIds: [ids.opportunityId] });
    expect(byContact.values).toHaveLength(report.values.length);
  });

  it('NOT_FOUND for an id that is neither a lead nor a contact', async () => {
    const response = await api.gql(REPORT, { id: ids.accountId }, PRIVACY_OFFICER);
    expect(codeOf(response)).toBe('NOT_FOUND');
    expect(codeOf(await api.gql(REPORT, { id: 'nobody-at-all' }, PRIVACY_OFFICER))).toBe('NOT_FOUND');
  });
});

describe('who may', () => {
  it.each(['sales', 'sales_manager', 'marketing', 'analyst', 'auditor'])(
    '%s: FORBIDDEN for both operations, and nothing is written',
    async (role) => {
      const before = await eventCount();
      const caller = { as: `user-${role}`, roles: [role] };
      for (const response of [
        await api.gql(REPORT, { id: ids.leadId }, caller),
        await api.gql(ERASE, { input: { subjectId: ids.leadId, reason: 'Asked by phone' } }, caller),
      ]) {
        expect(codeOf(response)).toBe('FORBIDDEN');
        expect(response.errors![0]!.extensions!.requiredRoles).toEqual(['privacy_officer', 'admin']);
        expect(response.data?.personalData ?? response.data?.erasePersonalData ?? null).toBeNull();
      }
      expect(await eventCount()).toBe(before);
      expect((await ok(LEAD, { id: ids.leadId })).lead).toMatchObject({ person: NURIA, personalDataErased: false });
      expect((await ok(CONTACT, { id: ids.contactId })).contact).toMatchObject({ lastName: 'Vidal', personalDataErased: false });
      expect((await ok(OPPORTUNITY, { id: ids.opportunityId })).opportunity.personalDataErased).toBe(false);
      expect(codeOf(await api.gql(HISTORY, { id: `personal-data-${ids.leadId}` }))).toBe('NOT_FOUND');
    },
  );

  it('refuses an unknown subject (NOT_FOUND) and a missing reason (BAD_USER_INPUT), writing nothing', async () => {
    const before = await eventCount();
    const unknown = await api.gql(ERASE, { input: { subjectId: 'nobody-at-all', reason: 'Asked by e-mail' } }, PRIVACY_OFFICER);
    expect(codeOf(unknown)).toBe('NOT_FOUND');
    const account = await api.gql(ERASE, { input: { subjectId: ids.accountId, reason: 'Asked by e-mail' } }, PRIVACY_OFFICER);
    expect(codeOf(account)).toBe('NOT_FOUND');
    for (const reason of ['', '   ']) {
      const refused = await api.gql(ERASE, { input: { subjectId: ids.leadId, reason } }, PRIVACY_OFFICER);
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: [expect.objectContaining({ field: 'input.reason' })] });
    }
    const tooLong = await api.gql(ERASE, { input: { subjectId: ids.leadId, reason: 'x'.repeat(5001) } }, PRIVACY_OFFICER);
    expect(codeOf(tooLong)).toBe('BAD_USER_INPUT');
    expect(await eventCount()).toBe(before);
    expect((await ok(LEAD, { id: ids.leadId })).lead.person).toEqual(NURIA);
  });
});

describe('erasePersonalData', () => {
  let erasure: any;
  let kpisBefore: unknown;
  let pipelineBefore: unknown;

  it('erases the person as privacy_officer, and answers once the read models include it', async () => {
    kpisBefore = (await ok(KPIS, PERIOD)).kpis;
    pipelineBefore = (await ok(PIPELINE)).pipeline;
    const started = Date.now();
    erasure = (await ok(ERASE, { input: { subjectId: ids.leadId, reason: 'GDPR art. 17 request by e-mail, ticket 4711' } }, PRIVACY_OFFICER))
      .erasePersonalData;
    expect(erasure).toMatchObject({
      subjectId: ids.leadId,
      leadIds: [ids.leadId],
      contactIds: [ids.contactId],
      reason: 'GDPR art. 17 request by e-mail, ticket 4711',
      origin: 'REQUEST',
      erasedBy: 'priya',
      alreadyErased: false,
      unsealedEvents: 0,
    });
    expect(erasure.keyCount).toBeGreaterThanOrEqual(1);
    expect(Date.parse(erasure.erasedAt)).toBeGreaterThanOrEqual(started - 1000);

    const recorded = await historyOf(`personal-data-${ids.leadId}`);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ type: 'PersonalDataErased', actor: 'priya' });
    // The erasure itself carries no personal data.
    expect(JSON.stringify(recorded[0].data)).not.toMatch(/Núria|Vidal|nuria@/);
  });

  it('KPIs and the pipeline answer exactly as before', async () => {
    expect((await ok(KPIS, PERIOD)).kpis).toEqual(kpisBefore);
    expect((await ok(PIPELINE)).pipeline).toEqual(pipelineBefore);
  });

  it('the lead, the contact and the opportunity show no personal data; the rest is kept', async () => {
    const { lead } = await ok(LEAD, { id: ids.leadId }, PRIVACY_OFFICER);
    for (const field of ['firstName', 'lastName', 'email', 'phone', 'jobTitle']) expect(lead.person?.[field] ?? null).toBeNull();
    expect(lead).toMatchObject({
      status: 'CONVERTED',
      company: { name: 'Forns Vidal SL', website: 'forns-vidal.example' },
      interest: { product: 'Bakery oven', notes: null, estimatedValue: { amount: '24000.00', currency: 'EUR' } },
      qualification: { rank: 'SQL', notes: null },
      personalDataErased: true,
    });

    const { contact } = await ok(CONTACT, { id: ids.contactId }, PRIVACY_OFFICER);
    expect(contact).toMatchObject({ id: ids.contactId, firstName: null, lastName: null, email: null, phone: null, jobTitle: null, accountId: ids.accountId, active: true, personalDataErased: true });

    const { opportunity } = await ok(OPPORTUNITY, { id: ids.opportunityId });
    expect(opportunity).toMatchObject({ name: 'Bakery oven', stage: 'QUALIFICATION', amount: { amount: '24000.00' }, personalDataErased: true });
    expect(opportunity.activities).toEqual([{ id: ids.activityId, kind: 'VISIT', subject: null, notes: null, done: false }]);

    // Time travel folds the events, which read erased too: no date brings the data back.
    const before = new Date(Date.parse(erasure.erasedAt) - 1).toISOString();
    const past = await ok(
      `query($id: ID!, $opportunity: ID!, $at: DateTime!) {
        lead(id: $id, knownAt: $at) { person { lastName email } interest { notes } }
        opportunity(id: $opportunity, knownAt: $at) { activities { subject notes } } }`,
      { id: ids.leadId, opportunity: ids.opportunityId, at: before },
    );
    expect(past.lead.person?.lastName ?? null).toBeNull();
    expect(past.lead.interest.notes).toBeNull();
    expect(past.opportunity.activities).toEqual([{ subject: null, notes: null }]);

    // The other person is untouched.
    expect((await ok(LEAD, { id: ids.otherLeadId })).lead).toMatchObject({ person: { firstName: 'Pau', lastName: 'Serra' }, personalDataErased: false });
  });

  it('history, the audit trail and the conversion trace show the events with null fields and erasedPersonalData', async () => {
    const lead = await historyOf(`lead-${ids.leadId}`);
    const captured = lead.find((event) => event.type === 'LeadCaptured')!;
    expect(captured.data).toMatchObject({
      leadId: ids.leadId,
      source: 'WEB_FORM',
      campaign: 'ovens-2026',
      person: null,
      company: { name: 'Forns Vidal SL' },
      interest: { product: 'Bakery oven', notes: null },
    });
    expect([...captured.data.erasedPersonalData].sort()).toEqual(['interest.notes', 'person']);
    expect(lead.find((event) => event.type === 'LeadContactLogged')!.data).toMatchObject({ outcome: 'REACHED', notes: null, erasedPersonalData: ['notes'] });
    const converted = lead.find((event) => event.type === 'LeadConverted')!;
    expect(converted.data.newContact).toMatchObject({ firstName: null, lastName: null, email: null });
    expect(converted.data.contactId).toBe(ids.contactId);
    for (const event of lead) {
      expect(event.data.personalData, 'no envelope is shown').toBeUndefined();
      expect(JSON.stringify(event.data)).not.toMatch(/Núria|nuria@|mornings|partner/);
    }

    const contact = await historyOf(`contact-${ids.contactId}`);
    expect(contact.find((event) => event.type === 'ContactCreated')!.data).toMatchObject({ lastName: null, email: null, accountId: ids.accountId });
    const opportunity = await historyOf(`opportunity-${ids.opportunityId}`);
    expect(opportunity.find((event) => event.type === 'ActivityScheduled')!.data).toMatchObject({
      activityId: ids.activityId,
      kind: 'VISIT',
      subject: null,
      notes: null,
      erasedPersonalData: ['subject', 'notes'],
    });

    const trail = (await ok(AUDIT, { id: `lead-${ids.leadId}` })).auditTrail;
    expect(trail.totalCount).toBe(lead.length);
    expect(trail.edges.map((edge: any) => edge.node)).toEqual(lead.map(({ id, type, data }) => ({ id, type, data })));

    const trace = (
      await ok(`query($id: ID!) { conversionTrace(leadId: $id) { lead { id status } contact { id } conversion { type data } events { type data } } }`, {
        id: ids.leadId,
      })
    ).conversionTrace;
    expect(trace.lead).toEqual({ id: ids.leadId, status: 'CONVERTED' });
    expect(trace.contact).toEqual({ id: ids.contactId });
    expect(trace.conversion.data.newContact).toMatchObject({ lastName: null, email: null });
    expect(JSON.stringify(trace.events)).not.toMatch(/Núria|nuria@|mornings|partner/);
  });

  it('personalData shows every value erased, and the erasure', async () => {
    const report = (await ok(REPORT, { id: ids.contactId }, PRIVACY_OFFICER)).personalData;
    expect(report.values.length).toBeGreaterThanOrEqual(13);
    for (const value of report.values) expect(value).toMatchObject({ value: null, erased: true, sealed: true });
    expect(report.erasures).toEqual([
      {
        subjectId: ids.leadId,
        reason: 'GDPR art. 17 request by e-mail, ticket 4711',
        origin: 'REQUEST',
        erasedAt: erasure.erasedAt,
        erasedBy: 'priya',
        leadIds: [ids.leadId],
        contactIds: [ids.contactId],
        keyCount: erasure.keyCount,
      },
    ]);
  });

  it('erasing again, by the lead or by the contact id, answers alreadyErased and records nothing', async () => {
    const before = await eventCount();
    const again = (await ok(ERASE, { input: { subjectId: ids.leadId, reason: 'Asked again' } }, PRIVACY_OFFICER)).erasePersonalData;
    expect(again).toEqual({ ...erasure, alreadyErased: true });
    const byContact = (await ok(ERASE, { input: { subjectId: ids.contactId, reason: 'Asked by the contact' } }, ADMIN)).erasePersonalData;
    expect(byContact).toEqual({ ...erasure, alreadyErased: true });
    expect(await eventCount()).toBe(before);
    expect(await historyOf(`personal-data-${ids.leadId}`)).toHaveLength(1);
    expect(codeOf(await api.gql(HISTORY, { id: `personal-data-${ids.contactId}` }))).toBe('NOT_FOUND');
  });

  it('refuses later personal data about the person (PERSONAL_DATA_ERASED); other changes go on', async () => {
    const updateContact = await api.gql(
      `mutation($input: UpdateContactInput!) { updateContact(input: $input) { contact { id } } }`,
      { input: { contactId: ids.contactId, firstName: 'Núria', lastName: 'Vidal' } },
    );
    expect(updateContact.errors?.[0]?.extensions).toMatchObject({ code: 'PERSONAL_DATA_ERASED' });
    expect(updateContact.errors![0]!.extensions!.fields.map((f: any) => f.field).sort()).toEqual(['input.firstName', 'input.lastName']);
    const schedule = await api.gql(
      `mutation($input: ScheduleActivityInput!) { scheduleActivity(input: $input) { activity { id } } }`,
      { input: { opportunityId: ids.opportunityId, kind: 'CALL', subject: 'Call Núria back' } },
    );
    expect(codeOf(schedule)).toBe('PERSONAL_DATA_ERASED');

    const moved = await ok(
      `mutation($input: MoveOpportunityStageInput!) { moveOpportunityStage(input: $input) { opportunity { id stage } } }`,
      { input: { opportunityId: ids.opportunityId, stage: 'VISIT_PENDING' } },
    );
    expect(moved.moveOpportunityStage.opportunity.stage).toBe('VISIT_PENDING');
    const deactivated = await ok(
      `mutation($input: DeactivateContactInput!) { deactivateContact(input: $input) { contact { id active } } }`,
      { input: { contactId: ids.contactId } },
    );
    expect(deactivated.deactivateContact.contact.active).toBe(false);
  });

  it('an administrator erases too; an idempotency key replays the answer; the lead then takes only non-personal changes', async () => {
    const input = { subjectId: ids.otherLeadId, reason: 'Retention period over', idempotencyKey: 'erase-pau-1' };
    const first = (await ok(ERASE, { input }, ADMIN)).erasePersonalData;
    expect(first).toMatchObject({ subjectId: ids.otherLeadId, leadIds: [ids.otherLeadId], contactIds: [], erasedBy: 'ada', alreadyErased: false });
    const before = await eventCount();
    expect((await ok(ERASE, { input }, ADMIN)).erasePersonalData).toEqual(first);
    const reused = await api.gql(ERASE, { input: { ...input, reason: 'Something else' } }, ADMIN);
    expect(codeOf(reused)).toBe('BAD_USER_INPUT');
    expect(await eventCount()).toBe(before);

    const { lead } = await ok(LEAD, { id: ids.otherLeadId });
    expect(lead.person?.lastName ?? null).toBeNull();
    expect(lead.personalDataErased).toBe(true);
    expect(lead.company).toMatchObject({ name: 'Serra Obradors' });

    const update = await api.gql(
      `mutation($input: UpdateLeadDetailsInput!) { updateLeadDetails(input: $input) { lead { id } } }`,
      { input: { leadId: ids.otherLeadId, person: { firstName: 'Pau', lastName: 'Serra' } } },
    );
    expect(update.errors?.[0]?.extensions).toMatchObject({ code: 'PERSONAL_DATA_ERASED', fields: [{ field: 'input.person' }] });
    const notes = await api.gql(
      `mutation($input: LogLeadContactInput!) { logLeadContact(input: $input) { lead { id } } }`,
      { input: { leadId: ids.otherLeadId, channel: 'CALL', outcome: 'REACHED', notes: 'Pau called back' } },
    );
    expect(notes.errors?.[0]?.extensions).toMatchObject({ code: 'PERSONAL_DATA_ERASED', fields: [{ field: 'input.notes' }] });

    const assigned = await ok(`mutation($input: AssignLeadInput!) { assignLead(input: $input) { lead { id ownerId } } }`, {
      input: { leadId: ids.otherLeadId, ownerId: 'bob' },
    });
    expect(assigned.assignLead.lead.ownerId).toBe('bob');
    const company = await ok(`mutation($input: UpdateLeadDetailsInput!) { updateLeadDetails(input: $input) { lead { id company { name } } } }`, {
      input: { leadId: ids.otherLeadId, company: { name: 'Serra Obradors SL' } },
    });
    expect(company.updateLeadDetails.lead.company.name).toBe('Serra Obradors SL');
    const contacted = await ok(`mutation($input: LogLeadContactInput!) { logLeadContact(input: $input) { lead { id contactAttempts } } }`, {
      input: { leadId: ids.otherLeadId, channel: 'EMAIL', outcome: 'BOUNCED' },
    });
    expect(contacted.logLeadContact.lead.contactAttempts).toBeGreaterThanOrEqual(2);
  });
});
