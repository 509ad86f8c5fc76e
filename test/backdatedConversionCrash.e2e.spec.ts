/**
 * A conversion back-dated onto an existing contact, killed after its decision and before any
 * follow-up: the completer appends the contact's follow-ups at the next start, dated no earlier
 * than the contact's last fact, exactly as the live path dates them
 * (`src/useCases/conversionFollowUpTimes.int.spec.ts` compares the two paths event by event).
 * SQLite only: the test reads the file itself between the two processes.
 */
import path from 'node:path';
import { expect, it } from 'vitest';
import { readStreamOrEmpty } from '../src/core/commandHandler';
import type { RecordedEvent } from '../src/core/eventStore';
import { conversionIds } from '../src/domain/leads/conversion';
import { openSqliteEventStore } from '../src/eventStores/sqlite';
import { mintToken } from '../src/identity/jwt';
import { dataDirForThisTest, startChildServer } from './support/childServer';
import { startTestServer, TEST_SECRET } from './support/testServer';

const DAY = 86_400_000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY).toISOString();

const readStream = async (dataDir: string, streamId: string): Promise<RecordedEvent[]> => {
  const store = openSqliteEventStore({ filename: path.join(dataDir, 'crm.sqlite') });
  try {
    return await readStreamOrEmpty(store, streamId);
  } finally {
    await store.close();
  }
};

it('is completed at restart with the contact\'s times in order', async () => {
  const dataDir = dataDirForThisTest('crm-backdated-crash-');
  const setup = await startTestServer({ dataDir });
  let contactId: string;
  let leadId: string;
  try {
    const token = `Bearer ${await setup.token('alice', ['sales'])}`;
    const ok = async (query: string, variables: Record<string, unknown> = {}) => {
      const response = await setup.gql(query, variables, { headers: { authorization: token } });
      expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
      return response.data!;
    };
    const created = await ok(`mutation { createContact(input: { lastName: "Vidal", email: "jan@vidal.example" }) { contact { id } } }`);
    contactId = created.createContact.contact.id;
    const captured = await ok(`mutation($at: DateTime) { captureLead(input: { source: WEB_FORM, occurredAt: $at,
      person: { lastName: "Vidal", email: "jan@vidal.example" }, company: { name: "Vidal Reformes" } }) { lead { id } } }`, {
      at: daysAgo(3),
    });
    leadId = captured.captureLead.lead.id;
    await ok(`mutation($id: ID!, $at: DateTime) { qualifyLead(input: { leadId: $id, rank: SQL, occurredAt: $at }) { lead { id } } }`, {
      id: leadId,
      at: daysAgo(2.5),
    });
  } finally {
    await setup.stop();
  }
  const [contactCreated] = await readStream(dataDir, `contact-${contactId}`);
  const ids = conversionIds(leadId, 1);

  const doomed = await startChildServer(dataDir, { CRM_FAILPOINTS: 'conversion:before-follow-ups' });
  const token = await mintToken({ sub: 'alice', roles: ['sales'] }, new TextEncoder().encode(TEST_SECRET));
  const request = fetch(doomed.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      query: `mutation($input: ConvertLeadInput!) { convertLead(input: $input) { lead { status } } }`,
      variables: { input: { leadId, existingContactId: contactId, occurredAt: daysAgo(2) } },
    }),
  });
  await expect(request).rejects.toThrow();
  expect((await doomed.exited).signal).toBe('SIGKILL');
  expect((await readStream(dataDir, `contact-${contactId}`)).map((event) => event.type)).toEqual(['ContactCreated']);

  const api = await startTestServer({ dataDir });
  try {
    const deadline = Date.now() + 10_000;
    while ((await readStream(dataDir, `opportunity-${ids.opportunityId}`)).length === 0) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const contact = await readStream(dataDir, `contact-${contactId}`);
    expect(contact.map((event) => [event.type, event.metadata.occurredAt])).toEqual([
      ['ContactCreated', contactCreated!.metadata.occurredAt],
      // Not two days ago: the contact was created after that, just before the conversion was recorded.
      ['ContactLinkedToLead', contactCreated!.metadata.occurredAt],
      ['ContactMovedToAccount', contactCreated!.metadata.occurredAt],
    ]);
    const recorded = contact.map((event) => Date.parse(event.metadata.recordedAt));
    expect(recorded).toEqual([...recorded].sort((a, b) => a - b));
    // The decision keeps the date it was given, and so do the streams it opens.
    const decision = (await readStream(dataDir, `lead-${leadId}`)).find((event) => event.type === 'LeadConverted')!;
    expect(Date.parse(decision.metadata.occurredAt)).toBeLessThan(Date.parse(contactCreated!.metadata.occurredAt));
    const [opened] = await readStream(dataDir, `opportunity-${ids.opportunityId}`);
    expect(opened!.metadata.occurredAt).toBe(decision.metadata.occurredAt);
  } finally {
    await api.stop();
  }
}, 120_000);
