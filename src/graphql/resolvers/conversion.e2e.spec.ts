import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/support/testServer';

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer();
});
afterAll(async () => {
  await api.stop();
});

const CONVERT = `mutation($input: ConvertLeadInput!) { convertLead(input: $input) {
  lead { id status revision conversion { accountId contactId opportunityId convertedBy } }
  account { id kind name status website fromLeadId }
  contact { id firstName lastName email accountId }
  opportunity { id name stage probability accountId contactId amount { amount currency } status }
} }`;

let sequence = 0;
/** A lead captured, reached and qualified as SQL, ready to convert. */
const qualifiedLead = async (overrides: Record<string, unknown> = {}, rank = 'SQL') => {
  sequence += 1;
  const captured = await api.gql(
    `mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`,
    {
      input: {
        source: 'INBOUND_EMAIL',
        person: { firstName: 'Marta', lastName: `Puig ${sequence}`, email: `marta${sequence}@botiga${sequence}.example` },
        company: { name: `Botiga Puig ${sequence}`, website: `botiga${sequence}.example` },
        interest: { product: 'Shop refurbishment', estimatedValue: { amount: '18500.00', currency: 'EUR' } },
        ...overrides,
      },
    },
  );
  const leadId = captured.data!.captureLead.lead.id as string;
  await api.gql(`mutation($id: ID!) { logLeadContact(input: { leadId: $id, channel: CALL, outcome: REACHED }) { lead { id } } }`, {
    id: leadId,
  });
  const qualified = await api.gql(`mutation($id: ID!, $rank: LeadRank!) { qualifyLead(input: { leadId: $id, rank: $rank,
    criteria: { need: true, budget: true, authority: true, timing: true } }) { lead { status } } }`, { id: leadId, rank });
  expect(qualified.data!.qualifyLead.lead.status).toBe('QUALIFIED');
  return leadId;
};

const convert = (input: Record<string, unknown>) => api.gql(CONVERT, { input });

