/**
 * `kpis` and `retrospective` cut by lead list (LIST) and by origin (ORIGIN), over HTTP, on a small
 * history whose figures are worked out by hand below. Business times are back-dated from "now".
 *
 * Period P = [d0, now + 1h). Lists: "Fira" (static: A, B, E) and "Web" (dynamic: source WEB_FORM, so B and C).
 *   A TRADE_FAIR, captured d0, REACHED d1, SQL d1, converted d2 -> OA 1000.00 EUR, WON d5      Fira         NEW
 *   B WEB_FORM,   captured d1, disqualified NO_BUDGET d3                                        Fira and Web NEW
 *   C WEB_FORM,   captured d2, MQL d3                                                           Web          NEW
 *   D REFERRAL,   captured d2, SQL d3, converted d4 -> OD 500.00 EUR, LOST d6 (PRICE)           no list      NEW
 *   E A's contact engaged d6 (engageContact, EMAIL_CAMPAIGN), disqualified BAD_TIMING d7;     Fira         RE_ENGAGED
 *     recycled now (a second cycle), SQL now, converted now (onto A's contact) -> OE 300.00 EUR, open
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KPI_SELECTION } from '../../../test/support/kpiSelection';
import { startTestServer, type TestServer } from '../../../test/support/testServer';
import { succeeding } from '../../../test/support/succeeding';

const DAY = 86_400_000;
const T0 = Math.floor((Date.now() - 28 * DAY) / DAY) * DAY + 9 * 3_600_000;
const d = (days: number) => new Date(T0 + days * DAY).toISOString();
const P = { from: d(0), to: new Date(Date.now() + 3_600_000).toISOString() };

/** Every figure, with the group's list and origin as well. */
const SELECTION = KPI_SELECTION.replace(/group \{/g, 'group { listId origin list { id name kind archived }');

let api: TestServer;
const ids: Record<string, string> = {};

const ok = succeeding(() => api, { as: 'ana' });

const PERSON = (name: string) => ({ lastName: name, email: `${name.toLowerCase()}@example.com` });

const capture = async (name: string, source: string, day: number) => {
  const data = await ok(`mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`, {
    input: { source, ownerId: 'ana', occurredAt: d(day), person: PERSON(name), company: { name: `${name} Ltd` } },
  });
  ids[name] = data.captureLead.lead.id;
};

/** A new lead cycle for the contact a lead became: its `LeadCaptured` names the contact. */
const engage = async (name: string, contactOf: string, source: string, day: number) => {
  const data = await ok(`mutation($input: EngageContactInput!) { engageContact(input: $input) { lead { id } } }`, {
    input: { contactId: ids[`${contactOf}.contact`], source, campaign: 'autumn', ownerId: 'ana', occurredAt: d(day) },
  });
  ids[name] = data.engageContact.lead.id;
};

const qualify = (lead: string, rank: 'MQL' | 'SQL', day?: number) =>
  ok(`mutation($input: QualifyLeadInput!) { qualifyLead(input: $input) { lead { id } } }`, {
    input: { leadId: ids[lead], rank, criteria: { need: true, budget: true }, occurredAt: day === undefined ? undefined : d(day) },
  });

const disqualify = (lead: string, reason: string, day: number) =>
  ok(`mutation($input: DisqualifyLeadInput!) { disqualifyLead(input: $input) { lead { id } } }`, {
    input: { leadId: ids[lead], reason, occurredAt: d(day) },
  });

const convert = async (lead: string, opportunity: string, amount: string, day?: number) => {
  const data = await ok(
    `mutation($input: ConvertLeadInput!) { convertLead(input: $input) { account { id } contact { id } opportunity { id } } }`,
    {
      input: {
        leadId: ids[lead],
        opportunity: { amount: { amount, currency: 'EUR' } },
        occurredAt: day === undefined ? undefined : d(day),
      },
    },
  );
  ids[opportunity] = data.convertLead.opportunity.id;
  ids[`${lead}.account`] = data.convertLead.account.id;
  ids[`${lead}.contact`] = data.convertLead.contact.id;
};

const close = (opportunity: string, input: Record<string, unknown>) =>
  ok(`mutation($input: CloseOpportunityInput!) { closeOpportunity(input: $input) { opportunity { id } } }`, {
    input: { opportunityId: ids[opportunity], ...input },
  });

const kpis = async (groupBy: string[], knownAt?: string) =>
  (
    await ok(`query($from: DateTime!, $to: DateTime!, $groupBy: [KpiDimension!], $knownAt: DateTime) {
      kpis(from: $from, to: $to, groupBy: $groupBy, knownAt: $knownAt) { ${SELECTION} } }`, { ...P, groupBy, knownAt })
  ).kpis;

const retrospective = async (groupBy: string[], knownAt?: string) =>
  (
    await ok(`query($from: DateTime!, $to: DateTime!, $groupBy: [KpiDimension!], $knownAt: DateTime) {
      retrospective(from: $from, to: $to, groupBy: $groupBy, knownAt: $knownAt) { ${SELECTION} } }`, { ...P, groupBy, knownAt })
  ).retrospective;

/** A row's list by name ("none" for the null list). */
const listName = (row: any): string => row.group.list?.name ?? (row.group.listId === null ? 'none' : `unknown ${row.group.listId}`);
const funnelFigures = (row: any) => [row.captured, row.contacted, row.reachedMql, row.reachedSql, row.disqualified, row.converted];

let beforeLists: string;

beforeAll(async () => {
  api = await startTestServer();
  await capture('A', 'TRADE_FAIR', 0);
  await capture('B', 'WEB_FORM', 1);
  await capture('C', 'WEB_FORM', 2);
  await capture('D', 'REFERRAL', 2);
  await ok(`mutation($input: LogLeadContactInput!) { logLeadContact(input: $input) { lead { id } } }`, {
    input: { leadId: ids.A, channel: 'CALL', outcome: 'REACHED', occurredAt: d(1) },
  });
  await qualify('A', 'SQL', 1);
  await convert('A', 'OA', '1000.00', 2);
  await disqualify('B', 'NO_BUDGET', 3);
  await qualify('C', 'MQL', 3);
  await qualify('D', 'SQL', 3);
  await convert('D', 'OD', '500.00', 4);
  await close('OA', { outcome: 'WON', occurredAt: d(5) });
  await close('OD', { outcome: 'LOST', lossReason: 'PRICE', occurredAt: d(6) });
  await engage('E', 'A', 'EMAIL_CAMPAIGN', 6);
  await disqualify('E', 'BAD_TIMING', 7);
  await ok(`mutation($input: RecycleLeadInput!) { recycleLead(input: $input) { lead { id } } }`, {
    input: { leadId: ids.E, source: 'EMAIL_CAMPAIGN' },
  });
  await qualify('E', 'SQL');
  await convert('E', 'OE', '300.00');
  expect(ids['E.contact']).toBe(ids['A.contact']);

  beforeLists = new Date().toISOString();
  await new Promise((resolve) => setTimeout(resolve, 20));
  const createList = async (input: Record<string, unknown>) =>
    (await ok(`mutation($input: CreateLeadListInput!) { createLeadList(input: $input) { list { id } } }`, { input })).createLeadList.list.id;
  ids.Fira = await createList({ name: 'Fira', leadIds: [ids.A, ids.B, ids.E] });
  ids.Web = await createList({ name: 'Web', filter: { source: 'WEB_FORM' } });
}, 120_000);

afterAll(async () => {
  await api?.stop();
});

describe('kpis cut by LIST', () => {
  it('counts a lead cycle once in each list its lead is in, and those in no list under a null list', async () => {
    const { leadFunnel } = await kpis(['LIST']);
    const byList = Object.fromEntries(leadFunnel.map((row: any) => [listName(row), funnelFigures(row)]));
    // captured, contacted, reachedMql, reachedSql, disqualified, converted
    expect(byList).toEqual({
      Fira: [4, 1, 2, 2, 2, 2], // A, B, and E's two cycles
      Web: [2, 0, 1, 0, 1, 0], // B and C
      none: [1, 0, 1, 1, 0, 1], // D
    });
    // B is in both lists: the groups add up to more than the 6 cycles of the period.
    expect((await kpis([])).leadFunnel[0].captured).toBe(6);
    const fira = leadFunnel.find((row: any) => row.group.listId === ids.Fira);
    expect(fira.group).toEqual({
      source: null, campaign: null, ownerId: null, month: null, origin: null,
      listId: ids.Fira, list: { id: ids.Fira, name: 'Fira', kind: 'STATIC', archived: false },
    });
    expect(leadFunnel.find((row: any) => row.group.listId === ids.Web).group.list).toMatchObject({ name: 'Web', kind: 'DYNAMIC' });
  });

  it("cuts the sales figures by the lists of the lead each opportunity came from", async () => {
    const report = await kpis(['LIST']);
    expect(report.salesOutcomes.map((row: any) => [listName(row), row.won, row.lost, row.wonAmount.amount])).toEqual(
      expect.arrayContaining([
        ['Fira', 1, 0, '1000.00'],
        ['none', 0, 1, '0.00'],
      ]),
    );
    expect(report.salesOutcomes).toHaveLength(2);
    expect(report.lossReasons.map((row: any) => [listName(row), row.total, row.reasons[0].reason.code])).toEqual([['none', 1, 'PRICE']]);
    // OE, open, came from E, in Fira.
    expect(report.pipelineValue.map((row: any) => [listName(row), row.pipeline.count, row.pipeline.amount.amount])).toEqual([
      ['Fira', 1, '300.00'],
    ]);
    expect(report.disqualificationReasons.map((row: any) => [listName(row), row.reasons.map((r: any) => r.reason.code).sort()])).toEqual(
      expect.arrayContaining([
        ['Fira', ['BAD_TIMING', 'NO_BUDGET']],
        ['Web', ['NO_BUDGET']],
      ]),
    );
  });
});

describe('kpis cut by ORIGIN', () => {
  it('tells new leads from re-engaged contacts; a recycled cycle keeps its origin, and so does its opportunity', async () => {
    const report = await kpis(['ORIGIN']);
    expect(report.leadFunnel.map((row: any) => [row.group.origin, ...funnelFigures(row)])).toEqual([
      ['NEW', 4, 1, 3, 2, 1, 2],
      ['RE_ENGAGED', 2, 0, 1, 1, 1, 1],
    ]);
    expect(report.disqualificationReasons.map((row: any) => [row.group.origin, row.reasons[0].reason.code])).toEqual([
      ['NEW', 'NO_BUDGET'],
      ['RE_ENGAGED', 'BAD_TIMING'],
    ]);
    expect(report.salesOutcomes.map((row: any) => [row.group.origin, row.won, row.lost])).toEqual([['NEW', 1, 1]]);
    expect(report.pipelineValue.map((row: any) => [row.group.origin, row.pipeline.count, row.pipeline.amount.amount])).toEqual([
      ['RE_ENGAGED', 1, '300.00'],
    ]);
  });

  it('combines with the other dimensions', async () => {
    const cycles = [
      { lead: 'A', at: d(0), lists: ['Fira'], origin: 'NEW' },
      { lead: 'B', at: d(1), lists: ['Fira', 'Web'], origin: 'NEW' },
      { lead: 'C', at: d(2), lists: ['Web'], origin: 'NEW' },
      { lead: 'D', at: d(2), lists: ['none'], origin: 'NEW' },
      { lead: 'E', at: d(6), lists: ['Fira'], origin: 'RE_ENGAGED' },
      { lead: 'E', at: new Date().toISOString(), lists: ['Fira'], origin: 'RE_ENGAGED' },
    ];
    const expected = (key: (cycle: (typeof cycles)[number], list: string) => string) => {
      const counts: Record<string, number> = {};
      for (const cycle of cycles) for (const list of cycle.lists) counts[key(cycle, list)] = (counts[key(cycle, list)] ?? 0) + 1;
      return counts;
    };
    const served = (rows: any[], key: (row: any) => string) => Object.fromEntries(rows.map((row) => [key(row), row.captured]));

    const byListAndMonth = (await kpis(['LIST', 'MONTH'])).leadFunnel;
    expect(served(byListAndMonth, (row) => `${listName(row)} ${row.group.month}`)).toEqual(
      expected((cycle, list) => `${list} ${cycle.at.slice(0, 7)}`),
    );
    const byListAndOrigin = (await kpis(['LIST', 'ORIGIN'])).leadFunnel;
    expect(served(byListAndOrigin, (row) => `${listName(row)} ${row.group.origin}`)).toEqual({
      'Fira NEW': 2,
      'Fira RE_ENGAGED': 2,
      'Web NEW': 2,
      'none NEW': 1,
    });
    const byOriginAndSource = (await kpis(['ORIGIN', 'SOURCE'])).leadFunnel;
    expect(served(byOriginAndSource, (row) => `${row.group.origin} ${row.group.source}`)).toEqual({
      'NEW TRADE_FAIR': 1,
      'NEW WEB_FORM': 2,
      'NEW REFERRAL': 1,
      'RE_ENGAGED EMAIL_CAMPAIGN': 2,
    });
  });
});

describe('retrospective cut by LIST and ORIGIN', () => {
  it('gives the figures kpis gives, for every cut with the new dimensions', async () => {
    for (const groupBy of [['LIST'], ['ORIGIN'], ['LIST', 'MONTH'], ['LIST', 'ORIGIN'], ['SOURCE', 'CAMPAIGN', 'OWNER', 'MONTH', 'LIST', 'ORIGIN']]) {
      expect(await retrospective(groupBy), groupBy.join(', ')).toEqual(await kpis(groupBy));
    }
  });

  it('cuts by the lists as they are now even as known before they existed, as kpis does', async () => {
    const then = await retrospective(['LIST'], beforeLists);
    const { knownAt: _knownAt, ...served } = await kpis(['LIST'], beforeLists);
    expect(then).toEqual(served);
    expect(then.leadFunnel.map((row: any) => [listName(row), row.captured])).toEqual(
      expect.arrayContaining([
        ['Fira', 4],
        ['Web', 2],
        ['none', 1],
      ]),
    );
  });
});

describe('who may cut by LIST and ORIGIN', () => {
  const query = (sections: string) =>
    `{ kpis(from: "${P.from}", to: "${P.to}", groupBy: [LIST, ORIGIN]) { ${sections} } }`;

  it('marketing: the lead sections, with the lists named; still not the sales figures', async () => {
    const leadSections = await api.gql(query('leadFunnel { group { list { name } origin } captured }'), {}, { as: 'mia', roles: ['marketing'] });
    expect(leadSections.errors).toBeUndefined();
    expect(leadSections.data!.kpis.leadFunnel.map((row: any) => row.group.list?.name ?? 'none').sort()).toEqual(['Fira', 'Fira', 'Web', 'none']);
    const salesFigures = await api.gql(query('salesOutcomes { won }'), {}, { as: 'mia', roles: ['marketing'] });
    expect(salesFigures.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('an auditor may not read kpis, nor marketing the retrospective, cut by list or not', async () => {
    const auditor = await api.gql(query('leadFunnel { captured }'), {}, { as: 'aud', roles: ['auditor'] });
    expect(auditor.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const retro = await api.gql(
      `{ retrospective(from: "${P.from}", to: "${P.to}", groupBy: [LIST]) { leadFunnel { captured } } }`,
      {},
      { as: 'mia', roles: ['marketing'] },
    );
    expect(retro.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('refuses a dimension asked for twice', async () => {
    const response = await api.gql(`{ kpis(from: "${P.from}", to: "${P.to}", groupBy: [LIST, LIST]) { currency } }`, {}, { as: 'ana' });
    expect(response.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('membership is taken now', () => {
  it('a lead taken out of a list leaves its figures for past periods too, and a renamed list shows its new name', async () => {
    await ok(`mutation($input: LeadListMembersInput!) { removeLeadsFromList(input: $input) { list { id } } }`, {
      input: { listId: ids.Fira, leadIds: [ids.B] },
    });
    await ok(`mutation($input: RenameLeadListInput!) { renameLeadList(input: $input) { list { id } } }`, {
      input: { listId: ids.Fira, name: 'Fira Barcelona' },
    });
    // C is qualified now: still WEB_FORM, still in the dynamic list.
    const { leadFunnel } = await kpis(['LIST']);
    expect(Object.fromEntries(leadFunnel.map((row: any) => [listName(row), row.captured]))).toEqual({
      'Fira Barcelona': 3,
      Web: 2,
      none: 1,
    });
    expect(await retrospective(['LIST'])).toEqual(await kpis(['LIST']));
  });

  it('kpiRestatements cuts the facts recorded since by list and origin, as kpis does', async () => {
    const since = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await close('OE', { outcome: 'WON' });
    const { kpiRestatements } = await ok(
      `query($from: DateTime!, $to: DateTime!, $since: DateTime!, $groupBy: [KpiDimension!]) {
        kpiRestatements(from: $from, to: $to, since: $since, groupBy: $groupBy) {
          restatements { eventType streamId changes { kpi group { listId origin list { name } } figure before after } } } }`,
      { ...P, since, groupBy: ['LIST', 'ORIGIN'] },
    );
    expect(kpiRestatements.restatements).toHaveLength(1);
    const [won] = kpiRestatements.restatements;
    expect(won.eventType).toBe('OpportunityWon');
    // OE came from E: re-engaged, in Fira (now "Fira Barcelona"); its group had no close before.
    expect(won.changes.find((change: any) => change.kpi === 'SALES_OUTCOMES' && change.figure === 'won')).toEqual({
      kpi: 'SALES_OUTCOMES',
      group: { listId: ids.Fira, origin: 'RE_ENGAGED', list: { name: 'Fira Barcelona' } },
      figure: 'won',
      before: null,
      after: '1',
    });
    expect(new Set(won.changes.map((change: any) => `${change.group.listId} ${change.group.origin}`))).toEqual(new Set([`${ids.Fira} RE_ENGAGED`]));
    const byListAndOrigin = await kpis(['LIST', 'ORIGIN']);
    expect(byListAndOrigin.salesOutcomes.find((row: any) => row.group.listId === ids.Fira && row.group.origin === 'RE_ENGAGED')).toMatchObject({ won: 1 });
  });
});
