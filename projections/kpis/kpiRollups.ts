/**
 * Monthly rollups of the KPI facts, so that a report over a long period reads a few thousand
 * cells instead of every fact of the period (issue 11: `kpis` with every section took 520 ms
 * over a million events). Each rollup holds, per month and per group (source, campaign, owner,
 * origin and the KPI's own values), the counts and exact sums of the current fact rows:
 *
 * - `kpi_funnel_by_month`: lead cycles by the month of capture, with how many were contacted,
 *   reached MQL and SQL, were disqualified or converted;
 * - `kpi_disqualified_by_month`: disqualified cycles by the month of the disqualification and reason;
 * - `kpi_closed_by_month`: opportunities closed (WON or LOST) by the month of the close, outcome,
 *   loss reason, competitor, stage and currency, with their amounts and sales cycles;
 * - `kpi_open_by_month`: open opportunities by the month they were opened, stage, currency and
 *   probability, with their amounts;
 * - `kpi_stays_by_month`: stays at a stage by the month they ended, with their durations, cut
 *   by their opportunity's source, campaign, owner and origin.
 *
 * A row of a fact table *contributes* to one cell of some rollups (`contributionsOf*`). Whenever
 * `apply` changes a fact row, the cells lose what the row contributed before and gain what it
 * contributes now (`moveContributions`), in the same transaction; a bulk rebuild instead works
 * them out once from all the facts (`rebuildRollups`), which is also what the tests compare the
 * incremental rollups with. A cell is keyed by the JSON of its month and values (`cell`), since
 * a UNIQUE key over nullable columns matches no NULL in either database; a cell that falls to
 * zero is deleted, so the rollups hold exactly what a rebuild makes.
 *
 * Only the figures of now are rolled up: "as known at" a time, or cut by LIST (the lists a lead
 * is in now), the queries read the facts (kpiQueries.ts).
 */
import { amountParts as splitAmount, WHOLE_SPLIT } from '../../src/domain/opportunities/money';
import type { SqlDatabase, SqlValue } from '../sqlDatabase';

type Row = Record<string, SqlValue>;

/** The group columns every rollup has, as the fact tables name them. */
export const GROUP_COLUMNS = ['source', 'campaign', 'owner_id', 'origin'] as const;

interface Rollup {
  table: string;
  /** Key columns after the month and the group columns. */
  values: readonly string[];
  /** Summed columns; the first counts the facts in the cell (zero: the cell is deleted). */
  measures: readonly string[];
}

export const FUNNEL: Rollup = {
  table: 'kpi_funnel_by_month',
  values: [],
  measures: ['captured', 'contacted', 'mql', 'sqlq', 'disqualified', 'converted'],
};
export const DISQUALIFIED: Rollup = { table: 'kpi_disqualified_by_month', values: ['reason'], measures: ['n'] };
const AMOUNT_MEASURES = ['n', 'whole_high', 'whole_low', 'fraction'] as const;
export const CLOSED: Rollup = {
  table: 'kpi_closed_by_month',
  values: ['status', 'loss_reason', 'competitor', 'stage', 'currency'],
  measures: [...AMOUNT_MEASURES, 'cycle_ms'],
};
export const OPEN: Rollup = { table: 'kpi_open_by_month', values: ['stage', 'currency', 'probability'], measures: AMOUNT_MEASURES };
export const STAYS: Rollup = { table: 'kpi_stays_by_month', values: ['stage'], measures: ['n', 'duration_ms'] };

const ROLLUPS = [FUNNEL, DISQUALIFIED, CLOSED, OPEN, STAYS];
export const ROLLUP_TABLES = ROLLUPS.map((rollup) => rollup.table);

const keyColumns = (rollup: Rollup) => ['month', ...GROUP_COLUMNS, ...rollup.values];

export const CREATE_ROLLUPS = ROLLUPS.map(
  (rollup) => `
  CREATE TABLE IF NOT EXISTS ${rollup.table} (
    cell TEXT PRIMARY KEY,
    ${keyColumns(rollup)
      .map((column) => `${column} ${column === 'probability' ? 'INTEGER' : 'TEXT'}`)
      .join(',\n    ')},
    ${rollup.measures.map((column) => `${column} BIGINT NOT NULL`).join(',\n    ')}
  );`,
).join('');

