/**
 * The KPIs from the fact tables of `kpiFactsProjection`: SQL filters the period and groups
 * (counts and exact sums per group, value and currency); `src/domain/insights/kpis.ts` turns those
 * cells into shares, averages and the report. Portable SQL: no date functions (months are
 * stored), amounts summed in parts that cannot overflow 64 bits (`SUMMED_AMOUNT`), sums cast to
 * text so that no driver turns a large sum into a float. With `knownAt`, each fact table is read
 * as it was known then: its current rows made by then and its replaced versions known then
 * (`factsKnownAt`), by the same queries. A cut by LIST joins each fact's lead to the lists it is
 * in now (`leadListMembers`), with or without `knownAt`, so the fact counts once in each.
 *
 * The figures of now, not cut by LIST, over a period that spans months, are read from the
 * monthly rollups (kpiRollups.ts) and from the facts of the parts of months at either end (added,
 * or taken away from a whole month: `periodParts`), in one union that the same GROUP BY adds up:
 * a few hundred cells instead of every fact of the period.
 */
import {
  groupKeyId,
  instant,
  monthAfter,
  PLAIN_YEAR_INSTANT,
  startOfMonth,
  type KpiDimension,
  type KpiGroupKey,
} from '../../src/domain/insights/definitions';
import { fromUnits, unitsOfSums, WHOLE_SPLIT } from '../../src/domain/opportunities/money';
import {
  disqualificationReasonsOf,
  leadFunnelOf,
  lossReasonsOf,
  pipelineValueOf,
  salesOutcomesOf,
  timeInStageOf,
  type AmountCell,
  type DisqualificationReasonKpi,
  type KpiReport,
  type KpiRequest,
  type LeadFunnelKpi,
  type LossCells,
  type LossReasonKpi,
  type OutcomeCell,
  type PipelineValueKpi,
  type SalesOutcomeKpi,
  type StageTimeKpi,
} from '../../src/domain/insights/kpis';
import type { Pipeline } from '../../src/domain/opportunities/pipeline';
import { leadListMembers } from '../leads/leadsQueries';
import { summarisePipeline, type PipelineRow, type PipelineSummary } from '../../src/domain/opportunities/pipelineReport';
import { pipelineSummary, type PipelineSummaryFilter } from '../opportunities/opportunitiesQueries';
import type { SqlDatabase, SqlValue } from '../sqlDatabase';
import { replacedTable } from './kpiFactsProjection';
import {
  CLOSED_BY_GROUP,
  DISQUALIFIED,
  FUNNEL,
  GROUP_COLUMNS,
  LOSSES_BY_MONTH,
  OPEN,
  OUTCOMES_BY_MONTH,
  rollupColumns,
  STAYS,
  type Rollup,
} from './kpiRollups';

type Row = Record<string, SqlValue>;

/** What a KPI query is asked: the report's request and, optionally, the time the figures were known at. */
export interface KpiQuery extends KpiRequest {
  /** Only the facts recorded by then (UTC ISO-8601) count; now when absent. */
  knownAt?: string;
  /** Every figure from the facts, none from the monthly rollups: what the tests compare the rollups with. */
  factsOnly?: boolean;
}

/**
 * A fact table as a FROM item, named `alias`: the table itself, or with `knownAt` the versions
 * of its rows known then: a current row made by then, or a replaced one known then (made by
 * then, replaced after). Its parameters come first in the query, as the FROM clause does.
 */
const factsKnownAt = (table: string, knownAt: string | undefined, alias = table): { from: string; params: SqlValue[] } =>
  knownAt === undefined
    ? { from: alias === table ? table : `${table} ${alias}`, params: [] }
    : {
        from: `(SELECT *, CAST(NULL AS TEXT) AS known_to FROM ${table} WHERE known_from <= ?
            UNION ALL SELECT * FROM ${replacedTable(table)} WHERE known_from <= ? AND known_to > ?) ${alias}`,
        params: [knownAt, knownAt, knownAt],
      };

/** The columns a fact table holds each dimension in; the month depends on the KPI. */
interface DimensionColumns {
  source: string;
  campaign: string;
  ownerId: string;
  month: string;
  listId: string;
  origin: string;
}

