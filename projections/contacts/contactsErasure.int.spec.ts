/**
 * The contacts read model and a person's erasure (GDPR art. 17): live, the row written from
 * events in clear loses every personal value (the person's own address too), and every column
 * derived from one (normalised e-mail, sort key, search text), at `PersonalDataErased`; rebuilt,
 * the same events read with their personal fields null, then the same erasure, give the very
 * same rows.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/core/eventStore';
import { searchKey } from '../../src/core/normalize';
import { contactStreamId, type ContactEvent } from '../../src/domain/contacts/events';
import { personalDataStreamId, type PersonalDataErased } from '../../src/domain/personalData';
import { asReadAfterErasure, eventRecorder } from '../../test/support/erasureEvents';
import { openSqliteDatabase, type SqlDatabase } from '../sqlDatabase';
import { contactLeadCycles, contactsOfAccount, contactsProjection, findContacts, findContactsByEmail, getContact } from './contactsReadModel';
import { foldContactView, type RecordedContactEvent } from './contactView';

const ERASED = 'contact-7';
const KEPT = 'contact-jordi';

const PLAINTEXT = [
  'Martina',
  'Puigdomènech',
  'Puigdomènech Serra',
  'Martina.Puigdomenech@Botiga.example',
  'martina@forn-central.example',
  '+34 611 222 333',
  '+34 699 000 111',
  'Cap de forn',
  'Head baker',
  'Martina moved to Lisbon',
  // Her own addresses (a consumer's, B2C), as she gave them and after she moved.
  'Carrer del Forn 5, 1r 2a',
  '17004',
  'Rua das Flores 21',
  '1200-195',
];

const recorded = eventRecorder();
const stream = (contactId: string, events: ContactEvent[], minute: number): RecordedEvent[] =>
  events.map((event, revision) => recorded(contactStreamId(contactId), revision, event.type, event.data, minute));

const martina = (): RecordedEvent[] =>
  stream(
    ERASED,
    [
      {
        type: 'ContactCreated',
        data: {
          contactId: ERASED,
          firstName: 'Martina',
          lastName: 'Puigdomènech',
          email: ' Martina.Puigdomenech@Botiga.example ',
          phone: '+34 611 222 333',
          jobTitle: 'Cap de forn',
          address: { street: 'Carrer del Forn 5, 1r 2a', city: 'Girona', postalCode: '17004', country: 'ES' },
          accountId: 'account-forn',
          ownerId: 'user-bob',
          fromLeadId: 'lead-7',
          fromLeadCycle: 1,
        },
      },
      { type: 'ContactUpdated', data: { contactId: ERASED, lastName: 'Puigdomènech Serra', jobTitle: 'Head baker' } },
      { type: 'ContactUpdated', data: { contactId: ERASED, email: 'martina@forn-central.example', phone: '+34 699 000 111' } },
      { type: 'ContactUpdated', data: { contactId: ERASED, address: { street: 'Rua das Flores 21', city: 'Lisboa', postalCode: '1200-195', country: 'PT' } } },
      { type: 'ContactLinkedToLead', data: { contactId: ERASED, leadId: 'lead-7b', cycle: 2 } },
      { type: 'ContactMovedToAccount', data: { contactId: ERASED, accountId: 'account-bakeries', previousAccountId: 'account-forn' } },
      { type: 'ContactDeactivated', data: { contactId: ERASED, reason: 'Martina moved to Lisbon' } },
    ],
    0,
  );

const jordi = (): RecordedEvent[] =>
  stream(
    KEPT,
    [
      {
        type: 'ContactCreated',
        data: {
          contactId: KEPT,
          firstName: 'Jordi',
          lastName: 'Vidal',
          email: 'jordi@vidal.example',
          address: { city: 'Figueres', country: 'ES' },
          accountId: 'account-bakeries',
        },
      },
    ],
    30,
  );

const erasure = (): RecordedEvent =>
  recorded(personalDataStreamId('lead-7'), 0, 'PersonalDataErased', {
    subjectId: 'lead-7',
    leadIds: ['lead-7', 'lead-7b'],
    contactIds: [ERASED],
    keyIds: ['key-7'],
    origin: 'REQUEST',
    reason: 'She asked us to',
  } satisfies PersonalDataErased['data']);

describe('contacts read model: erasure of a person', () => {
  let live: SqlDatabase;
  let rebuilt: SqlDatabase;

  const project = async (db: SqlDatabase, events: readonly RecordedEvent[]) => {
    for (const event of events) {
      if (contactsProjection.canHandle.includes(event.type)) await db.transaction((tx) => contactsProjection.apply(tx, event));
    }
  };
  const tables = async (db: SqlDatabase) => ({
    contacts: await db.all<Record<string, unknown>>('SELECT * FROM read_contacts ORDER BY id'),
    cycles: await db.all<Record<string, unknown>>('SELECT * FROM read_contact_lead_cycles ORDER BY contact_id, lead_id, cycle'),
  });
  const row = async (db: SqlDatabase, id: string) => (await db.get<Record<string, unknown>>('SELECT * FROM read_contacts WHERE id = ?', [id]))!;
  const leaks = (value: unknown): string[] => {
    const text = JSON.stringify(value).toLowerCase();
    return PLAINTEXT.filter((plain) => text.includes(plain.toLowerCase()) || text.includes(searchKey(plain)));
  };

  beforeEach(async () => {
    live = openSqliteDatabase(':memory:');
    rebuilt = openSqliteDatabase(':memory:');
    // The contacts' lead cycles read the leads read model's table for their outcome.
    for (const db of [live, rebuilt]) {
      await contactsProjection.setup(db);
      await db.exec('CREATE TABLE read_leads (id TEXT PRIMARY KEY)');
    }
  });
  afterEach(async () => {
    await live.close();
    await rebuilt.close();
  });

  it('takes PersonalDataErased in, and was bumped so that the runner rebuilds it (3: the address column)', () => {
    expect(contactsProjection.canHandle).toContain('PersonalDataErased');
    expect(contactsProjection.version).toBeGreaterThanOrEqual(3);
  });

  it('nulls the personal columns and those derived from them, keeps the rest, and marks the contact', async () => {
    await project(live, [...martina(), ...jordi()]);
    const before = await row(live, ERASED);
    expect(before).toMatchObject({ normalized_email: 'martina@forn-central.example', personal_data_erased: 0 });
    // The address is kept whole, as JSON, and replaced whole by an update.
    expect(JSON.parse(String(before.address))).toEqual({ street: 'Rua das Flores 21', city: 'Lisboa', postalCode: '1200-195', country: 'PT' });
    expect((await getContact(live, KEPT))!.address).toEqual({ city: 'Figueres', country: 'ES' });
    const kept = await row(live, KEPT);

    await project(live, [erasure()]);

    const after = await row(live, ERASED);
    expect(after).toMatchObject({
      first_name: null,
      last_name: null,
      email: null,
      phone: null,
      job_title: null,
      address: null,
      deactivation_reason: null,
      normalized_email: null,
      sort_key: '',
      personal_data_erased: 1,
      // Not personal: kept.
      account_id: 'account-bakeries',
      owner_id: 'user-bob',
      active: 0,
      from_lead_id: 'lead-7',
      revision: before.revision,
      updated_at: before.updated_at,
    });
    expect(String(after.search_text).trim()).toBe('');
    expect(leaks(after)).toEqual([]);
    expect(await row(live, KEPT)).toEqual(kept);

    expect(await getContact(live, ERASED)).toMatchObject({ lastName: null, email: null, address: null, personalDataErased: true, active: false });
    expect((await getContact(live, KEPT))!.personalDataErased).toBe(false);
    // Where the contact came from is no personal data.
    expect((await contactLeadCycles(live, ERASED)).map((cycle) => cycle.leadId)).toEqual(['lead-7', 'lead-7b']);
  });

  it('ends with the same rows as a rebuild, which reads the events erased and then the same PersonalDataErased', async () => {
    await project(live, [...martina(), ...jordi(), erasure()]);
    await project(rebuilt, [...martina().map(asReadAfterErasure), ...jordi(), erasure()]);
    expect(await tables(rebuilt)).toEqual(await tables(live));
    await project(live, [erasure()]);
    expect(await tables(live)).toEqual(await tables(rebuilt));
  });

  it('takes null names in (last_name may be null, the sort key stays text), and marks the contact before the erasure is read', async () => {
    const erased = martina().map(asReadAfterErasure);
    expect((erased[0]!.data as Record<string, unknown>).lastName).toBeNull();
    await project(rebuilt, erased);
    const r = await row(rebuilt, ERASED);
    expect(r).toMatchObject({ last_name: null, address: null, sort_key: '', normalized_email: null, personal_data_erased: 1 });
    for (const value of Object.values(r)) if (value !== null) expect(String(value)).not.toMatch(/\bnull\b|\bundefined\b/);
    // A fold at a revision (src/useCases/atRevision.ts) says the same.
    const folded = foldContactView(erased as unknown as RecordedContactEvent[])!;
    expect(folded).toEqual(await getContact(rebuilt, ERASED));
    expect(folded).toMatchObject({ firstName: null, lastName: null, address: null, personalDataErased: true });
  });

  it('never offers an erased contact as a duplicate by e-mail, nor finds it by name, e-mail or job title', async () => {
    await project(live, [...martina(), ...jordi(), erasure()]);
    for (const email of ['martina@forn-central.example', 'MARTINA@forn-central.example', 'martina.puigdomenech@botiga.example']) {
      expect(await findContactsByEmail(live, email)).toEqual([]);
    }
    for (const search of ['Martina', 'Puigdomènech', 'forn-central', 'baker']) {
      expect((await findContacts(live, { filter: { search } })).nodes).toEqual([]);
    }
    expect((await findContactsByEmail(live, 'jordi@vidal.example')).map((contact) => contact.id)).toEqual([KEPT]);
    // Still listed (it is the account's), first in the alphabetical order, where its empty sort key puts it.
    expect((await contactsOfAccount(live, 'account-bakeries')).map((contact) => contact.id)).toEqual([ERASED, KEPT]);
    const firstPage = await findContacts(live, { first: 1 });
    expect(firstPage.nodes.map((contact) => contact.id)).toEqual([ERASED]);
    expect((await findContacts(live, { first: 1, after: firstPage.endCursor })).nodes.map((contact) => contact.id)).toEqual([KEPT]);
  });
});
