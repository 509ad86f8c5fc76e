/**
 * The contacts read model: one row per contact in `read_contacts` (with the normalised e-mail,
 * indexed, for duplicate lookups); in `read_contact_lead_cycles` the lead cycles of each contact
 * (those it came from, those opened for it), whose outcomes are read from the leads read model
 * when asked for (with `read_contact_lead_recycles`, the later cycles of leads opened for a
 * contact); in `read_contact_accounts` every account each contact ever belonged to.
 */
import { utcInstant } from '../../src/core/eventTimes';
import { normalizeEmail, searchKey } from '../../src/core/normalize';
import type { ContactEvent } from '../../src/domain/contacts/events';
import type { LeadRecycled, LeadStatus } from '../../src/domain/leads/lead';
import type { Address } from '../../src/domain/values';
import { getLead } from '../leads/leadView';
import { containing, findPageBySortKey, pageDatabase, type Page } from '../pagination';
import { erasedPeople, PERSONAL_DATA_ERASED } from '../personalData';
import type { Projection } from '../projection';
import type { ReportCache } from '../reportCache';
import type { SqlDatabase, SqlValue } from '../sqlDatabase';
import { erasedContactView, evolveContactView, type ContactView, type RecordedContactEvent } from './contactView';


export interface ContactLeadCycleView {
  leadId: string;
  cycle: number;
  linkedAt: string;
  /**
   * True when the cycle was opened for the contact (`engageContact`: a later campaign re-engaged
   * them), false when the contact came from it or joined it by conversion.
   */
  engaged: boolean;
  /**
   * The lead's status in that cycle: its outcome once the cycle closed (CONVERTED or
   * DISQUALIFIED). Null while the leads read model has not seen the cycle.
   */
  status: LeadStatus | null;
}


const COLUMNS = [
  'id',
  'revision',
  'first_name',
  'last_name',
  'email',
  'phone',
  'job_title',
  'address',
  'account_id',
  'owner_id',
  'active',
  'deactivation_reason',
  'from_lead_id',
  'created_at',
  'updated_at',
  'created_by',
  'personal_data_erased',
  'normalized_email',
  'sort_key',
  'search_text',
] as const;

type ContactRow = Record<(typeof COLUMNS)[number], SqlValue>;

const CREATE_TABLES = `
  CREATE TABLE IF NOT EXISTS read_contacts (
    id TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    first_name TEXT,
    last_name TEXT,
    email TEXT,
    phone TEXT,
    job_title TEXT,
    address TEXT,
    account_id TEXT,
    owner_id TEXT,
    active INTEGER NOT NULL,
    deactivation_reason TEXT,
    from_lead_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    personal_data_erased INTEGER NOT NULL DEFAULT 0,
    normalized_email TEXT,
    sort_key TEXT NOT NULL,
    search_text TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS read_contacts_by_name ON read_contacts (sort_key, id);
  CREATE INDEX IF NOT EXISTS read_contacts_by_account ON read_contacts (account_id, sort_key, id);
  CREATE INDEX IF NOT EXISTS read_contacts_by_email ON read_contacts (normalized_email);
  CREATE TABLE IF NOT EXISTS read_contact_lead_cycles (
    contact_id TEXT NOT NULL,
    lead_id TEXT NOT NULL,
    cycle INTEGER NOT NULL,
    linked_at TEXT NOT NULL,
    engaged INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (contact_id, lead_id, cycle)
  );
  CREATE TABLE IF NOT EXISTS read_contact_lead_recycles (
    lead_id TEXT NOT NULL,
    cycle INTEGER NOT NULL,
    recycled_at TEXT NOT NULL,
    PRIMARY KEY (lead_id, cycle)
  );
  CREATE TABLE IF NOT EXISTS read_contact_accounts (
    account_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    PRIMARY KEY (account_id, contact_id)
  );`;

const UPSERT_CONTACT = `
  INSERT INTO read_contacts (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})
  ON CONFLICT (id) DO UPDATE SET ${COLUMNS.slice(1)
    .map((column) => `${column} = excluded.${column}`)
    .join(', ')}
  WHERE read_contacts.revision < excluded.revision`;

