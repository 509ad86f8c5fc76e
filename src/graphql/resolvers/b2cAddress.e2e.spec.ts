/**
 * A consumer's address (B2C): a lead with no company keeps the person's own address in the
 * person, conversion into a GROUPING account carries it to the contact (never to the grouping),
 * the log holds it sealed under the person's key, the access report lists it, and an erasure
 * nulls it everywhere: the lead's person, the contact, its read-model row, the history.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../core/eventStore';
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

const ok = async (query: string, variables: Record<string, unknown> = {}, caller: Caller = ALICE) => {
  const response = await api.gql(query, variables, caller);
  expect(response.errors, query).toBeUndefined();
  return response.data!;
};
const fieldsOf = (response: GraphQLResponse) => response.errors?.[0]?.extensions?.fields?.map((f: any) => f.field) ?? [];

const ADDRESS = 'address { street city postalCode region country }';
const CAPTURE = `mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id person { lastName ${ADDRESS} } } } }`;
const LEAD = `query($id: ID!) { lead(id: $id) { id status company { name } person { firstName lastName email ${ADDRESS} } personalDataErased } }`;
const CONTACT = `query($id: ID!) { contact(id: $id) { id firstName lastName email ${ADDRESS} accountId personalDataErased
  account { id kind name ${ADDRESS} } } }`;
const CONVERT = `mutation($input: ConvertLeadInput!) { convertLead(input: $input) {
  account { id kind name ${ADDRESS} } contact { id lastName accountId ${ADDRESS} } opportunity { id } } }`;
const UPDATE_CONTACT = `mutation($input: UpdateContactInput!) { updateContact(input: $input) { contact { id ${ADDRESS} } } }`;
const CREATE_CONTACT = `mutation($input: CreateContactInput!) { createContact(input: $input) { contact { id lastName ${ADDRESS} } } }`;
const ERASE = `mutation($input: ErasePersonalDataInput!) { erasePersonalData(input: $input) { leadIds contactIds alreadyErased } }`;
const REPORT = `query($id: ID!) { personalData(subjectId: $id) { leadIds contactIds
  values { streamId eventType field value erased sealed } } }`;
const HISTORY = `query($id: ID!) { history(streamId: $id) { type data } }`;

/** Laia buys a kitchen for her flat: a consumer, no company. */
const HOME = { street: 'Carrer de la Rutlla 27, 3r 2a', city: 'Girona', postalCode: '17002', region: 'Catalunya', country: 'ES' };
const NEW_HOME = { street: 'Passeig de la Devesa 8, 1r', city: 'Girona', postalCode: '17001', country: 'ES' };
const LAIA = { firstName: 'Laia', lastName: 'Roca', email: 'laia.roca@correu.example', address: HOME };
const ids = { leadId: '', contactId: '', accountId: '', opportunityId: '' };

