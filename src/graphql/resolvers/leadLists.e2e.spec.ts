import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/support/testServer';

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer();
});
afterAll(async () => {
  await api.stop();
});

const LIST_FIELDS = `id revision name kind description archived leadCount filter { source minScore campaign }
  lastAssignment { strategy owners onlyUnassigned planned leftOut by } createdBy`;
const CAPTURE = `mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`;
const ASSIGN_LEAD = `mutation($input: AssignLeadInput!) { assignLead(input: $input) { lead { id ownerId } } }`;
const DISQUALIFY = `mutation($input: DisqualifyLeadInput!) { disqualifyLead(input: $input) { lead { id status } } }`;
const CREATE = `mutation($input: CreateLeadListInput!) { createLeadList(input: $input) { list { ${LIST_FIELDS} } } }`;
const RENAME = `mutation($input: RenameLeadListInput!) { renameLeadList(input: $input) { list { ${LIST_FIELDS} } } }`;
const ADD = `mutation($input: LeadListMembersInput!) { addLeadsToList(input: $input) { list { ${LIST_FIELDS} } } }`;
const REMOVE = `mutation($input: LeadListMembersInput!) { removeLeadsFromList(input: $input) { list { ${LIST_FIELDS} } } }`;
const ARCHIVE = `mutation($input: ArchiveLeadListInput!) { archiveLeadList(input: $input) { list { ${LIST_FIELDS} } } }`;
const ASSIGN = `mutation($input: AssignLeadListInput!) { assignLeadList(input: $input) {
  planned assigned unchanged skipped leftOut list { ${LIST_FIELDS} } } }`;
const LIST = `query($id: ID!) { leadList(id: $id) { ${LIST_FIELDS} leads(first: 50) { totalCount edges { node { id ownerId } } } } }`;
const LISTS = `query($all: Boolean) { leadLists(includeArchived: $all) { totalCount edges { node { id name archived } } } }`;
const LEADS = `query($filter: LeadFilter) { leads(filter: $filter, first: 100) { totalCount edges { node { id ownerId lists { id name } } } } }`;
const HISTORY = `query($streamId: ID!) { history(streamId: $streamId) { id type data causationId } }`;

let run = 0;
const capture = async (extra: Record<string, unknown> = {}, as = 'mia', roles = ['marketing']) => {
  run++;
  const response = await api.gql(
    CAPTURE,
    { input: { source: 'TRADE_FAIR', campaign: 'fira-2026', person: { lastName: `Lead ${run}`, email: `lead-${run}@example.com` }, ...extra } },
    { as, roles },
  );
  expect(response.errors).toBeUndefined();
  return response.data!.captureLead.lead.id as string;
};

const ok = async (query: string, input: Record<string, unknown>, roles = ['marketing'], as = 'mia') => {
  const response = await api.gql(query, { input }, { as, roles });
  expect(response.errors).toBeUndefined();
  return Object.values(response.data!)[0] as Record<string, any>;
};

const refused = async (query: string, input: Record<string, unknown>, roles = ['marketing'], as = 'mia') => {
  const response = await api.gql(query, { input }, { as, roles });
  expect(response.data ?? null).toBeNull();
  return response.errors![0]!.extensions! as Record<string, any>;
};

const ownersOf = async (listId: string) => {
  const list = (await api.gql(LIST, { id: listId })).data!.leadList;
  return Object.fromEntries(list.leads.edges.map((edge: any) => [edge.node.id, edge.node.ownerId ?? null]));
};