const KEY_FIELDS: Record<KpiDimension, keyof DimensionColumns> = {
  SOURCE: 'source',
  CAMPAIGN: 'campaign',
  OWNER: 'ownerId',
  MONTH: 'month',
  LIST: 'listId',
  ORIGIN: 'origin',
};

/** Lower case: PostgreSQL folds unquoted aliases, and would answer k_ownerid for k_ownerId. */
const ALIASES: Record<KpiDimension, string> = {
  SOURCE: 'k_source',
  CAMPAIGN: 'k_campaign',
  OWNER: 'k_owner',
  MONTH: 'k_month',
  LIST: 'k_list',
  ORIGIN: 'k_origin',
};

/** SELECT and GROUP BY fragments for the requested dimensions plus the KPI's own columns. */
const grouping = (groupBy: readonly KpiDimension[], columns: DimensionColumns, extra: readonly string[] = []) => {
  const keyed = groupBy.map((dimension) => `${columns[KEY_FIELDS[dimension]]} AS ${ALIASES[dimension]}`);
  const grouped = [...groupBy.map((dimension) => columns[KEY_FIELDS[dimension]]), ...extra];
  return {
    select: [...keyed, ...extra].map((column) => `${column}, `).join(''),
    groupBy: grouped.length === 0 ? '' : `GROUP BY ${grouped.join(', ')}`,
  };
};

const keyOf = (row: Row): KpiGroupKey => ({
  source: (row.k_source as string | undefined) ?? null,
  campaign: (row.k_campaign as string | undefined) ?? null,
  ownerId: (row.k_owner as string | undefined) ?? null,
  month: (row.k_month as string | undefined) ?? null,
  listId: (row.k_list as string | undefined) ?? null,
  origin: (row.k_origin as KpiGroupKey['origin'] | undefined) ?? null,
});

/** The lists a cut by LIST joins (as `m`), left so that a fact whose lead is in none stays, under null. */
const LISTED = 'm.list_id';

/**
 * The lists' members are worked out once per query (MATERIALIZED), then joined: left to itself,
 * PostgreSQL may misjudge the union's size and scan the leads again for every fact (minutes on
 * 10,000 leads instead of milliseconds).
 */
const listJoin = async (db: SqlDatabase, request: KpiQuery, leadId: string): Promise<{ with: string; join: string; params: SqlValue[] }> => {
  if (!request.groupBy.includes('LIST')) return { with: '', join: '', params: [] };
  const members = await leadListMembers(db);
  return { with: `WITH m AS MATERIALIZED (${members.sql}) `, join: `LEFT JOIN m ON m.lead_id = ${leadId}`, params: members.params };
};

/**
 * Exact on any database for every amount the Decimal scalar accepts: the whole parts are summed
 * as two sums of terms below 10^9 (see `unitsOfSums`), since their plain SUM overflows SQLite's
 * 64 bits as soon as ten amounts near 10^18 add up.
 */
const SUMMED_AMOUNT = `CAST(SUM(amount_whole / ${WHOLE_SPLIT}) AS TEXT) AS whole_high,
  CAST(SUM(amount_whole % ${WHOLE_SPLIT}) AS TEXT) AS whole_low, CAST(SUM(amount_fraction) AS TEXT) AS fraction`;

const bigintOf = (value: SqlValue | undefined): bigint => BigInt((value as string | null | undefined) ?? 0);

const unitsOf = (row: Row): bigint =>
  unitsOfSums({ wholeHigh: bigintOf(row.whole_high), wholeLow: bigintOf(row.whole_low), fraction: bigintOf(row.fraction) });

const LEAD_CYCLE: Omit<DimensionColumns, 'month'> = { source: 'source', campaign: 'campaign', ownerId: 'owner_id', listId: LISTED, origin: 'origin' };
const OPPORTUNITY: Omit<DimensionColumns, 'month'> = { source: 'source', campaign: 'campaign', ownerId: 'owner_id', listId: LISTED, origin: 'origin' };

