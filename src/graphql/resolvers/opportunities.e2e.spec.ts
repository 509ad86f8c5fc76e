import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/support/testServer';
import { newId } from '../../core/ids';

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer();
});
afterAll(async () => {
  await api.stop();
});

const OPPORTUNITY_FIELDS = `
  id revision status name accountId contactId stage stageLabel probability expectedCloseDate ownerId
  amount { amount currency } weightedAmount { amount currency }
  openedAt openedBy closedAt closeNotes lossReason { code label } competitor reopenedAt reopenReason`;
const QUOTE_FIELDS = 'id status amount { amount currency } validUntil description';
const ACTIVITY_FIELDS = 'id kind subject dueAt notes done completedAt completionNotes';

const mutation = (name: string, input: string, extra = '') =>
  `mutation($input: ${input}!) { ${name}(input: $input) { opportunity { ${OPPORTUNITY_FIELDS} } ${extra} } }`;
const OPEN = mutation('openOpportunity', 'OpenOpportunityInput');
const MOVE = mutation('moveOpportunityStage', 'MoveOpportunityStageInput');
const UPDATE = mutation('updateOpportunity', 'UpdateOpportunityInput');
const ADD_QUOTE = mutation('addQuote', 'AddQuoteInput', `quote { ${QUOTE_FIELDS} }`);
const CHANGE_QUOTE = mutation('changeQuoteStatus', 'ChangeQuoteStatusInput', `quote { ${QUOTE_FIELDS} }`);
const SCHEDULE = mutation('scheduleActivity', 'ScheduleActivityInput', `activity { ${ACTIVITY_FIELDS} }`);
const COMPLETE = mutation('completeActivity', 'CompleteActivityInput', `activity { ${ACTIVITY_FIELDS} }`);
const REOPEN_ACTIVITY = mutation('reopenActivity', 'ReopenActivityInput', `activity { ${ACTIVITY_FIELDS} }`);
const CLOSE = mutation('closeOpportunity', 'CloseOpportunityInput');
const REOPEN = mutation('reopenOpportunity', 'ReopenOpportunityInput');
const OPPORTUNITY = `query($id: ID!) { opportunity(id: $id) { ${OPPORTUNITY_FIELDS}
  quotes { ${QUOTE_FIELDS} } activities { ${ACTIVITY_FIELDS} } stageHistory { stage label probability enteredAt leftAt } } }`;
const PIPELINE = `query($filter: PipelineFilter) { pipeline(filter: $filter) {
  currency count amount { amount currency } weightedAmount { amount currency }
  stages { stage label probability count amount { amount currency } weightedAmount { amount currency }
           byCurrency { currency count amount { amount } weightedAmount { amount } } } } }`;

const eur = (amount: string) => ({ amount, currency: 'EUR' });

/** Sends a mutation that must succeed, and returns its payload. */
const ok = async (query: string, input: Record<string, unknown>, as = 'alice') => {
  const response = await api.gql(query, { input }, { as });
  expect(response.errors).toBeUndefined();
  return Object.values(response.data!)[0] as Record<string, any>;
};

/** Sends a mutation that must be refused, and returns the error's extensions. */
const errorOf = async (query: string, input: Record<string, unknown>) => {
  const response = await api.gql(query, { input });
  expect(response.data ?? null).toBeNull();
  return response.errors![0]!.extensions!;
};

const anAccount = async (name = 'Botiga Puig') => {
  const response = await api.gql(`mutation($input: OpenAccountInput!) { openAccount(input: $input) { account { id } } }`, {
    input: { kind: 'COMPANY', name },
  });
  expect(response.errors).toBeUndefined();
  return response.data!.openAccount.account.id as string;
};
const aContact = async (accountId: string) => {
  const response = await api.gql(`mutation($input: CreateContactInput!) { createContact(input: $input) { contact { id } } }`, {
    input: { lastName: 'Puig', accountId },
  });
  expect(response.errors).toBeUndefined();
  return response.data!.createContact.contact.id as string;
};

const open = async (input: Record<string, unknown>, as = 'alice') => (await ok(OPEN, input, as)).opportunity;

const lastEventOf = async (opportunityId: string) => {
  const response = await api.gql(`query($id: ID!) { history(streamId: $id) { type actor data } }`, {
    id: `opportunity-${opportunityId}`,
  });
  return response.data!.history.at(-1);
};