describe('static lead lists', () => {
  it('marketing creates a list, adds and removes leads, renames and archives it; leads(filter: { listId }) follows', async () => {
    const [a, b, c] = [await capture(), await capture(), await capture()];
    const created = (await ok(CREATE, { name: 'Fira Barcelona 2026', description: 'Stand 4', leadIds: [a, b, a] })).list;
    expect(created).toMatchObject({ revision: 1, name: 'Fira Barcelona 2026', kind: 'STATIC', archived: false, leadCount: 2, createdBy: 'mia' });

    const added = (await ok(ADD, { listId: created.id, leadIds: [b, c] })).list;
    expect(added).toMatchObject({ revision: 2, leadCount: 3 });
    const removed = (await ok(REMOVE, { listId: created.id, leadIds: [a] })).list;
    expect(removed).toMatchObject({ revision: 3, leadCount: 2 });

    const inList = (await api.gql(LEADS, { filter: { listId: created.id } })).data!.leads;
    expect(inList.edges.map((edge: any) => edge.node.id).sort()).toEqual([b, c].sort());
    expect(inList.edges[0].node.lists).toEqual([{ id: created.id, name: 'Fira Barcelona 2026' }]);
    // The list combines with the other criteria.
    expect((await api.gql(LEADS, { filter: { listId: created.id, search: 'Lead nobody' } })).data!.leads.totalCount).toBe(0);

    expect((await ok(RENAME, { listId: created.id, name: 'Fira 2026' })).list).toMatchObject({ name: 'Fira 2026', revision: 4 });
    expect((await ok(ARCHIVE, { listId: created.id })).list).toMatchObject({ archived: true, revision: 5 });
    expect((await refused(ADD, { listId: created.id, leadIds: [a] })).code).toBe('INVALID_TRANSITION');

    const active = (await api.gql(LISTS, {})).data!.leadLists.edges.map((edge: any) => edge.node.id);
    const all = (await api.gql(LISTS, { all: true })).data!.leadLists.edges.map((edge: any) => edge.node.id);
    expect(active).not.toContain(created.id);
    expect(all).toContain(created.id);

    const history = (await api.gql(HISTORY, { streamId: `leadlist-${created.id}` })).data!.history;
    expect(history.map((event: any) => event.type)).toEqual([
      'LeadListCreated',
      'LeadsAddedToList',
      'LeadsAddedToList',
      'LeadsRemovedFromList',
      'LeadListRenamed',
      'LeadListArchived',
    ]);
    expect(history[2].data.leadIds).toEqual([c]);
  });

  it('refuses unknown leads and an unknown list, and writes nothing', async () => {
    const list = (await ok(CREATE, { name: 'Strict' })).list;
    const error = await refused(ADD, { listId: list.id, leadIds: ['no-such-lead'] });
    expect(error.code).toBe('BAD_USER_INPUT');
    expect((await api.gql(LIST, { id: list.id })).data!.leadList).toMatchObject({ revision: 0, leadCount: 0 });
    expect((await refused(ADD, { listId: 'no-such-list', leadIds: [await capture()] })).code).toBe('NOT_FOUND');
    expect((await api.gql(LEADS, { filter: { listId: 'no-such-list' } })).errors![0]!.extensions!.code).toBe('NOT_FOUND');
  });

  it('role rules: sales and analysts read lists but cannot change them', async () => {
    const list = (await ok(CREATE, { name: 'Readable' })).list;
    expect((await refused(CREATE, { name: 'Not mine to make' }, ['sales'], 'sam')).code).toBe('FORBIDDEN');
    expect((await refused(RENAME, { listId: list.id, name: 'x' }, ['analyst'], 'ann')).code).toBe('FORBIDDEN');
    expect((await refused(ASSIGN, { listId: list.id, owners: ['sam'], strategy: 'ROUND_ROBIN' }, ['sales'], 'sam')).code).toBe('FORBIDDEN');
    const read = await api.gql(LIST, { id: list.id }, { as: 'sam', roles: ['sales'] });
    expect(read.data!.leadList.name).toBe('Readable');
  });
});

describe('dynamic lead lists', () => {
  it('holds the leads its saved filter matches when asked, and takes no leads by hand', async () => {
    const campaign = `webinar-${Date.now()}`;
    const first = await capture({ campaign, source: 'WEB_FORM' });
    const list = (await ok(CREATE, { name: 'Webinar sign-ups', filter: { campaign } })).list;
    expect(list).toMatchObject({ kind: 'DYNAMIC', filter: { campaign }, leadCount: 1 });
    const second = await capture({ campaign, source: 'WEB_FORM' });
    const members = (await api.gql(LEADS, { filter: { listId: list.id } })).data!.leads.edges.map((edge: any) => edge.node.id);
    expect(members.sort()).toEqual([first, second].sort());
    expect((await refused(ADD, { listId: list.id, leadIds: [first] })).code).toBe('INVALID_TRANSITION');
    expect((await refused(CREATE, { name: 'Everything', kind: 'DYNAMIC', filter: {} })).code).toBe('BAD_USER_INPUT');
  });
});

