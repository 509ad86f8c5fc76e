/**
 * The lead as the leads read model keeps it: the view clients read, its row in `read_leads`
 * (the one list of its columns, and the two mappers between them), and reading one by id,
 * which the projection and the finders both need.
 */
import { normalizeEmail, normalizeName } from '../../src/core/normalize';
import type {
  ContactOutcome,
  LeadCompany,
  LeadInterest,
  LeadPerson,
  LeadRank,
  LeadSource,
  LeadStatus,
  QualificationCriteria,
  ScoreContribution,
} from '../../src/domain/leads/lead';
import { leadSearchText } from '../../src/domain/leads/search';
import { rowsInTurn } from '../rowsInTurn';
import type { SqlDatabase, SqlValue } from '../sqlDatabase';

export interface LeadView {
  id: string;
  /** Stream revision of the last event applied: the expected revision for the next command. */
  revision: number;
  status: LeadStatus;
  rank: LeadRank;
  source: LeadSource;
  campaign: string | null;
  person: LeadPerson | null;
  company: LeadCompany | null;
  interest: LeadInterest | null;
  ownerId: string | null;
  cycle: number;
  contactAttempts: number;
  lastContactedAt: string | null;
  lastContactOutcome: ContactOutcome | null;
  criteria: QualificationCriteria | null;
  qualificationNotes: string | null;
  qualifiedAt: string | null;
  disqualificationReason: string | null;
  disqualificationNotes: string | null;
  disqualifiedAt: string | null;
  /** Contacts of the current cycle by `CHANNEL:OUTCOME`. */
  contactsBy: Readonly<Record<string, number>>;
  quoteRequests: number;
  /** The last score recorded, the rules version that gave it, why, and when. */
  score: number | null;
  scoreRulesVersion: string | null;
  scoreBreakdown: ScoreContribution[] | null;
  scoredAt: string | null;
  /**
   * Where in the log the score was recorded: an automatic score (on the lead's score stream)
   * changes the row without changing `revision`, so this tells whether the row still shows the
   * lead as it was right after a given event of its stream (see `mutate()`).
   */
  scorePosition: string | null;
  /** What the lead became, once converted. */
  conversion: LeadConversionView | null;
  /** The contact this lead was opened for (`engageContact`); null for a lead captured as a stranger. */
  contactId: string | null;
  /** Business times (the events' occurredAt), as UTC ISO-8601. */
  capturedAt: string;
  updatedAt: string;
  capturedBy: string;
  /**
   * True once the person's personal data was erased (GDPR art. 17): `person`, `interest.notes`
   * and the qualification and disqualification notes read null, and the search text holds none of it.
   */
  personalDataErased: boolean;
}

export interface LeadConversionView {
  accountId: string;
  contactId: string;
  opportunityId?: string;
  convertedAt: string;
  convertedBy: string;
}


/** How a field is kept in its column. */
type Stored = 'as is' | 'number' | 'number or null' | 'json or null' | 'json map' | 'boolean';

/**
 * Every field of the view, the column that keeps it and how: the one list from which the
 * column list and both mappers follow.
 */
const STORED_AS: { readonly [Field in keyof LeadView]-?: readonly [column: string, stored: Stored] } = {
  id: ['id', 'as is'],
  revision: ['revision', 'number'],
  status: ['status', 'as is'],
  rank: ['rank', 'as is'],
  source: ['source', 'as is'],
  campaign: ['campaign', 'as is'],
  person: ['person', 'json or null'],
  company: ['company', 'json or null'],
  interest: ['interest', 'json or null'],
  ownerId: ['owner_id', 'as is'],
  cycle: ['cycle', 'number'],
  contactAttempts: ['contact_attempts', 'number'],
  lastContactedAt: ['last_contacted_at', 'as is'],
  lastContactOutcome: ['last_contact_outcome', 'as is'],
  criteria: ['criteria', 'json or null'],
  qualificationNotes: ['qualification_notes', 'as is'],
  qualifiedAt: ['qualified_at', 'as is'],
  disqualificationReason: ['disqualification_reason', 'as is'],
  disqualificationNotes: ['disqualification_notes', 'as is'],
  disqualifiedAt: ['disqualified_at', 'as is'],
  contactsBy: ['contacts_by', 'json map'],
  quoteRequests: ['quote_requests', 'number'],
  score: ['score', 'number or null'],
  scoreRulesVersion: ['score_rules_version', 'as is'],
  scoreBreakdown: ['score_breakdown', 'json or null'],
  scoredAt: ['scored_at', 'as is'],
  scorePosition: ['score_position', 'as is'],
  conversion: ['conversion', 'json or null'],
  contactId: ['contact_id', 'as is'],
  capturedAt: ['captured_at', 'as is'],
  updatedAt: ['updated_at', 'as is'],
  capturedBy: ['captured_by', 'as is'],
  personalDataErased: ['personal_data_erased', 'boolean'],
};