describe('an opportunity over HTTP', () => {
  it('opens for an account, moves through the pipeline with quotes and activities, and is won', async () => {
    const accountId = await anAccount();
    const contactId = await aContact(accountId);
    const opened = await open({
      accountId,
      contactId,
      name: 'Shop refurbishment',
      amount: eur('18500.00'),
      expectedCloseDate: '2026-06-30',
    });
    expect(opened).toMatchObject({
      revision: 0,
      status: 'OPEN',
      accountId,
      contactId,
      stage: 'QUALIFICATION',
      stageLabel: 'Qualification',
      probability: 10,
      ownerId: 'alice',
      openedBy: 'alice',
      weightedAmount: eur('1850.00'),
    });
    const opportunityId = opened.id;

    const moved = await ok(MOVE, { opportunityId, stage: 'VISIT_PENDING', expectedRevision: 0 });
    expect(moved.opportunity).toMatchObject({
      stage: 'VISIT_PENDING',
      probability: 25,
      weightedAmount: eur('4625.00'),
      revision: 1,
    });

    const dueAt = '2026-03-02T10:00:00+01:00';
    const visit = (await ok(SCHEDULE, { opportunityId, kind: 'VISIT', subject: 'Measure the shop', dueAt })).activity;
    expect(visit).toMatchObject({ kind: 'VISIT', done: false, dueAt: '2026-03-02T09:00:00.000Z' });
    const call = (await ok(SCHEDULE, { opportunityId, kind: 'CALL', subject: 'Materials', notes: 'Ask for tiles' })).activity;
    const visited = (await ok(COMPLETE, { opportunityId, activityId: visit.id, notes: '120 m²' })).activity;
    expect(visited).toMatchObject({ done: true, completionNotes: '120 m²' });
    await ok(COMPLETE, { opportunityId, activityId: call.id });
    const callAgain = (await ok(REOPEN_ACTIVITY, { opportunityId, activityId: call.id })).activity;
    expect(callAgain).toMatchObject({ done: false, completedAt: null });

    await ok(MOVE, { opportunityId, stage: 'PREPARING_QUOTE' });
    const fullRefit = { amount: eur('18500.00'), validUntil: '2026-04-30', description: 'Full refit' };
    const first = (await ok(ADD_QUOTE, { opportunityId, ...fullRefit })).quote;
    expect(first).toMatchObject({ status: 'DRAFT', amount: eur('18500.00'), validUntil: '2026-04-30' });
    await ok(CHANGE_QUOTE, { opportunityId, quoteId: first.id, status: 'SENT' });
    const second = (await ok(ADD_QUOTE, { opportunityId, amount: eur('17900.00'), description: 'Without the storefront' })).quote;
    expect((await ok(CHANGE_QUOTE, { opportunityId, quoteId: first.id, status: 'SUPERSEDED' })).quote.status).toBe('SUPERSEDED');
    await ok(CHANGE_QUOTE, { opportunityId, quoteId: second.id, status: 'SENT' });
    expect((await ok(CHANGE_QUOTE, { opportunityId, quoteId: second.id, status: 'ACCEPTED' })).quote.status).toBe('ACCEPTED');
    await ok(MOVE, { opportunityId, stage: 'DECISION_PENDING' });

    const won = await ok(CLOSE, { opportunityId, outcome: 'WON', amount: eur('17900.00'), notes: 'Signed at the shop' });
    expect(won.opportunity).toMatchObject({
      status: 'WON',
      amount: eur('17900.00'),
      weightedAmount: null,
      closeNotes: 'Signed at the shop',
      lossReason: null,
    });
    expect(new Date(won.opportunity.closedAt).getTime()).not.toBeNaN();

    const read = (await api.gql(OPPORTUNITY, { id: opportunityId })).data!.opportunity;
    expect(read.quotes).toEqual([
      expect.objectContaining({ id: first.id, status: 'SUPERSEDED', amount: eur('18500.00') }),
      expect.objectContaining({ id: second.id, status: 'ACCEPTED', amount: eur('17900.00') }),
    ]);
    expect(read.activities).toEqual([
      expect.objectContaining({ id: visit.id, done: true }),
      expect.objectContaining({ id: call.id, done: false, notes: 'Ask for tiles' }),
    ]);
    expect(read.stageHistory.map((visit: any) => [visit.stage, visit.probability])).toEqual([
      ['QUALIFICATION', 10],
      ['VISIT_PENDING', 25],
      ['PREPARING_QUOTE', 50],
      ['DECISION_PENDING', 75],
    ]);
    for (const [index, stay] of read.stageHistory.entries()) {
      expect(stay.leftAt).not.toBeNull();
      expect(stay.enteredAt).toBe(index === 0 ? read.openedAt : read.stageHistory[index - 1].leftAt);
    }
    expect(read.stageHistory.at(-1).leftAt).toBe(read.closedAt);

    expect(await lastEventOf(opportunityId)).toMatchObject({ type: 'OpportunityWon', actor: 'alice' });
  });

  it('a closed opportunity accepts nothing but a reopen, which needs a reason', async () => {
    const opportunityId = (await open({ accountId: await anAccount(), name: 'Bakery refit', amount: eur('9000') })).id;
    const quote = (await ok(ADD_QUOTE, { opportunityId, amount: eur('9000') })).quote;
    const activity = (await ok(SCHEDULE, { opportunityId, kind: 'TASK', subject: 'Draw plans' })).activity;
    await ok(CLOSE, { opportunityId, outcome: 'WON' });

    const refusals = await Promise.all([
      errorOf(MOVE, { opportunityId, stage: 'NEGOTIATION' }),
      errorOf(UPDATE, { opportunityId, name: 'Renamed' }),
      errorOf(ADD_QUOTE, { opportunityId, amount: eur('1') }),
      errorOf(CHANGE_QUOTE, { opportunityId, quoteId: quote.id, status: 'SENT' }),
      errorOf(SCHEDULE, { opportunityId, kind: 'CALL', subject: 'Follow up' }),
      errorOf(COMPLETE, { opportunityId, activityId: activity.id }),
      errorOf(CLOSE, { opportunityId, outcome: 'LOST', lossReason: 'PRICE' }),
    ]);
    for (const extensions of refusals) expect(extensions).toMatchObject({ code: 'INVALID_TRANSITION', state: 'WON' });

    expect(await errorOf(REOPEN, { opportunityId, reason: '' })).toMatchObject({
      code: 'BAD_USER_INPUT',
      fields: [{ field: 'input.reason' }],
    });
    const reason = 'The customer cancelled the order';
    const reopened = await ok(REOPEN, { opportunityId, reason });
    expect(reopened.opportunity).toMatchObject({ status: 'OPEN', closedAt: null, reopenReason: reason, revision: 4 });
    const moved = await ok(MOVE, { opportunityId, stage: 'NEGOTIATION' });
    expect(moved.opportunity).toMatchObject({ stage: 'NEGOTIATION', probability: 90 });
    const again = await errorOf(REOPEN, { opportunityId, reason: 'again' });
    expect(again).toMatchObject({ code: 'INVALID_TRANSITION', state: 'OPEN' });
  });

  it('is lost with a reason from the catalog, a competitor and notes; never without a reason', async () => {
    const opportunityId = (await open({ accountId: await anAccount(), name: 'Pharmacy refit', amount: eur('30000') })).id;
    await ok(MOVE, { opportunityId, stage: 'DECISION_PENDING' });

    expect(await errorOf(CLOSE, { opportunityId, outcome: 'LOST' })).toMatchObject({
      code: 'BAD_USER_INPUT',
      fields: [{ field: 'input.lossReason' }],
    });
    expect(await errorOf(CLOSE, { opportunityId, outcome: 'LOST', lossReason: 'MERCURY_RETROGRADE' })).toMatchObject({
      code: 'BAD_USER_INPUT',
      fields: [{ field: 'input.lossReason' }],
    });

    const lost = await ok(CLOSE, {
      opportunityId,
      outcome: 'LOST',
      lossReason: 'COMPETITOR',
      competitor: 'Reformas Díaz',
      notes: '10% cheaper',
    });
    expect(lost.opportunity).toMatchObject({
      status: 'LOST',
      lossReason: { code: 'COMPETITOR', label: 'Chose a competitor' },
      competitor: 'Reformas Díaz',
      closeNotes: '10% cheaper',
      stage: 'DECISION_PENDING',
    });
    expect(await lastEventOf(opportunityId)).toMatchObject({
      type: 'OpportunityLost',
      data: { stage: 'DECISION_PENDING', amount: eur('30000') },
    });
  });
});

