/**
 * The leads read model: one row per lead in `read_leads`, for the lead detail and the lead
 * list. Status, rank, cycle and contact attempts are folded with the domain's own `evolveLead`,
 * so the list can never disagree with what a command would decide; the row only adds what the
 * domain state does not keep (times, notes, who captured the lead).
 */
import { ValidationError } from '../../src/core/errors';
import type { RecordedEvent } from '../../src/core/eventStore';
import {
  LEAD_EVENT_TYPES,
  evolveLead,
  initialLeadState,
  type ContactOutcome,
  type LeadCompany,
  type LeadEvent,
  type LeadInterest,
  type LeadPerson,
  type LeadRank,
  type LeadSource,
  type LeadState,
  type LeadStatus,
  type QualificationCriteria,
  type ScoreContribution,
} from '../../src/leads/lead';
import type { Projection } from '../projection';
import type { SqlDatabase, SqlValue } from '../sqlDatabase';
import { searchKey } from '../../src/core/normalize';

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
  /** What the lead became, once converted. */
  conversion: LeadConversionView | null;
  /** Business times (the events' occurredAt), as UTC ISO-8601. */
  capturedAt: string;
  updatedAt: string;
  capturedBy: string;
}

export interface LeadConversionView {
  accountId: string;
  contactId: string;
  opportunityId?: string;
  convertedAt: string;
  convertedBy: string;
}

export type RecordedLeadEvent = LeadEvent & Pick<RecordedEvent, 'revision' | 'metadata'>;

const COLUMNS = [
  'id',
  'revision',
  'status',
  'rank',
  'source',
  'campaign',
  'person',
  'company',
  'interest',
  'owner_id',
  'cycle',
  'contact_attempts',
  'last_contacted_at',
  'last_contact_outcome',
  'criteria',
  'qualification_notes',
  'qualified_at',
  'disqualification_reason',
  'disqualification_notes',
  'disqualified_at',
  'contacts_by',
  'quote_requests',
  'score',
  'score_rules_version',
  'score_breakdown',
  'scored_at',
  'score_order',
  'conversion',
  'captured_at',
  'updated_at',
  'captured_by',
  'search_text',
] as const;

type LeadRow = Record<(typeof COLUMNS)[number], SqlValue>;

const CREATE_TABLE = `
  CREATE TABLE IF NOT EXISTS read_leads (
    id TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    status TEXT NOT NULL,
    rank TEXT NOT NULL,
    source TEXT NOT NULL,
    campaign TEXT,
    person TEXT,
    company TEXT,
    interest TEXT,
    owner_id TEXT,
    cycle INTEGER NOT NULL,
    contact_attempts INTEGER NOT NULL,
    last_contacted_at TEXT,
    last_contact_outcome TEXT,
    criteria TEXT,
    qualification_notes TEXT,
    qualified_at TEXT,
    disqualification_reason TEXT,
    disqualification_notes TEXT,
    disqualified_at TEXT,
    contacts_by TEXT NOT NULL,
    quote_requests INTEGER NOT NULL,
    score INTEGER,
    score_rules_version TEXT,
    score_breakdown TEXT,
    scored_at TEXT,
    score_order INTEGER NOT NULL,
    conversion TEXT,
    captured_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    captured_by TEXT NOT NULL,
    search_text TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS read_leads_by_capture ON read_leads (captured_at, id);
  CREATE INDEX IF NOT EXISTS read_leads_by_status ON read_leads (status, captured_at, id);
  CREATE INDEX IF NOT EXISTS read_leads_by_owner ON read_leads (owner_id, captured_at, id);
  CREATE INDEX IF NOT EXISTS read_leads_by_score ON read_leads (score_order, captured_at, id);`;

/** Where unscored leads sort in SCORE order: after every score the rules can give (see src/scoring/rules.ts). */
const UNSCORED_ORDER = -2147483648;

// The WHERE keeps the write idempotent even if a caller skips the revision check.
const UPSERT_LEAD = `
  INSERT INTO read_leads (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})
  ON CONFLICT (id) DO UPDATE SET ${COLUMNS.slice(1)
    .map((column) => `${column} = excluded.${column}`)
    .join(', ')}
  WHERE read_leads.revision < excluded.revision`;

