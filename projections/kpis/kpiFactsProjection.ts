/**
 * The fact tables the KPIs are computed from, so that no KPI query reads the event log:
 *
 * - `kpi_lead_cycles`: one row per lead cycle (capture, or a recycle), with its source,
 *   campaign, owner and origin (a new lead or a re-engaged contact), and when it was first contacted (reached), reached MQL and SQL, was disqualified (why) or converted;
 * - `kpi_opportunities`: one row per opportunity, with the lead, source, campaign and origin of the lead
 *   cycle it came from, its owner, current stage, probability and amount, and its latest close
 *   (outcome, loss reason, competitor, sales-cycle length);
 * - `kpi_stage_stays`: each stay of an opportunity at a stage, with its duration once left.
 *
 * Each table holds the current version of its rows, and its `_replaced` twin the versions a
 * later fact replaced, so that the KPIs can also be served as they were known at a past time
 * (`knownAt`): a version is known from the `recordedAt` of the event that made it (`known_from`)
 * to that of the event that replaced it (`known_to`, in the twin only). A row is only changed by
 * the events of its own stream, whose `recordedAt` never goes backwards (src/core/eventTimes.ts):
 * the versions known at a time are therefore exactly the rows a projection of the events
 * recorded by then would hold. Keeping the current rows apart leaves the KPIs of now as fast
 * as they were; a version replaced at the instant it was made (two events of one command) was
 * never known at any time, and is not kept.
 *
 * Times are business times (occurredAt) as UTC ISO-8601 text; each fact also carries its month
 * (YYYY-MM) so that grouping by month is plain SQL on any database. Amounts are split into two
 * integers (see `splitAmount`) that SQL sums exactly (the queries split the whole part once more
 * as they sum it: `SUMMED_AMOUNT` in kpiQueries.ts). The meanings are in src/domain/insights/definitions.ts.
 */
import type { RecordedEvent } from '../../src/core/eventStore';
import { durationMs, instant, monthOf, originOfCapture, reachesLead, splitAmount, type KpiAttribution, type LeadOrigin } from '../../src/domain/insights/definitions';
import type { LeadEvent } from '../../src/domain/leads/lead';
import type { Money } from '../../src/domain/values';
import type { OpportunityEvent } from '../../src/domain/opportunities/events';
import type { Projection } from '../projection';
import type { SqlDatabase, SqlValue } from '../sqlDatabase';

/** Where the versions of a fact table's rows that a later fact replaced are kept. */
export const replacedTable = (table: string): string => `${table}_replaced`;

/**
 * Each `_replaced` twin is made from its table, so that it has the same columns in the same
 * order (a column added to a fact table is in its twin too), plus `known_to`. Its indexes
 * serve the KPIs as known at a time, which filter each table by its period first.
 */
const REPLACED_TABLES = `
  CREATE TABLE IF NOT EXISTS kpi_lead_cycles_replaced AS
    SELECT *, CAST(NULL AS TEXT) AS known_to FROM kpi_lead_cycles WHERE 1 = 0;
  CREATE INDEX IF NOT EXISTS kpi_lead_cycles_replaced_by_capture ON kpi_lead_cycles_replaced (captured_at);
  CREATE INDEX IF NOT EXISTS kpi_lead_cycles_replaced_by_disqualification ON kpi_lead_cycles_replaced (disqualified_at);
  CREATE UNIQUE INDEX IF NOT EXISTS kpi_lead_cycles_replaced_by_key ON kpi_lead_cycles_replaced (lead_id, cycle, known_from);
  CREATE TABLE IF NOT EXISTS kpi_opportunities_replaced AS
    SELECT *, CAST(NULL AS TEXT) AS known_to FROM kpi_opportunities WHERE 1 = 0;
  CREATE INDEX IF NOT EXISTS kpi_opportunities_replaced_by_close ON kpi_opportunities_replaced (closed_at);
  CREATE INDEX IF NOT EXISTS kpi_opportunities_replaced_by_opening ON kpi_opportunities_replaced (opened_at);
  CREATE UNIQUE INDEX IF NOT EXISTS kpi_opportunities_replaced_by_key ON kpi_opportunities_replaced (opportunity_id, known_from);
  CREATE TABLE IF NOT EXISTS kpi_stage_stays_replaced AS
    SELECT *, CAST(NULL AS TEXT) AS known_to FROM kpi_stage_stays WHERE 1 = 0;
  CREATE INDEX IF NOT EXISTS kpi_stage_stays_replaced_by_leaving ON kpi_stage_stays_replaced (left_at);
  CREATE UNIQUE INDEX IF NOT EXISTS kpi_stage_stays_replaced_by_key ON kpi_stage_stays_replaced (opportunity_id, seq, known_from);`;