describe('refusals carry their own code', () => {
  it('NOT_FOUND for an account, a contact or an opportunity that does not exist', async () => {
    const noAccount = await errorOf(OPEN, { accountId: 'no-such-account', name: 'X' });
    expect(noAccount).toMatchObject({ code: 'NOT_FOUND', entity: 'Account' });
    const noContact = await errorOf(OPEN, { accountId: await anAccount(), contactId: 'no-such-contact', name: 'X' });
    expect(noContact).toMatchObject({ code: 'NOT_FOUND', entity: 'Contact' });
    const noOpportunity = await errorOf(MOVE, { opportunityId: 'no-such-opportunity', stage: 'VISIT_PENDING' });
    expect(noOpportunity).toMatchObject({ code: 'NOT_FOUND', entity: 'Opportunity' });
    expect((await api.gql(OPPORTUNITY, { id: 'no-such-opportunity' })).data!.opportunity).toBeNull();
  });

  it('BAD_USER_INPUT for a contact of another account', async () => {
    const theirs = await anAccount();
    const contactId = await aContact(theirs);
    const refused = await errorOf(OPEN, { accountId: await anAccount(), contactId, name: 'X' });
    expect(refused).toMatchObject({ code: 'BAD_USER_INPUT', fields: [{ field: 'input.contactId' }] });
  });

  it('BAD_USER_INPUT for an unknown stage, a foreign currency, a bad date, and a win with no amount', async () => {
    const accountId = await anAccount();
    expect(await errorOf(OPEN, { accountId, name: 'X', stage: 'DAYDREAMING' })).toMatchObject({
      code: 'BAD_USER_INPUT',
      fields: [{ field: 'input.stage' }],
    });
    expect(await errorOf(OPEN, { accountId, name: 'X', expectedCloseDate: '2026-13-01' })).toMatchObject({
      code: 'BAD_USER_INPUT',
      fields: [{ field: 'input.expectedCloseDate' }],
    });

    const opportunityId = (await open({ accountId, name: 'Priced in euros', amount: eur('100') })).id;
    for (const query of [UPDATE, ADD_QUOTE]) {
      expect(await errorOf(query, { opportunityId, amount: { amount: '100', currency: 'USD' } })).toMatchObject({
        code: 'BAD_USER_INPUT',
        fields: [{ field: 'input.amount.currency' }],
      });
    }
    expect(await errorOf(UPDATE, { opportunityId, probability: 101 })).toMatchObject({ code: 'BAD_USER_INPUT' });

    const unpriced = (await open({ accountId, name: 'No amount yet' })).id;
    expect(await errorOf(CLOSE, { opportunityId: unpriced, outcome: 'WON' })).toMatchObject({
      code: 'BAD_USER_INPUT',
      fields: [{ field: 'input.amount' }],
    });
  });

  it('INVALID_TRANSITION names the quote’s status', async () => {
    const opportunityId = (await open({ accountId: await anAccount(), name: 'Quotes' })).id;
    const quote = (await ok(ADD_QUOTE, { opportunityId, amount: eur('500') })).quote;
    expect(await errorOf(CHANGE_QUOTE, { opportunityId, quoteId: quote.id, status: 'ACCEPTED' })).toMatchObject({
      code: 'INVALID_TRANSITION',
      state: 'DRAFT',
    });
    const noQuote = await errorOf(CHANGE_QUOTE, { opportunityId, quoteId: 'no-such-quote', status: 'SENT' });
    expect(noQuote).toMatchObject({ code: 'NOT_FOUND', entity: 'Quote' });
  });

  it('CONFLICT on a stale revision, and an idempotency key replays the first answer', async () => {
    const accountId = await anAccount();
    const input = { accountId, name: 'Twice', idempotencyKey: `open-${newId()}` };
    const first = await open(input);
    expect(await open(input)).toEqual(first);

    await ok(MOVE, { opportunityId: first.id, stage: 'VISIT_PENDING' });
    expect(await errorOf(MOVE, { opportunityId: first.id, stage: 'NEGOTIATION', expectedRevision: 0 })).toMatchObject({
      code: 'CONFLICT',
      actualRevision: 1,
    });

    const quoteInput = { opportunityId: first.id, amount: eur('10'), idempotencyKey: 'quote-1' };
    const quote = await ok(ADD_QUOTE, quoteInput);
    expect(await ok(ADD_QUOTE, quoteInput)).toEqual(quote);
    const read = (await api.gql(OPPORTUNITY, { id: first.id })).data!.opportunity;
    expect(read.quotes).toHaveLength(1);
  });
});