export const leadsProjection: Projection = {
  name: 'leads',
  version: 4, // 4: search text folded by src/core/normalize (ß, æ, ø... too)
  canHandle: LEAD_EVENT_TYPES,
  setup: (db) => db.exec(CREATE_TABLE),
  reset: (db) => db.exec('DROP TABLE IF EXISTS read_leads'),
  async apply(tx, event) {
    const leadEvent = event as RecordedLeadEvent;
    const current = await getLead(tx, leadEvent.data.leadId);
    if (current !== undefined && current.revision >= event.revision) return;
    const row = toRow(evolveLeadView(current, leadEvent));
    await tx.run(UPSERT_LEAD, COLUMNS.map((column) => row[column]));
  },
};

export const evolveLeadView = (view: LeadView | undefined, event: RecordedLeadEvent): LeadView => {
  const state = evolveLead(view === undefined ? initialLeadState() : toLeadState(view), event);
  if (state.status === 'NONE') {
    throw new Error(`Lead ${event.data.leadId} has a ${event.type} but was never captured`);
  }
  const at = new Date(event.metadata.occurredAt).toISOString();
  const next: LeadView = {
    ...(view ?? capturedView(event.data.leadId, at, event.metadata.actor)),
    revision: event.revision,
    status: state.status,
    rank: state.rank,
    source: state.source,
    campaign: state.campaign ?? null,
    person: state.person ?? null,
    company: state.company ?? null,
    interest: state.interest ?? null,
    ownerId: state.ownerId ?? null,
    cycle: state.cycle,
    contactAttempts: state.contactAttempts,
    contactsBy: state.contactsBy,
    quoteRequests: state.quoteRequests,
    score: state.score?.value ?? null,
    scoreRulesVersion: state.score?.rulesVersion ?? null,
    criteria: state.criteria ?? null,
    disqualificationReason: state.disqualificationReason ?? null,
    updatedAt: at,
  };
  switch (event.type) {
    case 'LeadContactLogged':
      return { ...next, lastContactedAt: at, lastContactOutcome: event.data.outcome };
    case 'LeadQualified':
      return { ...next, qualificationNotes: event.data.notes ?? null, qualifiedAt: at };
    case 'LeadDisqualified':
      return { ...next, disqualificationNotes: event.data.notes ?? null, disqualifiedAt: at };
    case 'LeadConverted': {
      const { accountId, contactId, opportunityId } = event.data;
      return {
        ...next,
        conversion: { accountId, contactId, opportunityId, convertedAt: at, convertedBy: event.metadata.actor },
      };
    }
    case 'LeadScored':
      return { ...next, scoreBreakdown: event.data.breakdown, scoredAt: at };
    case 'LeadRecycled':
      // A new cycle starts unqualified; the last contact stays, it is still the last one.
      return { ...next, qualificationNotes: null, qualifiedAt: null, disqualificationNotes: null, disqualifiedAt: null };
    default:
      return next;
  }
};

const capturedView = (id: string, capturedAt: string, capturedBy: string): LeadView => ({
  id,
  revision: 0,
  status: 'NEW',
  rank: 'UNRANKED',
  source: 'OTHER',
  campaign: null,
  person: null,
  company: null,
  interest: null,
  ownerId: null,
  cycle: 1,
  contactAttempts: 0,
  lastContactedAt: null,
  lastContactOutcome: null,
  criteria: null,
  qualificationNotes: null,
  qualifiedAt: null,
  disqualificationReason: null,
  disqualificationNotes: null,
  disqualifiedAt: null,
  contactsBy: {},
  quoteRequests: 0,
  score: null,
  scoreRulesVersion: null,
  scoreBreakdown: null,
  scoredAt: null,
  conversion: null,
  capturedAt,
  updatedAt: capturedAt,
  capturedBy,
});

const toLeadState = (view: LeadView): LeadState => ({
  status: view.status,
  leadId: view.id,
  source: view.source,
  campaign: view.campaign ?? undefined,
  person: view.person ?? undefined,
  company: view.company ?? undefined,
  interest: view.interest ?? undefined,
  ownerId: view.ownerId ?? undefined,
  rank: view.rank,
  criteria: view.criteria ?? undefined,
  cycle: view.cycle,
  contactAttempts: view.contactAttempts,
  contactsBy: view.contactsBy,
  quoteRequests: view.quoteRequests,
  score:
    view.score === null || view.scoreRulesVersion === null
      ? undefined
      : { value: view.score, rulesVersion: view.scoreRulesVersion },
  disqualificationReason: view.disqualificationReason ?? undefined,
});

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

export const getLead = async (db: SqlDatabase, id: string): Promise<LeadView | undefined> => {
  const row = await db.get<LeadRow>('SELECT * FROM read_leads WHERE id = ?', [id]);
  return row && fromRow(row);
};

