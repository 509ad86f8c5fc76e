/**
 * The largest amounts the Decimal scalar accepts (18 digits before the point, 8 after), summed
 * over enough opportunities that their whole parts add up past 2^63: every report that sums
 * them (`pipeline`, `pipeline(asOf)`, `kpis { salesOutcomes lossReasons }`) must answer the
 * exact decimal sum on every store, never fail with an integer overflow.
 *
 * Thirty leads are captured on d0 and converted on d1, each into an opportunity at
 * QUALIFICATION (10 %): ten are won on d2 at MAX, ten lost on d2 (PRICE, Acme) at LOST_AMOUNT,
 * ten stay open at MAX.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/support/testServer';
import { succeeding } from '../../../test/support/succeeding';

const DAY = 86_400_000;
const T0 = Math.floor((Date.now() - 10 * DAY) / DAY) * DAY + 9 * 3_600_000;
const d = (days: number) => new Date(T0 + days * DAY).toISOString();

const MAX = '999999999999999999.99999999';
const LOST_AMOUNT = '987654321098765432.12345678';
const EACH = 10;

// Worked out by hand: 10 × MAX = 10^19 − 10^-7; 10 × LOST_AMOUNT shifts its digits by one place.
const TEN_MAX = '9999999999999999999.9999999';
const TEN_LOST = '9876543210987654321.2345678';
/** What was open on d1.5: 10 × 1.00 + 10 × LOST_AMOUNT + 10 × MAX, and its tenth (all at 10 %). */
const OPENED_WITH = '19876543210987654331.2345677';
const OPENED_WITH_WEIGHTED = '1987654321098765433.12345677';

let api: TestServer;

/** Ana sells and analyses: the retrospective is an analyst's query. */
const ok = succeeding(() => api, { as: 'ana', roles: ['sales', 'analyst'] });

const openOpportunity = async (name: string, amount: string): Promise<string> => {
  const captured = await ok(`mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`, {
    input: {
      source: 'WEB_FORM',
      ownerId: 'ana',
      occurredAt: d(0),
      person: { lastName: name, email: `${name.toLowerCase()}@large.example` },
      company: { name: `${name} Holdings` },
    },
  });
  const leadId = captured.captureLead.lead.id;
  await ok(`mutation($input: QualifyLeadInput!) { qualifyLead(input: $input) { lead { id } } }`, {
    input: { leadId, rank: 'SQL', criteria: { need: true, budget: true }, occurredAt: d(0.5) },
  });
  const converted = await ok(
    `mutation($input: ConvertLeadInput!) { convertLead(input: $input) { opportunity { id amount { amount } } } }`,
    { input: { leadId, opportunity: { amount: { amount, currency: 'EUR' } }, occurredAt: d(1) } },
  );
  expect(converted.convertLead.opportunity.amount).toEqual({ amount });
  return converted.convertLead.opportunity.id;
};

const close = (opportunityId: string, input: Record<string, unknown>) =>
  ok(`mutation($input: CloseOpportunityInput!) { closeOpportunity(input: $input) { opportunity { status } } }`, {
    input: { opportunityId, occurredAt: d(2), ...input },
  });

const PIPELINE_FIELDS = `count currency amount { amount currency } weightedAmount { amount }
  byCurrency { currency count amount { amount } weightedAmount { amount } }
  stages { stage count amount { amount } weightedAmount { amount } }`;

const pipeline = async (asOf?: string) =>
  (await ok(`query($asOf: DateTime) { pipeline(asOf: $asOf) { ${PIPELINE_FIELDS} } }`, { asOf })).pipeline;

const SLICE = 'count share amount { amount currency } amountShare';
const KPI_FIELDS = `
  lossReasons { total amount { amount currency } amountByCurrency { amount currency }
                reasons { reason { code } ${SLICE} } competitors { competitor ${SLICE} } stages { stage ${SLICE} } }
  salesOutcomes { closed won lost winRate wonAmount { amount currency } averageWonAmount { amount } }`;

const PERIOD = () => ({ from: d(0), to: new Date(Date.now() + 3_600_000).toISOString() });

