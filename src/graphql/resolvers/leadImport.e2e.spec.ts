import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/support/testServer';

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer();
});
afterAll(async () => {
  await api.stop();
});

const IMPORT = `mutation($input: ImportLeadsInput!) { importLeads(input: $input) {
  created alreadyImported valid rejected results { index outcome leadId code message errors { field message } } } }`;
const CREATE_LIST = `mutation($input: CreateLeadListInput!) { createLeadList(input: $input) { list { id } } }`;
const LEAD = `query($id: ID!, $knownAt: DateTime) { lead(id: $id, knownAt: $knownAt) { id source campaign capturedAt person { lastName email } } }`;
const LEADS = `query($filter: LeadFilter) { leads(filter: $filter, first: 100) { totalCount } }`;
const HISTORY = `query($streamId: ID!) { history(streamId: $streamId) { type recordedAt occurredAt actor } }`;

const importAs = async (input: Record<string, unknown>, roles = ['marketing']) => {
  const response = await api.gql(IMPORT, { input }, { as: 'mia', roles });
  return response;
};

const stamp = Date.now();
const rows = [
  { idempotencyKey: `row-1-${stamp}`, source: 'TRADE_FAIR', campaign: 'fira-2024', occurredAt: '2024-03-14T10:00:00.000Z', person: { lastName: 'Puig', email: `puig-${stamp}@example.com` } },
  { idempotencyKey: `row-2-${stamp}`, source: 'CARRIER_PIGEON', person: { lastName: 'Bad source' } },
  { idempotencyKey: `row-3-${stamp}`, source: 'WEB_FORM', person: { lastName: 'Bad mail', email: 'not-an-email' } },
  { idempotencyKey: `row-4-${stamp}`, source: 'WEB_FORM', company: { name: `Botiga ${stamp}` } },
  { idempotencyKey: `row-5-${stamp}`, source: 'WEB_FORM', occurredAt: '2999-01-01T00:00:00.000Z', person: { lastName: 'Future' } },
];

describe('importLeads', () => {
  it('captures the good rows, answers each bad one with its field and reason, and imports nothing twice', async () => {
    const first = await importAs({ rows });
    expect(first.errors).toBeUndefined();
    const result = first.data!.importLeads;
    expect(result).toMatchObject({ created: 2, alreadyImported: 0, rejected: 3 });
    expect(result.results.map((row: any) => row.outcome)).toEqual(['CREATED', 'REJECTED', 'REJECTED', 'CREATED', 'REJECTED']);
    expect(result.results[1]).toMatchObject({ code: 'BAD_USER_INPUT', errors: [expect.objectContaining({ field: 'source' })] });
    expect(result.results[2].errors).toEqual([{ field: 'person.email', message: 'email must be an e-mail address' }]);
    expect(result.results[4]).toMatchObject({ code: 'BAD_USER_INPUT', errors: [expect.objectContaining({ field: 'occurredAt' })] });

    // Back-dated far beyond the window: its business time is the fair's, its recorded time now.
    const leadId = result.results[0].leadId;
    const lead = (await api.gql(LEAD, { id: leadId })).data!.lead;
    expect(lead).toMatchObject({ source: 'TRADE_FAIR', campaign: 'fira-2024', capturedAt: '2024-03-14T10:00:00.000Z' });
    const [captured] = (await api.gql(HISTORY, { streamId: `lead-${leadId}` })).data!.history;
    expect(captured).toMatchObject({ type: 'LeadCaptured', occurredAt: '2024-03-14T10:00:00.000Z', actor: 'mia' });
    expect(Date.now() - Date.parse(captured.recordedAt)).toBeLessThan(60_000);
    // Known only from the import on: before it, time travel does not know the lead.
    expect((await api.gql(LEAD, { id: leadId, knownAt: '2024-06-01T00:00:00.000Z' })).data!.lead).toBeNull();

    const again = (await importAs({ rows })).data!.importLeads;
    expect(again).toMatchObject({ created: 0, alreadyImported: 2, rejected: 3 });
    expect(again.results[0].leadId).toBe(leadId);
    expect((await api.gql(HISTORY, { streamId: `lead-${leadId}` })).data!.history).toHaveLength(1);
  });

  it('a dry run checks every row and writes nothing', async () => {
    const before = (await api.gql(LEADS, {})).data!.leads.totalCount;
    const dry = (await importAs({ rows: rows.map((row) => ({ ...row, idempotencyKey: `dry-${row.idempotencyKey}` })), dryRun: true })).data!.importLeads;
    expect(dry).toMatchObject({ created: 0, valid: 2, rejected: 3 });
    expect((await api.gql(LEADS, {})).data!.leads.totalCount).toBe(before);
  });

  it('puts the imported leads into a static list', async () => {
    const listId = (await api.gql(CREATE_LIST, { input: { name: `Import ${stamp}` } }, { as: 'mia', roles: ['marketing'] })).data!.createLeadList.list.id;
    const listed = (
      await importAs({
        listId,
        rows: [1, 2, 3].map((n) => ({ idempotencyKey: `list-${n}-${stamp}`, source: 'TRADE_FAIR', person: { lastName: `Listed ${n}` } })),
      })
    ).data!.importLeads;
    expect(listed.created).toBe(3);
    expect((await api.gql(LEADS, { filter: { listId } })).data!.leads.totalCount).toBe(3);
  });

  it('is for marketing and admins; sales may not import, nor import more than 500 rows at once', async () => {
    const forbidden = await importAs({ rows: [rows[0]] }, ['sales']);
    expect(forbidden.errors![0]!.extensions!.code).toBe('FORBIDDEN');
    const tooMany = await importAs({ rows: Array.from({ length: 501 }, (_, n) => ({ source: 'WEB_FORM', person: { lastName: `n${n}` } })) });
    expect(tooMany.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
  });
});
