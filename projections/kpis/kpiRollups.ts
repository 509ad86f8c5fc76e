/**
 * Monthly rollups of the KPI facts, so that a report over a long period reads a few cells per
 * month instead of every fact of the period (issue 11: `kpis` with every section took 520 ms
 * over a million events). Each rollup holds, per month (the KPI's month: of the capture, the
 * disqualification, the close, the opening, the end of a stay) and per value of the KPI's own
 * breakdown, the counts and exact sums of the current fact rows, at one of two grains:
 *
 * - by month and group (`…_by_month_group`): also cut by source, campaign, owner and origin,
 *   for the reports cut by those; nearly as many cells as facts on a large history (62 campaigns
 *   times 6 owners times 10 sources...), but still fewer rows to read;
 * - by month alone (`…_by_month`): a report over the whole history, or by month, reads a few
 *   hundred cells. The loss reasons are kept by reason, by competitor and by stage apart, as
 *   the report shows them, so that none of them multiplies the others.
 *
 * A row of a fact table *contributes* to one cell of each rollup of its kind whose `monthOf` it
 * has (`contributionsOf`). Whenever `apply` changes a fact row, the cells lose what the row
 * contributed before and gain what it contributes now (`moveContributions`), in the same
 * transaction; a bulk rebuild instead works them out once from all the facts (`rebuildRollups`:
 * in SQL on SQLite). The tests compare both with the cells the facts add up to in JavaScript
 * (`expectedRollupRowsAsText`, from `monthOf` and `measuresOf`). A cell is keyed by the JSON
 * of its month, group and values (`cell`), since a UNIQUE key over nullable columns matches no
 * NULL in either database; a cell that falls to zero facts is deleted, so the rollups hold
 * exactly what a rebuild makes.
 *
 * Only the figures of now are rolled up: "as known at" a time, or cut by LIST (the lists a lead
 * is in now), the queries read the facts (kpiQueries.ts).
 */
import { amountParts as splitAmount, WHOLE_SPLIT } from '../../src/domain/opportunities/money';
import type { SqlDatabase, SqlValue } from '../sqlDatabase';

type Row = Record<string, SqlValue>;

/** The group columns of the `…_by_month_group` rollups, as the fact tables name them. */
export const GROUP_COLUMNS = ['source', 'campaign', 'owner_id', 'origin'] as const;

/** The fact table a rollup adds up: lead cycles, opportunities, or stays at a stage (cut by their opportunity's group). */
type Fact = 'cycle' | 'opportunity' | 'stay';

export interface Rollup {
  table: string;
  fact: Fact;
  /** Cut by the group columns too. */
  grouped: boolean;
  /** The fact's columns the cells are also keyed by, named as in the fact table. */
  values: readonly string[];
  /** Summed columns; the first counts the facts in the cell (zero: the cell is deleted). */
  measures: readonly string[];
  /** The month the fact counts in, or null when this rollup does not count it. */
  monthOf(row: Row): SqlValue;
  measuresOf(row: Row): bigint[];
  /** The same, as SQLite works it out over the fact table (`rebuildRollups`). */
  sql: RollupSql;
}

/**
 * A rollup as one `INSERT … SELECT … GROUP BY` over its fact table, which SQLite runs without a
 * row passing through JavaScript: the facts it counts, and its measures as aggregates, in the
 * order of `measures`. The fact's columns are `f.` (a stay's opportunity, whose group cuts it, is
 * `g.`). `monthOf` and `measuresOf` stay the definition: the tests compare the two
 * (kpiRollups.int.spec.ts, kpiFactsFold.int.spec.ts).
 */
interface RollupSql {
  /** The fact's column that holds the month it counts in (null: not counted). */
  month: string;
  /** Which facts count, besides having that month; '' for all. */
  when: string;
  measures: readonly string[];
}

const present = (value: SqlValue | undefined): boolean => value !== null && value !== undefined;
const flag = (value: SqlValue | undefined): bigint => (present(value) ? 1n : 0n);
const big = (value: SqlValue | undefined): bigint => (present(value) ? BigInt(value!) : 0n);

/**
 * The parts of an amount that the KPI queries sum (`SUMMED_AMOUNT`), null as nothing. From the
 * amount's text, not from `amount_whole`: SQLite hands an integer past 2^53 to JavaScript as a
 * float, rounded.
 */
const amountParts = (row: Row): bigint[] => {
  if (!present(row.amount)) return [0n, 0n, 0n];
  const { whole, fraction } = splitAmount(String(row.amount));
  return [whole / WHOLE_SPLIT, whole % WHOLE_SPLIT, fraction];
};

