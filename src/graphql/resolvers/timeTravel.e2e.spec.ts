/**
 * Back-dating and time travel over HTTP. The scenario is dated relative to the test's start
 * (`daysAgo`), since a back-dated fact must fall within the last 30 days of the server's clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/support/testServer';

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer();
});
afterAll(async () => {
  await api.stop();
});

const startedAt = Date.now();
const daysAgo = (days: number) => new Date(startedAt - days * 86_400_000).toISOString();
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const LEAD_FIELDS = 'id revision status rank capturedAt updatedAt qualification { qualifiedAt } conversion { opportunityId convertedAt }';
const OPPORTUNITY_FIELDS = `id revision status stage probability amount { amount } weightedAmount { amount } openedAt closedAt
  stageHistory { stage enteredAt leftAt }`;
const PIPELINE_FIELDS = `count amount { amount currency } weightedAmount { amount }
  stages { stage count amount { amount } weightedAmount { amount } }`;

const ok = async (mutation: string, input: Record<string, unknown>, as = 'alice') => {
  const response = await api.gql(mutation, { input }, { as });
  expect(response.errors).toBeUndefined();
  return Object.values(response.data!)[0] as Record<string, any>;
};
const refusal = async (mutation: string, input: Record<string, unknown>) => {
  const response = await api.gql(mutation, { input });
  expect(response.data ?? null).toBeNull();
  return response.errors![0]!.extensions!;
};

const CAPTURE = `mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { ${LEAD_FIELDS} } } }`;
const CONTACT = `mutation($input: LogLeadContactInput!) { logLeadContact(input: $input) { lead { ${LEAD_FIELDS} } } }`;
const QUALIFY = `mutation($input: QualifyLeadInput!) { qualifyLead(input: $input) { lead { ${LEAD_FIELDS} } } }`;
const CONVERT = `mutation($input: ConvertLeadInput!) { convertLead(input: $input) { opportunity { id } } }`;
const MOVE = `mutation($input: MoveOpportunityStageInput!) { moveOpportunityStage(input: $input) { opportunity { revision } } }`;
const CLOSE = `mutation($input: CloseOpportunityInput!) { closeOpportunity(input: $input) { opportunity { ${OPPORTUNITY_FIELDS} } } }`;
const LEAD = `query($id: ID!, $asOf: DateTime, $knownAt: DateTime) { lead(id: $id, asOf: $asOf, knownAt: $knownAt) { ${LEAD_FIELDS} } }`;
const OPPORTUNITY = `query($id: ID!, $asOf: DateTime, $knownAt: DateTime) {
  opportunity(id: $id, asOf: $asOf, knownAt: $knownAt) { ${OPPORTUNITY_FIELDS} } }`;
const PIPELINE = `query($filter: PipelineFilter, $asOf: DateTime, $knownAt: DateTime) {
  pipeline(filter: $filter, asOf: $asOf, knownAt: $knownAt) { ${PIPELINE_FIELDS} } }`;
const HISTORY = `query($id: ID!) { history(streamId: $id) { type revision occurredAt recordedAt } }`;

let sequence = 0;
/** A lead captured `capturedDaysAgo` days ago, qualified SQL a day later, owned by `owner`. */
const backDatedSqlLead = async (capturedDaysAgo: number, owner: string) => {
  sequence += 1;
  const { lead } = await ok(CAPTURE, {
    source: 'REFERRAL',
    person: { lastName: `Roca ${sequence}` },
    company: { name: `Ferreteria Roca ${sequence}` },
    ownerId: owner,
    occurredAt: daysAgo(capturedDaysAgo),
  });
  await ok(QUALIFY, { leadId: lead.id, rank: 'SQL', occurredAt: daysAgo(capturedDaysAgo - 1) });
  return lead.id as string;
};

const historyOf = async (streamId: string) => (await api.gql(HISTORY, { id: streamId })).data!.history as Array<Record<string, any>>;