describe('reading opportunities', () => {
  it('sums the pipeline per stage with probability-weighted amounts, by account and by owner', async () => {
    const accountId = await anAccount('Grouping: Girona stores');
    const owner = `owner-${newId()}`;
    const at = async (stage: string, amount: string, ownerId = owner) =>
      (await open({ accountId, name: `${stage} ${amount}`, stage, amount: eur(amount), ownerId })).id;

    await at('QUALIFICATION', '1000.10');
    await at('QUALIFICATION', '2000.20');
    await at('DECISION_PENDING', '18500.00');
    const overridden = await at('DECISION_PENDING', '3333.33', 'someone-else');
    await ok(UPDATE, { opportunityId: overridden, probability: 40 });
    const closed = await at('NEGOTIATION', '50000');
    await ok(CLOSE, { opportunityId: closed, outcome: 'WON' });
    await open({ accountId, name: 'No amount', stage: 'VISIT_PENDING', ownerId: owner });

    const byAccount = (await api.gql(PIPELINE, { filter: { accountId } })).data!.pipeline;
    const rows = (pipeline: any) =>
      pipeline.stages.map((s: any) => [s.stage, s.probability, s.count, s.amount.amount, s.weightedAmount.amount]);
    expect(rows(byAccount)).toEqual([
      // 1000.10 + 2000.20, weighted at 10%: 300.03
      ['QUALIFICATION', 10, 2, '3000.30', '300.03'],
      // counted, but without an amount to add
      ['VISIT_PENDING', 25, 1, '0.00', '0.00'],
      ['PREPARING_QUOTE', 50, 0, '0.00', '0.00'],
      // 18500.00 × 75% + 3333.33 × 40% (its own probability) = 13875 + 1333.332
      ['DECISION_PENDING', 75, 2, '21833.33', '15208.332'],
      // the won one is no longer in the pipeline
      ['NEGOTIATION', 90, 0, '0.00', '0.00'],
    ]);
    expect(byAccount).toMatchObject({ currency: 'EUR', count: 5, amount: eur('24833.63'), weightedAmount: eur('15508.362') });
    expect(byAccount.stages[0].byCurrency).toEqual([
      { currency: 'EUR', count: 2, amount: { amount: '3000.30' }, weightedAmount: { amount: '300.03' } },
    ]);

    const byOwner = (await api.gql(PIPELINE, { filter: { ownerId: owner } })).data!.pipeline;
    expect(rows(byOwner)).toContainEqual(['DECISION_PENDING', 75, 1, '18500.00', '13875.00']);
    expect(byOwner.count).toBe(4);

    const stages = await api.gql('{ pipelineStages { code label order probability } }');
    expect(stages.data!.pipelineStages[0]).toEqual({ code: 'QUALIFICATION', label: 'Qualification', order: 1, probability: 10 });
  });

  it('lists opportunities filtered by status, stage, owner, account and close-date range', async () => {
    const owner = `owner-${newId()}`;
    const [acme, initech] = [await anAccount('Acme'), await anAccount('Initech')];
    await open({ accountId: acme, name: 'March', ownerId: owner, expectedCloseDate: '2026-03-31' });
    await open({ accountId: initech, name: 'April', ownerId: owner, expectedCloseDate: '2026-04-15', stage: 'VISIT_PENDING' });
    const may = await open({ accountId: acme, name: 'May', ownerId: owner, expectedCloseDate: '2026-05-01' });
    await ok(CLOSE, { opportunityId: may.id, outcome: 'LOST', lossReason: 'TIMING' });

    const names = async (filter: Record<string, unknown>) => {
      const response = await api.gql(
        `query($filter: OpportunityFilter) { opportunities(filter: $filter) { totalCount edges { node { name } } } }`,
        { filter: { ownerId: owner, ...filter } },
      );
      expect(response.errors).toBeUndefined();
      return response.data!.opportunities.edges.map((e: any) => e.node.name).sort();
    };
    expect(await names({})).toEqual(['April', 'March', 'May']);
    expect(await names({ status: 'LOST' })).toEqual(['May']);
    expect(await names({ status: 'OPEN', stage: 'QUALIFICATION' })).toEqual(['March']);
    expect(await names({ accountId: acme })).toEqual(['March', 'May']);
    expect(await names({ expectedCloseFrom: '2026-03-31', expectedCloseTo: '2026-04-30' })).toEqual(['April', 'March']);
    expect(await names({ ownerId: 'nobody' })).toEqual([]);

    const PAGE = `query($owner: ID, $after: String) { opportunities(first: 2, after: $after, filter: { ownerId: $owner }) {
      totalCount pageInfo { hasNextPage endCursor } edges { node { name } } } }`;
    const page1 = (await api.gql(PAGE, { owner })).data!.opportunities;
    expect(page1).toMatchObject({ totalCount: 3, pageInfo: { hasNextPage: true } });
    const page2 = (await api.gql(PAGE, { owner, after: page1.pageInfo.endCursor })).data!.opportunities;
    expect(page2.pageInfo.hasNextPage).toBe(false);
    expect([...page1.edges, ...page2.edges].map((e: any) => e.node.name).sort()).toEqual(['April', 'March', 'May']);

    const badDate = await api.gql(`{ opportunities(filter: { expectedCloseFrom: "31/03/2026" }) { totalCount } }`);
    expect(badDate.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});