const STORED_FIELDS = Object.entries(STORED_AS) as [keyof LeadView, readonly [string, Stored]][];

/**
 * Every column of `read_leads`: the view's, then those derived for ordering, search and duplicate
 * lookups (personal: an erasure, which nulls the person, nulls them too).
 */
export const COLUMNS: readonly string[] = [
  ...STORED_FIELDS.map(([, [column]]) => column),
  'score_order',
  'search_text',
  'email_key',
  'identity_key',
];

/**
 * The columns `fromRow` reads, as a select list: a page of leads reads these and not the columns
 * only queries use (the search text alone is about a tenth of a row).
 */
export const VIEW_COLUMNS = STORED_FIELDS.map(([, [column]]) => column).join(', ');

export type LeadRow = Record<string, SqlValue>;

/** Where unscored leads sort in SCORE order: after every score the rules can give (see src/domain/scoring/rules.ts). */
export const UNSCORED_ORDER = -2147483648;

export const getLead = async (db: SqlDatabase, id: string): Promise<LeadView | undefined> => {
  const row = await db.get<LeadRow>('SELECT * FROM read_leads WHERE id = ?', [id]);
  return row && fromRow(row);
};

const leadRowInTurn = rowsInTurn('read_leads', 'id');

/**
 * As `getLead`, for the read database outside a transaction (a mutation's answer): on PostgreSQL
 * the leads asked for in one turn of the event loop are read in one statement (see rowsInTurn.ts).
 */
export const getLeadInTurn = async (db: SqlDatabase, id: string): Promise<LeadView | undefined> => {
  if (db.dialect !== 'postgres') return getLead(db, id);
  const row = await leadRowInTurn(db, id);
  return row && fromRow(row);
};


/**
 * The lead with its person's data erased: the personal fields null (the interest keeps its
 * product and value, without notes), and marked. It depends on none of the fields it drops, so
 * a lead erased live and the same lead rebuilt from its erased events end as the same row.
 */
export const erasedLeadView = (lead: LeadView): LeadView => ({
  ...lead,
  person: null,
  interest: lead.interest === null ? null : withoutNotes(lead.interest),
  qualificationNotes: null,
  disqualificationNotes: null,
  personalDataErased: true,
});

/**
 * The interest as the row keeps it: notes read as erased (null) are left out, as an erasure
 * leaves them out, rather than kept as a null the live row never had.
 */
export const storedInterest = (interest: LeadInterest | null): LeadInterest | null =>
  interest !== null && 'notes' in interest && interest.notes == null ? withoutNotes(interest) : interest;

const withoutNotes = (interest: LeadInterest): LeadInterest => {
  const { notes: _notes, ...rest } = interest;
  return rest;
};

/**
 * What two leads (or a lead and a contact) are compared by to suspect they are one person: the
 * e-mail address, or the person's name together with the company's, both normalised.
 */
export const duplicateKeysOf = (lead: Pick<LeadView, 'person' | 'company'>): { emailKey?: string; identityKey?: string } => {
  const email = lead.person?.email ? normalizeEmail(lead.person.email) : undefined;
  const name = normalizeName([lead.person?.firstName, lead.person?.lastName].filter(Boolean).join(' '));
  const company = normalizeName(lead.company?.name ?? '');
  return { emailKey: email, identityKey: name !== '' && company !== '' ? `${name}|${company}` : undefined };
};

/** The stored `search_text`: what `leadSearchText` says a search matches. */
const searchTextOf = (lead: LeadView): string => leadSearchText(lead.person, lead.company);

