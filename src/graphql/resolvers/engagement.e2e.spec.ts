/**
 * `engageContact` over HTTP: a later campaign opens a new lead cycle for a known contact. The
 * person is the contact's and the company its account's; the lead and the contact point to each
 * other; converting the lead lands on the same contact and account without a duplicate; the new
 * lead is sealed under the contact's key, so erasing the person (by any of their ids) erases it
 * too; an erased person cannot be engaged; and the roles that may capture leads may engage.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type GraphQLResponse, type TestServer } from '../../../test/support/testServer';
import { envelopeOf } from '../../personalData/envelope';
import { scoresSettled } from '../../../test/support/scoring';

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer();
});
afterAll(async () => {
  await api.stop();
});

type Caller = { as: string; roles?: string[] };
const ADMIN: Caller = { as: 'alice' };

const LEAD_FIELDS = `id revision status cycle source campaign ownerId contactId
  person { firstName lastName email phone jobTitle } company { name website }
  interest { product estimatedValue { amount currency } }
  contact { id lastName } conversion { accountId contactId opportunityId } possibleDuplicates { kind id matchedOn } personalDataErased`;
const ENGAGE = `mutation($input: EngageContactInput!) { engageContact(input: $input) { lead { ${LEAD_FIELDS} } } }`;
const CAPTURE = `mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`;
const QUALIFY = `mutation($input: QualifyLeadInput!) { qualifyLead(input: $input) { lead { id } } }`;
const CONVERT = `mutation($input: ConvertLeadInput!) { convertLead(input: $input) {
  lead { id status } account { id name } contact { id } opportunity { id name accountId contactId } } }`;
const CREATE_CONTACT = `mutation($input: CreateContactInput!) { createContact(input: $input) { contact { id } } }`;
const DEACTIVATE = `mutation($input: DeactivateContactInput!) { deactivateContact(input: $input) { contact { id active } } }`;
const ERASE = `mutation($input: ErasePersonalDataInput!) { erasePersonalData(input: $input) { leadIds contactIds keyCount } }`;
const LEAD = `query($id: ID!) { lead(id: $id) { ${LEAD_FIELDS} } }`;
const CONTACT = `query($id: ID!) { contact(id: $id) { id accountId lastName personalDataErased
  leadCycles { leadId cycle engaged status } } }`;
const HISTORY = `query($id: ID!) { history(streamId: $id) { type data causationId } }`;
const EVENT_COUNT = `{ auditTrail(first: 0) { totalCount } }`;

const send = (query: string, variables: Record<string, unknown>, caller: Caller = ADMIN) => api.gql(query, variables, caller);

/** The data, or the test fails with the errors. */
const ok = async (query: string, variables: Record<string, unknown> = {}, caller: Caller = ADMIN) => {
  const response = await send(query, variables, caller);
  expect(response.errors, query).toBeUndefined();
  return response.data!;
};
const errorOf = (response: GraphQLResponse) => {
  expect(response.data?.engageContact ?? response.data?.convertLead ?? null).toBeNull();
  return response.errors![0]!.extensions!;
};
/**
 * The events recorded, once the lead scorer has reacted to every write so far and the audit trail
 * has them all: its scores land a moment after the answer of the write that caused them.
 */
const eventCount = async (): Promise<number> => {
  await scoresSettled(api.server.app);
  return (await ok(EVENT_COUNT)).auditTrail.totalCount;
};

const engage = async (input: Record<string, unknown>, caller: Caller = ADMIN) => (await ok(ENGAGE, { input }, caller)).engageContact.lead;

/** A lead captured, qualified SQL and converted: the person becomes a contact of a new account. */
const aCustomer = async (lastName: string, company: string) => {
  const email = `${lastName.toLowerCase()}@${company.toLowerCase().replace(/\W/g, '')}.example`;
  const { captureLead } = await ok(CAPTURE, {
    input: {
      source: 'WEB_FORM',
      campaign: 'first-contact',
      person: { firstName: 'Marta', lastName, email, jobTitle: 'Owner' },
      company: { name: company, website: `${company.toLowerCase().replace(/\W/g, '')}.example` },
      interest: { product: 'Shop refurbishment' },
    },
  });
  await ok(QUALIFY, { input: { leadId: captureLead.lead.id, rank: 'SQL' } });
  const { convertLead } = await ok(CONVERT, { input: { leadId: captureLead.lead.id } });
  return { leadId: captureLead.lead.id as string, contactId: convertLead.contact.id as string, accountId: convertLead.account.id as string, email };
};

