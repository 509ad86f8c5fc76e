import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/support/testServer';

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer();
});
afterAll(async () => {
  await api.stop();
});

const ACCOUNT_FIELDS = `
  id revision kind status name website domain phone industry size address { city country } ownerId fromLeadId
  createdAt createdBy updatedAt`;
const OPEN = `mutation($input: OpenAccountInput!) { openAccount(input: $input) { account { ${ACCOUNT_FIELDS} } } }`;
const UPDATE = `mutation($input: UpdateAccountInput!) { updateAccount(input: $input) { account { ${ACCOUNT_FIELDS} } } }`;
const ACCOUNT = `query($id: ID!) { account(id: $id) { ${ACCOUNT_FIELDS}
  contacts { id lastName active } opportunities { id status name } } }`;
const ACCOUNTS = `query($filter: AccountFilter, $first: Int, $after: String) { accounts(filter: $filter, first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id name status } } } }`;
const HISTORY = `query($streamId: ID!) { history(streamId: $streamId) { type data actor } }`;
const CREATE_CONTACT = `mutation($input: CreateContactInput!) { createContact(input: $input) { contact { id } } }`;
const OPEN_OPPORTUNITY = `mutation($input: OpenOpportunityInput!) { openOpportunity(input: $input) { opportunity { id } } }`;
const CLOSE_OPPORTUNITY = `mutation($input: CloseOpportunityInput!) { closeOpportunity(input: $input) { opportunity { id status } } }`;
const REOPEN_OPPORTUNITY = `mutation($input: ReopenOpportunityInput!) { reopenOpportunity(input: $input) { opportunity { id status } } }`;

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

const openAccount = async (input: Record<string, unknown>, as = 'alice') => (await ok(OPEN, input, as)).account;
const statusOf = async (accountId: string) => (await api.gql(ACCOUNT, { id: accountId })).data!.account.status;