/** Lead cycles captured (or recycled) in the period, by the month of capture. */
export const leadFunnel = async (db: SqlDatabase, request: KpiQuery): Promise<LeadFunnelKpi[]> => {
  const parts = rolledUpParts(request);
  if (parts !== undefined) return leadFunnelOf(funnelCells(await rolledUpFunnel(db, request, parts)));
  const { select, groupBy } = grouping(request.groupBy, { ...LEAD_CYCLE, month: 'captured_month' });
  const flag = (column: string) => `CAST(SUM(CASE WHEN ${column} IS NULL THEN 0 ELSE 1 END) AS INTEGER)`;
  const cycles = factsKnownAt('kpi_lead_cycles', request.knownAt);
  const lists = await listJoin(db, request, 'kpi_lead_cycles.lead_id');
  const rows = await db.all<Row>(
    `${lists.with}SELECT ${select}CAST(COUNT(*) AS INTEGER) AS captured, ${flag('contacted_at')} AS contacted, ${flag('mql_at')} AS mql, ${flag('sql_at')} AS sqlq,
       ${flag('disqualified_at')} AS disqualified, ${flag('converted_at')} AS converted
     FROM ${cycles.from} ${lists.join}
     WHERE captured_at >= ? AND captured_at < ? ${groupBy}`,
    [...lists.params, ...cycles.params, request.from, request.to],
  );
  return leadFunnelOf(funnelCells(rows));
};

const funnelCells = (rows: readonly Row[]) =>
  rows
    // Without groups, an empty period still answers one row of zeros.
    .filter((row) => Number(row.captured) > 0)
    .map((row) => ({
      key: keyOf(row),
      captured: Number(row.captured),
      contacted: Number(row.contacted),
      reachedMql: Number(row.mql),
      reachedSql: Number(row.sqlq),
      disqualified: Number(row.disqualified),
      converted: Number(row.converted),
    }));

/** Disqualifications that happened in the period, by the month they happened. */
export const disqualificationReasons = async (db: SqlDatabase, request: KpiQuery): Promise<DisqualificationReasonKpi[]> => {
  const parts = rolledUpParts(request);
  if (parts !== undefined) return disqualificationReasonsOf(reasonCells(await rolledUpDisqualifications(db, request, parts)));
  const { select, groupBy } = grouping(request.groupBy, { ...LEAD_CYCLE, month: 'disqualified_month' }, [
    'disqualification_reason',
  ]);
  const cycles = factsKnownAt('kpi_lead_cycles', request.knownAt);
  const lists = await listJoin(db, request, 'kpi_lead_cycles.lead_id');
  const rows = await db.all<Row>(
    `${lists.with}SELECT ${select}CAST(COUNT(*) AS INTEGER) AS n FROM ${cycles.from} ${lists.join}
     WHERE disqualified_at >= ? AND disqualified_at < ? ${groupBy}`,
    [...lists.params, ...cycles.params, request.from, request.to],
  );
  return disqualificationReasonsOf(reasonCells(rows));
};

const reasonCells = (rows: readonly Row[]) =>
  rows.map((row) => ({ key: keyOf(row), code: row.disqualification_reason as string, count: Number(row.n) }));

/**
 * Opportunities whose latest close, as LOST, happened in the period, by the month of the close.
 * One query, grouped by reason, competitor and stage together, read once for each of the three
 * breakdowns: three queries, one per breakdown, each read every lost opportunity of the period
 * (three times the time on a large history, where the groups are far fewer than the facts).
 */
export const lossReasons = async (db: SqlDatabase, request: KpiQuery): Promise<LossReasonKpi[]> => {
  const parts = rolledUpParts(request);
  if (parts !== undefined) return lossReasonsOf(await rolledUpLosses(db, request, parts), request.currency);
  const rows = await lostFacts(db, request);
  const [byReason, byCompetitor, byStage] = LOSS_BREAKDOWNS.map((column) => amountCellsBy(rows, column));
  return lossReasonsOf({ byReason: byReason!, byCompetitor: byCompetitor!, byStage: byStage! }, request.currency);
};

const LOSS_BREAKDOWNS = ['loss_reason', 'competitor', 'stage'] as const;

const lostFacts = async (db: SqlDatabase, request: KpiQuery): Promise<Row[]> => {
  const { select, groupBy } = grouping(request.groupBy, { ...OPPORTUNITY, month: 'closed_month' }, [...LOSS_BREAKDOWNS, 'currency']);
  const opportunities = factsKnownAt('kpi_opportunities', request.knownAt);
  const lists = await listJoin(db, request, 'kpi_opportunities.lead_id');
  return db.all<Row>(
    `${lists.with}SELECT ${select}CAST(COUNT(*) AS INTEGER) AS n, ${SUMMED_AMOUNT} FROM ${opportunities.from} ${lists.join}
     WHERE status = 'LOST' AND closed_at >= ? AND closed_at < ? ${groupBy}`,
    [...lists.params, ...opportunities.params, request.from, request.to],
  );
};

