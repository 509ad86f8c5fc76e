/**
 * The KPIs on both time axes over HTTP: a month is reported, then a win is back-dated into it
 * and another of its wins is reopened. `kpis(knownAt)` still answers what was reported,
 * `kpis` answers the figures of now, and `kpiRestatements` says which facts moved the month,
 * from what to what, and who recorded them. Month M is last calendar month (UTC), whatever the
 * day the test runs: the server allows back-dating 90 days, so that M's first days are in reach.
 *
 *   L1 WEB_FORM, captured M+1d, SQL M+1d, converted M+2d -> O1 1000.00 EUR; WON M+9d at 1200.00
 *   L2 REFERRAL, captured M+3d, SQL M+3d, converted M+4d -> O2 2000.00 EUR, open
 *   L3 WEB_FORM, captured M+5d, disqualified NO_BUDGET M+6d
 *   --- the month is reported ---
 *   carla: O2 WON on M's last day (back-dated), at 2500.00
 *   dave (sales_manager): O1 reopened today
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KPI_SELECTION } from '../../../test/support/kpiSelection';
import { startTestServer, type TestServer } from '../../../test/support/testServer';

const DAY = 86_400_000;
const now = new Date();
const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1);
const M = { from: new Date(monthStart).toISOString(), to: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString() };
const d = (days: number) => new Date(monthStart + days * DAY + 10 * 3_600_000).toISOString();
const lastDayOfM = new Date(Date.parse(M.to) - 6 * 3_600_000).toISOString();
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let api: TestServer;
const ids: Record<string, string> = {};
/** What was reported: the figures `kpis` answered, and when, before the late facts. */
let reported: { at: string; kpis: Record<string, any>; byOwner: Record<string, any> };

const ok = async (query: string, variables: Record<string, unknown> = {}, as = 'ana', roles?: string[]) => {
  const response = await api.gql(query, variables, { as, roles });
  expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
  return response.data!;
};

const mutate = (name: string, inputType: string, input: Record<string, unknown>, selection: string, as?: string, roles?: string[]) =>
  ok(`mutation($input: ${inputType}!) { ${name}(input: $input) { ${selection} } }`, { input }, as, roles).then((data) => data[name]);

const capture = async (lead: string, source: string, day: number) => {
  const payload = await mutate('captureLead', 'CaptureLeadInput', {
    source, ownerId: 'ana', occurredAt: d(day), person: { lastName: lead }, company: { name: `${lead} Ltd` },
  }, 'lead { id }');
  ids[lead] = payload.lead.id;
};
const qualifySql = (lead: string, day: number) =>
  mutate('qualifyLead', 'QualifyLeadInput', { leadId: ids[lead], rank: 'SQL', occurredAt: d(day) }, 'lead { id }');
const convert = async (lead: string, opportunity: string, amount: string, day: number) => {
  const payload = await mutate('convertLead', 'ConvertLeadInput', {
    leadId: ids[lead], opportunity: { amount: { amount, currency: 'EUR' } }, occurredAt: d(day),
  }, 'opportunity { id }');
  ids[opportunity] = payload.opportunity.id;
};
const win = (opportunity: string, amount: string, occurredAt: string, as = 'ana') =>
  mutate('closeOpportunity', 'CloseOpportunityInput', {
    opportunityId: ids[opportunity], outcome: 'WON', amount: { amount, currency: 'EUR' }, occurredAt,
  }, 'opportunity { id }', as);

const KPIS = `query($from: DateTime!, $to: DateTime!, $groupBy: [KpiDimension!], $knownAt: DateTime) {
  kpis(from: $from, to: $to, groupBy: $groupBy, knownAt: $knownAt) { ${KPI_SELECTION} knownAt } }`;
const RETROSPECTIVE = `query($from: DateTime!, $to: DateTime!, $groupBy: [KpiDimension!], $knownAt: DateTime) {
  retrospective(from: $from, to: $to, groupBy: $groupBy, knownAt: $knownAt) { ${KPI_SELECTION} } }`;