beforeAll(async () => {
  api = await startTestServer();
  for (let index = 0; index < EACH; index++) {
    await close(await openOpportunity(`Won${index}`, '1.00'), { outcome: 'WON', amount: { amount: MAX, currency: 'EUR' } });
    await close(await openOpportunity(`Lost${index}`, LOST_AMOUNT), { outcome: 'LOST', lossReason: 'PRICE', competitor: 'Acme' });
    await openOpportunity(`Open${index}`, MAX);
  }
}, 180_000);

afterAll(async () => {
  await api?.stop();
});

const stageOf = (report: any, stage: string) => report.stages.find((row: any) => row.stage === stage);

describe('sums of 18-digit amounts past 2^63', () => {
  it('pipeline answers the exact sum of the open ones', async () => {
    const report = await pipeline();
    expect(report).toMatchObject({
      count: EACH,
      currency: 'EUR',
      amount: { amount: TEN_MAX, currency: 'EUR' },
      weightedAmount: { amount: MAX },
      byCurrency: [{ currency: 'EUR', count: EACH, amount: { amount: TEN_MAX }, weightedAmount: { amount: MAX } }],
    });
    expect(stageOf(report, 'QUALIFICATION')).toEqual({
      stage: 'QUALIFICATION',
      count: EACH,
      amount: { amount: TEN_MAX },
      weightedAmount: { amount: MAX },
    });
  });

  it('pipeline(asOf) answers the exact sums, before and after the closes', async () => {
    // On d1.5 every opportunity was open, at the amount it was opened with (the won ones at 1.00).
    const before = await pipeline(d(1.5));
    expect(before).toMatchObject({
      count: 3 * EACH,
      amount: { amount: OPENED_WITH },
      weightedAmount: { amount: OPENED_WITH_WEIGHTED },
      byCurrency: [
        { currency: 'EUR', count: 3 * EACH, amount: { amount: OPENED_WITH }, weightedAmount: { amount: OPENED_WITH_WEIGHTED } },
      ],
    });
    expect(stageOf(before, 'QUALIFICATION')).toEqual({
      stage: 'QUALIFICATION',
      count: 3 * EACH,
      amount: { amount: OPENED_WITH },
      weightedAmount: { amount: OPENED_WITH_WEIGHTED },
    });

    const now = await pipeline(new Date().toISOString());
    expect(now).toEqual(await pipeline());
    expect(now).toMatchObject({ count: EACH, amount: { amount: TEN_MAX }, weightedAmount: { amount: MAX } });
  });

  it('kpis { salesOutcomes lossReasons } answer the exact sums', async () => {
    const { kpis } = await ok(`query($from: DateTime!, $to: DateTime!) { kpis(from: $from, to: $to) { ${KPI_FIELDS} } }`, PERIOD());
    expect(kpis.salesOutcomes).toEqual([
      {
        closed: 2 * EACH,
        won: EACH,
        lost: EACH,
        winRate: 0.5,
        wonAmount: { amount: TEN_MAX, currency: 'EUR' },
        averageWonAmount: { amount: MAX },
      },
    ]);
    const slice = { count: EACH, share: 1, amount: { amount: TEN_LOST, currency: 'EUR' }, amountShare: 1 };
    expect(kpis.lossReasons).toEqual([
      {
        total: EACH,
        amount: { amount: TEN_LOST, currency: 'EUR' },
        amountByCurrency: [{ amount: TEN_LOST, currency: 'EUR' }],
        reasons: [{ reason: { code: 'PRICE' }, ...slice }],
        competitors: [{ competitor: 'Acme', ...slice }],
        stages: [{ stage: 'QUALIFICATION', ...slice }],
      },
    ]);
    // The replay computes the same figures without read models.
    const { retrospective } = await ok(
      `query($from: DateTime!, $to: DateTime!) { retrospective(from: $from, to: $to) { ${KPI_FIELDS} } }`,
      PERIOD(),
    );
    expect(retrospective).toEqual(kpis);
  });
});