// An erasure rewrites the row as it stands (revision and times included): it is not a contact event.
const REWRITE_CONTACT = `UPDATE read_contacts SET ${COLUMNS.slice(1)
  .map((column) => `${column} = ?`)
  .join(', ')} WHERE id = ?`;

// A cycle may be recorded twice (ContactCreated.fromLeadId and ContactLinkedToLead; ContactEngaged,
// then the conversion's ContactLinkedToLead): the first stays, but an engagement always says so.
const INSERT_CYCLE = `
  INSERT INTO read_contact_lead_cycles (contact_id, lead_id, cycle, linked_at, engaged) VALUES (?, ?, ?, ?, ?)
  ON CONFLICT (contact_id, lead_id, cycle) DO UPDATE SET engaged = 1, linked_at = excluded.linked_at
  WHERE excluded.engaged = 1 AND read_contact_lead_cycles.engaged = 0`;

// Every recycle of a lead: a later cycle of a lead opened for a contact is the contact's too. Kept
// for every lead, and joined when asked, so that the answer does not depend on whether the
// recycle or the contact's ContactEngaged was projected first.
const INSERT_RECYCLE = `
  INSERT INTO read_contact_lead_recycles (lead_id, cycle, recycled_at) VALUES (?, ?, ?)
  ON CONFLICT (lead_id, cycle) DO NOTHING`;

// Every account a contact ever belonged to: who may have been an account's contact at a past time.
const INSERT_MEMBERSHIP = `
  INSERT INTO read_contact_accounts (account_id, contact_id) VALUES (?, ?)
  ON CONFLICT (account_id, contact_id) DO NOTHING`;

export const contactsProjection: Projection = {
  name: 'contacts',
  // 2: personal data erasure (personal_data_erased, last_name nullable, erased events' null fields taken in).
  // 3: the person's own address (address, JSON; personal, nulled by an erasure).
  // 4: lead cycles opened for the contact (ContactEngaged, engaged; their recycles), and every
  // account a contact belonged to (read_contact_accounts, for accounts as of a past time).
  version: 4,
  rebuildsInBulk: true,
  rebuildWeight: 0.1,
  canHandle: [
    'ContactCreated',
    'ContactUpdated',
    'ContactMovedToAccount',
    'ContactDeactivated',
    'ContactReactivated',
    'ContactLinkedToLead',
    'ContactEngaged',
    'LeadRecycled',
    PERSONAL_DATA_ERASED,
  ],
  setup: (db) => db.exec(CREATE_TABLES),
  reset: (db) =>
    db.exec(
      'DROP TABLE IF EXISTS read_contacts; DROP TABLE IF EXISTS read_contact_lead_cycles; ' +
        'DROP TABLE IF EXISTS read_contact_lead_recycles; DROP TABLE IF EXISTS read_contact_accounts',
    ),
  async apply(tx, event) {
    if (event.type === PERSONAL_DATA_ERASED) return eraseContacts(tx, erasedPeople(event).contactIds);
    if (event.type === 'LeadRecycled') {
      const { leadId, cycle } = event.data as LeadRecycled['data'];
      await tx.run(INSERT_RECYCLE, [leadId, cycle, utcInstant(event.metadata.occurredAt)]);
      return;
    }
    const contactEvent = event as RecordedContactEvent;
    const current = await getContact(tx, contactEvent.data.contactId);
    if (current !== undefined && current.revision >= event.revision) return;
    const next = evolveContactView(current, contactEvent);
    const row = toRow(next);
    await tx.run(UPSERT_CONTACT, COLUMNS.map((column) => row[column]));
    const cycle = leadCycleOf(contactEvent);
    if (cycle) await tx.run(INSERT_CYCLE, [next.id, cycle.leadId, cycle.cycle, next.updatedAt, cycle.engaged ? 1 : 0]);
    if (next.accountId !== null && next.accountId !== current?.accountId) await tx.run(INSERT_MEMBERSHIP, [next.accountId, next.id]);
  },
};

/**
 * Each erased contact's row rewritten with its personal fields null and the columns derived from
 * them (normalised e-mail, sort key, search text) recomputed by `toRow`, as any write. The lead
 * cycles it came from hold no personal data: they stay.
 */
const eraseContacts = async (tx: SqlDatabase, contactIds: readonly string[]): Promise<void> => {
  for (const id of contactIds) {
    const current = await getContact(tx, id);
    if (current === undefined) continue;
    const row = toRow(erasedContactView(current));
    await tx.run(REWRITE_CONTACT, [...COLUMNS.slice(1).map((column) => row[column]), id]);
  }
};