const CREATE_TABLES = `
  CREATE TABLE IF NOT EXISTS kpi_lead_cycles (
    lead_id TEXT NOT NULL,
    cycle INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    source TEXT NOT NULL,
    campaign TEXT,
    owner_id TEXT,
    origin TEXT NOT NULL,
    captured_at TEXT NOT NULL,
    captured_month TEXT NOT NULL,
    contacted_at TEXT,
    mql_at TEXT,
    sql_at TEXT,
    disqualified_at TEXT,
    disqualified_month TEXT,
    disqualification_reason TEXT,
    converted_at TEXT,
    opportunity_id TEXT,
    known_from TEXT NOT NULL,
    PRIMARY KEY (lead_id, cycle)
  );
  CREATE INDEX IF NOT EXISTS kpi_lead_cycles_by_capture ON kpi_lead_cycles (captured_at);
  CREATE INDEX IF NOT EXISTS kpi_lead_cycles_by_disqualification ON kpi_lead_cycles (disqualified_at);
  CREATE INDEX IF NOT EXISTS kpi_lead_cycles_by_opportunity ON kpi_lead_cycles (opportunity_id);
  CREATE TABLE IF NOT EXISTS kpi_opportunities (
    opportunity_id TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    lead_id TEXT,
    source TEXT,
    campaign TEXT,
    owner_id TEXT,
    origin TEXT,
    opened_at TEXT NOT NULL,
    opened_month TEXT NOT NULL,
    status TEXT NOT NULL,
    stage TEXT NOT NULL,
    probability INTEGER NOT NULL,
    amount TEXT,
    currency TEXT,
    amount_whole BIGINT,
    amount_fraction BIGINT,
    closed_at TEXT,
    closed_month TEXT,
    cycle_ms BIGINT,
    loss_reason TEXT,
    competitor TEXT,
    known_from TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS kpi_opportunities_by_close ON kpi_opportunities (closed_at);
  CREATE INDEX IF NOT EXISTS kpi_opportunities_by_status ON kpi_opportunities (status, opened_at);
  CREATE TABLE IF NOT EXISTS kpi_stage_stays (
    opportunity_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    stage TEXT NOT NULL,
    entered_at TEXT NOT NULL,
    left_at TEXT,
    left_month TEXT,
    duration_ms BIGINT,
    known_from TEXT NOT NULL,
    PRIMARY KEY (opportunity_id, seq)
  );
  CREATE INDEX IF NOT EXISTS kpi_stage_stays_by_leaving ON kpi_stage_stays (left_at);
  ${REPLACED_TABLES}`;

const TABLES = ['kpi_lead_cycles', 'kpi_opportunities', 'kpi_stage_stays'];
const ALL_TABLES = [...TABLES, ...TABLES.map(replacedTable)];

const LEAD_TYPES = [
  'LeadCaptured',
  'LeadDetailsUpdated',
  'LeadAssigned',
  'LeadContactLogged',
  'LeadQualified',
  'LeadDisqualified',
  'LeadRecycled',
  'LeadConverted',
] as const satisfies ReadonlyArray<LeadEvent['type']>;