describe("a consumer's address, from lead to contact to erasure", () => {
  it('is captured in the person of a lead that has no company', async () => {
    const captured = await ok(CAPTURE, {
      input: { source: 'WEB_FORM', person: LAIA, interest: { product: 'Kitchen', estimatedValue: { amount: '9800.00', currency: 'EUR' } } },
    });
    ids.leadId = captured.captureLead.lead.id;
    expect(captured.captureLead.lead.person).toEqual({ lastName: 'Roca', address: HOME });
    expect((await ok(LEAD, { id: ids.leadId })).lead).toMatchObject({ company: null, person: LAIA, personalDataErased: false });
  });

  it('goes to the contact when the lead is converted into a GROUPING account, and not to the grouping', async () => {
    await ok(`mutation($id: ID!) { logLeadContact(input: { leadId: $id, channel: CALL, outcome: REACHED }) { lead { id } } }`, { id: ids.leadId });
    await ok(`mutation($id: ID!) { qualifyLead(input: { leadId: $id, rank: SQL,
      criteria: { need: true, budget: true, authority: true, timing: true } }) { lead { status } } }`, { id: ids.leadId });
    const converted = (await ok(CONVERT, { input: { leadId: ids.leadId, account: { new: { kind: 'GROUPING', name: 'Girona consumers' } } } }))
      .convertLead;
    ids.accountId = converted.account.id;
    ids.contactId = converted.contact.id;
    ids.opportunityId = converted.opportunity.id;
    expect(converted.account).toMatchObject({ kind: 'GROUPING', name: 'Girona consumers', address: null });
    expect(converted.contact).toMatchObject({ lastName: 'Roca', accountId: ids.accountId, address: HOME });

    const { contact } = await ok(CONTACT, { id: ids.contactId });
    expect(contact).toMatchObject({ firstName: 'Laia', lastName: 'Roca', email: LAIA.email, address: HOME, personalDataErased: false });
    expect(contact.account).toMatchObject({ id: ids.accountId, kind: 'GROUPING', address: null });
  });

  it('is replaced whole by updateContact, and an unchanged one records nothing', async () => {
    const moved = (await ok(UPDATE_CONTACT, { input: { contactId: ids.contactId, address: NEW_HOME } })).updateContact.contact;
    expect(moved.address).toEqual({ ...NEW_HOME, region: null });
    const events = async () => (await ok(HISTORY, { id: `contact-${ids.contactId}` })).history.length;
    const before = await events();
    await ok(UPDATE_CONTACT, { input: { contactId: ids.contactId, address: { country: 'ES', postalCode: '17001', city: 'Girona', street: NEW_HOME.street } } });
    expect(await events()).toBe(before);
  });

  it('is held sealed in the log: neither the street nor the postal code is in clear on any stream of the person', async () => {
    const sealed = api.server.app.personalData.sealedStore;
    const streams = [`lead-${ids.leadId}`, `contact-${ids.contactId}`, `account-${ids.accountId}`, `opportunity-${ids.opportunityId}`];
    const stored: RecordedEvent[] = [];
    for (const streamId of streams) stored.push(...(await sealed.readStream(streamId)));
    const text = JSON.stringify(stored);
    for (const plaintext of [HOME.street, NEW_HOME.street, 'Rutlla', 'Devesa', '"postalCode"', `"${HOME.postalCode}"`, `"${NEW_HOME.postalCode}"`]) {
      expect(text).not.toContain(plaintext);
    }
    const fieldsSealed = (type: string) =>
      stored.filter((event) => event.type === type).map((event) => (event.data as any).personalData?.fields ?? []);
    expect(fieldsSealed('LeadCaptured')).toEqual([['person']]);
    expect(fieldsSealed('LeadConverted')[0]).toContain('newContact.address');
    expect(fieldsSealed('ContactCreated')[0]).toContain('address');
    expect(fieldsSealed('ContactUpdated')).toEqual([['address']]);
    // Opened by the store, they read as written.
    const opened = JSON.stringify(await api.server.app.store.readStream(`contact-${ids.contactId}`));
    expect(opened).toContain(HOME.street);
    expect(opened).toContain(NEW_HOME.street);
  });

  it('is listed by the access report, under the lead and the contact', async () => {
    const report = (await ok(REPORT, { id: ids.contactId }, PRIVACY_OFFICER)).personalData;
    expect(report).toMatchObject({ leadIds: [ids.leadId], contactIds: [ids.contactId] });
    const value = (streamId: string, eventType: string, field: string) =>
      report.values.find((v: any) => v.streamId === streamId && v.eventType === eventType && v.field === field);
    const lead = `lead-${ids.leadId}`;
    const contact = `contact-${ids.contactId}`;
    expect(value(lead, 'LeadCaptured', 'person')).toMatchObject({ value: LAIA, erased: false, sealed: true });
    expect(value(lead, 'LeadConverted', 'newContact.address')).toMatchObject({ value: HOME, erased: false, sealed: true });
    expect(value(contact, 'ContactCreated', 'address')).toMatchObject({ value: HOME, erased: false, sealed: true });
    expect(value(contact, 'ContactUpdated', 'address')).toMatchObject({ value: NEW_HOME, erased: false, sealed: true });
  });

  it('reads null everywhere once the person is erased', async () => {
    const erased = (await ok(ERASE, { input: { subjectId: ids.leadId, reason: 'GDPR art. 17 request, ticket 5120' } }, PRIVACY_OFFICER))
      .erasePersonalData;
    expect(erased).toMatchObject({ leadIds: [ids.leadId], contactIds: [ids.contactId], alreadyErased: false });

    const { lead } = await ok(LEAD, { id: ids.leadId }, PRIVACY_OFFICER);
    expect(lead).toMatchObject({ status: 'CONVERTED', person: null, personalDataErased: true });
    const { contact } = await ok(CONTACT, { id: ids.contactId }, PRIVACY_OFFICER);
    expect(contact).toMatchObject({ lastName: null, address: null, accountId: ids.accountId, personalDataErased: true });
    expect(contact.account).toMatchObject({ kind: 'GROUPING', name: 'Girona consumers' });

    // The read models' rows hold none of it.
    const readDb = api.server.app.readDb;
    const row = await readDb.get<Record<string, unknown>>('SELECT * FROM read_contacts WHERE id = ?', [ids.contactId]);
    expect(row).toMatchObject({ address: null });
    const rows = JSON.stringify([
      row,
      await readDb.get('SELECT * FROM read_leads WHERE id = ?', [ids.leadId]),
      await readDb.get('SELECT * FROM read_accounts WHERE id = ?', [ids.accountId]),
    ]);
    for (const plaintext of ['Rutlla', 'Devesa', HOME.postalCode, NEW_HOME.postalCode]) expect(rows).not.toContain(plaintext);

    // History shows the events with the address null, and says it was erased.
    const history = (await ok(HISTORY, { id: `contact-${ids.contactId}` })).history;
    expect(history.find((event: any) => event.type === 'ContactCreated').data).toMatchObject({ address: null, lastName: null });
    expect(history.find((event: any) => event.type === 'ContactUpdated').data).toMatchObject({ address: null, erasedPersonalData: ['address'] });
    const converted = (await ok(HISTORY, { id: `lead-${ids.leadId}` })).history.find((event: any) => event.type === 'LeadConverted');
    expect(converted.data.newContact).toMatchObject({ address: null, lastName: null });

    const report = (await ok(REPORT, { id: ids.leadId }, PRIVACY_OFFICER)).personalData;
    for (const value of report.values) expect(value).toMatchObject({ value: null, erased: true });
  });

  it('refuses a new address for the erased person (PERSONAL_DATA_ERASED)', async () => {
    const refused = await api.gql(UPDATE_CONTACT, { input: { contactId: ids.contactId, address: HOME } });
    expect(refused.errors?.[0]?.extensions?.code).toBe('PERSONAL_DATA_ERASED');
    expect(fieldsOf(refused)).toEqual(['input.address']);
  });
});

describe("a contact's address, created directly", () => {
  it('is taken by createContact without an account, and validated like a company address', async () => {
    const created = (await ok(CREATE_CONTACT, { input: { firstName: 'Pere', lastName: 'Soler', address: { city: 'Olot', country: 'ES' } } }))
      .createContact.contact;
    expect(created).toMatchObject({ lastName: 'Soler', address: { street: null, city: 'Olot', postalCode: null, region: null, country: 'ES' } });

    const tooLong = await api.gql(CREATE_CONTACT, { input: { lastName: 'Soler', address: { postalCode: '1'.repeat(21) } } });
    expect(tooLong.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(fieldsOf(tooLong)).toEqual(['input.address.postalCode']);
    const street = await api.gql(UPDATE_CONTACT, { input: { contactId: created.id, address: { street: 'x'.repeat(201) } } });
    expect(fieldsOf(street)).toEqual(['input.address.street']);
    const lead = await api.gql(CAPTURE, { input: { source: 'WEB_FORM', person: { lastName: 'Soler', address: { city: 'x'.repeat(201) } } } });
    expect(fieldsOf(lead)).toEqual(['input.person.address.city']);
  });
});