/** The rows added up by group, `valueColumn` and currency: what a GROUP BY of those alone answers. */
const amountCellsBy = (rows: readonly Row[], valueColumn: string): AmountCell[] => {
  const cells = new Map<string, AmountCell>();
  for (const row of rows) {
    const key = keyOf(row);
    const value = row[valueColumn] as string | null;
    const currency = row.currency as string | null;
    const id = JSON.stringify([groupKeyId(key), value, currency]);
    const cell = cells.get(id);
    if (cell === undefined) cells.set(id, { key, value, currency, count: Number(row.n), units: unitsOf(row) });
    else {
      cell.count += Number(row.n);
      cell.units += unitsOf(row);
    }
  }
  return [...cells.values()];
};

/** Opportunities whose latest close happened in the period, by the month of the close. */
export const salesOutcomes = async (db: SqlDatabase, request: KpiQuery): Promise<SalesOutcomeKpi[]> => {
  const parts = rolledUpParts(request);
  if (parts !== undefined) return salesOutcomesOf(outcomeCells(await rolledUpOutcomes(db, request, parts)), request.currency);
  const { select, groupBy } = grouping(request.groupBy, { ...OPPORTUNITY, month: 'closed_month' }, ['status', 'currency']);
  const opportunities = factsKnownAt('kpi_opportunities', request.knownAt);
  const lists = await listJoin(db, request, 'kpi_opportunities.lead_id');
  const rows = await db.all<Row>(
    `${lists.with}SELECT ${select}CAST(COUNT(*) AS INTEGER) AS n, ${SUMMED_AMOUNT}, CAST(SUM(cycle_ms) AS TEXT) AS cycle_ms
     FROM ${opportunities.from} ${lists.join}
     WHERE status IN ('WON', 'LOST') AND closed_at >= ? AND closed_at < ? ${groupBy}`,
    [...lists.params, ...opportunities.params, request.from, request.to],
  );
  return salesOutcomesOf(outcomeCells(rows), request.currency);
};

const outcomeCells = (rows: readonly Row[]): OutcomeCell[] =>
  rows.map((row) => ({
    key: keyOf(row),
    value: row.status as 'WON' | 'LOST',
    currency: row.currency as string | null,
    count: Number(row.n),
    units: unitsOf(row),
    cycleMs: Number(row.cycle_ms),
  }));

/** Stays at a stage that ended (by a move or a close) in the period, by the month they ended. */
export const timeInStage = async (db: SqlDatabase, request: KpiQuery, pipeline: Pipeline): Promise<StageTimeKpi[]> => {
  const parts = rolledUpParts(request);
  if (parts !== undefined) return timeInStageOf(stayCells(await rolledUpStays(db, request, parts)), pipeline);
  const { select, groupBy } = grouping(
    request.groupBy,
    { source: 'o.source', campaign: 'o.campaign', ownerId: 'o.owner_id', month: 's.left_month', listId: LISTED, origin: 'o.origin' },
    ['s.stage'],
  );
  const stays = factsKnownAt('kpi_stage_stays', request.knownAt, 's');
  const opportunities = factsKnownAt('kpi_opportunities', request.knownAt, 'o');
  const lists = await listJoin(db, request, 'o.lead_id');
  const rows = await db.all<Row>(
    `${lists.with}SELECT ${select}CAST(COUNT(*) AS INTEGER) AS n, CAST(SUM(s.duration_ms) AS TEXT) AS total_ms
     FROM ${stays.from} JOIN ${opportunities.from} ON o.opportunity_id = s.opportunity_id ${lists.join}
     WHERE s.left_at >= ? AND s.left_at < ? ${groupBy}`,
    [...lists.params, ...stays.params, ...opportunities.params, request.from, request.to],
  );
  return timeInStageOf(stayCells(rows), pipeline);
};

const stayCells = (rows: readonly Row[]) =>
  rows.map((row) => ({ key: keyOf(row), stage: row.stage as string, stays: Number(row.n), totalMs: Number(row.total_ms) }));