const RESTATEMENTS = `query($from: DateTime!, $to: DateTime!, $since: DateTime!, $groupBy: [KpiDimension!], $first: Int, $after: String) {
  kpiRestatements(from: $from, to: $to, since: $since, groupBy: $groupBy, first: $first, after: $after) {
    from to since groupBy currency
    restatements { eventId eventType streamId revision occurredAt recordedAt actor
      changes { kpi group { source campaign ownerId month } figure item before after } }
    pageInfo { hasNextPage endCursor } } }`;

const kpis = async (groupBy: string[] = [], knownAt?: string) => (await ok(KPIS, { ...M, groupBy, knownAt })).kpis;
const restatements = async (since: string, groupBy: string[] = [], page: { first?: number; after?: string } = {}) =>
  (await ok(RESTATEMENTS, { ...M, since, groupBy, ...page }, 'ana', ['analyst'])).kpiRestatements;
const withoutKnownAt = ({ knownAt: _knownAt, ...figures }: Record<string, any>) => figures;

const NO_GROUP = { source: null, campaign: null, ownerId: null, month: null };

beforeAll(async () => {
  api = await startTestServer({ env: { CRM_BACKDATE_LIMIT_DAYS: '90' } });
  await capture('L1', 'WEB_FORM', 1);
  await qualifySql('L1', 1);
  await convert('L1', 'O1', '1000.00', 2);
  await capture('L2', 'REFERRAL', 3);
  await qualifySql('L2', 3);
  await convert('L2', 'O2', '2000.00', 4);
  await capture('L3', 'WEB_FORM', 5);
  await mutate('disqualifyLead', 'DisqualifyLeadInput', { leadId: ids.L3, reason: 'NO_BUDGET', occurredAt: d(6) }, 'lead { id }');
  await win('O1', '1200.00', d(9));

  await pause(5);
  reported = { at: new Date().toISOString(), kpis: await kpis(), byOwner: await kpis(['OWNER', 'SOURCE']) };
  await pause(5);

  await win('O2', '2500.00', lastDayOfM, 'carla');
  await mutate('reopenOpportunity', 'ReopenOpportunityInput', { opportunityId: ids.O1, reason: 'Contract not signed after all' },
    'opportunity { id }', 'dave', ['sales_manager']);
}, 120_000);

afterAll(async () => {
  await api?.stop();
});

describe('kpis on both time axes', () => {
  it('as known when the month was reported, equal what kpis answered then; now, they differ', async () => {
    expect(reported.kpis.salesOutcomes).toMatchObject([{ group: NO_GROUP, closed: 1, won: 1, wonAmount: { amount: '1200.00' } }]);
    const then = await kpis([], reported.at);
    expect(then.knownAt).toBe(reported.at);
    expect(withoutKnownAt(then)).toEqual(withoutKnownAt(reported.kpis));
    expect(withoutKnownAt(await kpis(['OWNER', 'SOURCE'], reported.at))).toEqual(withoutKnownAt(reported.byOwner));

    const current = await kpis();
    expect(current.knownAt).toBeNull();
    expect(current.salesOutcomes).toMatchObject([{ group: NO_GROUP, closed: 1, won: 1, wonAmount: { amount: '2500.00' } }]);
    expect(current.pipelineValue).not.toEqual(then.pipelineValue);
    // The back-dated win is not known "then", even though it happened in the month.
    expect(then.salesOutcomes).not.toEqual(current.salesOutcomes);
  });

  it('as known at any time, equal the retrospective of the events recorded by then', async () => {
    const knownAts = [M.from, reported.at, new Date(Date.parse(reported.at) + 1).toISOString(), new Date().toISOString()];
    for (const knownAt of knownAts) {
      for (const groupBy of [[], ['OWNER', 'MONTH']]) {
        const retrospective = (await ok(RETROSPECTIVE, { ...M, groupBy, knownAt })).retrospective;
        expect(withoutKnownAt(await kpis(groupBy, knownAt)), `known at ${knownAt}`).toEqual(retrospective);
      }
    }
  });
});

