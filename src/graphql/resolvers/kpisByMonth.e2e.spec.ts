/**
 * `kpis` cut by MONTH over several months, over HTTP: each month's part of the period is
 * remembered apart (src/graphql/shared/reports.ts), so that a dashboard's period up to now, which
 * moves at every ask, computes only its last month. Whatever was remembered, every answer equals
 * the replay's (`retrospective`), before and after a write.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KPI_SELECTION } from '../../../test/support/kpiSelection';
import { startTestServer, type TestServer } from '../../../test/support/testServer';
import { succeeding } from '../../../test/support/succeeding';

const DAY = 86_400_000;
const T0 = Math.floor((Date.now() - 120 * DAY) / DAY) * DAY + 9 * 3_600_000;
const d = (days: number) => new Date(T0 + days * DAY).toISOString();

let api: TestServer;
const ids: Record<string, string> = {};

const ok = succeeding(() => api, { as: 'ana' });

const capture = async (name: string, source: string, day?: number) => {
  const data = await ok(`mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`, {
    input: { source, ownerId: 'ana', occurredAt: day === undefined ? undefined : d(day), person: { lastName: name, email: `${name}@example.com` }, company: { name: `${name} Ltd` } },
  });
  ids[name] = data.captureLead.lead.id;
};

const convert = async (lead: string, amount: string, day: number) => {
  await ok(`mutation($input: QualifyLeadInput!) { qualifyLead(input: $input) { lead { id } } }`, {
    input: { leadId: ids[lead], rank: 'SQL', criteria: { need: true, budget: true }, occurredAt: d(day) },
  });
  const data = await ok(`mutation($input: ConvertLeadInput!) { convertLead(input: $input) { opportunity { id } } }`, {
    input: { leadId: ids[lead], opportunity: { amount: { amount, currency: 'EUR' } }, occurredAt: d(day) },
  });
  ids[`${lead}.opportunity`] = data.convertLead.opportunity.id;
};

const close = (lead: string, input: Record<string, unknown>) =>
  ok(`mutation($input: CloseOpportunityInput!) { closeOpportunity(input: $input) { opportunity { id } } }`, {
    input: { opportunityId: ids[`${lead}.opportunity`], ...input },
  });

const report = async (field: 'kpis' | 'retrospective', period: { from: string; to: string }, groupBy: string[]) => {
  const data = await ok(
    `query($from: DateTime!, $to: DateTime!, $groupBy: [KpiDimension!]) { ${field}(from: $from, to: $to, groupBy: $groupBy) { ${KPI_SELECTION} } }`,
    { ...period, groupBy },
  );
  return data[field];
};

const stats = () => api.server.app.reports.stats();
/** A period from before the first fact up to a moment after now: what a dashboard asks. */
const upToNow = () => ({ from: d(-1), to: new Date(Date.now() + 1_000).toISOString() });

beforeAll(async () => {
  api = await startTestServer({ env: { CRM_BACKDATE_LIMIT_DAYS: '130' } });
  await capture('m1', 'WEB_FORM', 0);
  await capture('m2', 'TRADE_FAIR', 1);
  await capture('m3', 'WEB_FORM', 35);
  await capture('m4', 'REFERRAL', 70);
  await convert('m1', '1000.00', 5);
  await convert('m2', '250.00', 40);
  await convert('m3', '700.00', 72);
  await close('m1', { outcome: 'WON', occurredAt: d(40) });
  await close('m2', { outcome: 'LOST', lossReason: 'PRICE', competitor: 'Acme', occurredAt: d(80) });
  await ok(`mutation($input: DisqualifyLeadInput!) { disqualifyLead(input: $input) { lead { id } } }`, {
    input: { leadId: ids.m4, reason: 'NO_BUDGET', occurredAt: d(100) },
  });
}, 120_000);
afterAll(() => api.stop());

describe('kpis by month over several months', () => {
  it('answers a period up to now, asked again a moment later, as the replay does, computing only the last month', async () => {
    for (const groupBy of [['MONTH'], ['SOURCE', 'MONTH'], ['MONTH', 'ORIGIN']]) {
      const first = upToNow();
      const answer = await report('kpis', first, groupBy);
      expect(answer).toEqual(await report('retrospective', first, groupBy));
      expect(new Set(answer.leadFunnel.map((row: { group: { month: string } }) => row.group.month)).size).toBeGreaterThanOrEqual(3);

      const before = stats();
      const later = { ...first, to: new Date(Date.parse(first.to) + 1).toISOString() };
      const again = await report('kpis', later, groupBy);
      expect(again).toEqual({ ...(await report('retrospective', later, groupBy)), to: later.to });
      // Six sections, each computed for the one month whose part moved; the other months from memory.
      expect(stats().misses - before.misses).toBe(6);
      expect(stats().hits - before.hits).toBeGreaterThanOrEqual(6 * 3);
    }
  });

  it('includes a write back-dated into an earlier month and one made now', async () => {
    const period = upToNow();
    await report('kpis', period, ['MONTH']);
    // A capture back-dated into an earlier month, and a loss today.
    await capture('m5', 'REFERRAL', 36);
    await convert('m5', '90.00', 37);
    await close('m5', { outcome: 'LOST', lossReason: 'TIMING' });
    const after = { ...period, to: new Date(Date.now() + 2_000).toISOString() };
    const answer = await report('kpis', after, ['MONTH']);
    expect(answer).toEqual(await report('retrospective', after, ['MONTH']));
    const capturedThen = answer.leadFunnel.find((row: { group: { month: string } }) => row.group.month === d(36).slice(0, 7));
    // m5 and, unless a month begins between them, m3 (captured the day before).
    expect(capturedThen.converted).toBe(d(35).slice(0, 7) === d(36).slice(0, 7) ? 2 : 1);
    const lostNow = answer.lossReasons.find((row: { group: { month: string } }) => row.group.month === new Date().toISOString().slice(0, 7));
    expect(lostNow.reasons.map((slice: { reason: { code: string } }) => slice.reason.code)).toContain('TIMING');
  });

  it('answers a period within one month, and one cut by MONTH and LIST, as the replay does', async () => {
    const withinMonth = { from: d(70), to: d(71) };
    expect(await report('kpis', withinMonth, ['MONTH'])).toEqual(await report('retrospective', withinMonth, ['MONTH']));
    const period = upToNow();
    expect(await report('kpis', period, ['MONTH', 'LIST'])).toEqual(await report('retrospective', period, ['MONTH', 'LIST']));
  });
});