/**
 * The pipeline those opportunities opened in the period still hold: the ones open now, by
 * stage, summed by the pipeline report's own code. By the month they were opened.
 */
export const pipelineValue = async (db: SqlDatabase, request: KpiQuery, pipeline: Pipeline): Promise<PipelineValueKpi[]> => {
  const parts = rolledUpParts(request);
  if (parts !== undefined) return pipelineValueOf(pipelineCells(await rolledUpOpen(db, request, parts)), pipeline, request.currency);
  const { select } = grouping(request.groupBy, { ...OPPORTUNITY, month: 'opened_month' });
  const opportunities = factsKnownAt('kpi_opportunities', request.knownAt);
  const lists = await listJoin(db, request, 'kpi_opportunities.lead_id');
  const rows = await db.all<Row & PipelineRow>(
    `${lists.with}SELECT ${select}stage, amount, currency, probability FROM ${opportunities.from} ${lists.join}
     WHERE status = 'OPEN' AND opened_at >= ? AND opened_at < ?`,
    [...lists.params, ...opportunities.params, request.from, request.to],
  );
  return pipelineValueOf(pipelineCells(rows), pipeline, request.currency);
};

/** Rows of open opportunities (or sums of them, with `n`) by group. */
const pipelineCells = (rows: ReadonlyArray<Row & PipelineRow>) => {
  const groups = new Map<string, { key: KpiGroupKey; rows: PipelineRow[] }>();
  for (const row of rows) {
    const key = keyOf(row);
    const group = groups.get(groupKeyId(key)) ?? { key, rows: [] };
    group.rows.push({
      stage: row.stage,
      amount: row.amount,
      currency: row.currency,
      probability: Number(row.probability),
      ...(row.n === undefined ? {} : { count: Number(row.n) }),
    });
    groups.set(groupKeyId(key), group);
  }
  return [...groups.values()];
};

/** Every KPI at once, as `kpisFromFacts` computes them by replay (of the events recorded by `knownAt`). */
export const readKpis = async (db: SqlDatabase, request: KpiQuery, pipeline: Pipeline): Promise<KpiReport> => ({
  leadFunnel: await leadFunnel(db, request),
  disqualificationReasons: await disqualificationReasons(db, request),
  lossReasons: await lossReasons(db, request),
  salesOutcomes: await salesOutcomes(db, request),
  timeInStage: await timeInStage(db, request, pipeline),
  pipelineValue: await pipelineValue(db, request, pipeline),
});

// ---------------------------------------------------------------------------------------------
// From the monthly rollups (kpiRollups.ts)
// ---------------------------------------------------------------------------------------------

/**
 * A period as months the rollups serve, and the facts of the partial months at either end: those
 * in the period are added (`sign` 1), or, when the part of the month outside the period is the
 * shorter, the whole month is taken from the rollups and the facts outside the period are taken
 * away (`sign` -1). The facts read are then at most half a month at either end, and none at all
 * for a period that starts or ends where the history does (the whole history).
 */
export interface PeriodParts {
  /** Months from `from` (included) to `to` (excluded), YYYY-MM. */
  months?: { from: string; to: string };
  /** Time ranges [from, to), their facts added or taken away. */
  edges: Array<{ from: string; to: string; sign: 1 | -1 }>;
}

type Range = { from: string; to: string };
const span = (range: Range): number => Date.parse(range.to) - Date.parse(range.from);

/**
 * The month a period's start or end falls within: its part in the period (`inside`) read from
 * the facts, or, when the part outside the period is the shorter, the month taken whole from the
 * rollups and the facts of `outside` taken away.
 */
const partialMonth = (inside: Range, outside: Range): { whole: boolean; edge: PeriodParts['edges'][number] } =>
  span(outside) < span(inside) ? { whole: true, edge: { ...outside, sign: -1 } } : { whole: false, edge: { ...inside, sign: 1 } };

/**
 * A period within one month (the month a report by month is computed for, up to now): the month
 * from the rollups and the facts of its parts outside the period taken away, when those are the
 * shorter; otherwise undefined, and the period's own facts are read.
 */