describe('convertLead, B2B', () => {
  it('unpacks the backpack into an account, a contact and an opportunity linked to both', async () => {
    const leadId = await qualifiedLead();
    const response = await convert({ leadId, opportunity: { expectedCloseDate: '2027-03-31' } });
    expect(response.errors).toBeUndefined();
    const { lead, account, contact, opportunity } = response.data!.convertLead;
    expect(account).toMatchObject({ kind: 'COMPANY', name: `Botiga Puig ${sequence}`, status: 'PROSPECT', fromLeadId: leadId });
    expect(contact).toMatchObject({ lastName: `Puig ${sequence}`, accountId: account.id });
    expect(opportunity).toMatchObject({
      name: 'Shop refurbishment',
      stage: 'QUALIFICATION',
      probability: 10,
      accountId: account.id,
      contactId: contact.id,
      amount: { amount: '18500.00', currency: 'EUR' },
      status: 'OPEN',
    });
    expect(lead).toMatchObject({
      status: 'CONVERTED',
      conversion: { accountId: account.id, contactId: contact.id, opportunityId: opportunity.id, convertedBy: 'alice' },
    });

    const read = await api.gql(`query($lead: ID!, $account: ID!, $contact: ID!) {
      lead(id: $lead) { status conversion { account { name } contact { email } opportunity { name } } }
      account(id: $account) { contacts { id } opportunities { id } }
      contact(id: $contact) { leadCycles { leadId cycle status } }
    }`, { lead: leadId, account: account.id, contact: contact.id });
    expect(read.data!.lead.conversion).toMatchObject({ account: { name: account.name }, opportunity: { name: 'Shop refurbishment' } });
    expect(read.data!.account.contacts.map((c: any) => c.id)).toEqual([contact.id]);
    expect(read.data!.account.opportunities.map((o: any) => o.id)).toEqual([opportunity.id]);
    expect(read.data!.contact.leadCycles).toEqual([{ leadId, cycle: 1, status: 'CONVERTED' }]);
  });

  it('leaves the converted lead read-only', async () => {
    const leadId = await qualifiedLead();
    await convert({ leadId });
    const refused = await api.gql(`mutation($id: ID!) { logLeadContact(input: { leadId: $id, channel: CALL, outcome: REACHED }) { lead { id } } }`, { id: leadId });
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_TRANSITION', state: 'CONVERTED' });
    const again = await convert({ leadId, createOpportunity: false });
    expect(again.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_TRANSITION', state: 'CONVERTED' });
  });

  it('refuses an MQL, and a lead that is not qualified', async () => {
    const mql = await qualifiedLead({}, 'MQL');
    expect((await convert({ leadId: mql })).errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_TRANSITION', state: 'QUALIFIED' });
    const captured = await api.gql(`mutation { captureLead(input: { source: OTHER, person: { lastName: "New" } }) { lead { id } } }`);
    const fresh = await convert({ leadId: captured.data!.captureLead.lead.id });
    expect(fresh.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_TRANSITION', state: 'NEW' });
    expect((await convert({ leadId: 'missing' })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('attaches to an existing account and reuses an existing contact, without opening an opportunity', async () => {
    const opened = await api.gql(`mutation { openAccount(input: { kind: COMPANY, name: "Grup Ferrer" }) { account { id } } }`);
    const accountId = opened.data!.openAccount.account.id;
    const created = await api.gql(`mutation { createContact(input: { lastName: "Ferrer", email: "pau@ferrer.example" }) { contact { id } } }`);
    const contactId = created.data!.createContact.contact.id;
    const leadId = await qualifiedLead();
    const response = await convert({ leadId, account: { existingAccountId: accountId }, existingContactId: contactId, createOpportunity: false });
    expect(response.errors).toBeUndefined();
    expect(response.data!.convertLead).toMatchObject({
      account: { id: accountId, name: 'Grup Ferrer' },
      contact: { id: contactId, accountId },
      opportunity: null,
    });
    const cycles = await api.gql(`query($id: ID!) { contact(id: $id) { leadCycles { leadId status } } }`, { id: contactId });
    expect(cycles.data!.contact.leadCycles).toEqual([{ leadId, status: 'CONVERTED' }]);
  });

  it('NOT_FOUND for an unknown account or contact, and nothing is written', async () => {
    const leadId = await qualifiedLead();
    const response = await convert({ leadId, account: { existingAccountId: 'nope' } });
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', entity: 'Account' });
    const lead = await api.gql(`query($id: ID!) { lead(id: $id) { status } }`, { id: leadId });
    expect(lead.data!.lead.status).toBe('QUALIFIED');
  });

  it('BAD_USER_INPUT for contradictory choices', async () => {
    const leadId = await qualifiedLead();
    const both = await convert({ leadId, account: { existingAccountId: 'a', new: { kind: 'COMPANY' } } });
    expect(both.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: [{ field: 'input.account' }] });
    const none = await convert({ leadId, createOpportunity: false, opportunity: { name: 'x' } });
    expect(none.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('convertLead, B2C', () => {
  it('attaches consumers to a grouping account, and the pipeline can be cut by it', async () => {
    const first = await qualifiedLead({ company: undefined });
    const opened = await convert({ leadId: first, account: { new: { kind: 'GROUPING', name: 'Girona stores' } } });
    expect(opened.errors).toBeUndefined();
    const grouping = opened.data!.convertLead.account;
    expect(grouping).toMatchObject({ kind: 'GROUPING', name: 'Girona stores', website: null });

    const second = await qualifiedLead({ company: undefined, interest: { product: 'Kitchen', estimatedValue: { amount: '1000.50', currency: 'EUR' } } });
    const joined = await convert({ leadId: second, account: { existingAccountId: grouping.id } });
    expect(joined.data!.convertLead.contact.accountId).toBe(grouping.id);

    const pipeline = await api.gql(`query($id: ID!) { pipeline(filter: { accountId: $id }) {
      stages { stage count amount { amount } weightedAmount { amount } } } }`, { id: grouping.id });
    const qualification = pipeline.data!.pipeline.stages.find((s: any) => s.stage === 'QUALIFICATION');
    expect(qualification).toMatchObject({ count: 2, amount: { amount: '19500.50' }, weightedAmount: { amount: '1950.05' } });
  });

  it('refuses an unnamed grouping', async () => {
    const leadId = await qualifiedLead({ company: undefined });
    const response = await convert({ leadId, account: { new: { kind: 'GROUPING' } } });
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: [{ field: 'input.account.new.name' }] });
  });
});

describe('duplicates', () => {
  it("suspects an account of the same name whatever the apostrophes, accents and case", async () => {
    const existing = await api.gql(`mutation { openAccount(input: { kind: COMPANY, name: "L'Òptica Puig, S.L." }) { account { id } } }`);
    const accountId = existing.data!.openAccount.account.id;
    const leadId = await qualifiedLead({ company: { name: 'l optica PUIG' } });

    const refused = await convert({ leadId });
    expect(refused.errors?.[0]?.extensions?.code).toBe('DUPLICATE_SUSPECTED');
    expect(refused.errors![0]!.extensions!.candidates).toContainEqual(
      expect.objectContaining({ entity: 'Account', id: accountId, matchedOn: 'NAME' }),
    );
    const lead = await api.gql(`query($id: ID!) { lead(id: $id) { status } }`, { id: leadId });
    expect(lead.data!.lead.status).toBe('QUALIFIED');

    const attached = await convert({ leadId, account: { existingAccountId: accountId } });
    expect(attached.data!.convertLead.account.id).toBe(accountId);
  });

  it('suspects a contact with the same e-mail, and allowDuplicate goes ahead', async () => {
    await api.gql(`mutation { createContact(input: { lastName: "Roca", email: "Anna.Roca@Fusteria.example" }) { contact { id } } }`);
    const leadId = await qualifiedLead({ person: { lastName: 'Roca', email: 'anna.roca@fusteria.example' }, company: { name: 'Fusteria Roca Nova' } });
    const refused = await convert({ leadId });
    expect(refused.errors?.[0]?.extensions?.candidates).toContainEqual(expect.objectContaining({ entity: 'Contact', matchedOn: 'EMAIL' }));
    const allowed = await convert({ leadId, allowDuplicate: true });
    expect(allowed.errors).toBeUndefined();
    expect(allowed.data!.convertLead.contact.email).toBe('anna.roca@fusteria.example');
  });
});

describe('exactly once', () => {
  it('20 concurrent identical conversions yield one account, contact and opportunity, and the same answer', async () => {
    const leadId = await qualifiedLead({ company: { name: 'Concurrència SA' } });
    const responses = await Promise.all(Array.from({ length: 20 }, () => convert({ leadId })));
    for (const response of responses) expect(response.errors).toBeUndefined();
    const answers = new Set(responses.map((r) => JSON.stringify(r.data!.convertLead)));
    expect(answers.size).toBe(1);

    const { account, contact, opportunity } = responses[0]!.data!.convertLead;
    const accounts = await api.gql(`{ accounts(filter: { search: "concurrencia" }) { totalCount } }`);
    expect(accounts.data!.accounts.totalCount).toBe(1);
    for (const streamId of [`lead-${leadId}`, `account-${account.id}`, `contact-${contact.id}`, `opportunity-${opportunity.id}`]) {
      const history = await api.gql(`query($id: ID!) { history(streamId: $id) { type causationId } }`, { id: streamId });
      const types = history.data!.history.map((e: any) => e.type);
      expect(types.filter((t: string) => ['LeadConverted', 'AccountOpened', 'ContactCreated', 'OpportunityOpened'].includes(t))).toHaveLength(1);
    }
  });

  it('ties every event of a conversion to the LeadConverted fact that caused it', async () => {
    const leadId = await qualifiedLead();
    const { account } = (await convert({ leadId })).data!.convertLead;
    const lead = await api.gql(`query($id: ID!) { history(streamId: $id) { id type actor correlationId } }`, { id: `lead-${leadId}` });
    const converted = lead.data!.history.find((e: any) => e.type === 'LeadConverted');
    const accountHistory = await api.gql(`query($id: ID!) { history(streamId: $id) { type causationId correlationId actor } }`, {
      id: `account-${account.id}`,
    });
    expect(accountHistory.data!.history).toEqual([
      { type: 'AccountOpened', causationId: converted.id, correlationId: converted.correlationId, actor: 'alice' },
    ]);
  });
});