export const AMOUNT_MEASURES = ['n', 'whole_high', 'whole_low', 'fraction'] as const;

/** `SUM` that adds up to 0 over no value, as `measuresOf`'s 0n for a missing one. */
const summed = (expression: string) => `COALESCE(SUM(${expression}), 0)`;
/**
 * The amount's parts as `amountParts` makes them, from the columns that `apply` splits the same
 * amount into (`amount_whole`, `amount_fraction`: null with the amount), as the KPI queries sum them.
 */
const SUMMED_AMOUNT_PARTS = [summed(`f.amount_whole / ${WHOLE_SPLIT}`), summed(`f.amount_whole % ${WHOLE_SPLIT}`), summed('f.amount_fraction')];
const COUNTED = 'COUNT(*)';
const FUNNEL_MEASURES = ['captured', 'contacted', 'mql', 'sqlq', 'disqualified', 'converted'];

/** The rollups of one KPI, at both grains. */
const both = (name: string, definition: Omit<Rollup, 'table' | 'grouped'>): { byGroup: Rollup; byMonth: Rollup } => ({
  byGroup: { ...definition, table: `kpi_${name}_by_month_group`, grouped: true },
  byMonth: { ...definition, table: `kpi_${name}_by_month`, grouped: false },
});

export const FUNNEL = both('funnel', {
  fact: 'cycle',
  values: [],
  measures: FUNNEL_MEASURES,
  monthOf: (cycle) => cycle.captured_month!,
  sql: {
    month: 'captured_month',
    when: '',
    measures: [COUNTED, 'COUNT(f.contacted_at)', 'COUNT(f.mql_at)', 'COUNT(f.sql_at)', 'COUNT(f.disqualified_at)', 'COUNT(f.converted_at)'],
  },
  measuresOf: (cycle) => [
    1n,
    flag(cycle.contacted_at),
    flag(cycle.mql_at),
    flag(cycle.sql_at),
    flag(cycle.disqualified_at),
    flag(cycle.converted_at),
  ],
});

export const DISQUALIFIED = both('disqualified', {
  fact: 'cycle',
  values: ['disqualification_reason'],
  measures: ['n'],
  monthOf: (cycle) => (present(cycle.disqualified_at) ? cycle.disqualified_month! : null),
  measuresOf: () => [1n],
  sql: { month: 'disqualified_month', when: 'f.disqualified_at IS NOT NULL', measures: [COUNTED] },
});

const closedMonth = (opportunity: Row): SqlValue => (opportunity.status === 'OPEN' ? null : opportunity.closed_month!);
const lostMonth = (opportunity: Row): SqlValue => (opportunity.status === 'LOST' ? opportunity.closed_month! : null);
const withAmount = (opportunity: Row) => [1n, ...amountParts(opportunity)];
const CLOSED_SQL: RollupSql = { month: 'closed_month', when: "f.status IS NOT 'OPEN'", measures: [COUNTED, ...SUMMED_AMOUNT_PARTS, summed('f.cycle_ms')] };
const LOST_SQL: RollupSql = { month: 'closed_month', when: "f.status = 'LOST'", measures: [COUNTED, ...SUMMED_AMOUNT_PARTS] };

/** Closes by outcome, and the losses by reason, competitor and stage at once: the grouped reports read one table. */
export const CLOSED_BY_GROUP = both('closed', {
  fact: 'opportunity',
  values: ['status', 'loss_reason', 'competitor', 'stage', 'currency'],
  measures: [...AMOUNT_MEASURES, 'cycle_ms'],
  monthOf: closedMonth,
  measuresOf: (opportunity) => [...withAmount(opportunity), big(opportunity.cycle_ms)],
  sql: CLOSED_SQL,
}).byGroup;

export const OUTCOMES_BY_MONTH = both('outcomes', {
  fact: 'opportunity',
  values: ['status', 'currency'],
  measures: [...AMOUNT_MEASURES, 'cycle_ms'],
  monthOf: closedMonth,
  measuresOf: (opportunity) => [...withAmount(opportunity), big(opportunity.cycle_ms)],
  sql: CLOSED_SQL,
}).byMonth;