const withinMonth = (month: string, period: Range): PeriodParts | undefined => {
  const next = monthAfter(month);
  const whole = { from: startOfMonth(month), to: startOfMonth(next) };
  if (!PLAIN_YEAR_INSTANT.test(whole.to) || span(whole) - span(period) >= span(period)) return undefined;
  const outside = [
    { from: whole.from, to: period.from },
    { from: period.to, to: whole.to },
  ].filter((range) => range.from < range.to);
  return { months: { from: month, to: next }, edges: outside.map((range) => ({ ...range, sign: -1 as const })) };
};

export const periodParts = (fromTime: string, toTime: string): PeriodParts => {
  const from = instant(fromTime);
  const to = instant(toTime);
  const alone: PeriodParts = { edges: [{ from, to, sign: 1 }] };
  const [fromMonth, toMonth] = [from.slice(0, 7), to.slice(0, 7)];
  if (fromMonth === toMonth) return withinMonth(fromMonth, { from, to }) ?? alone;
  if (fromMonth > toMonth) return alone;
  const edges: PeriodParts['edges'] = [];
  let first = fromMonth;
  if (from !== startOfMonth(fromMonth)) {
    const part = partialMonth({ from, to: startOfMonth(monthAfter(fromMonth)) }, { from: startOfMonth(fromMonth), to: from });
    edges.push(part.edge);
    if (!part.whole) first = monthAfter(fromMonth);
  }
  let last = toMonth;
  if (to !== startOfMonth(toMonth)) {
    const part = partialMonth({ from: startOfMonth(toMonth), to }, { from: to, to: startOfMonth(monthAfter(toMonth)) });
    edges.push(part.edge);
    if (part.whole) last = monthAfter(toMonth);
  }
  return first < last ? { months: { from: first, to: last }, edges } : alone;
};

/**
 * How the rollups serve a request, or undefined when they cannot: figures as known at a past
 * time (the rollups hold those of now), a cut by the lists a lead is in now (not a fact's
 * column), or a period within a month (or two months next to each other, mostly outside it).
 */
const rolledUpParts = (request: KpiQuery): PeriodParts | undefined => {
  if (request.factsOnly || request.knownAt !== undefined || request.groupBy.includes('LIST')) return undefined;
  if (!PLAIN_YEAR_INSTANT.test(instant(request.from)) || !PLAIN_YEAR_INSTANT.test(instant(request.to))) return undefined;
  // The month after 9999-12 is of a five-digit year, which sorts before every month of the rollups.
  if (instant(request.to).startsWith('9999-12')) return undefined;
  const parts = periodParts(request.from, request.to);
  return parts.months === undefined ? undefined : parts;
};

/** The columns of a rolled-up union, as the rollups name them (`month` is the KPI's). */
const ROLLED: DimensionColumns = { source: 'source', campaign: 'campaign', ownerId: 'owner_id', month: 'month', listId: 'NULL', origin: 'origin' };

/** Where a rollup's facts are, for the partial months: the table, its time column, and how each of the rollup's columns is read. */
interface FactSource {
  from: string;
  /** The time the period filters, whose month the rollup counts the fact in. */
  time: string;
  /** The expressions of the rollup's columns; a column absent is read as it is named. */
  columns: Record<string, string>;
  /** Where the group columns are (the stays are cut by their opportunity's). */
  groupPrefix?: string;
  /** Other conditions a fact must meet to count (the time's condition implies the rest). */
  filter?: string;
}

const flagged = (column: string) => `CASE WHEN ${column} IS NULL THEN 0 ELSE 1 END`;
const AMOUNT_COLUMNS = { n: '1', whole_high: `amount_whole / ${WHOLE_SPLIT}`, whole_low: `amount_whole % ${WHOLE_SPLIT}`, fraction: 'amount_fraction' };