const leadCycleOf = (event: ContactEvent): { leadId: string; cycle: number; engaged: boolean } | undefined => {
  if (event.type === 'ContactLinkedToLead') return { leadId: event.data.leadId, cycle: event.data.cycle, engaged: false };
  // A lead opened for a contact starts at its first cycle.
  if (event.type === 'ContactEngaged') return { leadId: event.data.leadId, cycle: 1, engaged: true };
  if (event.type === 'ContactCreated' && event.data.fromLeadId) {
    return { leadId: event.data.fromLeadId, cycle: event.data.fromLeadCycle ?? 1, engaged: false };
  }
  return undefined;
};



// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

export const getContact = async (db: SqlDatabase, id: string): Promise<ContactView | undefined> => {
  const row = await db.get<ContactRow>('SELECT * FROM read_contacts WHERE id = ?', [id]);
  return row && fromRow(row);
};

export interface ContactFilter {
  accountId?: string;
  active?: boolean;
  /** Case- and accent-insensitive, on first, last and full name, e-mail and job title. */
  search?: string;
}

export type ContactPage = Page<ContactView>;

/** The conditions an index serves in name order (`pageDatabase`): none, an account. */
const CONTACT_PAGES_SERVED = [[], ['account_id']];

/** Alphabetical by last name, then first name (case and accents ignored), ties broken by id. */
export const findContacts = async (
  db: SqlDatabase,
  options: { filter?: ContactFilter; first?: number; after?: string; counts?: ReportCache } = {},
): Promise<ContactPage> => {
  const { filter = {} } = options;
  const conditions: string[] = [];
  const params: SqlValue[] = [];
  const given: string[] = [];
  if (filter.accountId !== undefined) {
    conditions.push('account_id = ?');
    params.push(filter.accountId);
    given.push('account_id');
  }
  if (filter.active !== undefined) {
    conditions.push('active = ?');
    params.push(filter.active ? 1 : 0);
    given.push('active');
  }
  const search = searchKey(filter.search ?? '');
  if (search !== '') {
    conditions.push(`search_text LIKE ? ESCAPE '\\'`);
    params.push(containing(search));
    given.push('search');
  }
  return findPageBySortKey<ContactRow, ContactView>(pageDatabase(db, options.counts, given, CONTACT_PAGES_SERVED), {
    table: 'read_contacts',
    conditions,
    params,
    first: options.first,
    after: options.after,
    fromRow,
    counts: options.counts,
  });
};

/** Every contact, active or not, whose e-mail is the same address (case and spaces ignored). */
export const findContactsByEmail = async (db: SqlDatabase, email: string): Promise<ContactView[]> => {
  const normalized = normalizeEmail(email);
  if (normalized === undefined) return [];
  const rows = await db.all<ContactRow>('SELECT * FROM read_contacts WHERE normalized_email = ? ORDER BY sort_key, id', [
    normalized,
  ]);
  return rows.map(fromRow);
};

/** The account's contacts, active or not, alphabetical. */
export const contactsOfAccount = async (db: SqlDatabase, accountId: string): Promise<ContactView[]> => {
  const rows = await db.all<ContactRow>('SELECT * FROM read_contacts WHERE account_id = ? ORDER BY sort_key, id', [
    accountId,
  ]);
  return rows.map(fromRow);
};

/**
 * The contact's lead cycles, oldest first, each with its outcome: those it came from or joined by
 * conversion, and those opened for it (engagements).
 */