describe('assignLeadList', () => {
  const fiveLeads = async () => [await capture(), await capture(), await capture(), await capture(), await capture()];

  it('ROUND_ROBIN deals the open, unowned leads in turn, each by its own assignment caused by the plan', async () => {
    const leads = await fiveLeads();
    await ok(ASSIGN_LEAD, { leadId: leads[1], ownerId: 'zoe' }, ['sales_manager'], 'boss');
    await ok(DISQUALIFY, { leadId: leads[4], reason: 'NO_BUDGET' }, ['marketing']);
    const list = (await ok(CREATE, { name: 'Round robin', leadIds: leads })).list;

    const result = await ok(ASSIGN, { listId: list.id, owners: ['ana', 'ben'], strategy: 'ROUND_ROBIN', idempotencyKey: 'rr-1' });
    expect(result).toMatchObject({ planned: 3, assigned: 3, unchanged: 0, skipped: 0, leftOut: 2 });
    expect(result.list.lastAssignment).toMatchObject({ strategy: 'ROUND_ROBIN', owners: ['ana', 'ben'], onlyUnassigned: true, planned: 3, by: 'mia' });
    expect(await ownersOf(list.id)).toEqual({ [leads[0]!]: 'ana', [leads[1]!]: 'zoe', [leads[2]!]: 'ben', [leads[3]!]: 'ana', [leads[4]!]: null });

    const plan = (await api.gql(HISTORY, { streamId: `leadlist-${list.id}` })).data!.history.at(-1);
    expect(plan.type).toBe('LeadListAssigned');
    const leadHistory = (await api.gql(HISTORY, { streamId: `lead-${leads[0]}` })).data!.history;
    expect(leadHistory.at(-1)).toMatchObject({ type: 'LeadAssigned', causationId: plan.id, data: { ownerId: 'ana' } });

    // The same request again (a client retrying after a timeout) assigns nothing twice.
    const again = await ok(ASSIGN, { listId: list.id, owners: ['ana', 'ben'], strategy: 'ROUND_ROBIN', idempotencyKey: 'rr-1' });
    expect(again).toMatchObject({ planned: 3, assigned: 3 });
    expect((await api.gql(HISTORY, { streamId: `lead-${leads[0]}` })).data!.history).toHaveLength(leadHistory.length);
    expect((await api.gql(HISTORY, { streamId: `leadlist-${list.id}` })).data!.history.filter((e: any) => e.type === 'LeadListAssigned')).toHaveLength(1);
  });

  it('LEAST_LOADED gives each lead to the owner with the fewest open leads', async () => {
    const owners = [`lo-a-${Date.now()}`, `lo-b-${Date.now()}`];
    // owners[0] already holds three open leads, owners[1] none.
    for (let i = 0; i < 3; i++) await ok(ASSIGN_LEAD, { leadId: await capture(), ownerId: owners[0] }, ['sales_manager'], 'boss');
    const leads = await fiveLeads();
    const list = (await ok(CREATE, { name: 'Least loaded', leadIds: leads })).list;
    const result = await ok(ASSIGN, { listId: list.id, owners, strategy: 'LEAST_LOADED' });
    expect(result).toMatchObject({ planned: 5, assigned: 5 });
    const dealt = Object.values(await ownersOf(list.id));
    // 3 + 1 and 0 + 4: as even as five leads can make them.
    expect(dealt.filter((owner) => owner === owners[0])).toHaveLength(1);
    expect(dealt.filter((owner) => owner === owners[1])).toHaveLength(4);
  });

  it('reassigning owned leads is for sales managers: marketing is refused, and nothing is written', async () => {
    const leads = await fiveLeads();
    await ok(ASSIGN_LEAD, { leadId: leads[0], ownerId: 'zoe' }, ['sales_manager'], 'boss');
    const list = (await ok(CREATE, { name: 'Reassign', leadIds: leads })).list;
    const error = await refused(ASSIGN, { listId: list.id, owners: ['ana'], strategy: 'ROUND_ROBIN', onlyUnassigned: false });
    expect(error).toMatchObject({ code: 'FORBIDDEN', requiredRoles: ['sales_manager', 'admin'] });
    expect((await api.gql(LIST, { id: list.id })).data!.leadList.lastAssignment).toBeNull();

    const result = await ok(ASSIGN, { listId: list.id, owners: ['ana'], strategy: 'ROUND_ROBIN', onlyUnassigned: false }, ['sales_manager'], 'boss');
    expect(result).toMatchObject({ planned: 5, assigned: 5, leftOut: 0 });
    expect(new Set(Object.values(await ownersOf(list.id)))).toEqual(new Set(['ana']));
  });

  it('refuses no owners and an archived list', async () => {
    const list = (await ok(CREATE, { name: 'Closed', leadIds: [await capture()] })).list;
    expect((await refused(ASSIGN, { listId: list.id, owners: [], strategy: 'ROUND_ROBIN' })).code).toBe('BAD_USER_INPUT');
    await ok(ARCHIVE, { listId: list.id });
    expect((await refused(ASSIGN, { listId: list.id, owners: ['ana'], strategy: 'ROUND_ROBIN' })).code).toBe('INVALID_TRANSITION');
  });
});
