/**
 * The lead as the leads read model keeps it: the view clients read, its row in `read_leads`
 * (the one list of its columns, and the two mappers between them), and reading one by id,
 * which the projection and the finders both need.
 */
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


export const COLUMNS = [
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

export type LeadRow = Record<(typeof COLUMNS)[number], SqlValue>;

/** Where unscored leads sort in SCORE order: after every score the rules can give (see src/domain/scoring/rules.ts). */
export const UNSCORED_ORDER = -2147483648;

export const getLead = async (db: SqlDatabase, id: string): Promise<LeadView | undefined> => {
  const row = await db.get<LeadRow>('SELECT * FROM read_leads WHERE id = ?', [id]);
  return row && fromRow(row);
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

export const toRow = (lead: LeadView): LeadRow => ({
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

export const fromRow = (row: LeadRow): LeadView => ({
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
