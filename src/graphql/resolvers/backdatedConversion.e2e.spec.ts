/**
 * A conversion back-dated onto an existing contact whose last fact is later than the date given:
 * the lead keeps the date of its decision, the streams the conversion opens (account,
 * opportunity) start at that date, and the contact's follow-ups (linked to the lead cycle, moved
 * to the new account) are dated no earlier than the contact's last fact, so the contact's
 * history never goes back in time and every time-travel window over it is a prefix of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/support/testServer';
import { succeeding } from '../../../test/support/succeeding';

const DAY = 86_400_000;
const started = Date.now();
const daysAgo = (days: number) => new Date(started - days * DAY).toISOString();

let api: TestServer;

/** Marta sells; the history and audit trail are an analyst's queries. */
const ok = succeeding(() => api, { as: 'marta', roles: ['sales', 'analyst'] });

const EVENT = 'id type occurredAt recordedAt causationId';
type Event = { id: string; type: string; occurredAt: string; recordedAt: string; causationId: string };

const history = async (streamId: string): Promise<Event[]> => (await ok(`query($id: ID!) { history(streamId: $id) { ${EVENT} } }`, { id: streamId })).history;

/** The API's time-travel read of any stream: its events in a window of business or recording time. */
const window = async (streamId: string, axis: 'occurredAt' | 'recordedAt', to: string): Promise<Event[]> =>
  (
    await ok(
      `query($filter: AuditFilter) { auditTrail(filter: $filter, first: 200) { edges { node { ${EVENT} } } } }`,
      { filter: { streamId, [axis]: { to } } },
    )
  ).auditTrail.edges.map((edge: { node: Event }) => edge.node);

const nonDecreasing = (times: string[]) => times.every((time, index) => index === 0 || Date.parse(time) >= Date.parse(times[index - 1]!));

const s: Record<string, string> = {};

beforeAll(async () => {
  api = await startTestServer();
  const opened = await ok(`mutation { openAccount(input: { kind: COMPANY, name: "Ferreteria Vella" }) { account { id } } }`);
  s.oldAccountId = opened.openAccount.account.id;
  const created = await ok(
    `mutation($accountId: ID!) { createContact(input: { accountId: $accountId, lastName: "Soler", email: "marta.soler@vella.example" }) {
      contact { id } } }`,
    { accountId: s.oldAccountId },
  );
  s.contactId = created.createContact.contact.id;
  const captured = await ok(
    `mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`,
    {
      input: {
        source: 'REFERRAL',
        occurredAt: daysAgo(6),
        person: { lastName: 'Soler', email: 'marta.soler@vella.example' },
        company: { name: 'Botiga Soler' },
        interest: { product: 'Shop refit', estimatedValue: { amount: '12000.00', currency: 'EUR' } },
      },
    },
  );
  s.leadId = captured.captureLead.lead.id;
  await ok(`mutation($input: QualifyLeadInput!) { qualifyLead(input: $input) { lead { id } } }`, {
    input: { leadId: s.leadId, rank: 'SQL', criteria: { need: true, budget: true }, occurredAt: daysAgo(5.5) },
  });
  // Converted today, dated five days ago, onto the contact created just now: it moves to the lead's company.
  const converted = await ok(
    `mutation($input: ConvertLeadInput!) { convertLead(input: $input) {
      account { id } contact { id accountId } opportunity { id } } }`,
    { input: { leadId: s.leadId, existingContactId: s.contactId, occurredAt: daysAgo(5) } },
  );
  s.accountId = converted.convertLead.account.id;
  s.opportunityId = converted.convertLead.opportunity.id;
  expect(converted.convertLead.contact).toEqual({ id: s.contactId, accountId: s.accountId });
}, 60_000);

afterAll(async () => {
  await api?.stop();
});

describe('a conversion back-dated before the existing contact\'s last fact', () => {
  it('keeps the contact\'s history in time order, on both axes', async () => {
    const contact = await history(`contact-${s.contactId}`);
    expect(contact.map((event) => event.type)).toEqual(['ContactCreated', 'ContactLinkedToLead', 'ContactMovedToAccount']);
    expect(nonDecreasing(contact.map((event) => event.occurredAt))).toBe(true);
    expect(nonDecreasing(contact.map((event) => event.recordedAt))).toBe(true);
    // The follow-ups could not have happened before the contact existed: they take its last date.
    const [createdEvent, linked, moved] = contact;
    expect(linked!.occurredAt).toBe(createdEvent!.occurredAt);
    expect(moved!.occurredAt).toBe(createdEvent!.occurredAt);

    // The decision keeps the date it was given, and its follow-ups still point to it.
    const lead = await history(`lead-${s.leadId}`);
    const decision = lead.find((event) => event.type === 'LeadConverted')!;
    expect(decision.occurredAt).toBe(daysAgo(5));
    expect([linked!.causationId, moved!.causationId]).toEqual([decision.id, decision.id]);
    // The streams the conversion opens begin at its date.
    expect((await history(`account-${s.accountId}`))[0]).toMatchObject({ type: 'AccountOpened', occurredAt: daysAgo(5) });
    expect((await history(`opportunity-${s.opportunityId}`))[0]).toMatchObject({ type: 'OpportunityOpened', occurredAt: daysAgo(5) });
  });

  it('gives time-travel windows over the contact that are prefixes of its history', async () => {
    const contact = await history(`contact-${s.contactId}`);
    const cuts = [daysAgo(5), ...contact.flatMap((event) => [event.occurredAt, event.recordedAt])].map((time) =>
      new Date(Date.parse(time) + 1).toISOString(),
    );
    for (const to of cuts) {
      for (const axis of ['occurredAt', 'recordedAt'] as const) {
        const kept = await window(`contact-${s.contactId}`, axis, to);
        expect(kept, `${axis} < ${to}`).toEqual(contact.slice(0, kept.length));
      }
    }
    // As of the conversion's date the contact did not exist yet; nothing of it is dated then.
    expect(await window(`contact-${s.contactId}`, 'occurredAt', new Date(Date.parse(daysAgo(5)) + 1).toISOString())).toEqual([]);
  });

  it('reads the contact, the accounts and the opportunity consistently now and as of the conversion', async () => {
    const now = await ok(
      `query($id: ID!, $old: ID!, $new: ID!) {
        contact(id: $id) { accountId leadCycles { leadId status } }
        old: account(id: $old) { id } new: account(id: $new) { id } }`,
      { id: s.contactId, old: s.oldAccountId, new: s.accountId },
    );
    expect(now.contact).toEqual({ accountId: s.accountId, leadCycles: [{ leadId: s.leadId, status: 'CONVERTED' }] });
    const asOf = daysAgo(4);
    const then = await ok(
      `query($lead: ID!, $opportunity: ID!, $asOf: DateTime) {
        lead(id: $lead, asOf: $asOf) { status }
        opportunity(id: $opportunity, asOf: $asOf) { status accountId contactId }
        pipeline(asOf: $asOf) { count } }`,
      { lead: s.leadId, opportunity: s.opportunityId, asOf },
    );
    expect(then).toEqual({
      lead: { status: 'CONVERTED' },
      opportunity: { status: 'OPEN', accountId: s.accountId, contactId: s.contactId },
      pipeline: { count: 1 },
    });
  });
});
