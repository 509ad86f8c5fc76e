/**
 * The KPIs and the retrospective over HTTP, on a small history whose figures are worked out
 * by hand below. Business times are back-dated from "now" so that the period is in the past
 * (and the test does not depend on the day it runs).
 *
 * Period P = [d0, d15):
 *   L1 WEB_FORM "spring", ana, captured d0, contact NO_ANSWER d0, REACHED d1, MQL d1, SQL d2, converted d3 -> O1 1000.00 EUR at QUALIFICATION;
 *      O1 to PREPARING_QUOTE d5, WON d9 at 1200.00                                  (cycle 6 days)
 *   L2 WEB_FORM "spring", ana, captured d1, contact NO_ANSWER d1 (never reached), MQL d2, disqualified NO_BUDGET d4
 *   L3 TRADE_FAIR, ben, captured d1, REACHED d1, SQL d2, converted d4 -> O2 500.50 EUR at QUALIFICATION;
 *      O2 to VISIT_PENDING d6, LOST d11 (PRICE, competitor Acme)                    (cycle 7 days)
 *   L4 TRADE_FAIR, ben, captured d2, never contacted, disqualified NO_NEED d3
 *   L5 REFERRAL, ana, captured d3, SQL d4, REACHED d4 (after qualifying: still contacted), converted d5 -> O3 2000.00 EUR; to DECISION_PENDING d7, open
 * Period Q = [d15, now + 1h):
 *   L6 WEB_FORM "spring", ben, captured d20, disqualified NO_BUDGET d21
 *   O4 opened now on O1's account, not from a lead, owner ana, 300.00 EUR; LOST now (PRICE, no competitor)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/support/testServer';
import { succeeding } from '../../../test/support/succeeding';
import { KPI_SELECTION } from '../../../test/support/kpiSelection';

const DAY = 86_400_000;
const T0 = Math.floor((Date.now() - 28 * DAY) / DAY) * DAY + 9 * 3_600_000;
const d = (days: number) => new Date(T0 + days * DAY).toISOString();
const monthOf = (days: number) => d(days).slice(0, 7);
const P = { from: d(0), to: d(15) };
const Q = () => ({ from: d(15), to: new Date(Date.now() + 3_600_000).toISOString() });

let api: TestServer;
const ids: Record<string, string> = {};

const ok = succeeding(() => api, { as: 'ana' });

const capture = async (name: string, source: string, campaign: string | null, ownerId: string, day: number) => {
  const data = await ok(
    `mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`,
    {
      input: {
        source,
        campaign,
        ownerId,
        occurredAt: d(day),
        person: { lastName: name, email: `${name.toLowerCase()}@example.com` },
        company: { name: `${name} Ltd` },
      },
    },
  );
  ids[name] = data.captureLead.lead.id;
};

const qualify = (lead: string, rank: 'MQL' | 'SQL', day: number) =>
  ok(`mutation($input: QualifyLeadInput!) { qualifyLead(input: $input) { lead { id } } }`, {
    input: { leadId: ids[lead], rank, criteria: { need: true, budget: true }, occurredAt: d(day) },
  });

const logContact = (lead: string, outcome: 'REACHED' | 'NO_ANSWER', day: number) =>
  ok(`mutation($input: LogLeadContactInput!) { logLeadContact(input: $input) { lead { id } } }`, {
    input: { leadId: ids[lead], channel: 'CALL', outcome, occurredAt: d(day) },
  });

const disqualify = (lead: string, reason: string, day: number) =>
  ok(`mutation($input: DisqualifyLeadInput!) { disqualifyLead(input: $input) { lead { id } } }`, {
    input: { leadId: ids[lead], reason, occurredAt: d(day) },
  });

const convert = async (lead: string, opportunity: string, amount: string, day: number) => {
  const data = await ok(
    `mutation($input: ConvertLeadInput!) { convertLead(input: $input) { account { id } opportunity { id } } }`,
    { input: { leadId: ids[lead], opportunity: { amount: { amount, currency: 'EUR' } }, occurredAt: d(day) } },
  );
  ids[opportunity] = data.convertLead.opportunity.id;
  ids[`${opportunity}.account`] = data.convertLead.account.id;
};

const move = (opportunity: string, stage: string, day: number) =>
  ok(`mutation($input: MoveOpportunityStageInput!) { moveOpportunityStage(input: $input) { opportunity { id } } }`, {
    input: { opportunityId: ids[opportunity], stage, occurredAt: d(day) },
  });

const close = (opportunity: string, input: Record<string, unknown>) =>
  ok(`mutation($input: CloseOpportunityInput!) { closeOpportunity(input: $input) { opportunity { id } } }`, {
    input: { opportunityId: ids[opportunity], ...input },
  });

const kpis = async (period: { from: string; to: string }, groupBy: string[] = []) =>
  (
    await ok(`query($from: DateTime!, $to: DateTime!, $groupBy: [KpiDimension!]) {
      kpis(from: $from, to: $to, groupBy: $groupBy) { ${KPI_SELECTION} } }`, { ...period, groupBy })
  ).kpis;

const retrospective = async (period: { from: string; to: string }, groupBy: string[] = [], knownAt?: string) =>
  (
    await ok(`query($from: DateTime!, $to: DateTime!, $groupBy: [KpiDimension!], $knownAt: DateTime) {
      retrospective(from: $from, to: $to, groupBy: $groupBy, knownAt: $knownAt) { ${KPI_SELECTION} knownAt eventsReplayed } }`,
    { ...period, groupBy, knownAt })
  ).retrospective;

const NO_GROUP = { source: null, campaign: null, ownerId: null, month: null };

beforeAll(async () => {
  api = await startTestServer();
  await capture('L1', 'WEB_FORM', 'spring', 'ana', 0);
  await capture('L2', 'WEB_FORM', 'spring', 'ana', 1);
  await capture('L3', 'TRADE_FAIR', null, 'ben', 1);
  await capture('L4', 'TRADE_FAIR', null, 'ben', 2);
  await capture('L5', 'REFERRAL', null, 'ana', 3);
  await logContact('L1', 'NO_ANSWER', 0);
  await logContact('L1', 'REACHED', 1);
  await logContact('L2', 'NO_ANSWER', 1);
  await logContact('L3', 'REACHED', 1);
  await qualify('L1', 'MQL', 1);
  await qualify('L1', 'SQL', 2);
  await qualify('L2', 'MQL', 2);
  await qualify('L3', 'SQL', 2);
  await qualify('L5', 'SQL', 4);
  await logContact('L5', 'REACHED', 4);
  await disqualify('L4', 'NO_NEED', 3);
  await disqualify('L2', 'NO_BUDGET', 4);
  await convert('L1', 'O1', '1000.00', 3);
  await convert('L3', 'O2', '500.50', 4);
  await convert('L5', 'O3', '2000.00', 5);
  await move('O1', 'PREPARING_QUOTE', 5);
  await move('O2', 'VISIT_PENDING', 6);
  await move('O3', 'DECISION_PENDING', 7);
  await close('O1', { outcome: 'WON', amount: { amount: '1200.00', currency: 'EUR' }, occurredAt: d(9) });
  await close('O2', { outcome: 'LOST', lossReason: 'PRICE', competitor: 'Acme', occurredAt: d(11) });
  await capture('L6', 'WEB_FORM', 'spring', 'ben', 20);
  await disqualify('L6', 'NO_BUDGET', 21);
  const opened = await ok(
    `mutation($input: OpenOpportunityInput!) { openOpportunity(input: $input) { opportunity { id } } }`,
    { input: { accountId: ids['O1.account'], name: 'Extra', amount: { amount: '300.00', currency: 'EUR' }, ownerId: 'ana' } },
  );
  ids.O4 = opened.openOpportunity.opportunity.id;
  await close('O4', { outcome: 'LOST', lossReason: 'PRICE' });
}, 120_000);

afterAll(async () => {
  await api?.stop();
});

describe('kpis over a period', () => {
  it('gives the conversion ratio, contact and qualification rates of the leads captured in it', async () => {
    const report = await kpis(P);
    expect(report).toMatchObject({ from: P.from, to: P.to, groupBy: [], currency: 'EUR' });
    expect(report.leadFunnel).toEqual([
      { group: NO_GROUP, captured: 5, contacted: 3, reachedMql: 4, reachedSql: 3, disqualified: 2, converted: 3,
        contactRate: 0.6, mqlRate: 0.8, sqlRate: 0.6, conversionRatio: 0.6 },
    ]);
  });

  it('cuts the funnel by source, and by owner', async () => {
    const bySource = await kpis(P, ['SOURCE']);
    expect(bySource.leadFunnel.map((row: any) => [row.group.source, row.captured, row.contacted, row.contactRate, row.reachedMql, row.converted, row.conversionRatio]))
      .toEqual([
        ['REFERRAL', 1, 1, 1, 1, 1, 1],
        ['TRADE_FAIR', 2, 1, 0.5, 1, 1, 0.5],
        ['WEB_FORM', 2, 1, 0.5, 2, 1, 0.5],
      ]);
    const byOwner = await kpis(P, ['OWNER']);
    expect(byOwner.leadFunnel.map((row: any) => [row.group.ownerId, row.captured, row.converted])).toEqual([
      ['ana', 3, 2],
      ['ben', 2, 1],
    ]);
  });

  it('cuts by campaign and month together, a lead without a campaign in its own group', async () => {
    const report = await kpis(P, ['CAMPAIGN', 'MONTH']);
    const expected = new Map<string, number>();
    for (const [campaign, day] of [['spring', 0], ['spring', 1], [null, 1], [null, 2], [null, 3]] as const) {
      const key = JSON.stringify([campaign, monthOf(day)]);
      expected.set(key, (expected.get(key) ?? 0) + 1);
    }
    const actual = new Map(
      report.leadFunnel.map((row: any) => [JSON.stringify([row.group.campaign, row.group.month]), row.captured]),
    );
    expect(actual).toEqual(expected);
    expect(report.leadFunnel.every((row: any) => row.group.source === null && row.group.ownerId === null)).toBe(true);
  });

  it('breaks disqualifications down by reason, with shares', async () => {
    expect((await kpis(P)).disqualificationReasons).toEqual([
      {
        group: NO_GROUP,
        total: 2,
        reasons: [
          { reason: { code: 'NO_BUDGET', label: 'No budget' }, count: 1, share: 0.5 },
          { reason: { code: 'NO_NEED', label: 'No need for what we offer' }, count: 1, share: 0.5 },
        ],
      },
    ]);
    const bySource = (await kpis(Q(), ['SOURCE'])).disqualificationReasons;
    expect(bySource).toEqual([
      { group: { ...NO_GROUP, source: 'WEB_FORM' }, total: 1, reasons: [{ reason: { code: 'NO_BUDGET', label: 'No budget' }, count: 1, share: 1 }] },
    ]);
  });

  it('breaks losses down by reason, competitor and stage, by count and amount', async () => {
    const slice = { count: 1, share: 1, amount: { amount: '500.50', currency: 'EUR' }, amountShare: 1 };
    expect((await kpis(P)).lossReasons).toEqual([
      {
        group: NO_GROUP,
        total: 1,
        amount: { amount: '500.50', currency: 'EUR' },
        reasons: [{ reason: { code: 'PRICE' }, ...slice }],
        competitors: [{ competitor: 'Acme', ...slice }],
        stages: [{ stage: 'VISIT_PENDING', label: 'Visit pending', ...slice }],
      },
    ]);
    // O2 came from a TRADE_FAIR lead; O4 was opened on an account, from no lead at all.
    const later = await kpis(Q(), ['SOURCE']);
    expect(later.lossReasons).toEqual([
      {
        group: NO_GROUP,
        total: 1,
        amount: { amount: '300.00', currency: 'EUR' },
        reasons: [{ reason: { code: 'PRICE' }, count: 1, share: 1, amount: { amount: '300.00', currency: 'EUR' }, amountShare: 1 }],
        competitors: [{ competitor: null, count: 1, share: 1, amount: { amount: '300.00', currency: 'EUR' }, amountShare: 1 }],
        stages: [{ stage: 'QUALIFICATION', label: 'Qualification', count: 1, share: 1, amount: { amount: '300.00', currency: 'EUR' }, amountShare: 1 }],
      },
    ]);
    const bySource = await kpis(P, ['SOURCE']);
    expect(bySource.lossReasons.map((row: any) => row.group.source)).toEqual(['TRADE_FAIR']);
  });

  it('gives the win rate, won amounts and the sales-cycle length', async () => {
    expect((await kpis(P)).salesOutcomes).toEqual([
      {
        group: NO_GROUP,
        closed: 2,
        won: 1,
        lost: 1,
        winRate: 0.5,
        wonAmount: { amount: '1200.00' },
        averageWonAmount: { amount: '1200.00' },
        averageSalesCycleDays: 6.5,
        averageWonSalesCycleDays: 6,
      },
    ]);
    const byOwner = (await kpis(P, ['OWNER'])).salesOutcomes;
    expect(byOwner.map((row: any) => [row.group.ownerId, row.won, row.lost, row.winRate])).toEqual([
      ['ana', 1, 0, 1],
      ['ben', 0, 1, 0],
    ]);
  });

  it('gives the time spent in each stage, for the stays that ended in the period', async () => {
    expect((await kpis(P)).timeInStage).toEqual([
      {
        group: { source: null, ownerId: null, month: null },
        stages: [
          { stage: 'QUALIFICATION', label: 'Qualification', stays: 3, totalDays: 6, averageDays: 2 },
          { stage: 'VISIT_PENDING', label: 'Visit pending', stays: 1, totalDays: 5, averageDays: 5 },
          { stage: 'PREPARING_QUOTE', label: 'Preparing quote', stays: 1, totalDays: 4, averageDays: 4 },
        ],
      },
    ]);
  });

  it('gives the value of the pipeline opened in the period, by stage, weighted and not', async () => {
    const [row] = (await kpis(P, ['SOURCE'])).pipelineValue;
    expect(row.group).toEqual({ source: 'REFERRAL', ownerId: null, month: null });
    expect(row.pipeline).toMatchObject({ count: 1, amount: { amount: '2000.00' }, weightedAmount: { amount: '1500.00' } });
    expect(row.pipeline.stages.find((stage: any) => stage.stage === 'DECISION_PENDING')).toEqual({
      stage: 'DECISION_PENDING',
      count: 1,
      amount: { amount: '2000.00' },
      weightedAmount: { amount: '1500.00' },
    });
    // Over all time it is the pipeline query's report.
    const all = (await kpis({ from: '2000-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' })).pipelineValue[0].pipeline;
    const { pipeline } = await ok('{ pipeline { count amount { amount } weightedAmount { amount } } }');
    expect({ count: all.count, amount: all.amount, weightedAmount: all.weightedAmount }).toEqual(pipeline);
  });

  it('refuses a period that ends before it starts', async () => {
    const response = await api.gql(`{ kpis(from: "${P.to}", to: "${P.from}") { currency } }`, {}, { as: 'ana' });
    expect(response.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('needs a token', async () => {
    const response = await api.gql(`{ kpis(from: "${P.from}", to: "${P.to}") { currency } }`, {}, { as: null });
    expect(response.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});

describe('retrospective by replay', () => {
  it('recomputes the same figures as the read models, for every KPI and cut', async () => {
    for (const groupBy of [[], ['SOURCE'], ['OWNER', 'MONTH'], ['SOURCE', 'CAMPAIGN', 'OWNER', 'MONTH']]) {
      for (const period of [P, Q()]) {
        const { knownAt, eventsReplayed, ...replayed } = await retrospective(period, groupBy);
        expect(knownAt).toBeNull();
        // 6 captures, 5 contacts, 5 qualifications, 3 disqualifications, 3 conversions; 4 opened, 3 moves, 3 closes.
        expect(eventsReplayed).toBe(32);
        expect(replayed).toEqual(await kpis(period, groupBy));
      }
    }
  });

  it('answers as we knew it then: a loss later reopened still shows before the reopening', async () => {
    const before = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await ok(`mutation($input: ReopenOpportunityInput!) { reopenOpportunity(input: $input) { opportunity { status } } }`, {
      input: { opportunityId: ids.O2, reason: 'The customer came back' },
    });

    // Now O2 is open again: its loss no longer counts, whichever way it is computed.
    expect((await kpis(P)).lossReasons).toEqual([]);
    expect((await retrospective(P)).lossReasons).toEqual([]);

    const then = await retrospective(P, [], before);
    expect(then.knownAt).toBe(before);
    expect(then.lossReasons).toMatchObject([{ total: 1, amount: { amount: '500.50' }, competitors: [{ competitor: 'Acme' }] }]);
    expect(then.disqualificationReasons).toEqual((await kpis(P)).disqualificationReasons);
  });

  it('knows nothing before the first event was recorded', async () => {
    const then = await retrospective(P, [], '2000-01-01T00:00:00Z');
    expect(then).toMatchObject({ eventsReplayed: 0, leadFunnel: [], disqualificationReasons: [], lossReasons: [] });
  });
});
