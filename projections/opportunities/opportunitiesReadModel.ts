/**
 * The opportunities read model: one row per opportunity in `read_opportunities`, its quotes,
 * activities and the stages it went through (with the business time it entered and left each,
 * from the events' occurredAt), plus the pipeline report. Money stays decimal text in the rows
 * and is summed in BigInt (`src/opportunities/money.ts`), never by SQL SUM, which would use
 * floats on text.
 */
import { ValidationError } from '../../src/core/errors';
import type { RecordedEvent } from '../../src/core/eventStore';
import type { Money } from '../../src/leads/lead';
import type { ActivityKind, OpportunityEvent, OpportunityStatus, QuoteStatus } from '../../src/opportunities/events';
import { fromUnits, toUnits, weightedUnits } from '../../src/opportunities/money';
import { OPPORTUNITY_EVENT_TYPES } from '../../src/opportunities/opportunity';
import type { Pipeline } from '../../src/opportunities/pipeline';
import type { Projection } from '../projection';
import type { SqlDatabase, SqlValue } from '../sqlDatabase';

export interface OpportunityView {
  id: string;
  /** Stream revision of the last event applied: the expected revision for the next command. */
  revision: number;
  status: OpportunityStatus;
  accountId: string;
  contactId: string | null;
  name: string;
  /** The final amount once won. */
  amount: Money | null;
  /** YYYY-MM-DD */
  expectedCloseDate: string | null;
  stage: string;
  probability: number;
  ownerId: string | null;
  fromLeadId: string | null;
  /** Business times (the events' occurredAt), as UTC ISO-8601. */
  openedAt: string;
  openedBy: string;
  updatedAt: string;
  stageEnteredAt: string;
  closedAt: string | null;
  closeNotes: string | null;
  lossReason: string | null;
  competitor: string | null;
  reopenedAt: string | null;
  reopenReason: string | null;
}

export interface QuoteView {
  id: string;
  opportunityId: string;
  amount: Money;
  validUntil: string | null;
  description: string | null;
  status: QuoteStatus;
  addedAt: string;
  addedBy: string;
  statusChangedAt: string;
}

export interface ActivityView {
  id: string;
  opportunityId: string;
  kind: ActivityKind;
  subject: string;
  dueAt: string | null;
  notes: string | null;
  done: boolean;
  completedAt: string | null;
  completionNotes: string | null;
  scheduledAt: string;
  scheduledBy: string;
}

/** One stay at a stage; a close ends the stay, a reopen starts a new one. */
export interface StageVisitView {
  stage: string;
  probability: number;
  enteredAt: string;
  /** Null while the opportunity is open at this stage. */
  leftAt: string | null;
}

const CREATE_TABLES = `
  CREATE TABLE IF NOT EXISTS read_opportunities (
    id TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    status TEXT NOT NULL,
    account_id TEXT NOT NULL,
    contact_id TEXT,
    name TEXT NOT NULL,
    amount TEXT,
    currency TEXT,
    expected_close_date TEXT,
    stage TEXT NOT NULL,
    probability INTEGER NOT NULL,
    owner_id TEXT,
    from_lead_id TEXT,
    opened_at TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    stage_entered_at TEXT NOT NULL,
    closed_at TEXT,
    close_notes TEXT,
    loss_reason TEXT,
    competitor TEXT,
    reopened_at TEXT,
    reopen_reason TEXT
  );
  CREATE INDEX IF NOT EXISTS read_opportunities_by_open ON read_opportunities (opened_at, id);
  CREATE INDEX IF NOT EXISTS read_opportunities_by_status ON read_opportunities (status, stage);
  CREATE INDEX IF NOT EXISTS read_opportunities_by_account ON read_opportunities (account_id, opened_at);
  CREATE INDEX IF NOT EXISTS read_opportunities_by_owner ON read_opportunities (owner_id, opened_at);
  CREATE TABLE IF NOT EXISTS read_opportunity_quotes (
    opportunity_id TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    valid_until TEXT,
    description TEXT,
    status TEXT NOT NULL,
    added_at TEXT NOT NULL,
    added_by TEXT NOT NULL,
    status_changed_at TEXT NOT NULL,
    PRIMARY KEY (opportunity_id, id)
  );
  CREATE TABLE IF NOT EXISTS read_opportunity_activities (
    opportunity_id TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    due_at TEXT,
    notes TEXT,
    done INTEGER NOT NULL,
    completed_at TEXT,
    completion_notes TEXT,
    scheduled_at TEXT NOT NULL,
    scheduled_by TEXT NOT NULL,
    PRIMARY KEY (opportunity_id, id)
  );
  CREATE TABLE IF NOT EXISTS read_opportunity_stage_history (
    opportunity_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    stage TEXT NOT NULL,
    probability INTEGER NOT NULL,
    entered_at TEXT NOT NULL,
    left_at TEXT,
    PRIMARY KEY (opportunity_id, seq)
  );`;

