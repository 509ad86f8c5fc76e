import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/support/testServer';
import { ANY } from '../../core/eventStore';
import { newId } from '../../core/ids';
import { contactStreamId } from '../../domain/contacts/events';

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer();
});
afterAll(async () => {
  await api.stop();
});

const CONTACT_FIELDS = `
  id revision firstName lastName email phone jobTitle accountId ownerId active deactivationReason
  createdAt createdBy updatedAt account { id name }`;
const mutation = (name: string, input: string) =>
  `mutation($input: ${input}!) { ${name}(input: $input) { contact { ${CONTACT_FIELDS} } } }`;
const CREATE = mutation('createContact', 'CreateContactInput');
const UPDATE = mutation('updateContact', 'UpdateContactInput');
const MOVE = mutation('moveContact', 'MoveContactInput');
const DEACTIVATE = mutation('deactivateContact', 'DeactivateContactInput');
const REACTIVATE = mutation('reactivateContact', 'ReactivateContactInput');
const CONTACT = `query($id: ID!) { contact(id: $id) { ${CONTACT_FIELDS} leadCycles { leadId cycle status linkedAt } } }`;
const CONTACTS = `query($filter: ContactFilter, $first: Int, $after: String) { contacts(filter: $filter, first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { id lastName active } } } }`;
const ACCOUNT_CONTACTS = `query($id: ID!) { account(id: $id) { contacts { id } } }`;
const OPEN_ACCOUNT = `mutation($input: OpenAccountInput!) { openAccount(input: $input) { account { id } } }`;
const CAPTURE_LEAD = `mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`;
const DISQUALIFY_LEAD = `mutation($input: DisqualifyLeadInput!) { disqualifyLead(input: $input) { lead { id } } }`;
const RECYCLE_LEAD = `mutation($input: RecycleLeadInput!) { recycleLead(input: $input) { lead { id cycle } } }`;
const HISTORY = `query($streamId: ID!) { history(streamId: $streamId) { type } }`;

/** Sends a mutation that must succeed, and returns its payload. */
const ok = async (query: string, input: Record<string, unknown>, as = 'alice') => {
  const response = await api.gql(query, { input }, { as });
  expect(response.errors).toBeUndefined();
  return Object.values(response.data!)[0] as Record<string, any>;
};

const errorOf = async (query: string, input: Record<string, unknown>) => {
  const response = await api.gql(query, { input });
  expect(response.data ?? null).toBeNull();
  return response.errors![0]!.extensions!;
};

const anAccount = async (name: string) => (await ok(OPEN_ACCOUNT, { kind: 'COMPANY', name })).account.id as string;
const create = async (input: Record<string, unknown>) => (await ok(CREATE, input)).contact;
const contactIdsOf = async (accountId: string) =>
  (await api.gql(ACCOUNT_CONTACTS, { id: accountId })).data!.account.contacts.map((c: any) => c.id);