describe('back-dating', () => {
  it('records when a fact happened beside when we learnt it', async () => {
    const { lead } = await ok(CAPTURE, { source: 'TRADE_FAIR', person: { lastName: 'Vidal' }, occurredAt: daysAgo(3) });
    expect(lead.capturedAt).toBe(daysAgo(3));
    const contacted = await ok(CONTACT, { leadId: lead.id, channel: 'MEETING', outcome: 'REACHED', occurredAt: daysAgo(2) });
    expect(contacted.lead).toMatchObject({ status: 'CONTACTED', updatedAt: daysAgo(2) });
    const [captured, contact] = await historyOf(`lead-${lead.id}`);
    expect(captured).toMatchObject({ occurredAt: daysAgo(3) });
    expect(contact).toMatchObject({ occurredAt: daysAgo(2) });
    expect(Date.parse(contact!.recordedAt)).toBeGreaterThanOrEqual(startedAt);
  });

  it('refuses a time in the future, beyond the limit, or before the last fact, and records nothing', async () => {
    const { lead } = await ok(CAPTURE, { source: 'TRADE_FAIR', person: { lastName: 'Pons' }, occurredAt: daysAgo(5) });
    const contact = (occurredAt: string) => refusal(CONTACT, { leadId: lead.id, channel: 'CALL', outcome: 'REACHED', occurredAt });

    const future = await contact(new Date(Date.now() + 3_600_000).toISOString());
    expect(future).toMatchObject({ code: 'BAD_USER_INPUT', fields: [{ field: 'input.occurredAt', message: 'must not be in the future' }] });
    const tooOld = await contact(daysAgo(31));
    expect(tooOld.fields[0]).toMatchObject({ field: 'input.occurredAt' });
    expect(tooOld.fields[0].message).toContain('30 days');
    const beforeCapture = await contact(daysAgo(6));
    expect(beforeCapture.fields[0]).toMatchObject({ field: 'input.occurredAt' });
    expect(beforeCapture.fields[0].message).toContain(`must not be before ${daysAgo(5)}`);

    expect(await historyOf(`lead-${lead.id}`)).toHaveLength(1);
  });

  it('takes its limit from CRM_BACKDATE_LIMIT_DAYS', async () => {
    const strict = await startTestServer({ env: { CRM_BACKDATE_LIMIT_DAYS: '2' } });
    try {
      const capture = (occurredAt: string) =>
        strict.gql(CAPTURE, { input: { source: 'OTHER', person: { lastName: 'Soler' }, occurredAt } });
      const refused = await capture(daysAgo(3));
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: [{ field: 'input.occurredAt' }] });
      expect(refused.errors![0]!.extensions!.fields[0].message).toContain('2 days');
      expect((await capture(daysAgo(1))).errors).toBeUndefined();
    } finally {
      await strict.stop();
    }
  });
});

