/**
 * Whole answers to report queries sent again (reportAnswers.ts), over HTTP: the same bytes while
 * every report in them is unchanged, a fresh answer once a mutation changes one, never to a caller
 * with other roles or none, and never for an operation with a field the reports do not answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../test/support/testServer';

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer();
});
afterAll(() => api.stop());

const HOUR = 3_600_000;
const period = { from: new Date(Date.now() - 24 * HOUR).toISOString(), to: new Date(Date.now() + HOUR).toISOString() };
const FUNNEL = `query($from: DateTime!, $to: DateTime!) { kpis(from: $from, to: $to) { from leadFunnel { captured contacted } } }`;

/** The answer's body exactly as sent. */
const raw = async (query: string, variables: Record<string, unknown>, roles: string[] | null = ['sales_manager']) => {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (roles !== null) headers.authorization = `Bearer ${await api.token('alice', roles)}`;
  const response = await fetch(api.url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  return { status: response.status, body: await response.text() };
};

const sentAgain = async (): Promise<number> => {
  const text = await (await fetch(new URL('/metrics', api.url))).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith('crm_graphql_answers_sent_again_total '));
  return Number(line?.split(' ')[1]);
};

const capture = async (lastName: string) => {
  const response = await api.gql(`mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`, {
    input: { source: 'WEB_FORM', person: { lastName, email: `${lastName.toLowerCase()}@example.com` } },
  });
  expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
  return response.data!.captureLead.lead.id as string;
};

const funnel = (body: string) => (JSON.parse(body) as { data: { kpis: { leadFunnel: Array<{ captured: number }> } } }).data.kpis.leadFunnel[0]?.captured ?? 0;

describe('answers to report queries sent again', () => {
  it('sends the same bytes again while the reports are unchanged, and a new answer once a mutation changes one', async () => {
    await capture('Again');
    const first = await raw(FUNNEL, period);
    const second = await raw(FUNNEL, period);
    const before = await sentAgain();
    const third = await raw(FUNNEL, period);
    expect(third).toEqual(second);
    expect(second).toEqual(first);
    expect(funnel(third.body)).toBe(1);
    expect(await sentAgain()).toBe(before + 1);

    await capture('Changed');
    const after = await raw(FUNNEL, period);
    expect(funnel(after.body)).toBe(2);
    expect(await sentAgain()).toBe(before + 1);
    // Asked again with nothing changed: sent again.
    expect(await raw(FUNNEL, period)).toEqual(after);
    expect(await sentAgain()).toBe(before + 2);
  });

  it('answers other variables with their own figures', async () => {
    const later = { ...period, from: new Date(Date.now() + HOUR / 2).toISOString() };
    for (let ask = 0; ask < 3; ask++) {
      expect(funnel((await raw(FUNNEL, period)).body)).toBeGreaterThan(0);
      expect(funnel((await raw(FUNNEL, later)).body)).toBe(0);
    }
  });

  it('never sends an answer to a caller with other roles, or to one without a token', async () => {
    const LOSSES = `query($from: DateTime!, $to: DateTime!) { kpis(from: $from, to: $to) { lossReasons { total } } }`;
    for (let ask = 0; ask < 3; ask++) expect(JSON.parse((await raw(LOSSES, period)).body).errors).toBeUndefined();
    const before = await sentAgain();
    const marketing = JSON.parse((await raw(LOSSES, period, ['marketing'])).body);
    expect(marketing.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const anonymous = await raw(LOSSES, period, null);
    expect(JSON.parse(anonymous.body).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(await sentAgain()).toBe(before);
    // The roles in another order are the same roles.
    expect(JSON.parse((await raw(LOSSES, period, ['sales', 'sales_manager'])).body).errors).toBeUndefined();
    expect(JSON.parse((await raw(LOSSES, period, ['sales', 'sales_manager'])).body).errors).toBeUndefined();
    expect(JSON.parse((await raw(LOSSES, period, ['sales_manager', 'sales'])).body).errors).toBeUndefined();
    expect(await sentAgain()).toBe(before + 1);
  });

  it('builds every answer that holds a field the reports do not answer: a list renamed shows its new name', async () => {
    const lead = await capture('Listed');
    const created = await api.gql(`mutation($input: CreateLeadListInput!) { createLeadList(input: $input) { list { id } } }`, {
      input: { name: 'Fira' },
    });
    expect(created.errors, JSON.stringify(created.errors)).toBeUndefined();
    const listId = created.data!.createLeadList.list.id as string;
    const added = await api.gql(`mutation($input: LeadListMembersInput!) { addLeadsToList(input: $input) { list { id } } }`, {
      input: { listId, leadIds: [lead] },
    });
    expect(added.errors, JSON.stringify(added.errors)).toBeUndefined();
    const BY_LIST = `query($from: DateTime!, $to: DateTime!) { kpis(from: $from, to: $to, groupBy: [LIST]) { leadFunnel { group { list { name } } captured } } }`;
    const names = async () =>
      (JSON.parse((await raw(BY_LIST, period)).body).data.kpis.leadFunnel as Array<{ group: { list: { name: string } | null } }>)
        .map((row) => row.group.list?.name)
        .filter((name) => name !== undefined);
    const before = await sentAgain();
    for (let ask = 0; ask < 3; ask++) expect(await names()).toEqual(['Fira']);
    const renamed = await api.gql(`mutation($input: RenameLeadListInput!) { renameLeadList(input: $input) { list { id } } }`, {
      input: { listId, name: 'Fira Barcelona' },
    });
    expect(renamed.errors, JSON.stringify(renamed.errors)).toBeUndefined();
    expect(await names()).toEqual(['Fira Barcelona']);
    expect(await sentAgain()).toBe(before);
  });
});