/** What one fact row adds to one cell. */
export interface Contribution {
  rollup: Rollup;
  /** The month, the group columns and the rollup's values, in `keyColumns` order. */
  key: SqlValue[];
  measures: bigint[];
}

/** Keys compare as text: the same value read back from SQLite or PostgreSQL makes the same cell. */
const keyValue = (value: SqlValue | undefined): SqlValue => (value === null || value === undefined ? null : String(value));
const flag = (value: SqlValue | undefined): bigint => (value === null || value === undefined ? 0n : 1n);
const big = (value: SqlValue | undefined): bigint => (value === null || value === undefined ? 0n : BigInt(value));

const contribution = (rollup: Rollup, month: SqlValue | undefined, group: Row, values: Row, measures: bigint[]): Contribution => ({
  rollup,
  key: [keyValue(month), ...GROUP_COLUMNS.map((column) => keyValue(group[column])), ...rollup.values.map((column) => keyValue(values[column]))],
  measures,
});

/**
 * The parts of an amount that the KPI queries sum (`SUMMED_AMOUNT`), null as nothing. From the
 * amount's text, not from `amount_whole`: SQLite hands an integer past 2^53 to JavaScript as a
 * float, rounded.
 */
const amountParts = (row: Row): bigint[] => {
  if (row.amount === null || row.amount === undefined) return [0n, 0n, 0n];
  const { whole, fraction } = splitAmount(String(row.amount));
  return [whole / WHOLE_SPLIT, whole % WHOLE_SPLIT, fraction];
};

/** A current row of `kpi_lead_cycles`. */
export const contributionsOfCycle = (cycle: Row): Contribution[] => {
  const funnel = contribution(FUNNEL, cycle.captured_month, cycle, {}, [
    1n,
    flag(cycle.contacted_at),
    flag(cycle.mql_at),
    flag(cycle.sql_at),
    flag(cycle.disqualified_at),
    flag(cycle.converted_at),
  ]);
  if (cycle.disqualified_at === null || cycle.disqualified_at === undefined) return [funnel];
  return [funnel, contribution(DISQUALIFIED, cycle.disqualified_month, cycle, { reason: cycle.disqualification_reason }, [1n])];
};

/** A current row of `kpi_opportunities`. */
export const contributionsOfOpportunity = (opportunity: Row): Contribution[] => {
  if (opportunity.status === 'OPEN') {
    return [contribution(OPEN, opportunity.opened_month, opportunity, opportunity, [1n, ...amountParts(opportunity)])];
  }
  return [contribution(CLOSED, opportunity.closed_month, opportunity, opportunity, [1n, ...amountParts(opportunity), big(opportunity.cycle_ms)])];
};

/** A current row of `kpi_stage_stays`, cut by its opportunity's group: nothing until it is left. */
export const contributionsOfStay = (stay: Row, opportunity: Row): Contribution[] =>
  stay.left_at === null || stay.left_at === undefined
    ? []
    : [contribution(STAYS, stay.left_month, opportunity, stay, [1n, big(stay.duration_ms)])];

const cellOf = (contribution: Contribution): string => JSON.stringify([contribution.rollup.table, ...contribution.key]);

/** Contributions added up by cell. */
class Cells {
  readonly byCell = new Map<string, Contribution>();

  add(contributions: readonly Contribution[], sign: 1n | -1n): this {
    for (const item of contributions) {
      const id = cellOf(item);
      const known = this.byCell.get(id);
      if (known === undefined) this.byCell.set(id, { ...item, measures: item.measures.map((value) => value * sign) });
      else known.measures = known.measures.map((value, index) => value + item.measures[index]! * sign);
    }
    return this;
  }
}

/** The cell's id without the table: what the `cell` column holds. */
const cellKey = (contribution: Contribution): string => JSON.stringify(contribution.key);