describe('a contact over HTTP', () => {
  it('is created in an account, updated, moved to another, and taken out of any', async () => {
    const botiga = await anAccount('Botiga Puig');
    const optica = await anAccount("L'Òptica Puig");
    const marta = await create({ firstName: 'Marta', lastName: 'Puig', email: 'marta@botiga-puig.example', accountId: botiga });
    expect(marta).toMatchObject({
      revision: 0,
      accountId: botiga,
      account: { id: botiga, name: 'Botiga Puig' },
      active: true,
      ownerId: 'alice',
      createdBy: 'alice',
    });
    expect(await contactIdsOf(botiga)).toEqual([marta.id]);

    const updated = (await ok(UPDATE, { contactId: marta.id, firstName: 'Marta', jobTitle: 'Owner', expectedRevision: 0 })).contact;
    expect(updated).toMatchObject({ revision: 1, jobTitle: 'Owner', email: 'marta@botiga-puig.example' });

    const moved = (await ok(MOVE, { contactId: marta.id, accountId: optica })).contact;
    expect(moved).toMatchObject({ revision: 2, accountId: optica, account: { name: "L'Òptica Puig" } });
    expect(await contactIdsOf(botiga)).toEqual([]);
    expect(await contactIdsOf(optica)).toEqual([marta.id]);

    const alone = (await ok(MOVE, { contactId: marta.id, accountId: null })).contact;
    expect(alone).toMatchObject({ revision: 3, accountId: null, account: null });
    expect(await contactIdsOf(optica)).toEqual([]);

    const history = (await api.gql(HISTORY, { streamId: contactStreamId(marta.id) })).data!.history;
    expect(history.map((e: any) => e.type)).toEqual(['ContactCreated', 'ContactUpdated', 'ContactMovedToAccount', 'ContactMovedToAccount']);
  });

  it('is created without an account', async () => {
    const contact = await create({ lastName: 'Vidal' });
    expect(contact).toMatchObject({ accountId: null, account: null, active: true });
  });

  it('once deactivated refuses updates and moves until reactivated', async () => {
    const account = await anAccount('Ferretería Núñez');
    const jordi = await create({ firstName: 'Jordi', lastName: 'Núñez' });
    const inactive = (await ok(DEACTIVATE, { contactId: jordi.id, reason: 'Left the company' })).contact;
    expect(inactive).toMatchObject({ active: false, deactivationReason: 'Left the company' });

    expect(await errorOf(UPDATE, { contactId: jordi.id, jobTitle: 'Buyer' })).toMatchObject({
      code: 'INVALID_TRANSITION',
      state: 'INACTIVE',
    });
    expect(await errorOf(MOVE, { contactId: jordi.id, accountId: account })).toMatchObject({
      code: 'INVALID_TRANSITION',
      state: 'INACTIVE',
    });
    expect(await errorOf(DEACTIVATE, { contactId: jordi.id })).toMatchObject({ code: 'INVALID_TRANSITION', state: 'INACTIVE' });

    const active = (await ok(REACTIVATE, { contactId: jordi.id })).contact;
    expect(active).toMatchObject({ active: true, deactivationReason: null, revision: 2 });
    expect((await ok(MOVE, { contactId: jordi.id, accountId: account })).contact.accountId).toBe(account);
    expect(await errorOf(REACTIVATE, { contactId: jordi.id })).toMatchObject({ code: 'INVALID_TRANSITION', state: 'ACTIVE' });
  });

  it('lists contacts by account, activity and search, page by page', async () => {
    const account = await anAccount('Listed');
    const anna = await create({ firstName: 'Anna', lastName: 'Soler', accountId: account });
    const pere = await create({ firstName: 'Pere', lastName: 'Ràfols', accountId: account, jobTitle: 'Buyer' });
    const oriol = await create({ firstName: 'Oriol', lastName: 'Masó', accountId: account });
    await ok(DEACTIVATE, { contactId: oriol.id });

    const list = async (variables: Record<string, unknown>) => (await api.gql(CONTACTS, variables)).data!.contacts;
    const ids = async (filter: Record<string, unknown>) =>
      (await list({ filter: { accountId: account, ...filter } })).edges.map((edge: any) => edge.node.id);

    expect(await ids({})).toEqual([oriol.id, pere.id, anna.id]);
    expect(await ids({ active: true })).toEqual([pere.id, anna.id]);
    expect(await ids({ active: false })).toEqual([oriol.id]);
    expect(await ids({ search: 'RAFOLS' })).toEqual([pere.id]);
    expect(await ids({ search: 'buyer' })).toEqual([pere.id]);

    const first = await list({ filter: { accountId: account }, first: 2 });
    expect(first).toMatchObject({ totalCount: 3, pageInfo: { hasNextPage: true } });
    const rest = await list({ filter: { accountId: account }, first: 2, after: first.pageInfo.endCursor });
    expect(rest.edges.map((edge: any) => edge.node.id)).toEqual([anna.id]);
  });

  it('lists the lead cycles it came from, with their outcomes', async () => {
    const lead = (await ok(CAPTURE_LEAD, { source: 'INBOUND_EMAIL', person: { lastName: 'Puig' } })).lead;
    await ok(DISQUALIFY_LEAD, { leadId: lead.id, reason: 'NO_BUDGET' });
    await ok(RECYCLE_LEAD, { leadId: lead.id, source: 'EMAIL_CAMPAIGN' });
    const contact = await create({ lastName: 'Puig' });
    expect((await api.gql(CONTACT, { id: contact.id })).data!.contact.leadCycles).toEqual([]);

    // Lead conversion records these links; this appends one as conversion would, with full metadata.
    const commandId = newId();
    const now = new Date().toISOString();
    const { position } = await api.server.app.store.appendToStream(
      contactStreamId(contact.id),
      [
        {
          id: newId(),
          type: 'ContactLinkedToLead',
          data: { contactId: contact.id, leadId: lead.id, cycle: 1 },
          metadata: { actor: 'alice', recordedAt: now, occurredAt: now, correlationId: commandId, causationId: commandId, schemaVersion: 1 },
        },
      ],
      { expectedRevision: ANY },
    );
    await api.server.app.readModels.waitForPosition(position);

    const read = (await api.gql(CONTACT, { id: contact.id })).data!.contact;
    expect(read).toMatchObject({ revision: 1, leadCycles: [{ leadId: lead.id, cycle: 1, status: 'DISQUALIFIED', linkedAt: now }] });
  });
});

describe('contact refusals carry their own code', () => {
  it('NOT_FOUND for an unknown account, and nothing is written', async () => {
    const lastName = `Ghost-${Math.random()}`;
    expect(await errorOf(CREATE, { lastName, accountId: 'no-such-account' })).toMatchObject({ code: 'NOT_FOUND', entity: 'Account' });
    expect((await api.gql(CONTACTS, { filter: { search: lastName } })).data!.contacts.totalCount).toBe(0);

    const contact = await create({ lastName: 'Mover' });
    expect(await errorOf(MOVE, { contactId: contact.id, accountId: 'no-such-account' })).toMatchObject({ code: 'NOT_FOUND' });
    expect((await api.gql(CONTACT, { id: contact.id })).data!.contact.revision).toBe(0);
  });

  it('NOT_FOUND for an unknown contact, and null from contact(id)', async () => {
    expect(await errorOf(DEACTIVATE, { contactId: 'no-such-contact' })).toMatchObject({ code: 'NOT_FOUND', entity: 'Contact' });
    expect((await api.gql(CONTACT, { id: 'no-such-contact' })).data!.contact).toBeNull();
  });

  it('BAD_USER_INPUT for a blank last name or an e-mail that is no address', async () => {
    const fields = (await errorOf(CREATE, { lastName: '', email: 'marta-at-botiga' })).fields.map((f: any) => f.field);
    expect(fields).toEqual(expect.arrayContaining(['input.lastName', 'input.email']));
  });

  it('CONFLICT when expectedRevision is stale', async () => {
    const contact = await create({ lastName: 'Stale' });
    await ok(UPDATE, { contactId: contact.id, phone: '1' });
    expect(await errorOf(UPDATE, { contactId: contact.id, phone: '2', expectedRevision: 0 })).toMatchObject({
      code: 'CONFLICT',
      actualRevision: 1,
    });
  });
});