/** The losses by month, one rollup per breakdown of the report, by its column. */
export const LOSSES_BY_MONTH: Record<'loss_reason' | 'competitor' | 'stage', Rollup> = {
  loss_reason: both('lost_by_reason', { fact: 'opportunity', values: ['loss_reason', 'currency'], measures: AMOUNT_MEASURES, monthOf: lostMonth, measuresOf: withAmount, sql: LOST_SQL }).byMonth,
  competitor: both('lost_by_competitor', { fact: 'opportunity', values: ['competitor', 'currency'], measures: AMOUNT_MEASURES, monthOf: lostMonth, measuresOf: withAmount, sql: LOST_SQL }).byMonth,
  stage: both('lost_by_stage', { fact: 'opportunity', values: ['stage', 'currency'], measures: AMOUNT_MEASURES, monthOf: lostMonth, measuresOf: withAmount, sql: LOST_SQL }).byMonth,
};

export const OPEN = both('open', {
  fact: 'opportunity',
  values: ['stage', 'currency', 'probability'],
  measures: AMOUNT_MEASURES,
  monthOf: (opportunity) => (opportunity.status === 'OPEN' ? opportunity.opened_month! : null),
  measuresOf: withAmount,
  sql: { month: 'opened_month', when: "f.status = 'OPEN'", measures: [COUNTED, ...SUMMED_AMOUNT_PARTS] },
});

export const STAYS = both('stays', {
  fact: 'stay',
  values: ['stage'],
  measures: ['n', 'duration_ms'],
  monthOf: (stay) => (present(stay.left_at) ? stay.left_month! : null),
  measuresOf: (stay) => [1n, big(stay.duration_ms)],
  sql: { month: 'left_month', when: 'f.left_at IS NOT NULL', measures: [COUNTED, summed('f.duration_ms')] },
});

const ROLLUPS: readonly Rollup[] = [
  FUNNEL.byGroup,
  FUNNEL.byMonth,
  DISQUALIFIED.byGroup,
  DISQUALIFIED.byMonth,
  CLOSED_BY_GROUP,
  OUTCOMES_BY_MONTH,
  ...Object.values(LOSSES_BY_MONTH),
  OPEN.byGroup,
  OPEN.byMonth,
  STAYS.byGroup,
  STAYS.byMonth,
];
export const ROLLUP_TABLES = ROLLUPS.map((rollup) => rollup.table);

/** A rollup's key columns, in order: the month, the group columns if it has them, its values. */
export const rollupColumns = (rollup: Rollup): string[] => ['month', ...(rollup.grouped ? GROUP_COLUMNS : []), ...rollup.values];

export const CREATE_ROLLUPS = ROLLUPS.map(
  (rollup) => `
  CREATE TABLE IF NOT EXISTS ${rollup.table} (
    cell TEXT PRIMARY KEY,
    ${rollupColumns(rollup)
      .map((column) => `${column} ${column === 'probability' ? 'INTEGER' : 'TEXT'}`)
      .join(',\n    ')},
    ${rollup.measures.map((column) => `${column} BIGINT NOT NULL`).join(',\n    ')}
  );`,
).join('');

/** What one fact row adds to one cell. */
export interface Contribution {
  rollup: Rollup;
  /** In `keyColumns` order. */
  key: SqlValue[];
  measures: bigint[];
}

/** Keys compare as text: the same value read back from SQLite or PostgreSQL makes the same cell. */
const keyValue = (value: SqlValue | undefined): SqlValue => (present(value) ? String(value) : null);

/**
 * What a current row of a fact table adds to the rollups; for a stay, `group` is its
 * opportunity, whose source, campaign, owner and origin cut it.
 */
export const contributionsOf = (fact: Fact, row: Row, group: Row = row): Contribution[] => {
  const made: Contribution[] = [];
  for (const rollup of ROLLUPS) {
    if (rollup.fact !== fact) continue;
    const month = rollup.monthOf(row);
    if (month === null) continue;
    made.push({
      rollup,
      key: [
        keyValue(month),
        ...(rollup.grouped ? GROUP_COLUMNS.map((column) => keyValue(group[column])) : []),
        ...rollup.values.map((column) => keyValue(row[column])),
      ],
      measures: rollup.measuresOf(row),
    });
  }
  return made;
};

/** The cell's id within its table: what the `cell` column holds. */
const cellKey = (contribution: Contribution): string => JSON.stringify(contribution.key);

/** Contributions added up by cell. */
class Cells {
  readonly byCell = new Map<string, Contribution>();

  add(contributions: readonly Contribution[], sign: 1n | -1n): this {
    for (const item of contributions) {
      const id = `${item.rollup.table} ${cellKey(item)}`;
      const known = this.byCell.get(id);
      if (known === undefined) this.byCell.set(id, { ...item, measures: item.measures.map((value) => value * sign) });
      else known.measures = known.measures.map((value, index) => value + item.measures[index]! * sign);
    }
    return this;
  }
}

