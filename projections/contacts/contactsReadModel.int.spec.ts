import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { contactStreamId, type ContactCreated, type ContactEvent } from '../../src/domain/contacts/events';
import { ANY, type EventStore } from '../../src/core/eventStore';
import { newId } from '../../src/core/ids';
import { openSqliteEventStore } from '../../src/eventStores/sqlite';
import type { LeadEvent } from '../../src/domain/leads/lead';
import { leadsProjection } from '../leads/leadsProjection';
import { ProjectionRunner } from '../runner';
import { openSqliteDatabase, type SqlDatabase } from '../sqlDatabase';
import { appendLeadEvent, temporaryDirectory } from '../../test/support/leadEvents';
import {
  contactLeadCycles,
  contactsEverOfAccount,
  contactsOfAccount,
  contactsProjection,
  findContacts,
  findContactsByEmail,
  getContact,
} from './contactsReadModel';

describe('contacts read model', () => {
  let directory: ReturnType<typeof temporaryDirectory>;
  let store: EventStore;
  let db: SqlDatabase;
  let runner: ProjectionRunner;

  beforeEach(async () => {
    directory = temporaryDirectory();
    store = openSqliteEventStore({ filename: directory.file('crm.db') });
    db = openSqliteDatabase(directory.file('crm.db'));
    runner = new ProjectionRunner({ store, db, projections: [leadsProjection, contactsProjection] });
    await runner.start();
    await runner.whenCaughtUp();
  });

  afterEach(async () => {
    await runner.stop();
    await db.close();
    await store.close();
    directory.remove();
  });

  /** Appends as a command would, then waits for the read model as a mutation does. */
  const record = async (event: ContactEvent, occurredAt = '2024-05-01T09:00:00.000Z') => {
    const commandId = newId();
    const { position } = await store.appendToStream(
      contactStreamId(event.data.contactId),
      [
        {
          id: newId(),
          type: event.type,
          data: event.data,
          metadata: {
            actor: 'user-alice',
            recordedAt: occurredAt,
            occurredAt,
            correlationId: commandId,
            causationId: commandId,
            schemaVersion: 1,
          },
        },
      ],
      { expectedRevision: ANY },
    );
    await runner.waitForPosition(position);
    return getContact(db, event.data.contactId);
  };
  const recordLead = async (event: LeadEvent) => runner.waitForPosition((await appendLeadEvent(store, event)).position);

  const create = (contactId: string, data: Partial<ContactCreated['data']> = {}, occurredAt?: string) =>
    record({ type: 'ContactCreated', data: { contactId, lastName: contactId, ...data } }, occurredAt);

  it('follows a contact through updates, moves, deactivation and reactivation', async () => {
    const created = await create(
      'c-marta',
      { firstName: 'Marta', lastName: 'Puig', email: 'marta@botiga-puig.example', accountId: 'acc-1', ownerId: 'user-bob' },
      '2024-05-01T11:00:00+02:00',
    );
    expect(created).toMatchObject({
      id: 'c-marta',
      revision: 0,
      firstName: 'Marta',
      lastName: 'Puig',
      accountId: 'acc-1',
      ownerId: 'user-bob',
      active: true,
      fromLeadId: null,
      createdAt: '2024-05-01T09:00:00.000Z',
      createdBy: 'user-alice',
    });

    const updated = await record(
      { type: 'ContactUpdated', data: { contactId: 'c-marta', jobTitle: 'Owner', email: 'marta@puig.example' } },
      '2024-05-02T09:00:00.000Z',
    );
    expect(updated).toMatchObject({ revision: 1, jobTitle: 'Owner', email: 'marta@puig.example', firstName: 'Marta' });

    const moved = await record({ type: 'ContactMovedToAccount', data: { contactId: 'c-marta', previousAccountId: 'acc-1' } });
    expect(moved).toMatchObject({ revision: 2, accountId: null });

    const deactivated = await record({ type: 'ContactDeactivated', data: { contactId: 'c-marta', reason: 'Retired' } });
    expect(deactivated).toMatchObject({ active: false, deactivationReason: 'Retired' });

    const reactivated = await record({ type: 'ContactReactivated', data: { contactId: 'c-marta' } }, '2024-07-01T09:00:00.000Z');
    expect(reactivated).toMatchObject({
      revision: 4,
      active: true,
      deactivationReason: null,
      createdAt: '2024-05-01T09:00:00.000Z',
      updatedAt: '2024-07-01T09:00:00.000Z',
    });
  });

  it('applies a redelivered event once', async () => {
    await create('c-1', { accountId: 'acc-1' });
    await record({ type: 'ContactMovedToAccount', data: { contactId: 'c-1', accountId: 'acc-2', previousAccountId: 'acc-1' } });
    const [creation] = await store.readStream(contactStreamId('c-1'));

    await db.transaction((tx) => contactsProjection.apply(tx, creation!));

    expect(await getContact(db, 'c-1')).toMatchObject({ revision: 1, accountId: 'acc-2' });
  });

  describe('lookups', () => {
    beforeEach(async () => {
      await create('c-marta', { firstName: 'Marta', lastName: 'Puig', email: 'Marta@Botiga-Puig.example', accountId: 'acc-1' });
      await create('c-jordi', { firstName: 'Jordi', lastName: 'Núñez', email: 'jordi@nunez.example', accountId: 'acc-1' });
      await create('c-anna', { firstName: 'Anna', lastName: 'Puig', jobTitle: 'Buyer', accountId: 'acc-2' });
      await create('c-old', { firstName: 'Pere', lastName: 'Vidal', email: 'marta@botiga-puig.example' });
      await record({ type: 'ContactDeactivated', data: { contactId: 'c-old' } });
    });
    const ids = (contacts: { id: string }[]) => contacts.map((contact) => contact.id);

    it('finds contacts by e-mail whatever its case and spaces, active or not', async () => {
      expect(ids(await findContactsByEmail(db, '  MARTA@botiga-puig.EXAMPLE '))).toEqual(['c-marta', 'c-old']);
      expect(ids(await findContactsByEmail(db, 'jordi@nunez.example'))).toEqual(['c-jordi']);
      expect(await findContactsByEmail(db, 'marta+crm@botiga-puig.example')).toEqual([]);
      expect(await findContactsByEmail(db, 'not an address')).toEqual([]);

      await record({ type: 'ContactUpdated', data: { contactId: 'c-jordi', email: 'jordi@ferreteria.example' } });
      expect(await findContactsByEmail(db, 'jordi@nunez.example')).toEqual([]);
      expect(ids(await findContactsByEmail(db, 'Jordi@Ferreteria.example'))).toEqual(['c-jordi']);
    });

    it('lists the contacts of an account, following moves', async () => {
      expect(ids(await contactsOfAccount(db, 'acc-1'))).toEqual(['c-jordi', 'c-marta']);
      await record({ type: 'ContactMovedToAccount', data: { contactId: 'c-marta', accountId: 'acc-2', previousAccountId: 'acc-1' } });
      expect(ids(await contactsOfAccount(db, 'acc-1'))).toEqual(['c-jordi']);
      expect(ids(await contactsOfAccount(db, 'acc-2'))).toEqual(['c-anna', 'c-marta']);
    });

    it('lists by last then first name and filters on account, activity and search', async () => {
      const find = async (options: Parameters<typeof findContacts>[1]) => ids((await findContacts(db, options)).nodes);
      expect(await find({})).toEqual(['c-jordi', 'c-anna', 'c-marta', 'c-old']);
      expect(await find({ filter: { accountId: 'acc-1' } })).toEqual(['c-jordi', 'c-marta']);
      expect(await find({ filter: { active: false } })).toEqual(['c-old']);
      expect(await find({ filter: { active: true, search: 'puig' } })).toEqual(['c-anna', 'c-marta']);
      expect(await find({ filter: { search: 'JORDI NUNEZ' } })).toEqual(['c-jordi']);
      expect(await find({ filter: { search: 'nunez jordi' } })).toEqual(['c-jordi']);
      expect(await find({ filter: { search: 'buyer' } })).toEqual(['c-anna']);

      const first = await findContacts(db, { first: 2 });
      expect(first).toMatchObject({ totalCount: 4, hasNextPage: true });
      const rest = await findContacts(db, { first: 2, after: first.endCursor });
      expect(ids(rest.nodes)).toEqual(['c-marta', 'c-old']);
      expect(rest.hasNextPage).toBe(false);
    });
  });

  describe('lead cycles', () => {
    const criteria = { need: true, budget: true, authority: true, timing: true };

    it('lists each lead cycle the contact came from with its outcome', async () => {
      const leadId = 'lead-puig';
      await recordLead({ type: 'LeadCaptured', data: { leadId, source: 'INBOUND_EMAIL', person: { lastName: 'Puig' } } });
      await recordLead({ type: 'LeadDisqualified', data: { leadId, reason: 'NO_BUDGET', statusBefore: 'NEW' } });
      await recordLead({ type: 'LeadRecycled', data: { leadId, cycle: 2, source: 'EMAIL_CAMPAIGN' } });
      await recordLead({ type: 'LeadQualified', data: { leadId, rank: 'SQL', criteria } });

      await create('c-marta', { fromLeadId: leadId, fromLeadCycle: 2 }, '2024-05-02T09:00:00.000Z');
      await record({ type: 'ContactLinkedToLead', data: { contactId: 'c-marta', leadId, cycle: 2 } }, '2024-05-02T09:00:00.000Z');
      await record({ type: 'ContactLinkedToLead', data: { contactId: 'c-marta', leadId, cycle: 1 } }, '2024-05-03T09:00:00.000Z');
      await record({ type: 'ContactLinkedToLead', data: { contactId: 'c-marta', leadId: 'lead-elsewhere', cycle: 1 } }, '2024-05-04T09:00:00.000Z');

      expect(await contactLeadCycles(db, 'c-marta')).toEqual([
        { leadId, cycle: 2, linkedAt: '2024-05-02T09:00:00.000Z', engaged: false, status: 'QUALIFIED' },
        { leadId, cycle: 1, linkedAt: '2024-05-03T09:00:00.000Z', engaged: false, status: 'DISQUALIFIED' },
        { leadId: 'lead-elsewhere', cycle: 1, linkedAt: '2024-05-04T09:00:00.000Z', engaged: false, status: null },
      ]);
      expect(await getContact(db, 'c-marta')).toMatchObject({ revision: 3, fromLeadId: leadId });

      await recordLead({
        type: 'LeadConverted',
        data: { leadId, cycle: 2, accountId: 'acc-1', contactId: 'c-marta', requestHash: 'h' },
      });
      expect((await contactLeadCycles(db, 'c-marta'))[0]).toMatchObject({ cycle: 2, status: 'CONVERTED' });
    });

    it('takes cycle 1 when the creating lead names none', async () => {
      await create('c-1', { fromLeadId: 'lead-1' });
      expect(await contactLeadCycles(db, 'c-1')).toEqual([
        { leadId: 'lead-1', cycle: 1, linkedAt: '2024-05-01T09:00:00.000Z', engaged: false, status: null },
      ]);
      expect(await contactLeadCycles(db, 'c-unknown')).toEqual([]);
    });

    it("lists the cycles opened for the contact, their recycles too, and keeps them marked engaged once converted", async () => {
      await create('c-roca', { fromLeadId: 'lead-first' }, '2024-05-01T09:00:00.000Z');
      const engagedLead = 'lead-again';
      await recordLead({
        type: 'LeadCaptured',
        data: { leadId: engagedLead, source: 'SOCIAL_MEDIA', person: { lastName: 'Roca' }, contactId: 'c-roca' },
      });
      await record({ type: 'ContactEngaged', data: { contactId: 'c-roca', leadId: engagedLead, source: 'SOCIAL_MEDIA' } }, '2024-06-01T09:00:00.000Z');
      // A stranger's lead recycled is nobody's cycle until it converts.
      await recordLead({ type: 'LeadCaptured', data: { leadId: 'lead-stranger', source: 'WEB_FORM', person: { lastName: 'Roca' } } });
      await recordLead({ type: 'LeadDisqualified', data: { leadId: 'lead-stranger', reason: 'NO_NEED', statusBefore: 'NEW' } });
      await recordLead({ type: 'LeadRecycled', data: { leadId: 'lead-stranger', cycle: 2, source: 'WEB_FORM' } });

      await recordLead({ type: 'LeadDisqualified', data: { leadId: engagedLead, reason: 'NO_BUDGET', statusBefore: 'NEW' } });
      const recycledAt = '2024-07-01T09:00:00.000Z';
      await runner.waitForPosition(
        (await appendLeadEvent(store, { type: 'LeadRecycled', data: { leadId: engagedLead, cycle: 2, source: 'EMAIL_CAMPAIGN' } }, { occurredAt: recycledAt })).position,
      );
      await recordLead({ type: 'LeadQualified', data: { leadId: engagedLead, rank: 'SQL', criteria } });
      await record({ type: 'ContactLinkedToLead', data: { contactId: 'c-roca', leadId: engagedLead, cycle: 2 } }, '2024-07-02T09:00:00.000Z');

      expect(await contactLeadCycles(db, 'c-roca')).toEqual([
        { leadId: 'lead-first', cycle: 1, linkedAt: '2024-05-01T09:00:00.000Z', engaged: false, status: null },
        { leadId: engagedLead, cycle: 1, linkedAt: '2024-06-01T09:00:00.000Z', engaged: true, status: 'DISQUALIFIED' },
        { leadId: engagedLead, cycle: 2, linkedAt: recycledAt, engaged: true, status: 'QUALIFIED' },
      ]);
    });
  });

  it('remembers every account a contact belonged to, for accounts as of a past time', async () => {
    await create('c-nomad', { accountId: 'acc-a' });
    await create('c-stays', { accountId: 'acc-b' });
    await create('c-alone');
    await record({ type: 'ContactMovedToAccount', data: { contactId: 'c-nomad', accountId: 'acc-b', previousAccountId: 'acc-a' } });
    await record({ type: 'ContactMovedToAccount', data: { contactId: 'c-nomad', previousAccountId: 'acc-b' } });
    expect(await contactsEverOfAccount(db, 'acc-a')).toEqual(['c-nomad']);
    expect(await contactsEverOfAccount(db, 'acc-b')).toEqual(['c-nomad', 'c-stays']);
    expect((await contactsOfAccount(db, 'acc-b')).map((contact) => contact.id)).toEqual(['c-stays']);
  });
});
