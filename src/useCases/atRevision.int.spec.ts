/**
 * The folds a mutation answers with when the read model has moved past its write: at every
 * revision of a stream, the view folded from the log equals, field by field, the row the live
 * read model held right after that revision's event (an account's status included, derived as
 * of that event's position from the opportunities' streams). The live rows are kept by the real
 * projections, applied event by event as the runner applies them.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { accountsProjection, getAccount } from '../../projections/accounts/accountsReadModel';
import { contactsProjection, getContact } from '../../projections/contacts/contactsReadModel';
import { leadsProjection } from '../../projections/leads/leadsProjection';
import { getLead } from '../../projections/leads/leadView';
import { opportunitiesProjection } from '../../projections/opportunities/opportunitiesProjection';
import { activitiesOf, getOpportunity, quotesOf, stageHistoryOf } from '../../projections/opportunities/opportunitiesQueries';
import { openSqliteDatabase, type SqlDatabase } from '../../projections/sqlDatabase';
import { appendAll, generateLeadHistory } from '../../test/support/leadEvents';
import { ANY, type EventStore, type GlobalPosition, type RecordedEvent } from '../core/eventStore';
import { newId } from '../core/ids';
import { accountStreamId } from '../domain/accounts/events';
import { contactStreamId } from '../domain/contacts/events';
import { leadStreamId } from '../domain/leads/lead';
import { opportunityStreamId } from '../domain/opportunities/events';
import { createInMemoryEventStore } from '../eventStores/inMemory';
import { accountAtRevision, contactAtRevision, leadAtRevision, leadOpenedBy, opportunityAtRevision } from './atRevision';

const PROJECTIONS = [leadsProjection, accountsProjection, contactsProjection, opportunitiesProjection];

let store: EventStore;
let live: SqlDatabase;
let clock: number;

beforeEach(async () => {
  store = createInMemoryEventStore();
  live = openSqliteDatabase(':memory:');
  for (const projection of PROJECTIONS) await projection.setup(live);
  clock = Date.parse('2025-03-03T09:00:00.000Z');
});

const project = async (event: RecordedEvent) => {
  for (const projection of PROJECTIONS) if (projection.canHandle.includes(event.type)) await projection.apply(live, event);
};

/** Appends one event as a command would, and projects it; returns it as recorded. */
const record = async (streamId: string, type: string, data: Record<string, unknown>): Promise<RecordedEvent> => {
  clock += 60_000;
  const at = new Date(clock).toISOString();
  const causationId = newId();
  await store.appendToStream(
    streamId,
    [{ id: newId(), type, data, metadata: { actor: 'alice', recordedAt: at, occurredAt: at, correlationId: causationId, causationId, schemaVersion: 1 } }],
    { expectedRevision: ANY },
  );
  const event = (await store.readStream(streamId)).at(-1)!;
  await project(event);
  return event;
};

interface Seen<View> {
  revision: number;
  position: GlobalPosition;
  row: View;
}