const convertAgain = async (leadId: string, input: Record<string, unknown> = {}) => {
  await ok(QUALIFY, { input: { leadId, rank: 'SQL' } });
  return send(CONVERT, { input: { leadId, ...input } });
};

describe('engageContact', () => {
  it("opens a new lead cycle with the contact's person and its account's company, linked both ways", async () => {
    const customer = await aCustomer('Puig', 'Botiga Puig');
    const lead = await engage({
      contactId: customer.contactId,
      source: 'SOCIAL_MEDIA',
      campaign: 'spring-refit',
      interest: { product: 'Window displays', estimatedValue: { amount: '4200.00', currency: 'EUR' } },
    });
    expect(lead).toMatchObject({
      revision: 0,
      status: 'NEW',
      cycle: 1,
      source: 'SOCIAL_MEDIA',
      campaign: 'spring-refit',
      ownerId: null,
      contactId: customer.contactId,
      person: { firstName: 'Marta', lastName: 'Puig', email: customer.email, jobTitle: 'Owner' },
      company: { name: 'Botiga Puig', website: 'botigapuig.example' },
      interest: { product: 'Window displays', estimatedValue: { amount: '4200.00', currency: 'EUR' } },
      contact: { id: customer.contactId, lastName: 'Puig' },
      conversion: null,
      // Its own contact is the same person, not a duplicate of it.
      possibleDuplicates: [],
    });
    expect(lead.id).not.toBe(customer.leadId);

    const contact = (await ok(CONTACT, { id: customer.contactId })).contact;
    expect(contact.leadCycles).toEqual([
      { leadId: customer.leadId, cycle: 1, engaged: false, status: 'CONVERTED' },
      { leadId: lead.id, cycle: 1, engaged: true, status: 'NEW' },
    ]);
    const history = (await ok(HISTORY, { id: `contact-${customer.contactId}` })).history;
    expect(history.at(-1)).toMatchObject({
      type: 'ContactEngaged',
      data: { contactId: customer.contactId, leadId: lead.id, source: 'SOCIAL_MEDIA', campaign: 'spring-refit' },
    });
    const [captured] = (await ok(HISTORY, { id: `lead-${lead.id}` })).history;
    expect(captured).toMatchObject({ type: 'LeadCaptured', data: { contactId: customer.contactId, accountId: customer.accountId } });
  });

  it('converts onto the same contact and account: no new contact or account, no DUPLICATE_SUSPECTED, a new opportunity', async () => {
    const customer = await aCustomer('Vidal', 'Ferros Vidal');
    const first = await ok(`query($id: ID!) { lead(id: $id) { conversion { opportunityId } } }`, { id: customer.leadId });
    const lead = await engage({ contactId: customer.contactId, source: 'EMAIL_CAMPAIGN', campaign: 'autumn', interest: { product: 'Gates' } });
    const converted = await convertAgain(lead.id);
    expect(converted.errors).toBeUndefined();
    const { convertLead } = converted.data!;
    expect(convertLead).toMatchObject({
      lead: { id: lead.id, status: 'CONVERTED' },
      account: { id: customer.accountId, name: 'Ferros Vidal' },
      contact: { id: customer.contactId },
      opportunity: { name: 'Gates', accountId: customer.accountId, contactId: customer.contactId },
    });
    expect(convertLead.opportunity.id).not.toBe(first.lead.conversion.opportunityId);

    const accounts = await ok(`{ accounts(filter: { search: "Ferros Vidal" }) { totalCount } }`);
    expect(accounts.accounts.totalCount).toBe(1);
    const contacts = await ok(`query($s: String) { contacts(filter: { search: $s }) { totalCount } }`, { s: customer.email });
    expect(contacts.contacts.totalCount).toBe(1);
    const contact = (await ok(CONTACT, { id: customer.contactId })).contact;
    expect(contact.leadCycles).toEqual([
      { leadId: customer.leadId, cycle: 1, engaged: false, status: 'CONVERTED' },
      { leadId: lead.id, cycle: 1, engaged: true, status: 'CONVERTED' },
    ]);
    expect((await ok(LEAD, { id: lead.id })).lead.contact).toEqual({ id: customer.contactId, lastName: 'Vidal' });
  });

  it('refuses to convert such a lead onto another contact', async () => {
    const customer = await aCustomer('Soler', 'Fusteria Soler');
    const other = (await ok(CREATE_CONTACT, { input: { lastName: 'Other' } })).createContact.contact.id;
    const lead = await engage({ contactId: customer.contactId, source: 'REFERRAL' });
    const refused = errorOf(await convertAgain(lead.id, { existingContactId: other }));
    expect(refused.code).toBe('BAD_USER_INPUT');
    expect(refused.fields).toEqual([{ field: 'input.existingContactId', message: expect.stringContaining(customer.contactId) }]);
    expect((await ok(LEAD, { id: lead.id })).lead.status).toBe('QUALIFIED');
  });

  it('engages a contact that never was a lead, with no account: no company, and its conversion needs an account', async () => {
    const contactId = (await ok(CREATE_CONTACT, { input: { firstName: 'Pau', lastName: 'Roca', email: 'pau@roca.example' } }))
      .createContact.contact.id;
    const lead = await engage({ contactId, source: 'INBOUND_CALL' });
    expect(lead).toMatchObject({ contactId, company: null, person: { firstName: 'Pau', lastName: 'Roca', email: 'pau@roca.example' } });
    const needsAccount = errorOf(await convertAgain(lead.id));
    expect(needsAccount.code).toBe('BAD_USER_INPUT');
    expect(needsAccount.fields[0].field).toBe('input.account.new.name');
    const converted = await send(CONVERT, { input: { leadId: lead.id, account: { new: { kind: 'GROUPING', name: 'Girona stores' } } } });
    expect(converted.errors).toBeUndefined();
    expect(converted.data!.convertLead).toMatchObject({ contact: { id: contactId }, account: { name: 'Girona stores' } });
    expect((await ok(CONTACT, { id: contactId })).contact.accountId).toBe(converted.data!.convertLead.account.id);
  });

  it('engages an inactive contact; converting the lead waits until the contact is reactivated', async () => {
    const customer = await aCustomer('Ferrer', 'Ferrer i Fills');
    await ok(DEACTIVATE, { input: { contactId: customer.contactId, reason: 'Left for a while' } });
    const lead = await engage({ contactId: customer.contactId, source: 'COLD_OUTREACH' });
    expect(lead).toMatchObject({ contactId: customer.contactId, company: { name: 'Ferrer i Fills' } });
    const refused = errorOf(await convertAgain(lead.id));
    expect(refused).toMatchObject({ code: 'INVALID_TRANSITION', state: 'INACTIVE' });
    await ok(`mutation($input: ReactivateContactInput!) { reactivateContact(input: $input) { contact { id } } }`, {
      input: { contactId: customer.contactId },
    });
    const converted = await send(CONVERT, { input: { leadId: lead.id } });
    expect(converted.errors).toBeUndefined();
    expect(converted.data!.convertLead.account.id).toBe(customer.accountId);
  });

  it('refuses an unknown contact with NOT_FOUND, and records nothing', async () => {
    const before = await eventCount();
    const refused = errorOf(await send(ENGAGE, { input: { contactId: 'no-such-contact', source: 'WEB_FORM' } }));
    expect(refused.code).toBe('NOT_FOUND');
    expect(await eventCount()).toBe(before);
  });

  it('answers a replay with the same lead and records nothing more', async () => {
    const customer = await aCustomer('Mas', 'Cal Mas');
    const input = { contactId: customer.contactId, source: 'TRADE_FAIR', campaign: 'fira', idempotencyKey: 'engage-mas-1' };
    const first = await engage(input);
    const before = await eventCount();
    const again = await engage(input);
    expect(again.id).toBe(first.id);
    expect(await eventCount()).toBe(before);
    const other = errorOf(await send(ENGAGE, { input: { ...input, campaign: 'another' } }));
    expect(other.code).toBe('BAD_USER_INPUT');
    const engaged = (await ok(HISTORY, { id: `contact-${customer.contactId}` })).history.filter((e: any) => e.type === 'ContactEngaged');
    expect(engaged).toHaveLength(1);
  });
});