const upsertOf = (rollup: Rollup): string => {
  const columns = ['cell', ...rollupColumns(rollup), ...rollup.measures];
  return `INSERT INTO ${rollup.table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})
    ON CONFLICT (cell) DO UPDATE SET ${rollup.measures.map((column) => `${column} = ${rollup.table}.${column} + excluded.${column}`).join(', ')}`;
};
const UPSERT = new Map(ROLLUPS.map((rollup) => [rollup, upsertOf(rollup)]));

const keyParams = (item: Contribution): SqlValue[] =>
  item.key.map((value, index) => (rollupColumns(item.rollup)[index] === 'probability' && value !== null ? Number(value) : value));

/** Adds each cell's measures to its row (made if missing), and deletes the rows that fall to zero facts. */
const addToRollups = async (tx: SqlDatabase, cells: Cells): Promise<void> => {
  for (const item of cells.byCell.values()) {
    if (item.measures.every((value) => value === 0n)) continue;
    const key = cellKey(item);
    await tx.write(UPSERT.get(item.rollup)!, [key, ...keyParams(item), ...item.measures]);
    if (item.measures[0]! < 0n) await tx.write(`DELETE FROM ${item.rollup.table} WHERE cell = ? AND ${item.rollup.measures[0]} = 0`, [key]);
  }
};

/** A fact row changed from `before` to `after` (either empty: made, or no longer counted). */
export const moveContributions = (tx: SqlDatabase, before: readonly Contribution[], after: readonly Contribution[]): Promise<void> =>
  addToRollups(tx, new Cells().add(before, -1n).add(after, 1n));

/** Fact rows read a page at a time, for working the rollups out without holding every fact in memory. */
const PAGE_ROWS = 5_000;

/**
 * Every row `select` gives, in the order of `key` (its unique key, as it reads in `select`'s
 * rows and in SQL), a page at a time: `select(after)` takes the condition that follows the last
 * row of the previous page ('' for the first), and the parameters go with it.
 */
async function forEachPage(
  db: SqlDatabase,
  pageRows: number,
  key: ReadonlyArray<readonly [string, string]>,
  select: (after: string) => string,
  each: (row: Row) => void,
) {
  let last: Row | undefined;
  for (;;) {
    const after = last === undefined ? '' : `(${key.map(([column]) => column).join(', ')}) > (${key.map(() => '?').join(', ')})`;
    const params = last === undefined ? [] : key.map(([, field]) => last![field]!);
    const rows = await db.all<Row>(`${select(after)} ORDER BY ${key.map(([column]) => column).join(', ')} LIMIT ${pageRows}`, params);
    rows.forEach(each);
    if (rows.length < pageRows) return;
    last = rows.at(-1);
  }
}

const where = (...conditions: string[]) => {
  const present = conditions.filter((condition) => condition !== '');
  return present.length === 0 ? '' : `WHERE ${present.join(' AND ')}`;
};

/** Every rollup worked out again from the current facts: what the incremental rollups must equal. */
const rollupsOfFacts = async (db: SqlDatabase, pageRows = PAGE_ROWS): Promise<Cells> => {
  const cells = new Cells();
  await forEachPage(db, pageRows, [['lead_id', 'lead_id'], ['cycle', 'cycle']], (after) => `SELECT * FROM kpi_lead_cycles ${where(after)}`, (cycle) =>
    cells.add(contributionsOf('cycle', cycle), 1n),
  );
  await forEachPage(db, pageRows, [['opportunity_id', 'opportunity_id']], (after) => `SELECT * FROM kpi_opportunities ${where(after)}`, (opportunity) =>
    cells.add(contributionsOf('opportunity', opportunity), 1n),
  );
  // Each stay left, with its opportunity's group beside it.
  const group = GROUP_COLUMNS.map((column) => `o.${column} AS group_${column}`).join(', ');
  await forEachPage(
    db,
    pageRows,
    [['s.opportunity_id', 'opportunity_id'], ['s.seq', 'seq']],
    (after) => `SELECT s.*, ${group} FROM kpi_stage_stays s JOIN kpi_opportunities o ON o.opportunity_id = s.opportunity_id
      ${where('s.left_at IS NOT NULL', after)}`,
    (stay) => cells.add(contributionsOf('stay', stay, Object.fromEntries(GROUP_COLUMNS.map((column) => [column, stay[`group_${column}`]!]))), 1n),
  );
  return cells;
};