const TABLES = [
  'read_opportunities',
  'read_opportunity_quotes',
  'read_opportunity_activities',
  'read_opportunity_stage_history',
];

type RecordedOpportunityEvent = OpportunityEvent & Pick<RecordedEvent, 'revision' | 'metadata'>;

export const opportunitiesProjection: Projection = {
  name: 'opportunities',
  version: 1,
  canHandle: OPPORTUNITY_EVENT_TYPES,
  setup: (db) => db.exec(CREATE_TABLES),
  reset: (db) => db.exec(TABLES.map((table) => `DROP TABLE IF EXISTS ${table};`).join('\n')),
  async apply(tx, recorded) {
    const event = recorded as RecordedOpportunityEvent;
    const id = event.data.opportunityId;
    const current = await tx.get<{ revision: number }>('SELECT revision FROM read_opportunities WHERE id = ?', [id]);
    // Every event moves the row's revision, so this one check keeps the child tables idempotent too.
    if (current !== undefined && Number(current.revision) >= event.revision) return;
    if (current === undefined && event.type !== 'OpportunityOpened') {
      throw new Error(`Opportunity ${id} has a ${event.type} but was never opened`);
    }
    const at = new Date(event.metadata.occurredAt).toISOString();
    await applyEvent(tx, event, at, event.metadata.actor);
    await tx.run('UPDATE read_opportunities SET revision = ?, updated_at = ? WHERE id = ?', [event.revision, at, id]);
  },
};

const applyEvent = async (tx: SqlDatabase, event: RecordedOpportunityEvent, at: string, actor: string) => {
  const id = event.data.opportunityId;
  const enterStage = (stage: string, probability: number) =>
    tx.run(
      `INSERT INTO read_opportunity_stage_history (opportunity_id, seq, stage, probability, entered_at)
       VALUES (?, ?, ?, ?, ?)`,
      [id, event.revision, stage, probability, at],
    );
  const leaveStage = () =>
    tx.run('UPDATE read_opportunity_stage_history SET left_at = ? WHERE opportunity_id = ? AND left_at IS NULL', [at, id]);

  switch (event.type) {
    case 'OpportunityOpened': {
      const d = event.data;
      await tx.run(
        `INSERT INTO read_opportunities (id, revision, status, account_id, contact_id, name, amount, currency,
           expected_close_date, stage, probability, owner_id, from_lead_id, opened_at, opened_by, updated_at,
           stage_entered_at)
         VALUES (?, ?, 'OPEN', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [id, event.revision, d.accountId, d.contactId ?? null, d.name, d.amount?.amount ?? null, d.amount?.currency ?? null,
          d.expectedCloseDate ?? null, d.stage, d.probability, d.ownerId ?? null, d.fromLeadId ?? null, at, actor, at, at],
      );
      await enterStage(d.stage, d.probability);
      break;
    }
    case 'OpportunityStageChanged':
      await tx.run('UPDATE read_opportunities SET stage = ?, probability = ?, stage_entered_at = ? WHERE id = ?', [
        event.data.toStage,
        event.data.probability,
        at,
        id,
      ]);
      await leaveStage();
      await enterStage(event.data.toStage, event.data.probability);
      break;
    case 'OpportunityDetailsUpdated': {
      const d = event.data;
      await tx.run(
        `UPDATE read_opportunities SET name = COALESCE(?, name), amount = COALESCE(?, amount),
           currency = COALESCE(?, currency), expected_close_date = COALESCE(?, expected_close_date),
           probability = COALESCE(?, probability), owner_id = COALESCE(?, owner_id) WHERE id = ?`,
        [d.name ?? null, d.amount?.amount ?? null, d.amount?.currency ?? null, d.expectedCloseDate ?? null,
          d.probability ?? null, d.ownerId ?? null, id],
      );
      break;
    }
    case 'QuoteAdded': {
      const d = event.data;
      await tx.run(
        `INSERT INTO read_opportunity_quotes (opportunity_id, id, seq, amount, currency, valid_until, description, status,
           added_at, added_by, status_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'DRAFT', ?, ?, ?)`,
        [id, d.quoteId, event.revision, d.amount.amount, d.amount.currency, d.validUntil ?? null, d.description ?? null,
          at, actor, at],
      );
      break;
    }
    case 'QuoteStatusChanged':
      await tx.run(
        'UPDATE read_opportunity_quotes SET status = ?, status_changed_at = ? WHERE opportunity_id = ? AND id = ?',
        [event.data.to, at, id, event.data.quoteId],
      );
      break;
    case 'ActivityScheduled': {
      const d = event.data;
      await tx.run(
        `INSERT INTO read_opportunity_activities (opportunity_id, id, seq, kind, subject, due_at, notes, done, scheduled_at,
           scheduled_by) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
        [id, d.activityId, event.revision, d.kind, d.subject, d.dueAt ? new Date(d.dueAt).toISOString() : null,
          d.notes ?? null, at, actor],
      );
      break;
    }
    case 'ActivityCompleted':
      await tx.run(
        `UPDATE read_opportunity_activities SET done = 1, completed_at = ?, completion_notes = ?
         WHERE opportunity_id = ? AND id = ?`,
        [at, event.data.notes ?? null, id, event.data.activityId],
      );
      break;
    case 'ActivityReopened':
      await tx.run(
        `UPDATE read_opportunity_activities SET done = 0, completed_at = NULL, completion_notes = NULL
         WHERE opportunity_id = ? AND id = ?`,
        [id, event.data.activityId],
      );
      break;
    case 'OpportunityWon':
    case 'OpportunityLost': {
      const lost = event.type === 'OpportunityLost' ? event.data : undefined;
      const amount = event.data.amount;
      await tx.run(
        `UPDATE read_opportunities SET status = ?, amount = COALESCE(?, amount), currency = COALESCE(?, currency),
           closed_at = ?, close_notes = ?, loss_reason = ?, competitor = ? WHERE id = ?`,
        [lost ? 'LOST' : 'WON', amount?.amount ?? null, amount?.currency ?? null, at, event.data.notes ?? null,
          lost?.reason ?? null, lost?.competitor ?? null, id],
      );
      await leaveStage();
      break;
    }
    case 'OpportunityReopened': {
      const row = await tx.get<{ probability: number }>('SELECT probability FROM read_opportunities WHERE id = ?', [id]);
      await tx.run(
        `UPDATE read_opportunities SET status = 'OPEN', closed_at = NULL, close_notes = NULL, loss_reason = NULL,
           competitor = NULL, reopened_at = ?, reopen_reason = ?, stage = ?, stage_entered_at = ? WHERE id = ?`,
        [at, event.data.reason, event.data.stage, at, id],
      );
      await enterStage(event.data.stage, Number(row!.probability));
      break;
    }
  }
};

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

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
    subject: row.subject as string,
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
}