describe("an engaged lead's personal data", () => {
  it("is sealed under the contact's key: one person, one key", async () => {
    const customer = await aCustomer('Costa', 'Costa Brava SL');
    const lead = await engage({ contactId: customer.contactId, source: 'WEB_FORM' });
    const sealed = api.server.app.personalData.sealedStore;
    const keyOf = async (streamId: string) => envelopeOf((await sealed.readStream(streamId))[0]!.data)?.keyId;
    const contactKey = await keyOf(`contact-${customer.contactId}`);
    expect(contactKey).toBeDefined();
    expect(await keyOf(`lead-${lead.id}`)).toBe(contactKey);
    const [stored] = await sealed.readStream(`lead-${lead.id}`);
    // The person is sealed; the company (business data) is not.
    expect(JSON.stringify(stored!.data)).not.toContain(customer.email);
    expect(JSON.stringify(stored!.data)).toContain('Costa Brava SL');
  });

  it('is erased with the contact, and by the id of any of their leads', async () => {
    for (const subject of ['contact', 'first lead', 'engaged lead'] as const) {
      const customer = await aCustomer(`Erased${subject.replace(/\W/g, '')}`, `Erasure ${subject} SA`);
      const lead = await engage({ contactId: customer.contactId, source: 'WEB_FORM', interest: { product: 'Roof' } });
      const subjectId = { contact: customer.contactId, 'first lead': customer.leadId, 'engaged lead': lead.id }[subject];
      const erasure = (await ok(ERASE, { input: { subjectId, reason: `request ${subject}` } })).erasePersonalData;
      expect(erasure.leadIds, subject).toEqual([customer.leadId, lead.id].sort());
      expect(erasure.contactIds, subject).toEqual([customer.contactId]);
      const erased = (await ok(LEAD, { id: lead.id })).lead;
      expect(erased, subject).toMatchObject({ person: null, personalDataErased: true, interest: { product: 'Roof' } });
      expect((await ok(CONTACT, { id: customer.contactId })).contact).toMatchObject({ lastName: null, personalDataErased: true });
    }
  });

  it('cannot be recorded again: an erased person is not engaged (PERSONAL_DATA_ERASED), and nothing is written', async () => {
    const customer = await aCustomer('Forgotten', 'Oblit SL');
    await ok(ERASE, { input: { subjectId: customer.contactId, reason: 'DSAR-77' } });
    const before = await eventCount();
    const refused = errorOf(await send(ENGAGE, { input: { contactId: customer.contactId, source: 'WEB_FORM' } }));
    expect(refused.code).toBe('PERSONAL_DATA_ERASED');
    expect(refused.fields).toEqual([{ field: 'input.contactId', message: 'erased: cannot be recorded' }]);
    expect(await eventCount()).toBe(before);
  });
});