/** Where each kind of fact is read from: a stay with its opportunity (`g`), whose group cuts it. */
const FACTS_FROM: Record<Fact, string> = {
  cycle: 'kpi_lead_cycles f',
  opportunity: 'kpi_opportunities f',
  stay: 'kpi_stage_stays f JOIN kpi_opportunities g ON g.opportunity_id = f.opportunity_id',
};

/**
 * The statement that fills a rollup from its facts, each cell keyed as `cellKey` keys it: the
 * JSON array of its key as text (`keyValue`), which SQLite's `json_array` writes as
 * `JSON.stringify` does (every character of the Basic Multilingual Plane and beyond compared
 * with SQLite 3.53). The key columns hold the text too, and `probability` its number, as `keyParams`.
 */
const rebuildSqlOf = (rollup: Rollup): string => {
  const group = rollup.fact === 'stay' ? 'g' : 'f';
  const keys = [`f.${rollup.sql.month}`, ...(rollup.grouped ? GROUP_COLUMNS.map((column) => `${group}.${column}`) : []), ...rollup.values.map((column) => `f.${column}`)];
  const asText = keys.map((key) => `CAST(${key} AS TEXT)`);
  const stored = rollupColumns(rollup).map((column, index) => (column === 'probability' ? keys[index]! : asText[index]!));
  const when = [`f.${rollup.sql.month} IS NOT NULL`, ...(rollup.sql.when === '' ? [] : [`(${rollup.sql.when})`])].join(' AND ');
  return `INSERT INTO ${rollup.table} (cell, ${rollupColumns(rollup).join(', ')}, ${rollup.measures.join(', ')})
    SELECT json_array(${asText.join(', ')}), ${stored.join(', ')}, ${rollup.sql.measures.join(', ')}
    FROM ${FACTS_FROM[rollup.fact]} WHERE ${when} GROUP BY ${keys.join(', ')}`;
};
const REBUILD_SQL = new Map(ROLLUPS.map((rollup) => [rollup, rebuildSqlOf(rollup)]));

/**
 * Empties the rollups and fills them from the facts (the end of a bulk rebuild). On SQLite (a
 * bulk rebuild's staging database) one statement per rollup adds the facts up: on the insights
 * history (1,004,970 events), reading every fact into JavaScript and adding its contributions up
 * there took 3.3 to 4.5 s at the end of the stage, which the seed and the replay wait for; these
 * statements 0.9 to 1.4 s (`npm run bench:rollups`, medians of two runs).
 */
export const rebuildRollups = async (tx: SqlDatabase): Promise<void> => {
  if (tx.dialect !== 'sqlite') return rebuildRollupsInJavaScript(tx);
  for (const rollup of ROLLUPS) {
    await tx.run(`DELETE FROM ${rollup.table}`);
    await tx.run(REBUILD_SQL.get(rollup)!);
  }
};

/** `rebuildRollups` in JavaScript: every fact read, its contributions added up by cell (PostgreSQL, and the baseline of `npm run bench:rollups`). */
export const rebuildRollupsInJavaScript = async (tx: SqlDatabase): Promise<void> => {
  const cells = [...(await rollupsOfFacts(tx)).byCell.values()];
  for (const rollup of ROLLUPS) {
    await tx.run(`DELETE FROM ${rollup.table}`);
    const rows = cells
      .filter((item) => item.rollup === rollup && item.measures[0] !== 0n)
      .map((item) => [cellKey(item), ...keyParams(item), ...item.measures]);
    if (rows.length > 0) await tx.insertRows(rollup.table, ['cell', ...rollupColumns(rollup), ...rollup.measures], rows);
  }
};

/** The rollups' rows as text, sorted: for comparing them with `expectedRollupRowsAsText`. */
export const rollupRowsAsText = async (db: SqlDatabase): Promise<string[]> => {
  const rows: string[] = [];
  for (const rollup of ROLLUPS) {
    for (const row of await db.all<Row>(`SELECT * FROM ${rollup.table}`)) {
      rows.push(JSON.stringify([rollup.table, row.cell, ...rollup.measures.map((column) => String(row[column]))]));
    }
  }
  return rows.sort();
};

/** The rollups worked out from the facts (`pageRows` at a time), in the form of `rollupRowsAsText`. */
export const expectedRollupRowsAsText = async (db: SqlDatabase, pageRows?: number): Promise<string[]> =>
  [...(await rollupsOfFacts(db, pageRows)).byCell.values()]
    .filter((item) => item.measures[0] !== 0n)
    .map((item) => JSON.stringify([item.rollup.table, cellKey(item), ...item.measures.map(String)]))
    .sort();