export interface LeadFilter {
  status?: LeadStatus;
  rank?: LeadRank;
  source?: LeadSource;
  campaign?: string;
  ownerId?: string;
  /** Case- and accent-insensitive, on first, last and full name, e-mail and company name. */
  search?: string;
  /** Only leads whose last score is at least this (unscored leads are left out). */
  minScore?: number;
}

/** NEWEST: latest capture first. SCORE: highest score first, unscored last, then latest capture. */
export type LeadOrder = 'NEWEST' | 'SCORE';

export interface LeadPage {
  nodes: LeadView[];
  /** All leads matching the filter, whatever the page. */
  totalCount: number;
  hasNextPage: boolean;
  endCursor?: string;
  /** One per node, in the same order. */
  cursors: string[];
}

const DEFAULT_PAGE_SIZE = 50;

/** Ties are broken by capture time then id, descending, so pages stay stable as leads arrive. */
export const findLeads = async (
  db: SqlDatabase,
  options: { filter?: LeadFilter; first?: number; after?: string; orderBy?: LeadOrder } = {},
): Promise<LeadPage> => {
  const { filter = {}, first = DEFAULT_PAGE_SIZE, after, orderBy = 'NEWEST' } = options;
  if (!Number.isInteger(first) || first < 0) {
    throw new ValidationError([{ field: 'first', message: 'must be a whole number, 0 or more' }]);
  }
  const conditions: string[] = [];
  const params: SqlValue[] = [];
  const equalTo = (column: string, value: string | undefined) => {
    if (value === undefined) return;
    conditions.push(`${column} = ?`);
    params.push(value);
  };
  equalTo('status', filter.status);
  equalTo('rank', filter.rank);
  equalTo('source', filter.source);
  equalTo('campaign', filter.campaign);
  equalTo('owner_id', filter.ownerId);
  const search = searchKey(filter.search ?? '');
  if (search !== '') {
    conditions.push(`search_text LIKE ? ESCAPE '\\'`);
    params.push(`%${search.replace(/[\\%_]/g, (wildcard) => `\\${wildcard}`)}%`);
  }
  if (filter.minScore !== undefined) {
    conditions.push('score >= ?');
    params.push(filter.minScore);
  }

  const total = await db.get<{ total: number }>(
    `SELECT CAST(COUNT(*) AS INTEGER) AS total FROM read_leads ${whereClause(conditions)}`,
    params,
  );
  if (after !== undefined) {
    const cursor = decodeCursor(after, orderBy);
    const newer = '(captured_at < ? OR (captured_at = ? AND id < ?))';
    if (cursor.scoreOrder === undefined) {
      conditions.push(newer);
      params.push(cursor.capturedAt, cursor.capturedAt, cursor.id);
    } else {
      conditions.push(`(score_order < ? OR (score_order = ? AND ${newer}))`);
      params.push(cursor.scoreOrder, cursor.scoreOrder, cursor.capturedAt, cursor.capturedAt, cursor.id);
    }
  }
  const order = orderBy === 'SCORE' ? 'score_order DESC, captured_at DESC, id DESC' : 'captured_at DESC, id DESC';
  const rows = await db.all<LeadRow>(
    `SELECT * FROM read_leads ${whereClause(conditions)} ORDER BY ${order} LIMIT ?`,
    [...params, first + 1],
  );
  const nodes = rows.slice(0, first).map(fromRow);
  const cursors = nodes.map((node) => encodeCursor(node, orderBy));
  return {
    nodes,
    totalCount: Number(total?.total ?? 0),
    hasNextPage: rows.length > first,
    endCursor: cursors.at(-1),
    cursors,
  };
};

/** Ids of the leads still being worked (not converted, not disqualified), by id, a page at a time. */
export const workableLeadIds = async (db: SqlDatabase, options: { after?: string; first: number }): Promise<string[]> => {
  const rows = await db.all<{ id: string }>(
    `SELECT id FROM read_leads WHERE status IN ('NEW', 'CONTACTED', 'QUALIFIED') AND id > ? ORDER BY id LIMIT ?`,
    [options.after ?? '', options.first],
  );
  return rows.map((row) => row.id);
};

const whereClause = (conditions: readonly string[]) =>
  conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;

interface LeadCursor {
  capturedAt: string;
  id: string;
  /** Present in SCORE order only. */
  scoreOrder?: number;
}

const encodeCursor = (lead: Pick<LeadView, 'capturedAt' | 'id' | 'score'>, orderBy: LeadOrder): string =>
  Buffer.from(
    JSON.stringify(
      orderBy === 'SCORE' ? [lead.score ?? UNSCORED_ORDER, lead.capturedAt, lead.id] : [lead.capturedAt, lead.id],
    ),
  ).toString('base64url');