const toColumn: Record<Stored, (value: unknown) => SqlValue> = {
  'as is': (value) => value as SqlValue,
  number: (value) => value as number,
  'number or null': (value) => value as number | null,
  'json or null': (value) => (value === null ? null : JSON.stringify(value)),
  'json map': (value) => JSON.stringify(value),
  boolean: (value) => (value ? 1 : 0),
};

const fromColumn: Record<Stored, (value: SqlValue) => unknown> = {
  'as is': (value) => value,
  number: (value) => Number(value),
  'number or null': (value) => (value === null ? null : Number(value)),
  'json or null': (value) => (value === null ? null : JSON.parse(String(value))),
  'json map': (value) => (value === null ? {} : JSON.parse(String(value))),
  boolean: (value) => Number(value) === 1,
};

/**
 * A function that makes one object literal: each of `STORED_FIELDS` under its name on one side
 * (`to`), from its name on the other (`from`), through its converter unless stored as is. Made
 * once: a literal of fixed keys is much cheaper than an object filled key by key (see `fromRow`).
 */
const literalOf = <From, To>(
  side: { from: 'field' | 'column'; to: 'field' | 'column' },
  converters: Record<Stored, (value: never) => unknown>,
): ((from: From) => To) => {
  const members = STORED_FIELDS.map(([field, [column, stored]]) => {
    const names = { field: JSON.stringify(field), column: JSON.stringify(column) };
    const value = `from[${names[side.from]}]`;
    return `${names[side.to]}: ${stored === 'as is' ? value : `converters[${JSON.stringify(stored)}](${value})`}`;
  });
  const build = new Function('converters', 'from', `return { ${members.join(', ')} };`) as (
    converters: Record<Stored, (value: never) => unknown>,
    from: From,
  ) => To;
  return (from) => build(converters, from);
};

/**
 * The lead's fields as their columns: the row without the columns only queries use (see `toRow`).
 * Filled column by column, the row took 1.0 % of the API's main thread under `npm run bench`'s
 * captures (each capture makes two, its read model's row and its own answer's).
 */
const storedColumns = literalOf<LeadView, LeadRow>({ from: 'field', to: 'column' }, toColumn);

export const toRow = (lead: LeadView): LeadRow => {
  const row = storedColumns(lead);
  row.score_order = lead.score ?? UNSCORED_ORDER;
  row.search_text = searchTextOf(lead);
  const keys = duplicateKeysOf(lead);
  row.email_key = keys.emailKey ?? null;
  row.identity_key = keys.identityKey ?? null;
  return row;
};

/** The fields an automatic score sets, and nothing else of the lead (its revision and times stay). */
export type AutomaticScore = Pick<LeadView, 'score' | 'scoreRulesVersion' | 'scoreBreakdown' | 'scoredAt' | 'scorePosition'>;
const AUTOMATIC_SCORE_FIELDS = ['score', 'scoreRulesVersion', 'scoreBreakdown', 'scoredAt', 'scorePosition'] as const;

/** The columns an automatic score rewrites: its fields' and the order derived from the score. */
export const AUTOMATIC_SCORE_COLUMNS: readonly string[] = [...AUTOMATIC_SCORE_FIELDS.map((field) => STORED_AS[field][0]), 'score_order'];

/** Their values, in that order, as `toRow` writes them. */
export const automaticScoreValues = (score: AutomaticScore): SqlValue[] => [
  ...AUTOMATIC_SCORE_FIELDS.map((field) => toColumn[STORED_AS[field][1]](score[field])),
  score.score ?? UNSCORED_ORDER,
];

/**
 * The view of a row: one object literal of every field (`literalOf`). A page of 21 leads took
 * 44 us this way against 86 filling an object field by field (40 of them parsing the JSON
 * columns), for every page of leads read.
 */
export const fromRow = literalOf<LeadRow, LeadView>({ from: 'column', to: 'field' }, fromColumn);

/**
 * The view as reading its row back gives it (`fromRow(toRow(lead))`: the JSON columns made and
 * parsed, the flags as 1 and 0), without the columns no view holds: the order, the search text and
 * the duplicate keys, whose folding of names was a third of the answer to a capture's own lead
 * (`leadOpenedBy`: 0.8 of its 2.3 % of the API's main thread under `npm run bench`'s captures).
 */
export const asReadBack = (lead: LeadView): LeadView => fromRow(storedColumns(lead));