describe('time travel on two axes, with a close back-dated into the past', () => {
  const owner = 'tt-owner';
  let leadId: string;
  let first: string; // 1000.00 EUR: QUALIFICATION from 8 days ago, PREPARING_QUOTE from 5 days ago, WON 2 days ago
  let second: string; // 2500.50 EUR: VISIT_PENDING from 7 days ago, still open
  /** After everything but the close was recorded, before the close was. */
  let beforeCloseWasRecorded: string;

  beforeAll(async () => {
    leadId = await backDatedSqlLead(10, owner);
    first = (await ok(CONVERT, {
      leadId,
      opportunity: { amount: { amount: '1000.00', currency: 'EUR' }, stage: 'QUALIFICATION' },
      occurredAt: daysAgo(8),
    })).opportunity.id;
    const otherLead = await backDatedSqlLead(9, owner);
    second = (await ok(CONVERT, {
      leadId: otherLead,
      opportunity: { amount: { amount: '2500.50', currency: 'EUR' }, stage: 'VISIT_PENDING' },
      occurredAt: daysAgo(7),
    })).opportunity.id;
    await ok(MOVE, { opportunityId: first, stage: 'PREPARING_QUOTE', occurredAt: daysAgo(5) });

    beforeCloseWasRecorded = (await historyOf(`opportunity-${first}`)).at(-1)!.recordedAt;
    await pause(20);
    await ok(CLOSE, { opportunityId: first, outcome: 'WON', occurredAt: daysAgo(2) });
    const close = (await historyOf(`opportunity-${first}`)).at(-1)!;
    // The scenario needs the close to be learnt strictly after the moment probed below.
    expect(Date.parse(close.recordedAt)).toBeGreaterThan(Date.parse(beforeCloseWasRecorded));
    expect(close.occurredAt).toBe(daysAgo(2));
  });

  const opportunity = async (id: string, window: { asOf?: string; knownAt?: string }) => {
    const response = await api.gql(OPPORTUNITY, { id, ...window });
    expect(response.errors).toBeUndefined();
    return response.data!.opportunity;
  };

  it('refuses a close back-dated before the opportunity was opened, and records nothing', async () => {
    const beforeOpening = await refusal(CLOSE, { opportunityId: second, outcome: 'LOST', lossReason: 'PRICE', occurredAt: daysAgo(7.5) });
    expect(beforeOpening).toMatchObject({ code: 'BAD_USER_INPUT', fields: [{ field: 'input.occurredAt' }] });
    expect(beforeOpening.fields[0].message).toContain(`must not be before ${daysAgo(7)}`);
    expect(await historyOf(`opportunity-${second}`)).toHaveLength(1);
  });

  it('asOf alone: as it was then, as we know now: the back-dated win counts', async () => {
    expect(await opportunity(first, {})).toMatchObject({ status: 'WON', closedAt: daysAgo(2), revision: 2 });
    expect(await opportunity(first, { asOf: daysAgo(1) })).toMatchObject({ status: 'WON', closedAt: daysAgo(2), revision: 2 });
    expect(await opportunity(first, { asOf: daysAgo(6) })).toMatchObject({
      status: 'OPEN',
      stage: 'QUALIFICATION',
      revision: 0,
      weightedAmount: { amount: '100.00' },
      stageHistory: [{ stage: 'QUALIFICATION', enteredAt: daysAgo(8), leftAt: null }],
    });
    expect(await opportunity(first, { asOf: daysAgo(9) })).toBeNull();
  });

  it('knownAt: as we knew it then: the win was not known yet', async () => {
    const asWeKnewIt = {
      status: 'OPEN',
      stage: 'PREPARING_QUOTE',
      probability: 50,
      revision: 1,
      closedAt: null,
      weightedAmount: { amount: '500.00' },
      stageHistory: [
        { stage: 'QUALIFICATION', enteredAt: daysAgo(8), leftAt: daysAgo(5) },
        { stage: 'PREPARING_QUOTE', enteredAt: daysAgo(5), leftAt: null },
      ],
    };
    expect(await opportunity(first, { knownAt: beforeCloseWasRecorded })).toMatchObject(asWeKnewIt);
    expect(await opportunity(first, { asOf: daysAgo(1), knownAt: beforeCloseWasRecorded })).toMatchObject(asWeKnewIt);
    // Both axes: 6 days ago, as known before the close: before the move too.
    expect(await opportunity(first, { asOf: daysAgo(6), knownAt: beforeCloseWasRecorded })).toMatchObject({
      status: 'OPEN',
      stage: 'QUALIFICATION',
    });
  });

  it('lead(asOf, knownAt) folds the lead the same way', async () => {
    const lead = async (window: { asOf?: string; knownAt?: string }) => (await api.gql(LEAD, { id: leadId, ...window })).data!.lead;
    const [captured, qualified] = await historyOf(`lead-${leadId}`);
    expect(await lead({})).toMatchObject({ status: 'CONVERTED', revision: 2, conversion: { opportunityId: first, convertedAt: daysAgo(8) } });
    expect(await lead({ asOf: daysAgo(8.5) })).toMatchObject({ status: 'QUALIFIED', rank: 'SQL', revision: 1, conversion: null });
    expect(await lead({ asOf: daysAgo(9.5) })).toMatchObject({ status: 'NEW', rank: 'UNRANKED', revision: 0, qualification: null });
    expect(await lead({ knownAt: qualified!.recordedAt })).toMatchObject({ status: 'QUALIFIED', revision: 1 });
    expect(await lead({ asOf: daysAgo(9.5), knownAt: qualified!.recordedAt })).toMatchObject({ status: 'NEW', revision: 0 });
    expect(await lead({ asOf: daysAgo(11) })).toBeNull();
    expect(await lead({ knownAt: new Date(Date.parse(captured!.recordedAt) - 1).toISOString() })).toBeNull();
  });

  it('pipeline(asOf, knownAt) sums what was open then, exactly', async () => {
    const pipeline = async (window: { asOf?: string; knownAt?: string }) => {
      const response = await api.gql(PIPELINE, { filter: { ownerId: owner }, ...window });
      expect(response.errors).toBeUndefined();
      const report = response.data!.pipeline;
      const stages = Object.fromEntries(
        report.stages.filter((stage: any) => stage.count > 0).map((stage: any) => [stage.stage, [stage.amount.amount, stage.weightedAmount.amount]]),
      );
      return { count: report.count, amount: report.amount.amount, weighted: report.weightedAmount.amount, stages };
    };
    // 6 days ago: 1000.00 at 10 % and 2500.50 at 25 %.
    expect(await pipeline({ asOf: daysAgo(6) })).toEqual({
      count: 2,
      amount: '3500.50',
      weighted: '725.125',
      stages: { QUALIFICATION: ['1000.00', '100.00'], VISIT_PENDING: ['2500.50', '625.125'] },
    });
    // 3 days ago: the first had moved to 50 %.
    const threeDaysAgo = {
      count: 2,
      amount: '3500.50',
      weighted: '1125.125',
      stages: { PREPARING_QUOTE: ['1000.00', '500.00'], VISIT_PENDING: ['2500.50', '625.125'] },
    };
    expect(await pipeline({ asOf: daysAgo(3) })).toEqual(threeDaysAgo);
    // Yesterday, as we know now: the first was won two days ago. As we knew it before the close: still open.
    const onlySecond = { count: 1, amount: '2500.50', weighted: '625.125', stages: { VISIT_PENDING: ['2500.50', '625.125'] } };
    expect(await pipeline({ asOf: daysAgo(1) })).toEqual(onlySecond);
    expect(await pipeline({ asOf: daysAgo(1), knownAt: beforeCloseWasRecorded })).toEqual(threeDaysAgo);
    expect(await pipeline({ knownAt: beforeCloseWasRecorded })).toEqual(threeDaysAgo);
    // Today: the same as the live report.
    expect(await pipeline({})).toEqual(onlySecond);
    expect(await pipeline({ asOf: new Date().toISOString() })).toEqual(onlySecond);
    expect(await pipeline({ asOf: daysAgo(9) })).toEqual({ count: 0, amount: '0.00', weighted: '0.00', stages: {} });
  });
});