const decodeCursor = (cursor: string, orderBy: LeadOrder): LeadCursor => {
  try {
    const parts = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as unknown[];
    if (orderBy === 'NEWEST' && parts.length === 2) {
      const [capturedAt, id] = parts;
      if (typeof capturedAt === 'string' && typeof id === 'string') return { capturedAt, id };
    }
    if (orderBy === 'SCORE' && parts.length === 3) {
      const [scoreOrder, capturedAt, id] = parts;
      if (Number.isInteger(scoreOrder) && typeof capturedAt === 'string' && typeof id === 'string') {
        return { scoreOrder: scoreOrder as number, capturedAt, id };
      }
    }
  } catch {
    // Reported below, as for any cursor that is not one of ours.
  }
  throw new ValidationError([{ field: 'after', message: 'is not a cursor of this list in this order' }]);
};

/** Applied to the stored text and to the search term alike. */

const searchTextOf = (lead: LeadView): string => {
  const { firstName, lastName, email } = lead.person ?? {};
  const fullName = [firstName, lastName].filter(Boolean).join(' ');
  return [firstName, lastName, fullName, email, lead.company?.name]
    .filter((part): part is string => Boolean(part))
    .map(searchKey)
    .join('\n');
};

const toRow = (lead: LeadView): LeadRow => ({
  id: lead.id,
  revision: lead.revision,
  status: lead.status,
  rank: lead.rank,
  source: lead.source,
  campaign: lead.campaign,
  person: toJson(lead.person),
  company: toJson(lead.company),
  interest: toJson(lead.interest),
  owner_id: lead.ownerId,
  cycle: lead.cycle,
  contact_attempts: lead.contactAttempts,
  last_contacted_at: lead.lastContactedAt,
  last_contact_outcome: lead.lastContactOutcome,
  criteria: toJson(lead.criteria),
  qualification_notes: lead.qualificationNotes,
  qualified_at: lead.qualifiedAt,
  disqualification_reason: lead.disqualificationReason,
  disqualification_notes: lead.disqualificationNotes,
  disqualified_at: lead.disqualifiedAt,
  contacts_by: JSON.stringify(lead.contactsBy),
  quote_requests: lead.quoteRequests,
  score: lead.score,
  score_rules_version: lead.scoreRulesVersion,
  score_breakdown: toJson(lead.scoreBreakdown),
  scored_at: lead.scoredAt,
  score_order: lead.score ?? UNSCORED_ORDER,
  conversion: toJson(lead.conversion),
  captured_at: lead.capturedAt,
  updated_at: lead.updatedAt,
  captured_by: lead.capturedBy,
  search_text: searchTextOf(lead),
});

const fromRow = (row: LeadRow): LeadView => ({
  id: row.id as string,
  revision: Number(row.revision),
  status: row.status as LeadStatus,
  rank: row.rank as LeadRank,
  source: row.source as LeadSource,
  campaign: row.campaign as string | null,
  person: fromJson<LeadPerson>(row.person),
  company: fromJson<LeadCompany>(row.company),
  interest: fromJson<LeadInterest>(row.interest),
  ownerId: row.owner_id as string | null,
  cycle: Number(row.cycle),
  contactAttempts: Number(row.contact_attempts),
  lastContactedAt: row.last_contacted_at as string | null,
  lastContactOutcome: row.last_contact_outcome as ContactOutcome | null,
  criteria: fromJson<QualificationCriteria>(row.criteria),
  qualificationNotes: row.qualification_notes as string | null,
  qualifiedAt: row.qualified_at as string | null,
  disqualificationReason: row.disqualification_reason as string | null,
  disqualificationNotes: row.disqualification_notes as string | null,
  disqualifiedAt: row.disqualified_at as string | null,
  contactsBy: fromJson<Record<string, number>>(row.contacts_by) ?? {},
  quoteRequests: Number(row.quote_requests),
  score: row.score === null ? null : Number(row.score),
  scoreRulesVersion: row.score_rules_version as string | null,
  scoreBreakdown: fromJson<ScoreContribution[]>(row.score_breakdown),
  scoredAt: row.scored_at as string | null,
  conversion: fromJson<LeadConversionView>(row.conversion),
  capturedAt: row.captured_at as string,
  updatedAt: row.updated_at as string,
  capturedBy: row.captured_by as string,
});

const toJson = (value: object | null): string | null => (value === null ? null : JSON.stringify(value));

const fromJson = <T>(text: SqlValue): T | null => (text === null ? null : (JSON.parse(String(text)) as T));