describe('an account over HTTP', () => {
  it('opens a company, updates only what changed, and keeps the history', async () => {
    const account = await openAccount({
      kind: 'COMPANY',
      name: "L'Òptica Puig, S.L.",
      website: 'https://www.Optica-Puig.example/botiga',
      address: { city: 'Girona', country: 'ES' },
    });
    expect(account).toMatchObject({
      revision: 0,
      kind: 'COMPANY',
      status: 'PROSPECT',
      name: "L'Òptica Puig, S.L.",
      domain: 'optica-puig.example',
      address: { city: 'Girona', country: 'ES' },
      ownerId: 'alice',
      createdBy: 'alice',
    });

    const updated = (
      await ok(UPDATE, { accountId: account.id, name: "L'Òptica Puig, S.L.", industry: 'Retail', ownerId: 'bob', expectedRevision: 0 }, 'bob')
    ).account;
    expect(updated).toMatchObject({ revision: 1, industry: 'Retail', ownerId: 'bob', website: account.website });

    const unchanged = (await ok(UPDATE, { accountId: account.id, industry: 'Retail' })).account;
    expect(unchanged.revision).toBe(1);

    const history = (await api.gql(HISTORY, { streamId: `account-${account.id}` })).data!.history;
    expect(history).toEqual([
      expect.objectContaining({ type: 'AccountOpened', actor: 'alice' }),
      { type: 'AccountUpdated', data: { accountId: account.id, industry: 'Retail', ownerId: 'bob' }, actor: 'bob' },
    ]);
    expect((await api.gql(ACCOUNT, { id: account.id })).data!.account).toMatchObject({ revision: 1, industry: 'Retail' });
  });

  it('opens a B2C grouping and lists accounts by kind, status, owner and search, page by page', async () => {
    const owner = `owner-${Math.random()}`;
    const grouping = await openAccount({ kind: 'GROUPING', name: 'Girona stores', ownerId: owner });
    expect(grouping).toMatchObject({ kind: 'GROUPING', status: 'PROSPECT', website: null, ownerId: owner });
    await openAccount({ kind: 'COMPANY', name: 'Ferretería Núñez', ownerId: owner });
    await openAccount({ kind: 'COMPANY', name: 'Àvila Reformes', ownerId: owner });

    const list = async (variables: Record<string, unknown>) => (await api.gql(ACCOUNTS, variables)).data!.accounts;
    const names = async (filter: Record<string, unknown>) =>
      (await list({ filter: { ownerId: owner, ...filter } })).edges.map((edge: any) => edge.node.name);

    expect(await names({})).toEqual(['Àvila Reformes', 'Ferretería Núñez', 'Girona stores']);
    expect(await names({ kind: 'GROUPING' })).toEqual(['Girona stores']);
    expect(await names({ status: 'CUSTOMER' })).toEqual([]);
    expect(await names({ search: 'FERRETERIA nunez' })).toEqual(['Ferretería Núñez']);

    const first = await list({ filter: { ownerId: owner }, first: 2 });
    expect(first).toMatchObject({ totalCount: 3, pageInfo: { hasNextPage: true } });
    const rest = await list({ filter: { ownerId: owner }, first: 2, after: first.pageInfo.endCursor });
    expect(rest.edges.map((edge: any) => edge.node.name)).toEqual(['Girona stores']);
    expect(rest.pageInfo.hasNextPage).toBe(false);
  });

  it('is a customer while one of its opportunities stands won', async () => {
    const account = await openAccount({ kind: 'COMPANY', name: 'Botiga Puig' });
    const contact = (await ok(CREATE_CONTACT, { lastName: 'Puig', accountId: account.id })).contact;
    const openDeal = async (name: string) =>
      (await ok(OPEN_OPPORTUNITY, { accountId: account.id, contactId: contact.id, name, amount: { amount: '18500.00', currency: 'EUR' } }))
        .opportunity.id;
    const refit = await openDeal('Shop refit');
    const sign = await openDeal('New sign');
    expect(await statusOf(account.id)).toBe('PROSPECT');

    await ok(CLOSE_OPPORTUNITY, { opportunityId: refit, outcome: 'WON' });
    expect(await statusOf(account.id)).toBe('CUSTOMER');
    await ok(CLOSE_OPPORTUNITY, { opportunityId: sign, outcome: 'LOST', lossReason: 'PRICE' });
    await ok(REOPEN_OPPORTUNITY, { opportunityId: sign, reason: 'They called back' });
    expect(await statusOf(account.id)).toBe('CUSTOMER');

    await ok(REOPEN_OPPORTUNITY, { opportunityId: refit, reason: 'The order was cancelled' });
    expect(await statusOf(account.id)).toBe('PROSPECT');
    const customers = (await api.gql(ACCOUNTS, { filter: { status: 'CUSTOMER', search: 'botiga puig' } })).data!.accounts;
    expect(customers.totalCount).toBe(0);

    const read = (await api.gql(ACCOUNT, { id: account.id })).data!.account;
    expect(read.contacts).toEqual([{ id: contact.id, lastName: 'Puig', active: true }]);
    expect(read.opportunities.map((o: any) => o.name).sort()).toEqual(['New sign', 'Shop refit']);
    expect(read.opportunities.every((o: any) => o.status === 'OPEN')).toBe(true);
  });

  it('replays an open with the same idempotency key instead of opening a second account', async () => {
    const input = { kind: 'COMPANY', name: 'Replayed', idempotencyKey: `open-${Math.random()}` };
    const first = await openAccount(input);
    expect(await openAccount(input)).toEqual(first);
    const reused = await errorOf(OPEN, { ...input, name: 'Something else' });
    expect(reused).toMatchObject({ code: 'BAD_USER_INPUT', fields: [{ field: 'input.idempotencyKey' }] });
  });
});

describe('account refusals carry their own code', () => {
  it('BAD_USER_INPUT for a blank name or a website that is no address', async () => {
    const fields = (await errorOf(OPEN, { kind: 'COMPANY', name: '', website: 'not a website' })).fields.map((f: any) => f.field);
    expect(fields).toEqual(expect.arrayContaining(['input.name', 'input.website']));
    const account = await openAccount({ kind: 'COMPANY', name: 'Blank rename' });
    expect(await errorOf(UPDATE, { accountId: account.id, name: '   ' })).toMatchObject({
      code: 'BAD_USER_INPUT',
      fields: [{ field: 'input.name' }],
    });
  });

  it('NOT_FOUND for an unknown account, and null from account(id)', async () => {
    expect(await errorOf(UPDATE, { accountId: 'no-such-account', name: 'X' })).toMatchObject({ code: 'NOT_FOUND' });
    expect((await api.gql(ACCOUNT, { id: 'no-such-account' })).data!.account).toBeNull();
  });

  it('CONFLICT when expectedRevision is stale, and nothing is written', async () => {
    const account = await openAccount({ kind: 'COMPANY', name: 'Stale' });
    await ok(UPDATE, { accountId: account.id, phone: '+34 972 000 001' });
    expect(await errorOf(UPDATE, { accountId: account.id, phone: '+34 972 000 002', expectedRevision: 0 })).toMatchObject({
      code: 'CONFLICT',
      actualRevision: 1,
    });
    expect((await api.gql(ACCOUNT, { id: account.id })).data!.account.phone).toBe('+34 972 000 001');
  });

  it('UNAUTHENTICATED without a token', async () => {
    const response = await api.gql(OPEN, { input: { kind: 'COMPANY', name: 'Anonymous' } }, { as: null });
    expect(response.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});