export interface OpportunityPage {
  nodes: OpportunityView[];
  totalCount: number;
  hasNextPage: boolean;
  endCursor?: string;
  /** One per node, in the same order. */
  cursors: string[];
}

const DEFAULT_PAGE_SIZE = 50;

/** Newest opened first (ties broken by id), so pages stay stable as opportunities arrive. */
export const findOpportunities = async (
  db: SqlDatabase,
  options: { filter?: OpportunityFilter; first?: number; after?: string } = {},
): Promise<OpportunityPage> => {
  const { filter = {}, first = DEFAULT_PAGE_SIZE, after } = options;
  if (!Number.isInteger(first) || first < 0) {
    throw new ValidationError([{ field: 'first', message: 'must be a whole number, 0 or more' }]);
  }
  const conditions: string[] = [];
  const params: SqlValue[] = [];
  const compare = (column: string, operator: '=' | '>=' | '<=', value: string | undefined) => {
    if (value === undefined) return;
    conditions.push(`${column} ${operator} ?`);
    params.push(value);
  };
  compare('status', '=', filter.status);
  compare('stage', '=', filter.stage);
  compare('owner_id', '=', filter.ownerId);
  compare('account_id', '=', filter.accountId);
  compare('contact_id', '=', filter.contactId);
  // ISO dates compare as text.
  compare('expected_close_date', '>=', filter.expectedCloseFrom);
  compare('expected_close_date', '<=', filter.expectedCloseTo);

  const total = await db.get<{ total: number }>(
    `SELECT CAST(COUNT(*) AS INTEGER) AS total FROM read_opportunities ${whereClause(conditions)}`,
    params,
  );
  if (after !== undefined) {
    const { openedAt, id } = decodeCursor(after);
    conditions.push('(opened_at < ? OR (opened_at = ? AND id < ?))');
    params.push(openedAt, openedAt, id);
  }
  const rows = await db.all<Row>(
    `SELECT * FROM read_opportunities ${whereClause(conditions)} ORDER BY opened_at DESC, id DESC LIMIT ?`,
    [...params, first + 1],
  );
  const nodes = rows.slice(0, first).map(fromRow);
  const cursors = nodes.map(encodeCursor);
  return {
    nodes,
    totalCount: Number(total?.total ?? 0),
    hasNextPage: rows.length > first,
    endCursor: cursors.at(-1),
    cursors,
  };
};

