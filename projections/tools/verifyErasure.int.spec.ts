/**
 * A person erased on a running application (the real erasure use case, the real sealed log):
 * the live read models keep nothing personal of them, search and duplicate lookups no longer
 * find them, and `verify` (a rebuild from zero, which reads their events with null personal
 * fields and then the erasure) finds the live read models equal to the rebuilt ones, on SQLite
 * and on a PostgreSQL read store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readModelProjections } from '../../src/composition/application';
import { openEventLog } from '../../src/composition/eventLog';
import { newId } from '../../src/core/ids';
import { searchKey } from '../../src/core/normalize';
import { leadStreamId } from '../../src/domain/leads/lead';
import { opportunityStreamId } from '../../src/domain/opportunities/events';
import { foldLeadView, foldOpportunitySnapshot } from '../../src/useCases/asOf';
import { contactViewOf } from '../../src/useCases/atRevision';
import { erasePersonalData } from '../../src/useCases/personalData/erasure';
import { contactStreamId } from '../../src/domain/contacts/events';
import { aSchemaName, dropSchemas, TEST_DATABASE_URL } from '../../test/support/postgres';
import { openTestApplication, seed, type TestApplication } from '../../test/support/seededApplication';
import { findContacts, findContactsByEmail } from '../contacts/contactsReadModel';
import { findLeads } from '../leads/leadsQueries';
import { activitiesOf, getOpportunity, quotesOf, stageHistoryOf } from '../opportunities/opportunitiesQueries';
import { carriesErasedPersonalData } from '../personalData';
import type { SqlDatabase } from '../sqlDatabase';
import { openScratchSpace } from './scratch';
import { verifyReadModels } from './verify';

type Row = Record<string, unknown>;

interface Person {
  leadId: string;
  contactId: string | null;
  opportunityIds: string[];
  /** Values that are this person's alone (e-mail, phone, notes...): none may survive in their rows. */
  values: string[];
  emails: string[];
  companyName: string | null;
}

const personOf = async (db: SqlDatabase, leadId: string): Promise<Person> => {
  const lead = (await db.get<Row>('SELECT * FROM read_leads WHERE id = ?', [leadId]))!;
  const person = lead.person === null ? {} : (JSON.parse(String(lead.person)) as Record<string, string | undefined>);
  const interest = lead.interest === null ? {} : (JSON.parse(String(lead.interest)) as { notes?: string });
  const conversion = lead.conversion === null ? undefined : (JSON.parse(String(lead.conversion)) as { contactId: string });
  const contactId = conversion?.contactId ?? null;
  const contact = contactId === null ? undefined : await db.get<Row>('SELECT * FROM read_contacts WHERE id = ?', [contactId]);
  const opportunityIds = (
    await db.all<{ id: string }>('SELECT id FROM read_opportunities WHERE from_lead_id = ? OR contact_id = ? ORDER BY id', [leadId, contactId])
  ).map((row) => row.id);
  const texts = [
    person.email,
    person.phone,
    interest.notes,
    lead.qualification_notes,
    lead.disqualification_notes,
    contact?.email,
    contact?.phone,
    contact?.deactivation_reason,
    [person.firstName, person.lastName].filter(Boolean).join(' '),
  ];
  return {
    leadId,
    contactId,
    opportunityIds,
    values: texts.filter((text): text is string => typeof text === 'string' && text.length > 0),
    emails: [person.email, contact?.email].filter((email): email is string => typeof email === 'string'),
    companyName: lead.company === null ? null : (JSON.parse(String(lead.company)) as { name: string }).name,
  };
};

/** Every row the read models keep about the person. */
const rowsAbout = async (db: SqlDatabase, person: Person): Promise<Record<string, Row[]>> => {
  const ids = person.opportunityIds;
  const marks = ids.length === 0 ? 'NULL' : ids.map(() => '?').join(', ');
  return {
    read_leads: await db.all<Row>('SELECT * FROM read_leads WHERE id = ?', [person.leadId]),
    read_contacts: await db.all<Row>('SELECT * FROM read_contacts WHERE id = ?', [person.contactId]),
    read_opportunities: await db.all<Row>(`SELECT * FROM read_opportunities WHERE id IN (${marks})`, ids),
    read_opportunity_quotes: await db.all<Row>(`SELECT * FROM read_opportunity_quotes WHERE opportunity_id IN (${marks})`, ids),
    read_opportunity_activities: await db.all<Row>(`SELECT * FROM read_opportunity_activities WHERE opportunity_id IN (${marks})`, ids),
  };
};

const context = () => ({ actor: 'dpo', now: new Date(), commandId: newId(), commandType: 'ErasePersonalData', correlationId: newId() });

const pick = async (db: SqlDatabase) => {
  // A converted person with an opportunity holding quotes and activities, and a disqualified one with notes.
  const converted = await db.get<{ id: string }>(
    `SELECT l.id FROM read_leads l JOIN read_opportunities o ON o.from_lead_id = l.id
     WHERE l.status = 'CONVERTED' AND l.person IS NOT NULL
       AND EXISTS (SELECT 1 FROM read_opportunity_quotes q WHERE q.opportunity_id = o.id AND q.description IS NOT NULL)
       AND EXISTS (SELECT 1 FROM read_opportunity_activities a WHERE a.opportunity_id = o.id AND a.completion_notes IS NOT NULL)
     ORDER BY l.id LIMIT 1`,
  );
  const disqualified = await db.get<{ id: string }>(
    `SELECT id FROM read_leads WHERE status = 'DISQUALIFIED' AND person IS NOT NULL AND disqualification_notes IS NOT NULL ORDER BY id LIMIT 1`,
  );
  return [converted!.id, disqualified!.id];
};