const CAPTURES: FactSource = {
  from: 'kpi_lead_cycles',
  time: 'captured_at',
  columns: {
    month: 'captured_month', captured: '1', contacted: flagged('contacted_at'), mql: flagged('mql_at'), sqlq: flagged('sql_at'),
    disqualified: flagged('disqualified_at'), converted: flagged('converted_at'),
  },
};
const DISQUALIFICATIONS: FactSource = { from: 'kpi_lead_cycles', time: 'disqualified_at', columns: { month: 'disqualified_month', n: '1' } };
// A close's time is null while the opportunity is open, reopened included: the time alone picks the closes.
const CLOSES: FactSource = { from: 'kpi_opportunities', time: 'closed_at', columns: { month: 'closed_month', ...AMOUNT_COLUMNS } };
// Not `status = 'LOST'`: SQLite would then read every loss through the index by status and opening,
// instead of the few closes of the partial months through the index by close.
const LOSSES: FactSource = { ...CLOSES, filter: "status || '' = 'LOST'" };
const OPENINGS: FactSource = {
  from: 'kpi_opportunities',
  time: 'opened_at',
  columns: { month: 'opened_month', ...AMOUNT_COLUMNS },
  filter: "status = 'OPEN'",
};
const STAYS_LEFT: FactSource = {
  from: 'kpi_stage_stays s JOIN kpi_opportunities o ON o.opportunity_id = s.opportunity_id',
  time: 's.left_at',
  columns: { month: 's.left_month', stage: 's.stage', n: '1', duration_ms: 's.duration_ms' },
  groupPrefix: 'o.',
};

/** Cut by source, campaign, owner or origin: the rollups by month and group; otherwise those by month alone. */
const byGroup = (request: KpiQuery): boolean => request.groupBy.some((dimension) => dimension !== 'MONTH');

/**
 * The rollup's cells of the months and the facts of the partial months at either end (added or
 * taken away), as one union with the rollup's columns, added up by the requested dimensions and
 * `values` (`sums`: the SELECT of the sums, `where` an optional WHERE on the union).
 */
const readRolledUp = (
  db: SqlDatabase,
  request: KpiQuery,
  parts: PeriodParts,
  rollup: Rollup,
  facts: FactSource,
  values: readonly string[],
  sums: string,
  where = '',
): Promise<Row[]> => {
  const columns = [...rollupColumns(rollup), ...rollup.measures];
  const factColumn = (column: string) =>
    (GROUP_COLUMNS as readonly string[]).includes(column) ? `${facts.groupPrefix ?? ''}${column}` : (facts.columns[column] ?? column);
  const measures = new Set(rollup.measures);
  const branches: string[] = [];
  const params: SqlValue[] = [];
  for (const edge of parts.edges) {
    const read = (column: string) => (measures.has(column) && edge.sign < 0 ? `-(${factColumn(column)})` : factColumn(column));
    branches.push(
      `SELECT ${columns.map((column) => `${read(column)} AS ${column}`).join(', ')} FROM ${facts.from}
       WHERE ${facts.filter === undefined ? '' : `${facts.filter} AND `}${facts.time} >= ? AND ${facts.time} < ?`,
    );
    params.push(edge.from, edge.to);
  }
  branches.push(`SELECT ${columns.join(', ')} FROM ${rollup.table} WHERE month >= ? AND month < ?`);
  params.push(parts.months!.from, parts.months!.to);
  const { select, groupBy } = grouping(request.groupBy, ROLLED, values);
  // A group whose facts were all taken away adds up to none: it is not in the report. Its facts
  // are at most half a month at either end (`periodParts`): one plan fits every period.
  return db.all<Row>(
    `SELECT ${select}${sums} FROM (${branches.join(' UNION ALL ')}) rolled ${where} ${groupBy} HAVING SUM(${rollup.measures[0]}) <> 0`,
    params,
    { planOnce: true },
  );
};

const SUMMED_PARTS = `CAST(SUM(n) AS INTEGER) AS n, CAST(SUM(whole_high) AS TEXT) AS whole_high,
  CAST(SUM(whole_low) AS TEXT) AS whole_low, CAST(SUM(fraction) AS TEXT) AS fraction`;

const rolledUpFunnel = (db: SqlDatabase, request: KpiQuery, parts: PeriodParts): Promise<Row[]> => {
  const rollup = byGroup(request) ? FUNNEL.byGroup : FUNNEL.byMonth;
  const sums = rollup.measures.map((column) => `CAST(SUM(${column}) AS INTEGER) AS ${column}`).join(', ');
  return readRolledUp(db, request, parts, rollup, CAPTURES, [], sums);
};

const rolledUpDisqualifications = (db: SqlDatabase, request: KpiQuery, parts: PeriodParts): Promise<Row[]> =>
  readRolledUp(db, request, parts, byGroup(request) ? DISQUALIFIED.byGroup : DISQUALIFIED.byMonth, DISQUALIFICATIONS,
    ['disqualification_reason'], 'CAST(SUM(n) AS INTEGER) AS n');