const OPPORTUNITY_TYPES = [
  'OpportunityOpened',
  'OpportunityStageChanged',
  'OpportunityDetailsUpdated',
  'OpportunityWon',
  'OpportunityLost',
  'OpportunityReopened',
] as const satisfies ReadonlyArray<OpportunityEvent['type']>;

type Recorded<E> = E & Pick<RecordedEvent, 'revision' | 'metadata'>;

/**
 * Before an event changes a row (`where` picks it): the row as it was is kept in the table's
 * `_replaced` twin, known until this event's recording, unless it was made at that same instant.
 */
const keepReplaced = async (
  tx: SqlDatabase,
  table: string,
  where: string,
  key: readonly SqlValue[],
  knownFrom: string,
  recordedAt: string,
): Promise<void> => {
  if (knownFrom >= recordedAt) return;
  await tx.run(`INSERT INTO ${replacedTable(table)} SELECT *, CAST(? AS TEXT) FROM ${table} WHERE ${where}`, [
    recordedAt,
    ...key,
  ]);
};

export const kpiFactsProjection: Projection = {
  name: 'kpi-facts',
  // 2: contacted_at (the first reach of the cycle). 3: versions along recorded time (known_from, `_replaced`).
  // 4: origin (NEW or RE_ENGAGED).
  version: 4,
  rebuildsInBulk: true,
  // Facts are found by their keys, and a lead cycle by its opportunity (kept); these serve the KPIs' periods.
  deferredIndexes: [
    'kpi_lead_cycles_by_capture',
    'kpi_lead_cycles_by_disqualification',
    'kpi_opportunities_by_close',
    'kpi_opportunities_by_status',
    'kpi_stage_stays_by_leaving',
    'kpi_lead_cycles_replaced_by_capture',
    'kpi_lead_cycles_replaced_by_disqualification',
    'kpi_opportunities_replaced_by_close',
    'kpi_opportunities_replaced_by_opening',
    'kpi_stage_stays_replaced_by_leaving',
  ],
  canHandle: [...LEAD_TYPES, ...OPPORTUNITY_TYPES],
  setup: (db) => db.exec(CREATE_TABLES),
  reset: (db) => db.exec(ALL_TABLES.map((table) => `DROP TABLE IF EXISTS ${table};`).join('\n')),
  apply: (tx, event) =>
    event.type.startsWith('Lead')
      ? applyLeadEvent(tx, event as Recorded<LeadEvent>)
      : applyOpportunityEvent(tx, event as Recorded<OpportunityEvent>),
};

// ---------------------------------------------------------------------------------------------
// Lead cycles
// ---------------------------------------------------------------------------------------------

interface CurrentCycle {
  cycle: number;
  revision: number;
  campaign: string | null;
  owner_id: string | null;
  origin: string;
  known_from: string;
}

interface NewCycle extends KpiAttribution {
  leadId: string;
  cycle: number;
  revision: number;
  source: string;
  at: string;
  recordedAt: string;
}