describe('folded at a revision, an entity is the row the read model held right after it', () => {
  it('a lead, at every revision of many generated histories', async () => {
    await appendAll(store, generateLeadHistory({ seed: 7, leadCount: 12, eventCount: 240 }));
    const seen: Array<Seen<unknown> & { leadId: string }> = [];
    for (const event of await store.readAll()) {
      await project(event);
      const leadId = (event.data as { leadId: string }).leadId;
      seen.push({ leadId, revision: event.revision, position: event.position, row: await getLead(live, leadId) });
    }
    for (const { leadId, revision, row } of seen) expect(await leadAtRevision(store, leadId, revision)).toEqual(row);
    expect(await leadAtRevision(store, seen[0]!.leadId, -1)).toBeUndefined();
    await expect(leadAtRevision(store, seen[0]!.leadId, 10_000)).rejects.toThrow(/has no revision 10000/);
    expect(leadStreamId(seen[0]!.leadId)).toMatch(/^lead-/);
  });

  it('a lead at its capture, folded from the capture as appended (no log read), equals the row', async () => {
    await appendAll(store, generateLeadHistory({ seed: 11, leadCount: 12, eventCount: 120 }));
    let captures = 0;
    for (const event of await store.readAll()) {
      await project(event);
      if (event.revision !== 0 || !event.streamId.startsWith('lead-')) continue;
      const { id, type, data, metadata } = event;
      const leadId = (data as { leadId: string }).leadId;
      expect(leadOpenedBy(leadId, [{ id, type, data, metadata }], event.position)).toEqual(await getLead(live, leadId));
      // Of several events, only the last one's position is known: those are read from the log.
      expect(leadOpenedBy(leadId, [{ id, type, data, metadata }, { id, type, data, metadata }], event.position)).toBeUndefined();
      captures++;
    }
    expect(captures).toBe(12);
  });

  it('an account, its status as of each revision derived from the wins and reopenings of its opportunities', async () => {
    const accountId = newId();
    const otherAccountId = newId();
    const seen: Seen<unknown>[] = [];
    const account = async (type: string, data: Record<string, unknown>) => {
      const event = await record(accountStreamId(accountId), type, { accountId, ...data });
      seen.push({ revision: event.revision, position: event.position, row: await getAccount(live, accountId) });
    };
    const opportunity = (id: string, type: string, data: Record<string, unknown> = {}) =>
      record(opportunityStreamId(id), type, { opportunityId: id, accountId: id === 'c' ? otherAccountId : accountId, ...data });
    const won = { amount: { amount: '100.00', currency: 'EUR' }, stage: 'NEGOTIATION' };

    await account('AccountOpened', {
      kind: 'COMPANY',
      name: 'Botiga Puig',
      website: 'https://www.botiga.example/shop',
      address: { city: 'Girona', country: 'ES' },
      ownerId: 'alice',
      fromLeadId: 'lead-1',
    });
    await record(accountStreamId(otherAccountId), 'AccountOpened', { accountId: otherAccountId, kind: 'COMPANY', name: 'Other' });
    for (const id of ['a', 'b', 'c']) await opportunity(id, 'OpportunityOpened', { name: id, stage: 'QUALIFICATION', probability: 10 });
    await account('AccountUpdated', { name: 'Botiga Puig i Fills' });
    await opportunity('a', 'OpportunityWon', won);
    await account('AccountUpdated', { website: 'http://puig.example' });
    await opportunity('c', 'OpportunityWon', won);
    await account('AccountUpdated', { address: { street: 'Carrer Major 1', city: 'Girona' } });
    await opportunity('a', 'OpportunityReopened', { reason: 'cancelled', previousStatus: 'WON', stage: 'NEGOTIATION' });
    await account('AccountUpdated', { ownerId: 'bob' });
    await opportunity('b', 'OpportunityLost', { reason: 'PRICE', stage: 'QUALIFICATION' });
    await opportunity('b', 'OpportunityReopened', { reason: 'called back', previousStatus: 'LOST', stage: 'QUALIFICATION' });
    await account('AccountUpdated', { phone: '+34 972 000 000' });
    await opportunity('b', 'OpportunityWon', won);
    await account('AccountUpdated', { industry: 'Retail' });
    await opportunity('a', 'OpportunityWon', won);
    await account('AccountUpdated', { size: '11-50' });
    await opportunity('b', 'OpportunityReopened', { reason: 'refund', previousStatus: 'WON', stage: 'NEGOTIATION' });
    await account('AccountUpdated', { name: 'Puig' });
    await opportunity('a', 'OpportunityReopened', { reason: 'refund', previousStatus: 'WON', stage: 'NEGOTIATION' });
    await account('AccountUpdated', { website: 'https://botiga.example' });

    expect(seen.map(({ row }) => (row as { status: string }).status)).toEqual([
      'PROSPECT', 'PROSPECT', 'CUSTOMER', 'CUSTOMER', 'PROSPECT', 'PROSPECT', 'CUSTOMER', 'CUSTOMER', 'CUSTOMER', 'PROSPECT',
    ]);
    for (const { revision, position, row } of seen) {
      expect(await accountAtRevision({ store, readDb: live }, accountId, revision, position)).toEqual(row);
    }
  });

  it('a contact, through updates, moves, deactivations and lead links', async () => {
    const contactId = newId();
    const seen: Seen<unknown>[] = [];
    const contact = async (type: string, data: Record<string, unknown> = {}) => {
      const event = await record(contactStreamId(contactId), type, { contactId, ...data });
      seen.push({ revision: event.revision, position: event.position, row: await getContact(live, contactId) });
    };
    await contact('ContactCreated', { lastName: 'Puig', firstName: 'Marta', email: 'marta@botiga.example', accountId: 'acc-1', ownerId: 'alice', fromLeadId: 'lead-1', fromLeadCycle: 1 });
    await contact('ContactUpdated', { jobTitle: 'Owner' });
    await contact('ContactUpdated', { email: 'mpuig@botiga.example', phone: '+34 600 000 000' });
    await contact('ContactMovedToAccount', { accountId: 'acc-2', previousAccountId: 'acc-1' });
    await contact('ContactMovedToAccount', { previousAccountId: 'acc-2' });
    await contact('ContactDeactivated', { reason: 'Left the company' });
    await contact('ContactUpdated', { jobTitle: 'Retired' });
    await contact('ContactReactivated');
    await contact('ContactDeactivated');
    await contact('ContactLinkedToLead', { leadId: 'lead-2', cycle: 1 });
    await contact('ContactReactivated');
    for (const { revision, row } of seen) expect(await contactAtRevision(store, contactId, revision)).toEqual(row);
  });

  it('an opportunity, with the quotes, activities and stage visits of that revision', async () => {
    const opportunityId = newId();
    const seen: Seen<unknown>[] = [];
    const step = async (type: string, data: Record<string, unknown> = {}) => {
      const event = await record(opportunityStreamId(opportunityId), type, { opportunityId, accountId: 'acc-1', ...data });
      const view = await getOpportunity(live, opportunityId);
      const [quotes, activities, stageHistory] = await Promise.all([
        quotesOf(live, opportunityId),
        activitiesOf(live, opportunityId),
        stageHistoryOf(live, opportunityId),
      ]);
      seen.push({ revision: event.revision, position: event.position, row: { view, quotes, activities, stageHistory } });
    };
    await step('OpportunityOpened', { name: 'Refit', stage: 'QUALIFICATION', probability: 10, amount: { amount: '18500.00', currency: 'EUR' } });
    await step('ActivityScheduled', { activityId: 'v1', kind: 'VISIT', subject: 'Measure', dueAt: '2025-03-10T10:00:00+01:00' });
    await step('OpportunityStageChanged', { fromStage: 'QUALIFICATION', toStage: 'VISIT_PENDING', probability: 25 });
    await step('ActivityCompleted', { activityId: 'v1', notes: 'done' });
    await step('QuoteAdded', { quoteId: 'q1', amount: { amount: '18000.00', currency: 'EUR' } });
    await step('QuoteStatusChanged', { quoteId: 'q1', from: 'DRAFT', to: 'SENT' });
    await step('OpportunityDetailsUpdated', { name: 'Full refit', probability: 40 });
    await step('ActivityReopened', { activityId: 'v1' });
    await step('OpportunityWon', { amount: { amount: '18000.00', currency: 'EUR' }, stage: 'VISIT_PENDING', notes: 'signed' });
    await step('OpportunityReopened', { reason: 'cancelled', previousStatus: 'WON', stage: 'VISIT_PENDING' });
    for (const { revision, row } of seen) {
      const folded = await opportunityAtRevision(store, opportunityId, revision);
      const { snapshot, ...view } = folded!;
      expect({ view, quotes: snapshot!.quotes, activities: snapshot!.activities, stageHistory: snapshot!.stageHistory }).toEqual(row);
      expect(snapshot!.view).toEqual(view);
    }
  });
});