/** The loss cells by reason, by competitor and by stage. */
const rolledUpLosses = async (db: SqlDatabase, request: KpiQuery, parts: PeriodParts): Promise<LossCells> => {
  // A query per breakdown, each grouped by its column alone: grouped by the three at once, the rows
  // multiply, and adding them up again in JavaScript took most of the time of a cut by group.
  const [byReason, byCompetitor, byStage] = await Promise.all(
    LOSS_BREAKDOWNS.map(async (column) =>
      amountCellsBy(
        byGroup(request)
          ? await readRolledUp(db, request, parts, CLOSED_BY_GROUP, CLOSES, [column, 'currency'], SUMMED_PARTS, "WHERE status = 'LOST'")
          : await readRolledUp(db, request, parts, LOSSES_BY_MONTH[column], LOSSES, [column, 'currency'], SUMMED_PARTS),
        column,
      ),
    ),
  );
  return { byReason: byReason!, byCompetitor: byCompetitor!, byStage: byStage! };
};

const rolledUpOutcomes = (db: SqlDatabase, request: KpiQuery, parts: PeriodParts): Promise<Row[]> =>
  readRolledUp(db, request, parts, byGroup(request) ? CLOSED_BY_GROUP : OUTCOMES_BY_MONTH, CLOSES, ['status', 'currency'],
    `${SUMMED_PARTS}, CAST(SUM(cycle_ms) AS TEXT) AS cycle_ms`);

/**
 * The pipeline report of now (`pipeline` without asOf or knownAt): the open opportunities by
 * stage, read from the rollup of open opportunities (every month's cells by stage, currency and
 * probability: 239 cells on the million-event history) instead of every open opportunity (4,319
 * rows there, about 6 ms). For one owner it reads the rollup by month and group; cut by account,
 * which no rollup keeps, it reads the opportunities (`pipelineSummary`), as before. The KPI facts
 * follow the same events as the opportunities, and a mutation waits for both (kpiOpenPipeline.int.spec.ts
 * checks that the two reports are equal).
 */
export const openPipeline = async (db: SqlDatabase, pipeline: Pipeline, filter: PipelineSummaryFilter = {}): Promise<PipelineSummary> => {
  if (filter.accountId !== undefined) return pipelineSummary(db, pipeline, filter);
  const byOwner = filter.ownerId !== undefined;
  const rows = await db.all<Row>(
    `SELECT stage, currency, probability, ${SUMMED_PARTS} FROM ${byOwner ? OPEN.byGroup.table : OPEN.byMonth.table}
     ${byOwner ? 'WHERE owner_id = ?' : ''} GROUP BY stage, currency, probability`,
    byOwner ? [filter.ownerId!] : [],
    { planOnce: true },
  );
  return summarisePipeline(rows.map(openCellOf), pipeline, filter.currency);
};

/**
 * A cell of the open-opportunity rollup as a row of the pipeline report: its opportunities'
 * amounts added up, which the report weighs at the cell's probability exactly as each of its terms.
 */
const openCellOf = (row: Row): PipelineRow => ({
  stage: row.stage as string,
  currency: row.currency as string | null,
  amount: row.currency === null ? null : fromUnits(unitsOf(row)),
  probability: Number(row.probability),
  count: Number(row.n),
});

const rolledUpStays = (db: SqlDatabase, request: KpiQuery, parts: PeriodParts): Promise<Row[]> =>
  readRolledUp(db, request, parts, byGroup(request) ? STAYS.byGroup : STAYS.byMonth, STAYS_LEFT, ['stage'],
    'CAST(SUM(n) AS INTEGER) AS n, CAST(SUM(duration_ms) AS TEXT) AS total_ms');

const rolledUpOpen = async (db: SqlDatabase, request: KpiQuery, parts: PeriodParts): Promise<Array<Row & PipelineRow>> => {
  const rollup = byGroup(request) ? OPEN.byGroup : OPEN.byMonth;
  const rows = await readRolledUp(db, request, parts, rollup, OPENINGS, ['stage', 'currency', 'probability'], SUMMED_PARTS);
  return rows.map((row) => ({ ...row, ...openCellOf(row) }));
};