const insertCycle = (tx: SqlDatabase, values: NewCycle) =>
  tx.run(
    `INSERT INTO kpi_lead_cycles (lead_id, cycle, revision, source, campaign, owner_id, origin, captured_at, captured_month, known_from)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [values.leadId, values.cycle, values.revision, values.source, values.campaign, values.ownerId, values.origin,
      values.at, monthOf(values.at), values.recordedAt],
  );

const applyLeadEvent = async (tx: SqlDatabase, event: Recorded<LeadEvent>): Promise<void> => {
  const leadId = event.data.leadId;
  const at = instant(event.metadata.occurredAt);
  const recordedAt = instant(event.metadata.recordedAt);
  const current = await tx.get<CurrentCycle>(
    'SELECT cycle, revision, campaign, owner_id, origin, known_from FROM kpi_lead_cycles WHERE lead_id = ? ORDER BY cycle DESC LIMIT 1',
    [leadId],
  );
  if (current !== undefined && Number(current.revision) >= event.revision) return;
  if (event.type === 'LeadCaptured') {
    const d = event.data;
    await insertCycle(tx, {
      leadId,
      cycle: 1,
      revision: event.revision,
      source: d.source,
      campaign: d.campaign ?? null,
      ownerId: d.ownerId ?? null,
      origin: originOfCapture(d),
      at,
      recordedAt,
    });
    return;
  }
  if (current === undefined) throw new Error(`Lead ${leadId} has a ${event.type} but was never captured`);
  if (event.type === 'LeadRecycled') {
    const d = event.data;
    await insertCycle(tx, {
      leadId,
      cycle: d.cycle,
      revision: event.revision,
      source: d.source,
      campaign: d.campaign ?? current.campaign,
      ownerId: current.owner_id,
      // The same lead's next cycle: its origin is its capture's.
      origin: current.origin as LeadOrigin,
      at,
      recordedAt,
    });
    return;
  }
  const update = async (assignments: string, params: readonly SqlValue[]) => {
    const key = [leadId, current.cycle];
    await keepReplaced(tx, 'kpi_lead_cycles', 'lead_id = ? AND cycle = ?', key, current.known_from, recordedAt);
    await tx.run(`UPDATE kpi_lead_cycles SET revision = ?, known_from = ?, ${assignments} WHERE lead_id = ? AND cycle = ?`, [
      event.revision,
      recordedAt,
      ...params,
      ...key,
    ]);
  };
  switch (event.type) {
    case 'LeadDetailsUpdated':
      await update('campaign = COALESCE(?, campaign)', [event.data.campaign ?? null]);
      break;
    case 'LeadAssigned':
      await update('owner_id = ?', [event.data.ownerId]);
      break;
    case 'LeadContactLogged':
      if (reachesLead(event.data.outcome)) await update('contacted_at = COALESCE(contacted_at, ?)', [at]);
      break;
    case 'LeadQualified':
      await update(
        `mql_at = COALESCE(mql_at, ?), sql_at = CASE WHEN ? = 'SQL' THEN COALESCE(sql_at, ?) ELSE sql_at END`,
        [at, event.data.rank, at],
      );
      break;
    case 'LeadDisqualified':
      await update('disqualified_at = ?, disqualified_month = ?, disqualification_reason = ?', [
        at,
        monthOf(at),
        event.data.reason,
      ]);
      break;
    case 'LeadConverted':
      await update('converted_at = ?, opportunity_id = ?', [at, event.data.opportunityId ?? null]);
      break;
  }
};

// ---------------------------------------------------------------------------------------------
// Opportunities and their stays at each stage
// ---------------------------------------------------------------------------------------------

const amountColumns = (amount: Money | undefined): SqlValue[] => {
  if (amount === undefined) return [null, null, null, null];
  const { whole, fraction } = splitAmount(amount.amount);
  return [amount.amount, amount.currency, whole, fraction];
};

const applyOpportunityEvent = async (tx: SqlDatabase, event: Recorded<OpportunityEvent>): Promise<void> => {
  const id = event.data.opportunityId;
  const at = instant(event.metadata.occurredAt);
  const recordedAt = instant(event.metadata.recordedAt);
  const current = await tx.get<{ revision: number; opened_at: string; known_from: string }>(
    'SELECT revision, opened_at, known_from FROM kpi_opportunities WHERE opportunity_id = ?',
    [id],
  );
  if (current !== undefined && Number(current.revision) >= event.revision) return;
  if (current === undefined && event.type !== 'OpportunityOpened') {
    throw new Error(`Opportunity ${id} has a ${event.type} but was never opened`);
  }
  const update = async (assignments: string, params: readonly SqlValue[]) => {
    await keepReplaced(tx, 'kpi_opportunities', 'opportunity_id = ?', [id], current!.known_from, recordedAt);
    await tx.run(`UPDATE kpi_opportunities SET revision = ?, known_from = ?, ${assignments} WHERE opportunity_id = ?`, [
      event.revision,
      recordedAt,
      ...params,
      id,
    ]);
  };
  const enterStage = (stage: string) =>
    tx.run('INSERT INTO kpi_stage_stays (opportunity_id, seq, stage, entered_at, known_from) VALUES (?, ?, ?, ?, ?)', [
      id,
      event.revision,
      stage,
      at,
      recordedAt,
    ]);
  const leaveStage = async () => {
    const stay = await tx.get<{ seq: number; entered_at: string; known_from: string }>(
      'SELECT seq, entered_at, known_from FROM kpi_stage_stays WHERE opportunity_id = ? AND left_at IS NULL',
      [id],
    );
    if (stay === undefined) return;
    await keepReplaced(tx, 'kpi_stage_stays', 'opportunity_id = ? AND seq = ?', [id, stay.seq], stay.known_from, recordedAt);
    await tx.run(
      'UPDATE kpi_stage_stays SET left_at = ?, left_month = ?, duration_ms = ?, known_from = ? WHERE opportunity_id = ? AND seq = ?',
      [at, monthOf(at), durationMs(stay.entered_at, at), recordedAt, id, stay.seq],
    );
  };

  switch (event.type) {
    case 'OpportunityOpened': {
      const d = event.data;
      // The lead cycle converted into this opportunity, if any, was recorded before it.
      const origin = await tx.get<{ lead_id: string; source: string; campaign: string | null; origin: string }>(
        'SELECT lead_id, source, campaign, origin FROM kpi_lead_cycles WHERE opportunity_id = ?',
        [id],
      );
      await tx.run(
        `INSERT INTO kpi_opportunities (opportunity_id, revision, lead_id, source, campaign, owner_id, origin, opened_at, opened_month,
           status, stage, probability, amount, currency, amount_whole, amount_fraction, known_from)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'OPEN', ?, ?, ?, ?, ?, ?, ?)`,
        [id, event.revision, origin?.lead_id ?? null, origin?.source ?? null, origin?.campaign ?? null, d.ownerId ?? null,
          origin?.origin ?? null, at, monthOf(at), d.stage, d.probability, ...amountColumns(d.amount), recordedAt],
      );
      await enterStage(d.stage);
      return;
    }
    case 'OpportunityStageChanged':
      await update('stage = ?, probability = ?', [event.data.toStage, event.data.probability]);
      await leaveStage();
      await enterStage(event.data.toStage);
      return;
    case 'OpportunityDetailsUpdated': {
      const d = event.data;
      await update(
        `owner_id = COALESCE(?, owner_id), probability = COALESCE(?, probability), amount = COALESCE(?, amount),
           currency = COALESCE(?, currency), amount_whole = COALESCE(?, amount_whole),
           amount_fraction = COALESCE(?, amount_fraction)`,
        [d.ownerId ?? null, d.probability ?? null, ...amountColumns(d.amount)],
      );
      return;
    }
    case 'OpportunityWon':
    case 'OpportunityLost': {
      const lost = event.type === 'OpportunityLost' ? event.data : undefined;
      await update(
        `status = ?, stage = ?, closed_at = ?, closed_month = ?, cycle_ms = ?, loss_reason = ?, competitor = ?,
           amount = COALESCE(?, amount), currency = COALESCE(?, currency), amount_whole = COALESCE(?, amount_whole),
           amount_fraction = COALESCE(?, amount_fraction)`,
        [lost ? 'LOST' : 'WON', event.data.stage, at, monthOf(at), durationMs(current!.opened_at, at),
          lost?.reason ?? null, lost?.competitor ?? null, ...amountColumns(event.data.amount)],
      );
      await leaveStage();
      return;
    }
    case 'OpportunityReopened':
      await update(
        `status = 'OPEN', stage = ?, closed_at = NULL, closed_month = NULL, cycle_ms = NULL, loss_reason = NULL,
           competitor = NULL`,
        [event.data.stage],
      );
      await enterStage(event.data.stage);
      return;
    default:
      return;
  }
};
