/**
 * A conversion touches four streams without a multi-stream transaction. These tests kill the
 * server between its steps and check that a restart completes it, exactly once, and that a
 * client retrying the request gets the same answer.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSqliteEventStore } from '../src/eventStores/sqlite';
import { mintToken } from '../src/identity/jwt';
import { conversionIds } from '../src/domain/leads/conversion';
import { readStreamOrEmpty } from '../src/core/commandHandler';
import { dataDirForThisTest, startChildServer } from './support/childServer';
import { startTestServer, TEST_SECRET } from './support/testServer';

const CONVERT = `mutation($input: ConvertLeadInput!) { convertLead(input: $input) {
  lead { status } account { id name } contact { id } opportunity { id } } }`;

const prepareQualifiedLead = async (dataDir: string): Promise<string> => {
  const api = await startTestServer({ dataDir });
  try {
    const captured = await api.gql(`mutation { captureLead(input: { source: WEB_FORM,
      person: { lastName: "Vidal", email: "jan@crash.example" }, company: { name: "Crash Test SL" },
      interest: { product: "Facade", estimatedValue: { amount: "9000", currency: "EUR" } } }) { lead { id } } }`);
    const leadId = captured.data!.captureLead.lead.id as string;
    await api.gql(`mutation($id: ID!) { qualifyLead(input: { leadId: $id, rank: SQL }) { lead { id } } }`, { id: leadId });
    return leadId;
  } finally {
    await api.stop();
  }
};

const streamTypes = async (dataDir: string, streamId: string): Promise<string[]> => {
  const store = openSqliteEventStore({ filename: path.join(dataDir, 'crm.sqlite') });
  try {
    return (await readStreamOrEmpty(store, streamId)).map((event) => event.type);
  } finally {
    await store.close();
  }
};

describe.each([
  ['conversion:before-follow-ups', { account: [], contact: [] }],
  ['conversion:after-first-follow-up', { account: ['AccountOpened'], contact: [] }],
])('a crash at %s', (failpoint, writtenBeforeCrash) => {
  it('is completed at restart, exactly once, and a retry gets the same answer', async () => {
    const dataDir = dataDirForThisTest('crm-crash-');
    const leadId = await prepareQualifiedLead(dataDir);
    const ids = conversionIds(leadId, 1);

    const doomed = await startChildServer(dataDir, { CRM_FAILPOINTS: failpoint });
    const token = await mintToken({ sub: 'alice', roles: ['sales'] }, new TextEncoder().encode(TEST_SECRET));
    const request = fetch(doomed.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: CONVERT, variables: { input: { leadId } } }),
    });
    await expect(request).rejects.toThrow();
    expect((await doomed.exited).signal).toBe('SIGKILL');

    expect(await streamTypes(dataDir, `lead-${leadId}`)).toContain('LeadConverted');
    expect(await streamTypes(dataDir, `account-${ids.accountId}`)).toEqual(writtenBeforeCrash.account);
    expect(await streamTypes(dataDir, `contact-${ids.contactId}`)).toEqual(writtenBeforeCrash.contact);

    const api = await startTestServer({ dataDir });
    try {
      const deadline = Date.now() + 10_000;
      while ((await streamTypes(dataDir, `opportunity-${ids.opportunityId}`)).length === 0) {
        expect(Date.now()).toBeLessThan(deadline);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const retried = await api.gql(CONVERT, { input: { leadId } });
      expect(retried.errors).toBeUndefined();
      expect(retried.data!.convertLead).toEqual({
        lead: { status: 'CONVERTED' },
        account: { id: ids.accountId, name: 'Crash Test SL' },
        contact: { id: ids.contactId },
        opportunity: { id: ids.opportunityId },
      });
      expect(await streamTypes(dataDir, `account-${ids.accountId}`)).toEqual(['AccountOpened']);
      expect(await streamTypes(dataDir, `contact-${ids.contactId}`)).toEqual(['ContactCreated']);
      expect(await streamTypes(dataDir, `opportunity-${ids.opportunityId}`)).toEqual(['OpportunityOpened']);
      const accounts = await api.gql(`{ accounts(filter: { search: "crash test" }) { totalCount } }`);
      expect(accounts.data!.accounts.totalCount).toBe(1);
    } finally {
      await api.stop();
    }
  });
});

describe('a crash between an engagement and its record on the contact', () => {
  it("is completed at restart: the contact names its new lead cycle exactly once, and a retry gets the same lead", async () => {
    const dataDir = dataDirForThisTest('crm-crash-');
    const leadId = await prepareQualifiedLead(dataDir);
    const contactId = conversionIds(leadId, 1).contactId;
    const setup = await startTestServer({ dataDir });
    try {
      const converted = await setup.gql(CONVERT, { input: { leadId } });
      expect(converted.errors).toBeUndefined();
    } finally {
      await setup.stop();
    }

    const ENGAGE = `mutation($input: EngageContactInput!) { engageContact(input: $input) { lead { id contactId } } }`;
    const input = { contactId, source: 'SOCIAL_MEDIA', campaign: 'win-back', idempotencyKey: 'engage-after-crash' };
    const doomed = await startChildServer(dataDir, { CRM_FAILPOINTS: 'engagement:before-follow-up' });
    const token = await mintToken({ sub: 'alice', roles: ['sales'] }, new TextEncoder().encode(TEST_SECRET));
    const request = fetch(doomed.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: ENGAGE, variables: { input } }),
    });
    await expect(request).rejects.toThrow();
    expect((await doomed.exited).signal).toBe('SIGKILL');
    expect(await streamTypes(dataDir, `contact-${contactId}`)).toEqual(['ContactCreated']);

    const api = await startTestServer({ dataDir });
    try {
      const deadline = Date.now() + 10_000;
      while ((await streamTypes(dataDir, `contact-${contactId}`)).length === 1) {
        expect(Date.now()).toBeLessThan(deadline);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const retried = await api.gql(ENGAGE, { input }, { as: 'alice', roles: ['sales'] });
      expect(retried.errors).toBeUndefined();
      expect(retried.data!.engageContact.lead.contactId).toBe(contactId);
      expect(await streamTypes(dataDir, `contact-${contactId}`)).toEqual(['ContactCreated', 'ContactEngaged']);
      const cycles = await api.gql(`query($id: ID!) { contact(id: $id) { leadCycles { leadId engaged } } }`, { id: contactId });
      expect(cycles.data!.contact.leadCycles).toEqual([
        { leadId, engaged: false },
        { leadId: retried.data!.engageContact.lead.id, engaged: true },
      ]);
    } finally {
      await api.stop();
    }
  });
});