const upsertOf = (rollup: Rollup): string => {
  const columns = ['cell', ...keyColumns(rollup), ...rollup.measures];
  return `INSERT INTO ${rollup.table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})
    ON CONFLICT (cell) DO UPDATE SET ${rollup.measures.map((column) => `${column} = ${rollup.table}.${column} + excluded.${column}`).join(', ')}`;
};
const UPSERT = new Map(ROLLUPS.map((rollup) => [rollup, upsertOf(rollup)]));

const keyParams = (item: Contribution): SqlValue[] =>
  item.key.map((value, index) => (keyColumns(item.rollup)[index] === 'probability' && value !== null ? Number(value) : value));

/** Adds each cell's measures to its row (made if missing), and deletes the rows that fall to zero facts. */
const addToRollups = async (tx: SqlDatabase, cells: Cells): Promise<void> => {
  for (const item of cells.byCell.values()) {
    if (item.measures.every((value) => value === 0n)) continue;
    const key = cellKey(item);
    await tx.run(UPSERT.get(item.rollup)!, [key, ...keyParams(item), ...item.measures]);
    if (item.measures[0]! < 0n) await tx.run(`DELETE FROM ${item.rollup.table} WHERE cell = ? AND ${item.rollup.measures[0]} = 0`, [key]);
  }
};

/** A fact row changed from `before` to `after` (either absent: made, or no longer counted). */
export const moveContributions = (tx: SqlDatabase, before: readonly Contribution[], after: readonly Contribution[]): Promise<void> =>
  addToRollups(tx, new Cells().add(before, -1n).add(after, 1n));

/** Every rollup worked out again from the current facts: what the incremental rollups must equal. */
export const rollupsOfFacts = async (db: SqlDatabase): Promise<Cells> => {
  const cells = new Cells();
  for (const cycle of await db.all<Row>('SELECT * FROM kpi_lead_cycles')) cells.add(contributionsOfCycle(cycle), 1n);
  const opportunities = new Map<string, Row>();
  for (const opportunity of await db.all<Row>('SELECT * FROM kpi_opportunities')) {
    opportunities.set(opportunity.opportunity_id as string, opportunity);
    cells.add(contributionsOfOpportunity(opportunity), 1n);
  }
  for (const stay of await db.all<Row>('SELECT * FROM kpi_stage_stays WHERE left_at IS NOT NULL')) {
    const opportunity = opportunities.get(stay.opportunity_id as string);
    if (opportunity !== undefined) cells.add(contributionsOfStay(stay, opportunity), 1n);
  }
  return cells;
};

/** Empties the rollups and fills them from the facts (the end of a bulk rebuild). */
export const rebuildRollups = async (tx: SqlDatabase): Promise<void> => {
  const cells = await rollupsOfFacts(tx);
  for (const table of ROLLUP_TABLES) await tx.run(`DELETE FROM ${table}`);
  for (const rollup of ROLLUPS) {
    const rows = [...cells.byCell.values()]
      .filter((item) => item.rollup === rollup && item.measures[0] !== 0n)
      .map((item) => [cellKey(item), ...keyParams(item), ...item.measures]);
    await tx.insertRows(rollup.table, ['cell', ...keyColumns(rollup), ...rollup.measures], rows);
  }
};

/** The rollups' rows as text, sorted: for comparing them with `rollupsOfFacts`. */
export const rollupRowsAsText = async (db: SqlDatabase): Promise<string[]> => {
  const rows: string[] = [];
  for (const rollup of ROLLUPS) {
    for (const row of await db.all<Row>(`SELECT * FROM ${rollup.table}`)) {
      rows.push(JSON.stringify([rollup.table, row.cell, ...rollup.measures.map((column) => String(row[column]))]));
    }
  }
  return rows.sort();
};

/** `rollupsOfFacts` in the form of `rollupRowsAsText`. */
export const expectedRollupRowsAsText = async (db: SqlDatabase): Promise<string[]> =>
  [...(await rollupsOfFacts(db)).byCell.values()]
    .filter((item) => item.measures[0] !== 0n)
    .map((item) => JSON.stringify([item.rollup.table, cellKey(item), ...item.measures.map(String)]))
    .sort();