export const contactLeadCycles = async (db: SqlDatabase, contactId: string): Promise<ContactLeadCycleView[]> => {
  type Row = { lead_id: string; cycle: number; linked_at: string; engaged: number };
  const [linked, recycled] = await Promise.all([
    db.all<Row>('SELECT lead_id, cycle, linked_at, engaged FROM read_contact_lead_cycles WHERE contact_id = ?', [contactId]),
    // The later cycles of the leads opened for the contact.
    db.all<Row>(
      `SELECT r.lead_id, r.cycle, r.recycled_at AS linked_at, 1 AS engaged
         FROM read_contact_lead_recycles r
         JOIN read_contact_lead_cycles c ON c.lead_id = r.lead_id AND c.contact_id = ? AND c.engaged = 1`,
      [contactId],
    ),
  ]);
  // One row per cycle: a recycled cycle later converted onto the contact is linked twice, and was engaged.
  const cycles = new Map<string, { leadId: string; cycle: number; linkedAt: string; engaged: boolean }>();
  for (const row of [...recycled, ...linked]) {
    const key = `${row.lead_id}\u0000${Number(row.cycle)}`;
    const known = cycles.get(key);
    const engaged = Number(row.engaged) === 1 || known?.engaged === true;
    const linkedAt = known === undefined || row.linked_at < known.linkedAt ? row.linked_at : known.linkedAt;
    cycles.set(key, { leadId: row.lead_id, cycle: Number(row.cycle), linkedAt, engaged });
  }
  const ordered = [...cycles.values()].sort((a, b) =>
    a.linkedAt !== b.linkedAt ? (a.linkedAt < b.linkedAt ? -1 : 1) : a.leadId !== b.leadId ? (a.leadId < b.leadId ? -1 : 1) : a.cycle - b.cycle,
  );
  return Promise.all(
    ordered.map(async (entry) => ({ ...entry, status: cycleStatus(await getLead(db, entry.leadId), entry.cycle) })),
  );
};

/** Every contact that ever belonged to the account (now or before), by id: who may have been its contact at a past time. */
export const contactsEverOfAccount = async (db: SqlDatabase, accountId: string): Promise<string[]> =>
  (
    await db.all<{ contact_id: string }>('SELECT contact_id FROM read_contact_accounts WHERE account_id = ? ORDER BY contact_id', [
      accountId,
    ])
  ).map((row) => row.contact_id);

/** A lead only starts a new cycle once disqualified, so every cycle before its current one was. */
const cycleStatus = (lead: { status: LeadStatus; cycle: number } | undefined, cycle: number): LeadStatus | null => {
  if (lead === undefined || lead.cycle < cycle) return null;
  return lead.cycle === cycle ? lead.status : 'DISQUALIFIED';
};

/**
 * The row of a view, with its derived columns. Names may be null (erased): they then count as
 * empty, so the sort key and search text stay text and hold no trace of them.
 */
const toRow = (contact: ContactView): ContactRow => {
  const fullName = [contact.firstName, contact.lastName].filter(Boolean).join(' ');
  const lastFirst = `${contact.lastName ?? ''} ${contact.firstName ?? ''}`;
  return {
    id: contact.id,
    revision: contact.revision,
    first_name: contact.firstName,
    last_name: contact.lastName,
    email: contact.email,
    phone: contact.phone,
    job_title: contact.jobTitle,
    address: contact.address === null ? null : JSON.stringify(contact.address),
    account_id: contact.accountId,
    owner_id: contact.ownerId,
    active: contact.active ? 1 : 0,
    deactivation_reason: contact.deactivationReason,
    from_lead_id: contact.fromLeadId,
    created_at: contact.createdAt,
    updated_at: contact.updatedAt,
    created_by: contact.createdBy,
    personal_data_erased: contact.personalDataErased ? 1 : 0,
    normalized_email: contact.email === null ? null : (normalizeEmail(contact.email) ?? null),
    sort_key: searchKey(lastFirst),
    search_text: [fullName, lastFirst, contact.email ?? '', contact.jobTitle ?? '']
      .map(searchKey)
      .join('\n'),
  };
};

const fromRow = (row: ContactRow): ContactView => ({
  id: row.id as string,
  revision: Number(row.revision),
  firstName: row.first_name as string | null,
  lastName: row.last_name as string | null,
  email: row.email as string | null,
  phone: row.phone as string | null,
  jobTitle: row.job_title as string | null,
  address: row.address === null ? null : (JSON.parse(String(row.address)) as Address),
  accountId: row.account_id as string | null,
  ownerId: row.owner_id as string | null,
  active: Number(row.active) === 1,
  deactivationReason: row.deactivation_reason as string | null,
  fromLeadId: row.from_lead_id as string | null,
  createdAt: row.created_at as string,
  updatedAt: row.updated_at as string,
  createdBy: row.created_by as string,
  personalDataErased: Number(row.personal_data_erased) === 1,
});