describe('accounts and contacts on both axes', () => {
  const ACCOUNT = `query($id: ID!, $asOf: DateTime, $knownAt: DateTime) { account(id: $id, asOf: $asOf, knownAt: $knownAt) {
    id revision status ownerId name contacts { id accountId } opportunities { id status } } }`;
  const CONTACT_AS_OF = `query($id: ID!, $asOf: DateTime, $knownAt: DateTime) { contact(id: $id, asOf: $asOf, knownAt: $knownAt) {
    id revision accountId updatedAt account { id status ownerId contacts { id } } } }`;
  const CONVERT_ALL = `mutation($input: ConvertLeadInput!) { convertLead(input: $input) { account { id } contact { id } opportunity { id } } }`;
  let ids: { account: string; contact: string; opportunity: string; other: string };
  let knownBeforeWin: string;
  let knownBeforeMove: string;

  const account = async (window: { asOf?: string; knownAt?: string }, id = ids.account) => {
    const response = await api.gql(ACCOUNT, { id, ...window });
    expect(response.errors).toBeUndefined();
    return response.data!.account;
  };
  const contact = async (window: { asOf?: string; knownAt?: string }) => {
    const response = await api.gql(CONTACT_AS_OF, { id: ids.contact, ...window });
    expect(response.errors).toBeUndefined();
    return response.data!.contact;
  };

  /**
   * Converted 18 days ago (recorded now), won 10 days ago (recorded after `knownBeforeWin`), then,
   * today, handed to ben and its contact moved to another account (after `knownBeforeMove`).
   */
  beforeAll(async () => {
    const leadId = await backDatedSqlLead(20, 'alice');
    const converted = await ok(CONVERT_ALL, { leadId, occurredAt: daysAgo(18) });
    ids = { account: converted.account.id, contact: converted.contact.id, opportunity: converted.opportunity.id, other: '' };
    await pause(5);
    knownBeforeWin = new Date().toISOString();
    await pause(5);
    await ok(CLOSE, { opportunityId: ids.opportunity, outcome: 'WON', amount: { amount: '900.00', currency: 'EUR' }, occurredAt: daysAgo(10) });
    await pause(5);
    knownBeforeMove = new Date().toISOString();
    await pause(5);
    await ok(`mutation($input: UpdateAccountInput!) { updateAccount(input: $input) { account { id } } }`, { accountId: ids.account, ownerId: 'ben' });
    ids.other = (await ok(`mutation($input: OpenAccountInput!) { openAccount(input: $input) { account { id } } }`, { kind: 'COMPANY', name: 'Elsewhere SL' }))
      .account.id;
    await ok(`mutation($input: MoveContactInput!) { moveContact(input: $input) { contact { id } } }`, { contactId: ids.contact, accountId: ids.other });
  });

  it('account(asOf): the back-dated win counts once it had occurred, as known now; the later owner and move do not', async () => {
    expect(await account({ asOf: daysAgo(15) })).toMatchObject({
      revision: 0,
      status: 'PROSPECT',
      ownerId: 'alice',
      contacts: [{ id: ids.contact, accountId: ids.account }],
      opportunities: [{ id: ids.opportunity, status: 'OPEN' }],
    });
    expect(await account({ asOf: daysAgo(5) })).toMatchObject({
      status: 'CUSTOMER',
      ownerId: 'alice',
      contacts: [{ id: ids.contact }],
      opportunities: [{ id: ids.opportunity, status: 'WON' }],
    });
    expect(await account({ asOf: daysAgo(19) })).toBeNull();
  });

  it('account(knownAt): as we knew it then, the win was not known yet, though it had occurred', async () => {
    expect(await account({ knownAt: knownBeforeWin })).toMatchObject({
      status: 'PROSPECT',
      ownerId: 'alice',
      contacts: [{ id: ids.contact }],
      opportunities: [{ id: ids.opportunity, status: 'OPEN' }],
    });
    expect(await account({ knownAt: knownBeforeMove })).toMatchObject({ status: 'CUSTOMER', ownerId: 'alice', contacts: [{ id: ids.contact }] });
    expect(await account({ asOf: daysAgo(5), knownAt: knownBeforeWin })).toMatchObject({ status: 'PROSPECT' });
    expect(await account({ knownAt: daysAgo(1) })).toBeNull();
    // Now: ben owns it, and the contact has left for another account.
    expect(await account({})).toMatchObject({ status: 'CUSTOMER', ownerId: 'ben', contacts: [], opportunities: [{ status: 'WON' }] });
    expect((await account({ asOf: new Date().toISOString() })).contacts).toEqual([]);
    expect((await account({}, ids.other)).contacts).toEqual([{ id: ids.contact, accountId: ids.other }]);
    expect((await account({ knownAt: knownBeforeMove }, ids.other))).toBeNull();
  });

  it('contact(asOf, knownAt): its account then, answered in the same window', async () => {
    expect(await contact({ asOf: daysAgo(5) })).toMatchObject({
      accountId: ids.account,
      account: { id: ids.account, status: 'CUSTOMER', ownerId: 'alice', contacts: [{ id: ids.contact }] },
    });
    expect(await contact({ knownAt: knownBeforeWin })).toMatchObject({
      revision: 0,
      accountId: ids.account,
      updatedAt: daysAgo(18),
      account: { id: ids.account, status: 'PROSPECT' },
    });
    expect(await contact({ asOf: daysAgo(19) })).toBeNull();
    expect(await contact({})).toMatchObject({ accountId: ids.other, account: { id: ids.other, status: 'PROSPECT', contacts: [{ id: ids.contact }] } });
  });
});