describe('who may engage a contact', () => {
  it('the roles that capture leads: marketing, sales (owning the lead itself or leaving it unowned), managers, admins', async () => {
    const customer = await aCustomer('Roles', 'Rols SL');
    const input = { contactId: customer.contactId, source: 'WEB_FORM' };
    expect((await engage(input, { as: 'mia', roles: ['marketing'] })).ownerId).toBeNull();
    expect((await engage({ ...input, ownerId: 'sam' }, { as: 'sam', roles: ['sales'] })).ownerId).toBe('sam');
    expect((await engage({ ...input, ownerId: 'ben' }, { as: 'max', roles: ['sales_manager'] })).ownerId).toBe('ben');
  });

  it('refuses sales giving the new lead to someone else, and every role that may not capture leads, writing nothing', async () => {
    const customer = await aCustomer('Refused', 'Refusat SL');
    const input = { contactId: customer.contactId, source: 'WEB_FORM' };
    const before = await eventCount();
    const salesForOther = errorOf(await send(ENGAGE, { input: { ...input, ownerId: 'ben' } }, { as: 'sam', roles: ['sales'] }));
    expect(salesForOther).toMatchObject({ code: 'FORBIDDEN', requiredRoles: ['sales_manager', 'admin'] });
    for (const role of ['analyst', 'auditor', 'privacy_officer']) {
      const refused = errorOf(await send(ENGAGE, { input }, { as: `user-${role}`, roles: [role] }));
      expect(refused, role).toMatchObject({ code: 'FORBIDDEN', requiredRoles: ['marketing', 'sales', 'sales_manager', 'admin'] });
    }
    expect(await eventCount()).toBe(before);
    expect((await ok(CONTACT, { id: customer.contactId })).contact.leadCycles).toHaveLength(1);
  });
});
