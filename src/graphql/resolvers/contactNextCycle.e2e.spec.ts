/**
 * The seeds' story of a customer's next cycle, as one test over HTTP: a lead captured by a
 * campaign is converted and its opportunity won; months later another campaign re-engages the
 * same contact, the new lead is qualified and converted onto the same account, and a second
 * opportunity is won. The KPIs then count two lead cycles for one person, each under its own
 * source and campaign, and nothing is duplicated. Months pass through back-dated business times
 * (`occurredAt`), which this server accepts up to 400 days back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/support/testServer';

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer({ env: { CRM_BACKDATE_LIMIT_DAYS: '400' } });
});
afterAll(async () => {
  await api.stop();
});

const startedAt = Date.now();
const daysAgo = (days: number) => new Date(startedAt - days * 86_400_000).toISOString();

type Caller = { as: string; roles: string[] };
const MARKETING: Caller = { as: 'mia', roles: ['marketing'] };
const SALES: Caller = { as: 'ana', roles: ['sales'] };
const ANALYST: Caller = { as: 'abe', roles: ['analyst'] };

const ok = async (query: string, variables: Record<string, unknown>, caller: Caller) => {
  const response = await api.gql(query, variables, caller);
  expect(response.errors, query).toBeUndefined();
  return Object.values(response.data!)[0] as Record<string, any>;
};

const LOG = `mutation($input: LogLeadContactInput!) { logLeadContact(input: $input) { lead { status } } }`;
const QUALIFY = `mutation($input: QualifyLeadInput!) { qualifyLead(input: $input) { lead { status rank } } }`;
const CONVERT = `mutation($input: ConvertLeadInput!) { convertLead(input: $input) {
  lead { id status } account { id status } contact { id } opportunity { id amount { amount } } } }`;
const CLOSE = `mutation($input: CloseOpportunityInput!) { closeOpportunity(input: $input) { opportunity { id status } } }`;

/** Contacted, qualified MQL by marketing and SQL by sales, converted, and its opportunity won: one cycle. */
const workToAWin = async (leadId: string, day: number, won: string) => {
  await ok(LOG, { input: { leadId, channel: 'CALL', outcome: 'REACHED', occurredAt: daysAgo(day) } }, SALES);
  await ok(QUALIFY, { input: { leadId, rank: 'MQL', criteria: { need: true }, occurredAt: daysAgo(day - 1) } }, MARKETING);
  await ok(QUALIFY, { input: { leadId, rank: 'SQL', criteria: { need: true, budget: true, authority: true }, occurredAt: daysAgo(day - 2) } }, SALES);
  // No account, contact or duplicate allowance named: the second cycle must find its own.
  const converted = await ok(CONVERT, { input: { leadId, occurredAt: daysAgo(day - 5) } }, SALES);
  await ok(CLOSE, {
    input: { opportunityId: converted.opportunity.id, outcome: 'WON', amount: { amount: won, currency: 'EUR' }, occurredAt: daysAgo(day - 30) },
  }, SALES);
  return converted;
};

