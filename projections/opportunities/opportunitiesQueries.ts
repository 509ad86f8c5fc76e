/**
 * Finders over the opportunities read model (`opportunitiesProjection.ts` keeps the tables):
 * one opportunity with its quotes, activities and stage visits, filtered pages, and the
 * pipeline report of the open ones.
 */
import { ValidationError } from '../../src/core/errors';
import type { ActivityKind, OpportunityStatus, QuoteStatus } from '../../src/domain/opportunities/events';
import type { Pipeline } from '../../src/domain/opportunities/pipeline';
import { summarisePipeline, type PipelineRow, type PipelineSummary } from '../../src/domain/opportunities/pipelineReport';
import {
  decodeCursor,
  DEFAULT_PAGE_SIZE,
  encodeCursor,
  pageDatabase,
  rowsAndCount,
  whereClause,
  type Conditions,
  type Page,
} from '../pagination';
import { placeholders } from '../personalData';
import type { ReportCache } from '../reportCache';
import type { SqlDatabase, SqlValue } from '../sqlDatabase';
import type { ActivityView, OpportunityView, QuoteView, StageVisitView } from './opportunitiesProjection';

type Row = Record<string, SqlValue>;

/** `seq` is the revision of the event that added the row: the order things happened. */
const childrenOf = (db: SqlDatabase, table: string, opportunityId: string) =>
  db.all<Row>(`SELECT * FROM ${table} WHERE opportunity_id = ? ORDER BY seq`, [opportunityId]);

export const getOpportunity = async (db: SqlDatabase, id: string): Promise<OpportunityView | undefined> => {
  const row = await db.get<Row>('SELECT * FROM read_opportunities WHERE id = ?', [id]);
  return row && fromRow(row);
};

/** In the order they were added. */
export const quotesOf = async (db: SqlDatabase, opportunityId: string): Promise<QuoteView[]> =>
  (await childrenOf(db, 'read_opportunity_quotes', opportunityId)).map((row) => ({
    id: row.id as string,
    opportunityId: row.opportunity_id as string,
    amount: { amount: row.amount as string, currency: row.currency as string },
    validUntil: row.valid_until as string | null,
    description: row.description as string | null,
    status: row.status as QuoteStatus,
    addedAt: row.added_at as string,
    addedBy: row.added_by as string,
    statusChangedAt: row.status_changed_at as string,
  }));

/** In the order they were scheduled. */
export const activitiesOf = async (db: SqlDatabase, opportunityId: string): Promise<ActivityView[]> =>
  (await childrenOf(db, 'read_opportunity_activities', opportunityId)).map((row) => ({
    id: row.id as string,
    opportunityId: row.opportunity_id as string,
    kind: row.kind as ActivityKind,
    subject: row.subject as string | null,
    dueAt: row.due_at as string | null,
    notes: row.notes as string | null,
    done: Number(row.done) === 1,
    completedAt: row.completed_at as string | null,
    completionNotes: row.completion_notes as string | null,
    scheduledAt: row.scheduled_at as string,
    scheduledBy: row.scheduled_by as string,
  }));

/** Oldest first. */
export const stageHistoryOf = async (db: SqlDatabase, opportunityId: string): Promise<StageVisitView[]> =>
  (await childrenOf(db, 'read_opportunity_stage_history', opportunityId)).map((row) => ({
    stage: row.stage as string,
    probability: Number(row.probability),
    enteredAt: row.entered_at as string,
    leftAt: row.left_at as string | null,
  }));

export interface OpportunityFilter {
  status?: OpportunityStatus;
  stage?: string;
  ownerId?: string;
  accountId?: string;
  contactId?: string;
  /** Inclusive bounds on the expected close date, YYYY-MM-DD. */
  expectedCloseFrom?: string;
  expectedCloseTo?: string;
  /** One opportunity, if it matches the rest: whether a change notification concerns a subscriber. */
  id?: string;
}

export type OpportunityPage = Page<OpportunityView>;

/** The conditions an index serves newest opened first (`pageDatabase`): none, an account, an owner. */
const OPPORTUNITY_PAGES_SERVED = [[], ['account_id'], ['owner_id']];

