/**
 * The example of the source documents, end to end over HTTP: a renovation company receives an
 * e-mail from someone who wants to refurbish a shop. It captures the lead, contacts it,
 * qualifies it, converts it, sends two quotes, and wins. Then the same for a consumer (B2C)
 * whose deal is lost, with its reason.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/testServer';

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer();
});
afterAll(async () => {
  await api.stop();
});

const ok = async (query: string, variables: Record<string, unknown> = {}, as = 'marta') => {
  const response = await api.gql(query, variables, { as });
  expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
  return response.data!;
};

describe('the renovation company', () => {
  it('takes the shop refurbishment e-mail from lead to won opportunity', async () => {
    const captured = await ok(`mutation { captureLead(input: {
      source: INBOUND_EMAIL, campaign: "web-contact"
      person: { firstName: "Jordi", lastName: "Serra", email: "jordi@merceria-serra.example", jobTitle: "Owner" }
      company: { name: "Merceria Serra", website: "merceria-serra.example",
                 address: { street: "Carrer Major 12", city: "Girona", postalCode: "17001", country: "ES" } }
      interest: { product: "Shop refurbishment", notes: "Wants to modernise the shop floor",
                  estimatedValue: { amount: "24000.00", currency: "EUR" } }
    }) { lead { id status } } }`);
    const leadId = captured.captureLead.lead.id;

    await ok(`mutation($id: ID!) { logLeadContact(input: { leadId: $id, channel: CALL, outcome: NO_ANSWER }) { lead { id } } }`, { id: leadId });
    const visited = await ok(`mutation($id: ID!) { logLeadContact(input: { leadId: $id, channel: MEETING, outcome: REACHED,
      notes: "Visited the shop: 120 m2, floor, lighting and shop window" }) { lead { status contactAttempts } } }`, { id: leadId });
    expect(visited.logLeadContact.lead).toEqual({ status: 'CONTACTED', contactAttempts: 2 });

    await ok(`mutation($id: ID!) { qualifyLead(input: { leadId: $id, rank: MQL, criteria: { need: true } }) { lead { rank } } }`, { id: leadId });
    const qualified = await ok(`mutation($id: ID!) { qualifyLead(input: { leadId: $id, rank: SQL,
      criteria: { need: true, budget: true, authority: true, timing: true }, notes: "Asks for a proposal" }) { lead { status rank } } }`, { id: leadId });
    expect(qualified.qualifyLead.lead).toEqual({ status: 'QUALIFIED', rank: 'SQL' });

    const converted = await ok(`mutation($id: ID!) { convertLead(input: { leadId: $id, opportunity: { stage: "VISIT_PENDING", expectedCloseDate: "2027-02-28" } }) {
      lead { status } account { id name status } contact { id email } opportunity { id stage amount { amount } } } }`, { id: leadId });
    const { account, contact, opportunity } = converted.convertLead;
    expect(converted.convertLead.lead.status).toBe('CONVERTED');
    expect(account).toMatchObject({ name: 'Merceria Serra', status: 'PROSPECT' });
    expect(contact.email).toBe('jordi@merceria-serra.example');
    expect(opportunity).toMatchObject({ stage: 'VISIT_PENDING', amount: { amount: '24000.00' } });

    const opp = { id: opportunity.id };
    await ok(`mutation($id: ID!) { scheduleActivity(input: { opportunityId: $id, kind: MEETING, subject: "Measure the shop",
      dueAt: "2027-01-10T09:00:00Z" }) { activity { id } } }`, opp);
    await ok(`mutation($id: ID!) { moveOpportunityStage(input: { opportunityId: $id, stage: "PREPARING_QUOTE" }) { opportunity { stage } } }`, opp);
    const first = await ok(`mutation($id: ID!) { addQuote(input: { opportunityId: $id, amount: { amount: "26500.00", currency: "EUR" },
      validUntil: "2027-02-15", description: "Full refurbishment" }) { quote { id status } } }`, opp);
    await ok(`mutation($id: ID!, $q: ID!) { changeQuoteStatus(input: { opportunityId: $id, quoteId: $q, status: SENT }) { quote { status } } }`, {
      ...opp,
      q: first.addQuote.quote.id,
    });
    await ok(`mutation($id: ID!) { moveOpportunityStage(input: { opportunityId: $id, stage: "DECISION_PENDING" }) { opportunity { stage } } }`, opp);
    const second = await ok(`mutation($id: ID!) { addQuote(input: { opportunityId: $id, amount: { amount: "23800.00", currency: "EUR" },
      validUntil: "2027-02-28", description: "Without the shop window" }) { quote { id } } }`, opp);
    for (const [quoteId, status] of [
      [first.addQuote.quote.id, 'SUPERSEDED'],
      [second.addQuote.quote.id, 'SENT'],
      [second.addQuote.quote.id, 'ACCEPTED'],
    ]) {
      await ok(`mutation($id: ID!, $q: ID!, $s: QuoteStatus!) { changeQuoteStatus(input: { opportunityId: $id, quoteId: $q, status: $s }) { quote { status } } }`, {
        ...opp,
        q: quoteId,
        s: status,
      });
    }

    const pipelineBefore = await ok(`{ pipeline { stages { stage count weightedAmount { amount } } } }`);
    expect(pipelineBefore.pipeline.stages.find((s: any) => s.stage === 'DECISION_PENDING')).toMatchObject({
      count: 1,
      weightedAmount: { amount: '18000.00' },
    });

    const won = await ok(`mutation($id: ID!) { closeOpportunity(input: { opportunityId: $id, outcome: WON,
      amount: { amount: "23800.00", currency: "EUR" }, notes: "Signed" }) { opportunity { status amount { amount } } } }`, opp);
    expect(won.closeOpportunity.opportunity).toEqual({ status: 'WON', amount: { amount: '23800.00' } });

    const after = await ok(`query($account: ID!, $opp: ID!) {
      account(id: $account) { status contacts { id } opportunities { id status } }
      opportunity(id: $opp) { status quotes { status amount { amount } } stageHistory { stage } activities { subject done } }
    }`, { account: account.id, opp: opportunity.id });
    expect(after.account).toEqual({ status: 'CUSTOMER', contacts: [{ id: contact.id }], opportunities: [{ id: opportunity.id, status: 'WON' }] });
    expect(after.opportunity.quotes.map((q: any) => [q.status, q.amount.amount])).toEqual([
      ['SUPERSEDED', '26500.00'],
      ['ACCEPTED', '23800.00'],
    ]);
    expect(after.opportunity.stageHistory.map((s: any) => s.stage)).toEqual(['VISIT_PENDING', 'PREPARING_QUOTE', 'DECISION_PENDING']);

    const history = await ok(`query($id: ID!) { history(streamId: $id) { type actor } }`, { id: `lead-${leadId}` });
    expect(history.history.map((e: any) => e.type)).toEqual([
      'LeadCaptured',
      'LeadContactLogged',
      'LeadContactLogged',
      'LeadQualified',
      'LeadQualified',
      'LeadConverted',
    ]);
  });

  it('takes a consumer lead to a lost opportunity in a grouping account, with its reason', async () => {
    const captured = await ok(`mutation { captureLead(input: { source: WEB_FORM,
      person: { firstName: "Laia", lastName: "Costa", email: "laia.costa@mail.example" },
      interest: { product: "Bathroom renovation", estimatedValue: { amount: "7200", currency: "EUR" } } }) { lead { id } } }`);
    const leadId = captured.captureLead.lead.id;
    await ok(`mutation($id: ID!) { logLeadContact(input: { leadId: $id, channel: CALL, outcome: REACHED }) { lead { id } } }`, { id: leadId });
    await ok(`mutation($id: ID!) { qualifyLead(input: { leadId: $id, rank: SQL }) { lead { id } } }`, { id: leadId });
    const converted = await ok(`mutation($id: ID!) { convertLead(input: { leadId: $id,
      account: { new: { kind: GROUPING, name: "Girona region" } } }) { account { id kind } opportunity { id } } }`, { id: leadId });
    expect(converted.convertLead.account.kind).toBe('GROUPING');

    const opp = { id: converted.convertLead.opportunity.id };
    const noReason = await api.gql(`mutation($id: ID!) { closeOpportunity(input: { opportunityId: $id, outcome: LOST }) { opportunity { id } } }`, opp, { as: 'marta' });
    expect(noReason.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const lost = await ok(`mutation($id: ID!) { closeOpportunity(input: { opportunityId: $id, outcome: LOST, lossReason: "PRICE",
      competitor: "Reformes Express", notes: "Cheaper offer" }) { opportunity { status lossReason { code label } competitor } } }`, opp);
    expect(lost.closeOpportunity.opportunity).toEqual({
      status: 'LOST',
      lossReason: { code: 'PRICE', label: 'Price too high' },
      competitor: 'Reformes Express',
    });
    const closed = await api.gql(`mutation($id: ID!) { moveOpportunityStage(input: { opportunityId: $id, stage: "NEGOTIATION" }) { opportunity { id } } }`, opp);
    expect(closed.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_TRANSITION', state: 'LOST' });
  });
});

describe.each([
  ['B2B', { account: undefined }],
  ['B2C', { account: { new: { kind: 'GROUPING', name: 'Costa Brava stores' } } }],
  ['B2C, joining that grouping', { joinGrouping: 'Costa Brava stores' }],
])('%s', (_kind, conversion) => {
  it.each([
    ['WON', { outcome: 'WON', amount: { amount: '5000.00', currency: 'EUR' } }, 'CUSTOMER'],
    ['LOST', { outcome: 'LOST', lossReason: 'NO_DECISION' }, 'PROSPECT'],
  ])('a lead ends in a %s opportunity', async (status, close, accountStatus) => {
    const captured = await ok(`mutation { captureLead(input: { source: TRADE_FAIR,
      person: { lastName: "Pons", email: "pons-${Math.random()}@example.org" }, company: { name: "Pons ${Math.random()}" },
      interest: { product: "Terrace", estimatedValue: { amount: "5000.00", currency: "EUR" } } }) { lead { id } } }`);
    const leadId = captured.captureLead.lead.id;
    await ok(`mutation($id: ID!) { qualifyLead(input: { leadId: $id, rank: SQL }) { lead { id } } }`, { id: leadId });
    const existing = 'joinGrouping' in conversion
      ? (await ok(`{ accounts(filter: { kind: GROUPING, search: "costa brava" }) { edges { node { id } } } }`)).accounts.edges[0].node.id
      : undefined;
    const input = existing ? { leadId, account: { existingAccountId: existing } } : { leadId, ...conversion, allowDuplicate: true };
    const converted = await ok(`mutation($input: ConvertLeadInput!) { convertLead(input: $input) { account { id } opportunity { id } } }`, {
      input,
    });
    const closed = await ok(`mutation($input: CloseOpportunityInput!) { closeOpportunity(input: $input) { opportunity { status } } }`, {
      input: { opportunityId: converted.convertLead.opportunity.id, ...close },
    });
    expect(closed.closeOpportunity.opportunity.status).toBe(status);
    const account = await ok(`query($id: ID!) { account(id: $id) { status } }`, { id: converted.convertLead.account.id });
    if (!existing) expect(account.account.status).toBe(accountStatus);
  });
});