describe("a contact's next cycle", () => {
  it('converted and won, re-engaged months later by another campaign, converted onto the same account and won again: two cycles, one person', async () => {
    // Spring, eight months ago: a web form of the shop-refit campaign.
    const first = (
      await ok(`mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`, {
        input: {
          source: 'WEB_FORM',
          campaign: 'shop-refit',
          person: { firstName: 'Marta', lastName: 'Puig', email: 'marta@botiga-puig.example', jobTitle: 'Owner' },
          company: { name: 'Botiga Puig', website: 'botiga-puig.example' },
          interest: { product: 'Shop refurbishment', estimatedValue: { amount: '18500.00', currency: 'EUR' } },
          occurredAt: daysAgo(240),
        },
      }, MARKETING)
    ).lead.id as string;
    const firstSale = await workToAWin(first, 239, '18500.00');
    const { account, contact } = firstSale;
    expect(account.status).toBe('PROSPECT');

    // Seven months later she answers an Instagram campaign: the same person, a new cycle.
    const engaged = await ok(`mutation($input: EngageContactInput!) { engageContact(input: $input) {
      lead { id status cycle source campaign person { lastName email } company { name } contact { id } } } }`, {
      input: {
        contactId: contact.id,
        source: 'SOCIAL_MEDIA',
        campaign: 'instagram-second-shop',
        interest: { product: 'Second shop', estimatedValue: { amount: '9000.00', currency: 'EUR' } },
        occurredAt: daysAgo(45),
      },
    }, MARKETING);
    expect(engaged.lead).toMatchObject({
      status: 'NEW',
      cycle: 1,
      source: 'SOCIAL_MEDIA',
      campaign: 'instagram-second-shop',
      person: { lastName: 'Puig', email: 'marta@botiga-puig.example' },
      company: { name: 'Botiga Puig' },
      contact: { id: contact.id },
    });
    const secondSale = await workToAWin(engaged.lead.id, 44, '9500.00');
    expect(secondSale).toMatchObject({
      lead: { id: engaged.lead.id, status: 'CONVERTED' },
      account: { id: account.id, status: 'CUSTOMER' },
      contact: { id: contact.id },
    });
    expect(secondSale.opportunity.id).not.toBe(firstSale.opportunity.id);

    // No duplicate contact or account; the account has both opportunities, won; the contact both cycles.
    const seen = (
      await api.gql(`query($account: ID!, $contact: ID!) {
        accounts(filter: { search: "Botiga Puig" }) { totalCount }
        contacts(filter: { search: "marta@botiga-puig.example" }) { totalCount }
        account(id: $account) { status contacts { id } opportunities { id status amount { amount } } }
        contact(id: $contact) { leadCycles { leadId cycle engaged status } } }`, { account: account.id, contact: contact.id }, SALES)
    ).data!;
    expect(seen.accounts.totalCount).toBe(1);
    expect(seen.contacts.totalCount).toBe(1);
    expect(seen.account.status).toBe('CUSTOMER');
    expect(seen.account.contacts).toEqual([{ id: contact.id }]);
    expect(seen.account.opportunities).toEqual([
      { id: secondSale.opportunity.id, status: 'WON', amount: { amount: '9500.00' } },
      { id: firstSale.opportunity.id, status: 'WON', amount: { amount: '18500.00' } },
    ]);
    expect(seen.contact.leadCycles).toEqual([
      { leadId: first, cycle: 1, engaged: false, status: 'CONVERTED' },
      { leadId: engaged.lead.id, cycle: 1, engaged: true, status: 'CONVERTED' },
    ]);

    // The KPIs count two lead cycles of one person, each under its own source and campaign.
    const year = { from: daysAgo(365), to: new Date(Date.now() + 3_600_000).toISOString() };
    const kpis = async (groupBy: string[]) =>
      ok(`query($from: DateTime!, $to: DateTime!, $groupBy: [KpiDimension!]) { kpis(from: $from, to: $to, groupBy: $groupBy) {
        leadFunnel { group { source campaign } captured contacted reachedSql converted conversionRatio }
        salesOutcomes { group { source campaign } won wonAmount { amount } } } }`, { ...year, groupBy }, ANALYST);
    const total = await kpis([]);
    expect(total.leadFunnel).toEqual([
      { group: { source: null, campaign: null }, captured: 2, contacted: 2, reachedSql: 2, converted: 2, conversionRatio: 1 },
    ]);
    expect(total.salesOutcomes).toEqual([{ group: { source: null, campaign: null }, won: 2, wonAmount: { amount: '28000.00' } }]);
    const byCampaign = await kpis(['SOURCE', 'CAMPAIGN']);
    expect(byCampaign.leadFunnel).toEqual([
      { group: { source: 'SOCIAL_MEDIA', campaign: 'instagram-second-shop' }, captured: 1, contacted: 1, reachedSql: 1, converted: 1, conversionRatio: 1 },
      { group: { source: 'WEB_FORM', campaign: 'shop-refit' }, captured: 1, contacted: 1, reachedSql: 1, converted: 1, conversionRatio: 1 },
    ]);
    expect(byCampaign.salesOutcomes).toEqual([
      { group: { source: 'SOCIAL_MEDIA', campaign: 'instagram-second-shop' }, won: 1, wonAmount: { amount: '9500.00' } },
      { group: { source: 'WEB_FORM', campaign: 'shop-refit' }, won: 1, wonAmount: { amount: '18500.00' } },
    ]);

    // And the account as it was between the two sales: a customer with one won opportunity.
    const between = (
      await api.gql(`query($id: ID!, $asOf: DateTime) { account(id: $id, asOf: $asOf) { status opportunities { id status } } }`, {
        id: account.id,
        asOf: daysAgo(100),
      }, SALES)
    ).data!.account;
    expect(between).toEqual({ status: 'CUSTOMER', opportunities: [{ id: firstSale.opportunity.id, status: 'WON' }] });
  });
});
