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
import type { InMemoryFold, Projection } from '../projection';
import type { SqlDatabase, SqlValue } from '../sqlDatabase';
import {
  contributionsOf,
  CREATE_ROLLUPS,
  GROUP_COLUMNS,
  moveContributions,
  rebuildRollups,
  ROLLUP_TABLES,
} from './kpiRollups';

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
  ${REPLACED_TABLES}
  ${CREATE_ROLLUPS}`;

const TABLES = ['kpi_lead_cycles', 'kpi_opportunities', 'kpi_stage_stays'];
const ALL_TABLES = [...TABLES, ...TABLES.map(replacedTable), ...ROLLUP_TABLES];

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
  // 4: origin (NEW or RE_ENGAGED). 5: the rollups by month and group (kpiRollups.ts). 6: and by month alone.
  version: 6,
  rebuildsInBulk: true,
  rebuildWeight: 13.9,
  readsPersonalData: false,
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
  // The versions replaced are only ever inserted: their keys guard against a version kept twice.
  // Built at the copy, not at each of the 367,000 inserts of a million events (20.9 -> 15.1 s of
  // this projection's share of the rebuild).
  deferredUniqueIndexes: ['kpi_lead_cycles_replaced_by_key', 'kpi_opportunities_replaced_by_key', 'kpi_stage_stays_replaced_by_key'],
  canHandle: [...LEAD_TYPES, ...OPPORTUNITY_TYPES],
  setup: (db) => db.exec(CREATE_TABLES),
  foldInMemory: () => foldKpiFactsInMemory(),
  reset: (db) => db.exec(ALL_TABLES.map((table) => `DROP TABLE IF EXISTS ${table};`).join('\n')),
  apply: (tx, event) => applyEvent(tx, event),
  /**
   * A batch of the runner: captures that follow one another (a load of captures, nearly every
   * batch then) open their cycles in a few statements, their rollups moved once for the lot;
   * every other event as `apply` takes it, in log order. Under a captureLead load on PostgreSQL
   * a capture was three statements here (the cycle, its month's rollup and its group's).
   */
  async applyBatch(tx, events) {
    for (let start = 0; start < events.length; ) {
      let end = start;
      while (end < events.length && events[end]!.type === 'LeadCaptured') end++;
      if (end - start >= 2) {
        await insertCapturedCycles(tx, events.slice(start, end) as Array<Recorded<Extract<LeadEvent, { type: 'LeadCaptured' }>>>);
        start = end;
      } else {
        await applyEvent(tx, events[start]!);
        start++;
      }
    }
  },
};

const applyEvent = (tx: SqlDatabase, event: RecordedEvent): Promise<void> =>
  event.type.startsWith('Lead')
    ? applyLeadEvent(tx, event as Recorded<LeadEvent>)
    : applyOpportunityEvent(tx, event as Recorded<OpportunityEvent>);

// ---------------------------------------------------------------------------------------------
// Lead cycles
// ---------------------------------------------------------------------------------------------

/** A `kpi_lead_cycles` row, whole: what it contributes to the rollups is worked out from all of it. */
interface CurrentCycle extends Record<string, SqlValue> {
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

const CYCLE_INSERT_COLUMNS = 'lead_id, cycle, revision, source, campaign, owner_id, origin, captured_at, captured_month, known_from';
const CYCLE_COLUMN_LIST = CYCLE_INSERT_COLUMNS.split(', ');

/**
 * Inserts the cycle and adds it to the rollups; a cycle already there is left as it is (the event
 * that made it came again).
 */
const insertCycle = async (tx: SqlDatabase, values: NewCycle): Promise<void> => {
  const made = await tx.get<Record<string, SqlValue>>(
    `INSERT INTO kpi_lead_cycles (${CYCLE_INSERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (lead_id, cycle) DO NOTHING RETURNING *`,
    [values.leadId, values.cycle, values.revision, values.source, values.campaign, values.ownerId, values.origin,
      values.at, monthOf(values.at), values.recordedAt],
  );
  if (made !== undefined) await moveContributions(tx, [], contributionsOf('cycle', made));
};

/**
 * As `insertCycle` for each capture, all in one statement on PostgreSQL (`writeRows`), and what
 * the cycles made contribute added to the rollups once, cell by cell. A capture opens its lead's
 * stream, and the runner moves the checkpoint in the transaction that writes the rows, so no
 * cycle of a batch's captures is there already: the rows are not read back (RETURNING), which in
 * a batch that holds its writes would have been an answer to wait for (on SQLite, from the
 * projections' thread; on PostgreSQL, a round trip), and their contributions are worked out from
 * the values written. Were one there after all, the INSERT fails on the table's key, and the
 * runner applies the batch again event by event, where `insertCycle` leaves it as it is.
 */
const insertCapturedCycles = async (tx: SqlDatabase, events: ReadonlyArray<Recorded<Extract<LeadEvent, { type: 'LeadCaptured' }>>>): Promise<void> => {
  const rows = events.map((event): SqlValue[] => {
    const d = event.data;
    const at = instant(event.metadata.occurredAt);
    return [d.leadId, 1, event.revision, d.source, d.campaign ?? null, d.ownerId ?? null, originOfCapture(d), at, monthOf(at),
      instant(event.metadata.recordedAt)];
  });
  await tx.writeRows('kpi_lead_cycles', CYCLE_COLUMN_LIST, rows);
  // The row as written: the columns left out are NULL, which counts as absent, as in a row read back.
  const made = rows.map((row) => Object.fromEntries(CYCLE_COLUMN_LIST.map((column, index) => [column, row[index]!])));
  if (made.length > 0) await moveContributions(tx, [], made.flatMap((cycle) => contributionsOf('cycle', cycle)));
};

const applyLeadEvent = async (tx: SqlDatabase, event: Recorded<LeadEvent>): Promise<void> => {
  const leadId = event.data.leadId;
  const at = instant(event.metadata.occurredAt);
  const recordedAt = instant(event.metadata.recordedAt);
  // A capture opens the lead's stream: its first cycle is inserted unless there (no read first).
  const current =
    event.type === 'LeadCaptured'
      ? undefined
      : await tx.get<CurrentCycle>('SELECT * FROM kpi_lead_cycles WHERE lead_id = ? ORDER BY cycle DESC LIMIT 1', [leadId]);
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
    const updated = await tx.get<Record<string, SqlValue>>(
      `UPDATE kpi_lead_cycles SET revision = ?, known_from = ?, ${assignments} WHERE lead_id = ? AND cycle = ? RETURNING *`,
      [event.revision, recordedAt, ...params, ...key],
    );
    await moveContributions(tx, contributionsOf('cycle', current), contributionsOf('cycle', updated!));
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
  type OpportunityRow = Record<string, SqlValue> & { revision: number; opened_at: string; known_from: string };
  const current = await tx.get<OpportunityRow>('SELECT * FROM kpi_opportunities WHERE opportunity_id = ?', [id]);
  if (current !== undefined && Number(current.revision) >= event.revision) return;
  if (current === undefined && event.type !== 'OpportunityOpened') {
    throw new Error(`Opportunity ${id} has a ${event.type} but was never opened`);
  }
  /** The opportunity as this event leaves it: its stays left are cut by its group as it is now. */
  let opportunity = current;
  const update = async (assignments: string, params: readonly SqlValue[]) => {
    await keepReplaced(tx, 'kpi_opportunities', 'opportunity_id = ?', [id], current!.known_from, recordedAt);
    const updated = (await tx.get<OpportunityRow>(
      `UPDATE kpi_opportunities SET revision = ?, known_from = ?, ${assignments} WHERE opportunity_id = ? RETURNING *`,
      [event.revision, recordedAt, ...params, id],
    ))!;
    await moveContributions(tx, contributionsOf('opportunity', current!), contributionsOf('opportunity', updated));
    opportunity = updated;
    // A new owner takes the stays already left with it, in the time-in-stage rollup.
    if (GROUP_COLUMNS.some((column) => String(current![column]) !== String(updated[column]))) {
      const left = await tx.all<Record<string, SqlValue>>(
        'SELECT * FROM kpi_stage_stays WHERE opportunity_id = ? AND left_at IS NOT NULL',
        [id],
      );
      await moveContributions(
        tx,
        left.flatMap((stay) => contributionsOf('stay', stay, current!)),
        left.flatMap((stay) => contributionsOf('stay', stay, updated)),
      );
    }
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
    const left = await tx.get<Record<string, SqlValue>>(
      'UPDATE kpi_stage_stays SET left_at = ?, left_month = ?, duration_ms = ?, known_from = ? WHERE opportunity_id = ? AND seq = ? RETURNING *',
      [at, monthOf(at), durationMs(stay.entered_at, at), recordedAt, id, stay.seq],
    );
    await moveContributions(tx, [], contributionsOf('stay', left!, opportunity!));
  };

  switch (event.type) {
    case 'OpportunityOpened': {
      const d = event.data;
      // The lead cycle converted into this opportunity, if any, was recorded before it.
      const origin = await tx.get<{ lead_id: string; source: string; campaign: string | null; origin: string }>(
        'SELECT lead_id, source, campaign, origin FROM kpi_lead_cycles WHERE opportunity_id = ?',
        [id],
      );
      const opened = await tx.get<Record<string, SqlValue>>(
        `INSERT INTO kpi_opportunities (opportunity_id, revision, lead_id, source, campaign, owner_id, origin, opened_at, opened_month,
           status, stage, probability, amount, currency, amount_whole, amount_fraction, known_from)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'OPEN', ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
        [id, event.revision, origin?.lead_id ?? null, origin?.source ?? null, origin?.campaign ?? null, d.ownerId ?? null,
          origin?.origin ?? null, at, monthOf(at), d.stage, d.probability, ...amountColumns(d.amount), recordedAt],
      );
      await moveContributions(tx, [], contributionsOf('opportunity', opened!));
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

// ---------------------------------------------------------------------------------------------
// In memory, for a bulk rebuild
// ---------------------------------------------------------------------------------------------

type FactRow = Record<string, SqlValue>;

const CYCLE_COLUMNS = [
  'lead_id', 'cycle', 'revision', 'source', 'campaign', 'owner_id', 'origin', 'captured_at', 'captured_month', 'contacted_at',
  'mql_at', 'sql_at', 'disqualified_at', 'disqualified_month', 'disqualification_reason', 'converted_at', 'opportunity_id', 'known_from',
];
const OPPORTUNITY_COLUMNS = [
  'opportunity_id', 'revision', 'lead_id', 'source', 'campaign', 'owner_id', 'origin', 'opened_at', 'opened_month', 'status', 'stage',
  'probability', 'amount', 'currency', 'amount_whole', 'amount_fraction', 'closed_at', 'closed_month', 'cycle_ms', 'loss_reason',
  'competitor', 'known_from',
];
const STAY_COLUMNS = ['opportunity_id', 'seq', 'stage', 'entered_at', 'left_at', 'left_month', 'duration_ms', 'known_from'];
const CURRENT_COLUMNS: Record<string, string[]> = {
  kpi_lead_cycles: CYCLE_COLUMNS,
  kpi_opportunities: OPPORTUNITY_COLUMNS,
  kpi_stage_stays: STAY_COLUMNS,
};
/** Each table's columns, and its `_replaced` twin's: the same and `known_to`. */
const COLUMNS_OF: Record<string, string[]> = {
  ...CURRENT_COLUMNS,
  ...Object.fromEntries(TABLES.map((table) => [replacedTable(table), [...CURRENT_COLUMNS[table]!, 'known_to']])),
};
/** Each table's INSERT of all its columns, made once. */
const INSERT_INTO: Record<string, string> = Object.fromEntries(
  Object.entries(COLUMNS_OF).map(([table, columns]) => [table, `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`]),
);

/**
 * Each table's row, made from values (null for each column missing), and its values in column
 * order for its INSERT: functions compiled once from its columns, as the leads' fromRow is. A row
 * made so has its table's shape at once, where a row spread and added to, or built by
 * Object.fromEntries, was built key by key, and its values read by name are read from that shape
 * (`npm run bench:folds`: the fold 3.1 us an event, 5.6 to 6.2 before).
 */
const ROW_OF: Record<string, (values: FactRow) => FactRow> = Object.fromEntries(
  Object.entries(COLUMNS_OF).map(([table, columns]) => [
    table,
    new Function('values', `return { ${columns.map((column) => `${column}: values.${column} ?? null`).join(', ')} };`) as (values: FactRow) => FactRow,
  ]),
);
const VALUES_OF: Record<string, (row: FactRow) => SqlValue[]> = Object.fromEntries(
  Object.entries(COLUMNS_OF).map(([table, columns]) => [
    table,
    new Function('row', `return [${columns.map((column) => `row.${column} ?? null`).join(', ')}];`) as (row: FactRow) => SqlValue[],
  ]),
);

/** The row as it is after an event that changes `changes` (and moves its revision and `known_from`). */
const changedRow = (table: string, row: FactRow, revision: number, knownFrom: string, changes: FactRow): FactRow => {
  const next = ROW_OF[table]!(row);
  next.revision = revision;
  next.known_from = knownFrom;
  return Object.assign(next, changes);
};

/** Leads, and opportunities, a bulk rebuild holds in memory at most: past it, the least recently touched are written out. */
const MAX_FACTS_IN_MEMORY = 50_000;

/**
 * The KPI facts of a bulk rebuild, folded in memory: each lead's latest cycle, each opportunity
 * and its stay not left yet are held as the row `apply` would have left, every change made to
 * them as `apply`'s SQL makes it (the same `_replaced` versions, the same COALESCEs), and each
 * row is written once: a version replaced, an earlier cycle or a stay left at the next flush, the
 * rows still current at the end. Past `maxHeld` leads (or opportunities) the least recently
 * touched are written out, and their later events go through `apply` itself, on the rows written:
 * a lead or an opportunity is either in memory or in the tables, never both. The bulk rebuild
 * test compares every table with what `apply` leaves.
 */
export const foldKpiFactsInMemory = (maxHeld = MAX_FACTS_IN_MEMORY): InMemoryFold => {
  /** Each lead's latest cycle, least recently touched first. */
  const cycles = new Map<string, FactRow>();
  /** The lead whose cycle was converted into each opportunity (`apply` finds it by opportunity_id). */
  const leadOf = new Map<string, string>();
  const opportunities = new Map<string, FactRow>();
  const openStays = new Map<string, FactRow>();
  /** Written out: their events go through `apply`. */
  const leadsWritten = new Set<string>();
  const opportunitiesWritten = new Set<string>();
  /** Rows no later event changes, to write at the next flush. */
  let settled: Array<readonly [string, FactRow]> = [];

  const keepReplaced = (table: string, row: FactRow, recordedAt: string) => {
    if ((row.known_from as string) >= recordedAt) return;
    const replaced = replacedTable(table);
    const version = ROW_OF[replaced]!(row);
    version.known_to = recordedAt;
    settled.push([replaced, version]);
  };
  /** Taken out and put back: the map's order is the order of last use. */
  const touch = <V>(map: Map<string, V>, key: string, value: V) => {
    map.delete(key);
    map.set(key, value);
  };

  const applyLead = (event: Recorded<LeadEvent>) => {
    const leadId = event.data.leadId;
    const at = instant(event.metadata.occurredAt);
    const recordedAt = instant(event.metadata.recordedAt);
    const current = cycles.get(leadId);
    if (current !== undefined && Number(current.revision) >= event.revision) return;
    const newCycle = (values: Omit<NewCycle, 'leadId' | 'revision' | 'at' | 'recordedAt'>) => {
      if (current !== undefined && event.type === 'LeadCaptured') throw new Error(`Lead ${leadId} is captured twice`);
      if (current !== undefined) settled.push(['kpi_lead_cycles', current]);
      touch(
        cycles,
        leadId,
        ROW_OF.kpi_lead_cycles!({
          lead_id: leadId, cycle: values.cycle, revision: event.revision, source: values.source, campaign: values.campaign,
          owner_id: values.ownerId, origin: values.origin, captured_at: at, captured_month: monthOf(at), known_from: recordedAt,
        }),
      );
    };
    if (event.type === 'LeadCaptured') {
      const d = event.data;
      return newCycle({ cycle: 1, source: d.source, campaign: d.campaign ?? null, ownerId: d.ownerId ?? null, origin: originOfCapture(d) });
    }
    if (current === undefined) throw new Error(`Lead ${leadId} has a ${event.type} but was never captured`);
    if (event.type === 'LeadRecycled') {
      const d = event.data;
      return newCycle({
        cycle: d.cycle,
        source: d.source,
        campaign: d.campaign ?? (current.campaign as string | null),
        ownerId: current.owner_id as string | null,
        origin: current.origin as LeadOrigin,
      });
    }
    const update = (changes: FactRow) => {
      keepReplaced('kpi_lead_cycles', current, recordedAt);
      const next = changedRow('kpi_lead_cycles', current, event.revision, recordedAt, changes);
      touch(cycles, leadId, next);
      if (typeof next.opportunity_id === 'string') leadOf.set(next.opportunity_id, leadId);
    };
    switch (event.type) {
      case 'LeadDetailsUpdated':
        return update({ campaign: event.data.campaign ?? current.campaign });
      case 'LeadAssigned':
        return update({ owner_id: event.data.ownerId });
      case 'LeadContactLogged':
        if (reachesLead(event.data.outcome)) update({ contacted_at: current.contacted_at ?? at });
        return;
      case 'LeadQualified':
        return update({ mql_at: current.mql_at ?? at, sql_at: event.data.rank === 'SQL' ? (current.sql_at ?? at) : current.sql_at });
      case 'LeadDisqualified':
        return update({ disqualified_at: at, disqualified_month: monthOf(at), disqualification_reason: event.data.reason });
      case 'LeadConverted':
        return update({ converted_at: at, opportunity_id: event.data.opportunityId ?? null });
    }
  };

  /** The cycle converted into an opportunity, held here or written out (then read as `apply` reads it). */
  const convertedFrom = async (tx: SqlDatabase, opportunityId: string): Promise<FactRow | undefined> => {
    const leadId = leadOf.get(opportunityId);
    const held = leadId === undefined ? undefined : cycles.get(leadId);
    if (held?.opportunity_id === opportunityId) return held;
    return tx.get<FactRow>('SELECT lead_id, source, campaign, origin FROM kpi_lead_cycles WHERE opportunity_id = ?', [opportunityId]);
  };

  const applyOpportunity = async (tx: SqlDatabase, event: Recorded<OpportunityEvent>) => {
    const id = event.data.opportunityId;
    const at = instant(event.metadata.occurredAt);
    const recordedAt = instant(event.metadata.recordedAt);
    const current = opportunities.get(id);
    if (current !== undefined && Number(current.revision) >= event.revision) return;
    if (current === undefined && event.type !== 'OpportunityOpened') throw new Error(`Opportunity ${id} has a ${event.type} but was never opened`);
    const update = (changes: FactRow) => {
      keepReplaced('kpi_opportunities', current!, recordedAt);
      touch(opportunities, id, changedRow('kpi_opportunities', current!, event.revision, recordedAt, changes));
    };
    const enterStage = (stage: string) => {
      // `apply` would hold two stays open; given up here, the usual replay does exactly that.
      if (openStays.has(id)) throw new Error(`Opportunity ${id} enters ${stage} with a stay still open`);
      openStays.set(id, ROW_OF.kpi_stage_stays!({ opportunity_id: id, seq: event.revision, stage, entered_at: at, known_from: recordedAt }));
    };
    const leaveStage = () => {
      const stay = openStays.get(id);
      if (stay === undefined) return;
      keepReplaced('kpi_stage_stays', stay, recordedAt);
      openStays.delete(id);
      const left = ROW_OF.kpi_stage_stays!(stay);
      left.left_at = at;
      left.left_month = monthOf(at);
      left.duration_ms = durationMs(stay.entered_at as string, at);
      left.known_from = recordedAt;
      settled.push(['kpi_stage_stays', left]);
    };
    /** `amount = COALESCE(?, amount)` and so on, for each of the amount's columns. */
    const amountChanges = (amount: Money | undefined, row: FactRow): FactRow => {
      const [value, currency, whole, fraction] = amountColumns(amount);
      return {
        amount: value ?? row.amount,
        currency: currency ?? row.currency,
        amount_whole: whole ?? row.amount_whole,
        amount_fraction: fraction ?? row.amount_fraction,
      };
    };
    switch (event.type) {
      case 'OpportunityOpened': {
        if (current !== undefined) throw new Error(`Opportunity ${id} is opened twice`);
        const d = event.data;
        const origin = await convertedFrom(tx, id);
        const [amount, currency, whole, fraction] = amountColumns(d.amount);
        touch(
          opportunities,
          id,
          ROW_OF.kpi_opportunities!({
            opportunity_id: id, revision: event.revision, lead_id: origin?.lead_id ?? null, source: origin?.source ?? null,
            campaign: origin?.campaign ?? null, owner_id: d.ownerId ?? null, origin: origin?.origin ?? null, opened_at: at,
            opened_month: monthOf(at), status: 'OPEN', stage: d.stage, probability: d.probability, amount: amount ?? null,
            currency: currency ?? null, amount_whole: whole ?? null, amount_fraction: fraction ?? null, known_from: recordedAt,
          }),
        );
        return enterStage(d.stage);
      }
      case 'OpportunityStageChanged':
        update({ stage: event.data.toStage, probability: event.data.probability });
        leaveStage();
        return enterStage(event.data.toStage);
      case 'OpportunityDetailsUpdated': {
        const d = event.data;
        return update({ owner_id: d.ownerId ?? current!.owner_id, probability: d.probability ?? current!.probability, ...amountChanges(d.amount, current!) });
      }
      case 'OpportunityWon':
      case 'OpportunityLost': {
        const lost = event.type === 'OpportunityLost' ? event.data : undefined;
        update({
          status: lost ? 'LOST' : 'WON', stage: event.data.stage, closed_at: at, closed_month: monthOf(at),
          cycle_ms: durationMs(current!.opened_at as string, at), loss_reason: lost?.reason ?? null, competitor: lost?.competitor ?? null,
          ...amountChanges(event.data.amount, current!),
        });
        return leaveStage();
      }
      case 'OpportunityReopened':
        update({ status: 'OPEN', stage: event.data.stage, closed_at: null, closed_month: null, cycle_ms: null, loss_reason: null, competitor: null });
        return enterStage(event.data.stage);
      default:
        return;
    }
  };

  const write = async (tx: SqlDatabase, rows: Iterable<readonly [string, FactRow]>) => {
    for (const [table, row] of rows) {
      await tx.write(INSERT_INTO[table]!, VALUES_OF[table]!(row));
    }
  };

  return {
    async apply(tx, event) {
      if (event.type.startsWith('Lead')) {
        const lead = event as Recorded<LeadEvent>;
        if (leadsWritten.has(lead.data.leadId)) return applyLeadEvent(tx, lead);
        return applyLead(lead);
      }
      const opportunity = event as Recorded<OpportunityEvent>;
      if (opportunitiesWritten.has(opportunity.data.opportunityId)) return applyOpportunityEvent(tx, opportunity);
      return applyOpportunity(tx, opportunity);
    },
    async flush(tx, everything) {
      const rows = settled;
      settled = [];
      await write(tx, rows);
      const keep = everything ? 0 : maxHeld;
      for (const [leadId, row] of cycles) {
        if (cycles.size <= keep) break;
        await write(tx, [['kpi_lead_cycles', row]]);
        cycles.delete(leadId);
        if (!everything) leadsWritten.add(leadId);
      }
      for (const [id, row] of opportunities) {
        if (opportunities.size <= keep) break;
        await write(tx, [['kpi_opportunities', row]]);
        const stay = openStays.get(id);
        if (stay !== undefined) await write(tx, [['kpi_stage_stays', stay]]);
        opportunities.delete(id);
        openStays.delete(id);
        if (!everything) opportunitiesWritten.add(id);
      }
      // The rollups once, from every fact written: rows held in memory were never added to them.
      if (everything) await rebuildRollups(tx);
    },
  };
};