describe('kpiRestatements', () => {
  it('lists the back-dated win and the reopen, with the figures before and after and who recorded them', async () => {
    const answer = await restatements(reported.at);
    expect(answer).toMatchObject({ ...M, since: reported.at, groupBy: [], currency: 'EUR' });
    const [won, reopened, ...others] = answer.restatements;
    expect(others).toEqual([]);

    expect(won).toMatchObject({ eventType: 'OpportunityWon', streamId: `opportunity-${ids.O2}`, actor: 'carla', occurredAt: lastDayOfM });
    expect(Date.parse(won.recordedAt)).toBeGreaterThan(Date.parse(reported.at));
    const figure = (changes: any[], kpi: string, name: string) => changes.find((change) => change.kpi === kpi && change.figure === name);
    expect(figure(won.changes, 'SALES_OUTCOMES', 'closed')).toEqual({ kpi: 'SALES_OUTCOMES', group: NO_GROUP, figure: 'closed', item: null, before: '1', after: '2' });
    expect(figure(won.changes, 'SALES_OUTCOMES', 'won')).toMatchObject({ before: '1', after: '2' });
    expect(figure(won.changes, 'SALES_OUTCOMES', 'wonAmount')).toMatchObject({ before: '1200.00', after: '3700.00' });
    expect(figure(won.changes, 'SALES_OUTCOMES', 'averageWonAmount')).toMatchObject({ before: '1200.00', after: '1850.00' });
    // The win moves no lead: the funnel, disqualifications and losses stay as reported.
    expect(won.changes.every((change: any) => change.kpi === 'SALES_OUTCOMES')).toBe(true);

    expect(reopened).toMatchObject({ eventType: 'OpportunityReopened', streamId: `opportunity-${ids.O1}`, actor: 'dave' });
    expect(figure(reopened.changes, 'SALES_OUTCOMES', 'won')).toMatchObject({ before: '2', after: '1' });
    expect(figure(reopened.changes, 'SALES_OUTCOMES', 'wonAmount')).toMatchObject({ before: '3700.00', after: '2500.00' });

    // From the figures reported to those of now.
    const [reportedOutcome] = reported.kpis.salesOutcomes;
    const [currentOutcome] = (await kpis()).salesOutcomes;
    expect(figure(won.changes, 'SALES_OUTCOMES', 'averageSalesCycleDays').before).toBe(String(reportedOutcome.averageSalesCycleDays));
    expect(figure(reopened.changes, 'SALES_OUTCOMES', 'averageSalesCycleDays').after).toBe(String(currentOutcome.averageSalesCycleDays));
  });

  it('names the groups that moved, a group that appears having no figures before', async () => {
    const { restatements: [won] } = await restatements(reported.at, ['OWNER', 'SOURCE']);
    const referral = { ...NO_GROUP, source: 'REFERRAL', ownerId: 'ana' };
    expect(won.changes.find((change: any) => change.figure === 'won')).toEqual({
      kpi: 'SALES_OUTCOMES', group: referral, figure: 'won', item: null, before: null, after: '1',
    });
    expect(reported.byOwner.salesOutcomes.map((row: any) => row.group.source)).toEqual(['WEB_FORM']);
  });

  it('lists the facts of the cohort recorded after an earlier date: conversion, disqualification', async () => {
    const { restatements: all } = await restatements(M.from);
    const types = all.map((restatement: any) => restatement.eventType);
    expect(types).toEqual(expect.arrayContaining(['LeadCaptured', 'LeadQualified', 'LeadConverted', 'LeadDisqualified', 'OpportunityWon', 'OpportunityReopened']));
    const disqualified = all.find((restatement: any) => restatement.eventType === 'LeadDisqualified');
    expect(disqualified.changes).toEqual(expect.arrayContaining([
      { kpi: 'LEAD_FUNNEL', group: NO_GROUP, figure: 'disqualified', item: null, before: '0', after: '1' },
      { kpi: 'DISQUALIFICATION_REASONS', group: NO_GROUP, figure: 'reasons.count', item: 'NO_BUDGET', before: null, after: '1' },
    ]));
    // Nothing recorded after now moved anything.
    expect((await restatements(new Date(Date.now() + DAY).toISOString())).restatements).toEqual([]);
  });

  it('pages: first and after give, page by page, the restatements of one page, each page saying whether more follow', async () => {
    const whole = await restatements(M.from, ['OWNER'], { first: 200 });
    expect(whole.restatements.length).toBeGreaterThan(5);
    expect(whole.pageInfo.hasNextPage).toBe(false);
    const paged: any[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await restatements(M.from, ['OWNER'], { first: 2, after });
      paged.push(...page.restatements);
      expect(page.restatements.length, 'a full page until the last').toBe(page.pageInfo.hasNextPage ? 2 : page.restatements.length);
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(paged).toEqual(whole.restatements);
    // 50 when first is omitted; an empty page still says whether any follow.
    expect((await restatements(M.from, ['OWNER'])).restatements).toEqual(whole.restatements.slice(0, 50));
    expect((await restatements(M.from, ['OWNER'], { first: 0 })).pageInfo).toEqual({ hasNextPage: true, endCursor: null });
  });

  it('refuses a page of more than 200 restatements, and a cursor that is not one of its own, naming the argument', async () => {
    const tooMany = await api.gql(RESTATEMENTS, { ...M, since: M.from, first: 201 });
    expect(tooMany.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: [{ field: 'first' }] });
    const leadCursor = Buffer.from(JSON.stringify(['2026-01-01T00:00:00.000Z', 'some-id'])).toString('base64url');
    for (const after of ['not-a-cursor', leadCursor]) {
      const response = await api.gql(RESTATEMENTS, { ...M, since: M.from, after });
      expect(response.data ?? null).toBeNull();
      expect(response.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: [{ field: 'after', message: 'is not a cursor of these restatements' }] });
    }
  });

  it('is for analysts, auditors and admins: the other roles are refused, and nothing of the figures leaks', async () => {
    const auditor = await api.gql(RESTATEMENTS, { ...M, since: reported.at }, { as: 'ada', roles: ['auditor'] });
    expect(auditor.errors).toBeUndefined();
    expect(auditor.data!.kpiRestatements.restatements).toHaveLength(2);
    for (const roles of [['marketing'], ['sales'], ['sales_manager'], ['privacy_officer']]) {
      const response = await api.gql(RESTATEMENTS, { ...M, since: reported.at }, { as: 'eve', roles });
      expect(response.data ?? null, roles[0]).toBeNull();
      expect(response.errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN', requiredRoles: ['analyst', 'auditor', 'admin'] });
    }
    expect((await restatements(reported.at)).restatements).toHaveLength(2);
  });

  it('refuses a period that ends before it starts', async () => {
    const response = await api.gql(RESTATEMENTS, { from: M.to, to: M.from, since: reported.at });
    expect(response.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: [{ field: 'to', message: 'must be after from' }] });
  });
});

describe('kpis as known at a time, for marketing', () => {
  it('serves the lead sections and refuses the sales figures, as kpis does', async () => {
    const lead = await api.gql(`query($from: DateTime!, $to: DateTime!, $knownAt: DateTime) {
      kpis(from: $from, to: $to, knownAt: $knownAt) { leadFunnel { captured disqualified } } }`, { ...M, knownAt: reported.at }, { as: 'mia', roles: ['marketing'] });
    expect(lead.errors).toBeUndefined();
    expect(lead.data!.kpis.leadFunnel).toEqual([{ captured: 3, disqualified: 1 }]);
    const sales = await api.gql(`query($from: DateTime!, $to: DateTime!, $knownAt: DateTime) {
      kpis(from: $from, to: $to, knownAt: $knownAt) { salesOutcomes { won } } }`, { ...M, knownAt: reported.at }, { as: 'mia', roles: ['marketing'] });
    expect(sales.errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN' });
  });
});