/** Every opportunity of an account, open or closed, newest opened first. */
export const opportunitiesOfAccount = async (db: SqlDatabase, accountId: string): Promise<OpportunityView[]> => {
  const rows = await db.all<Row>(
    'SELECT * FROM read_opportunities WHERE account_id = ? ORDER BY opened_at DESC, id DESC',
    [accountId],
  );
  return rows.map(fromRow);
};

export interface CurrencyTotal {
  currency: string;
  /** Opportunities with an amount in this currency. */
  count: number;
  amount: string;
  weightedAmount: string;
}

export interface PipelineTotals {
  /** Every open opportunity counted, with or without an amount. */
  count: number;
  /** In the report's currency: opportunities in other currencies are in `byCurrency` only. */
  amount: Money;
  weightedAmount: Money;
  /** One entry per currency present, alphabetically. */
  byCurrency: CurrencyTotal[];
}

export interface PipelineStageSummary extends PipelineTotals {
  stage: string;
  label: string;
  order: number;
  /** The stage's default; null for a stage no longer in the pipeline that still holds opportunities. */
  probability: number | null;
}

export interface PipelineSummary extends PipelineTotals {
  currency: string;
  /** Every pipeline stage in order, empty ones too; stages since removed from the pipeline last. */
  stages: PipelineStageSummary[];
}

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

/** An open opportunity as the pipeline report counts it. */
export interface PipelineRow {
  stage: string;
  amount: string | null;
  currency: string | null;
  probability: number;
  /** How many opportunities the row sums up (their amounts added, all at this probability); 1 when absent. */
  count?: number;
}

/** The pipeline report of any set of open opportunities (the KPIs cut it by source, campaign...). */
export const summarisePipeline = (
  rows: readonly PipelineRow[],
  pipeline: Pipeline,
  currency: string = pipeline.reportingCurrency,
): PipelineSummary => {
  const lastOrder = pipeline.stages.at(-1)?.order ?? 0;
  const removedStages = [...new Set(rows.map((row) => row.stage).filter((stage) => !pipeline.has(stage)))].sort();
  const stages = [
    ...pipeline.stages.map((stage) => ({ ...stage, probability: stage.probability as number | null })),
    ...removedStages.map((code, index) => ({ code, label: code, order: lastOrder + index + 1, probability: null })),
  ].map((stage) => ({
    stage: stage.code,
    label: stage.label,
    order: stage.order,
    probability: stage.probability,
    ...totalsOf(rows.filter((row) => row.stage === stage.code), currency),
  }));
  return { currency, stages, ...totalsOf(rows, currency) };
};

const totalsOf = (
  rows: ReadonlyArray<{ amount: string | null; currency: string | null; probability: number; count?: number }>,
  currency: string,
): PipelineTotals => {
  const sums = new Map<string, { count: number; amount: bigint; weighted: bigint }>();
  for (const row of rows) {
    if (row.amount === null || row.currency === null) continue;
    const units = toUnits(row.amount);
    const sum = sums.get(row.currency) ?? { count: 0, amount: 0n, weighted: 0n };
    sums.set(row.currency, {
      count: sum.count + Number(row.count ?? 1),
      amount: sum.amount + units,
      weighted: sum.weighted + weightedUnits(units, Number(row.probability)),
    });
  }
  const inCurrency = sums.get(currency) ?? { amount: 0n, weighted: 0n };
  return {
    count: rows.reduce((total, row) => total + Number(row.count ?? 1), 0),
    amount: { amount: fromUnits(inCurrency.amount), currency },
    weightedAmount: { amount: fromUnits(inCurrency.weighted), currency },
    byCurrency: [...sums.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([code, sum]) => ({
        currency: code,
        count: sum.count,
        amount: fromUnits(sum.amount),
        weightedAmount: fromUnits(sum.weighted),
      })),
  };
};

const whereClause = (conditions: readonly string[]) =>
  conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;

const encodeCursor = (opportunity: Pick<OpportunityView, 'openedAt' | 'id'>): string =>
  Buffer.from(JSON.stringify([opportunity.openedAt, opportunity.id])).toString('base64url');

const decodeCursor = (cursor: string): { openedAt: string; id: string } => {
  try {
    const [openedAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as unknown[];
    if (typeof openedAt === 'string' && typeof id === 'string') return { openedAt, id };
  } catch {
    // Reported below, as for any cursor that is not one of ours.
  }
  throw new ValidationError([{ field: 'after', message: 'is not a cursor of this list' }]);
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
});