const exercise = (name: string, open: () => Promise<TestApplication>, cleanUp: () => Promise<void> = async () => undefined) =>
  describe(name, () => {
    let opened: TestApplication;
    let people: Person[];

    beforeAll(async () => {
      opened = await open();
      await seed(opened.app, { leads: 40, seed: 11 });
      people = await Promise.all((await pick(opened.app.readDb)).map((leadId) => personOf(opened.app.readDb, leadId)));
    }, 120_000);
    afterAll(async () => {
      await opened.dispose();
      await cleanUp();
    });

    it('keeps nothing personal of the erased, finds them no more, and equals a rebuild', async () => {
      const { app } = opened;
      const [converted] = people;
      expect(converted!.contactId).not.toBeNull();
      expect(converted!.opportunityIds.length).toBeGreaterThan(0);
      const before = await Promise.all(people.map((person) => rowsAbout(app.readDb, person)));
      for (const [index, person] of people.entries()) {
        expect(person.values.length).toBeGreaterThan(0);
        expect(JSON.stringify(before[index])).toContain(person.values[0]);
      }

      for (const person of people) {
        const result = await erasePersonalData(
          { store: app.store, sealedStore: app.personalData.sealedStore },
          { subjectId: person.leadId, reason: 'The person asked us to', origin: 'REQUEST' },
          context(),
        );
        await app.readModels.waitForPosition(result.position!, 30_000);
      }

      let foldedOpportunities = 0;
      for (const person of people) {
        const rows = await rowsAbout(app.readDb, person);
        const text = JSON.stringify(rows);
        for (const value of person.values) expect(text).not.toContain(value);
        expect(rows.read_leads).toMatchObject([{ person: null, qualification_notes: null, disqualification_notes: null }]);
        expect(rows.read_leads[0]!.search_text).toBe(person.companyName ? searchKey(person.companyName) : '');
        for (const table of ['read_leads', 'read_contacts', 'read_opportunities']) {
          for (const row of rows[table]!) expect(Number(row.personal_data_erased)).toBe(1);
        }
        for (const row of rows.read_contacts!) {
          expect(row).toMatchObject({ first_name: null, last_name: null, email: null, phone: null, job_title: null, normalized_email: null, sort_key: '' });
        }
        for (const row of rows.read_opportunities!) expect(row.close_notes).toBeNull();
        for (const row of rows.read_opportunity_quotes!) expect(row.description).toBeNull();
        for (const row of rows.read_opportunity_activities!) expect(row).toMatchObject({ subject: null, notes: null, completion_notes: null });

        // Search and duplicate lookups no longer find the person.
        for (const email of person.emails) {
          expect((await findLeads(app.readDb, { filter: { search: email } })).nodes.map((lead) => lead.id)).not.toContain(person.leadId);
          expect((await findContactsByEmail(app.readDb, email)).map((contact) => contact.id)).not.toContain(person.contactId);
          expect((await findContacts(app.readDb, { filter: { search: email } })).nodes.map((contact) => contact.id)).not.toContain(person.contactId);
        }
        // Time travel and answers at a revision fold the erased events into a marked view.
        expect(foldLeadView(await app.store.readStream(leadStreamId(person.leadId)))).toMatchObject({ person: null, personalDataErased: true });
        if (person.contactId) {
          expect(contactViewOf(await app.store.readStream(contactStreamId(person.contactId)))).toMatchObject({
            lastName: null,
            personalDataErased: true,
          });
        }
        // An opportunity's text is sealed under the person's key: folded again, it reads erased too,
        // and (marked by its erased events) as the live read model shows it.
        for (const opportunityId of person.opportunityIds) {
          const events = await app.store.readStream(opportunityStreamId(opportunityId));
          const folded = (await foldOpportunitySnapshot(opportunityId, events))!;
          expect(JSON.stringify(folded)).not.toMatch(/"(closeNotes|description|subject|notes|completionNotes)":"/);
          if (events.some(carriesErasedPersonalData)) {
            foldedOpportunities++;
            expect(folded).toEqual({
              view: await getOpportunity(app.readDb, opportunityId),
              quotes: await quotesOf(app.readDb, opportunityId),
              activities: await activitiesOf(app.readDb, opportunityId),
              stageHistory: await stageHistoryOf(app.readDb, opportunityId),
            });
          }
        }
      }

      expect(foldedOpportunities).toBeGreaterThan(0);

      await opened.close();
      const store = await openEventLog(opened.config);
      const scratch = await openScratchSpace(opened.config.readStore);
      try {
        const report = await verifyReadModels({ store, scratch, projections: readModelProjections() });
        expect(report.problems).toEqual([]);
        expect(report.tables.filter((table) => table.problem || table.differing.count + table.missing.count + table.unexpected.count > 0)).toEqual([]);
        expect(report.ok).toBe(true);
      } finally {
        await scratch.close();
        await store.close();
      }
    }, 120_000);
  });

exercise('erasure on SQLite read models', () => openTestApplication());

const schema = aSchemaName('erasure');
exercise(
  'erasure on PostgreSQL read models',
  () => openTestApplication({ env: { CRM_READ_STORE: 'postgres', DATABASE_URL: TEST_DATABASE_URL, CRM_PG_SCHEMA: schema } }),
  () => dropSchemas(schema),
);