/** Newest opened first (ties broken by id), so pages stay stable as opportunities arrive. */
export const findOpportunities = async (
  db: SqlDatabase,
  options: { filter?: OpportunityFilter; first?: number; after?: string; counts?: ReportCache } = {},
): Promise<OpportunityPage> => {
  const { filter = {}, first = DEFAULT_PAGE_SIZE, after, counts } = options;
  if (!Number.isInteger(first) || first < 0) {
    throw new ValidationError([{ field: 'first', message: 'must be a whole number, 0 or more' }]);
  }
  const conditions: string[] = [];
  const params: SqlValue[] = [];
  const given: string[] = [];
  const compare = (column: string, operator: '=' | '>=' | '<=', value: string | undefined) => {
    if (value === undefined) return;
    conditions.push(`${column} ${operator} ?`);
    params.push(value);
    given.push(column);
  };
  compare('status', '=', filter.status);
  compare('stage', '=', filter.stage);
  compare('owner_id', '=', filter.ownerId);
  compare('account_id', '=', filter.accountId);
  compare('contact_id', '=', filter.contactId);
  compare('id', '=', filter.id);
  // ISO dates compare as text.
  compare('expected_close_date', '>=', filter.expectedCloseFrom);
  compare('expected_close_date', '<=', filter.expectedCloseTo);

  const { rows, total } = await rowsAndCount<Row>(pageDatabase(db, counts, given, OPPORTUNITY_PAGES_SERVED), {
    table: 'read_opportunities',
    columns: '*',
    filter: { conditions, params },
    cursor: after === undefined ? undefined : openedAtCursor(after),
    orderBy: 'opened_at DESC, id DESC',
    limit: first + 1,
  }, counts);
  const nodes = rows.slice(0, first).map(fromRow);
  const cursors = nodes.map((node) => encodeCursor([node.openedAt, node.id]));
  return {
    nodes,
    totalCount: total,
    hasNextPage: rows.length > first,
    endCursor: cursors.at(-1),
    cursors,
  };
};

/** Opportunities opened before a cursor's: in (opened_at, id) order, newest first. */
const openedAtCursor = (after: string): Conditions => {
  const [openedAt, id] = decodeCursor(after, ['string', 'string']);
  return { conditions: ['(opened_at < ? OR (opened_at = ? AND id < ?))'], params: [openedAt, openedAt, id] };
};

/** Every opportunity of an account, open or closed, newest opened first. */
export const opportunitiesOfAccount = async (db: SqlDatabase, accountId: string): Promise<OpportunityView[]> => {
  const rows = await db.all<Row>(
    'SELECT * FROM read_opportunities WHERE account_id = ? ORDER BY opened_at DESC, id DESC',
    [accountId],
  );
  return rows.map(fromRow);
};

export interface PipelineSummaryFilter {
  ownerId?: string;
  accountId?: string;
  /** The currency `amount` and `weightedAmount` are reported in; the pipeline's by default. */
  currency?: string;
}

/**
 * Open opportunities by stage: count, amount and amount weighted by each opportunity's own
 * probability (which may override its stage's default). Sums are exact and kept per currency,
 * since amounts in different currencies cannot be added without exchange rates.
 */
export const pipelineSummary = async (
  db: SqlDatabase,
  pipeline: Pipeline,
  filter: PipelineSummaryFilter = {},
): Promise<PipelineSummary> => {
  const conditions = ["status = 'OPEN'"];
  const params: SqlValue[] = [];
  for (const [column, value] of [['owner_id', filter.ownerId], ['account_id', filter.accountId]] as const) {
    if (value === undefined) continue;
    conditions.push(`${column} = ?`);
    params.push(value);
  }
  const rows = await db.all<PipelineRow>(
    `SELECT stage, amount, currency, probability FROM read_opportunities ${whereClause(conditions)}`,
    params,
  );
  return summarisePipeline(rows, pipeline, filter.currency);
};


const fromRow = (row: Row): OpportunityView => ({
  id: row.id as string,
  revision: Number(row.revision),
  status: row.status as OpportunityStatus,
  accountId: row.account_id as string,
  contactId: row.contact_id as string | null,
  name: row.name as string,
  amount: row.amount === null ? null : { amount: row.amount as string, currency: row.currency as string },
  expectedCloseDate: row.expected_close_date as string | null,
  stage: row.stage as string,
  probability: Number(row.probability),
  ownerId: row.owner_id as string | null,
  fromLeadId: row.from_lead_id as string | null,
  openedAt: row.opened_at as string,
  openedBy: row.opened_by as string,
  updatedAt: row.updated_at as string,
  stageEnteredAt: row.stage_entered_at as string,
  closedAt: row.closed_at as string | null,
  closeNotes: row.close_notes as string | null,
  lossReason: row.loss_reason as string | null,
  competitor: row.competitor as string | null,
  reopenedAt: row.reopened_at as string | null,
  reopenReason: row.reopen_reason as string | null,
  personalDataErased: Number(row.personal_data_erased) === 1,
});

/** The ids of opportunities about these people: opened for one of the contacts, or from one of the leads. */
export const opportunityIdsOfPeople = async (
  db: SqlDatabase,
  people: { contactIds: readonly string[]; leadIds: readonly string[] },
): Promise<string[]> => {
  const ids = [...people.contactIds, ...people.leadIds];
  if (ids.length === 0) return [];
  const rows = await db.all<{ id: string }>(
    `SELECT id FROM read_opportunities WHERE contact_id IN (${placeholders(people.contactIds)}) OR from_lead_id IN (${placeholders(people.leadIds)}) ORDER BY id`,
    ids,
  );
  return rows.map((row) => row.id);
};
