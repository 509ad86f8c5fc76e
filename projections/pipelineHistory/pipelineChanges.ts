/**
 * How the open pipeline changed, by month and by day of business time, as known now: for each
 * cell of the pipeline report (stage, currency, probability), the opportunities (and their
 * amounts) that became open there minus those that stopped being open. The pipeline as it was at
 * a time A is then the changes of the months before A's month, plus those of its days before A's
 * day, plus the versions that started or ended on A's day up to A (`openPipelineAt`): a few
 * hundred cells and a day of versions, instead of every version open at A (issue 11: 7,555 rows
 * and 5 ms of SQL in the middle of the million-event history).
 *
 * A version of `read_pipeline_history` open as known now (status OPEN) adds itself to the cells
 * of its start (`valid_from`) and takes itself away from those of its end (`valid_to`), if it
 * ended: a version is open at A exactly when it started by A and did not end by A. `apply` moves
 * the cells in the transaction that writes the versions; a bulk rebuild works them out once from
 * the versions (`rebuildPipelineChanges`), which is also what the tests compare the cells with.
 * A cell whose sums all fall to zero is deleted, so both hold the same rows.
 *
 * The pipeline as known at a past time (`knownAt`), or cut by owner or account, is read from the
 * versions, as before (pipelineHistoryReadModel.ts).
 */
import { amountParts, WHOLE_SPLIT } from '../../src/domain/opportunities/money';
import type { SqlDatabase, SqlValue } from '../sqlDatabase';
import type { Money } from '../../src/domain/values';

/** What the cells read of a version (a `PipelineEntry` of pipelineHistoryReadModel.ts). */
interface VersionEntry {
  status: string;
  stage: string;
  probability: number;
  amount?: Money;
}

const GRAINS = [
  { table: 'read_pipeline_changes_by_month', length: 7 },
  { table: 'read_pipeline_changes_by_day', length: 10 },
] as const;

export const PIPELINE_CHANGE_TABLES = GRAINS.map((grain) => grain.table);

/** Key columns: `period` is YYYY-MM or YYYY-MM-DD; a version without an amount has currency '' (a key cannot be null). */
const KEY = ['period', 'stage', 'currency', 'probability'] as const;
const MEASURES = ['n', 'whole_high', 'whole_low', 'nanos'] as const;

export const CREATE_PIPELINE_CHANGES = GRAINS.map(
  ({ table }) => `
  CREATE TABLE IF NOT EXISTS ${table} (
    period TEXT NOT NULL,
    stage TEXT NOT NULL,
    currency TEXT NOT NULL,
    probability INTEGER NOT NULL,
    ${MEASURES.map((column) => `${column} BIGINT NOT NULL`).join(',\n    ')},
    PRIMARY KEY (period, stage, currency, probability)
  );`,
).join('');

export const DROP_PIPELINE_CHANGES = PIPELINE_CHANGE_TABLES.map((table) => `DROP TABLE IF EXISTS ${table};`).join('\n');

/** What an open version adds to its cells: one opportunity and the parts of its amount that SQL sums exactly. */
const measuresOf = (entry: VersionEntry, sign: bigint): bigint[] => {
  const parts = entry.amount ? amountParts(entry.amount.amount) : { whole: 0n, fraction: 0n };
  return [sign, (parts.whole / WHOLE_SPLIT) * sign, (parts.whole % WHOLE_SPLIT) * sign, parts.fraction * sign];
};

const UPSERT = new Map(
  GRAINS.map(({ table }) => [
    table,
    `INSERT INTO ${table} (${[...KEY, ...MEASURES].join(', ')}) VALUES (${[...KEY, ...MEASURES].map(() => '?').join(', ')})
     ON CONFLICT (${KEY.join(', ')}) DO UPDATE SET ${MEASURES.map((column) => `${column} = ${table}.${column} + excluded.${column}`).join(', ')}`,
  ]),
);
const DELETE_EMPTY = new Map(
  GRAINS.map(({ table }) => [
    table,
    `DELETE FROM ${table} WHERE ${KEY.map((column) => `${column} = ?`).join(' AND ')} AND ${MEASURES.map((column) => `${column} = 0`).join(' AND ')}`,
  ]),
);

/**
 * A version changed at `at` from `before` to `after`, each the version open as known now, or
 * undefined when it is not open (or none): the cells of that day and month lose the one and gain
 * the other, summed first, so that a change of amount alone moves one cell.
 */
export const movePipelineChanges = async (
  tx: SqlDatabase,
  at: string,
  before: VersionEntry | undefined,
  after: VersionEntry | undefined,
): Promise<void> => {
  const cells = new Map<string, { key: SqlValue[]; measures: bigint[] }>();
  const add = (entry: VersionEntry | undefined, sign: bigint) => {
    if (entry?.status !== 'OPEN') return;
    const key: SqlValue[] = [entry.stage, entry.amount?.currency ?? '', entry.probability];
    const id = JSON.stringify(key);
    const measures = measuresOf(entry, sign);
    const known = cells.get(id);
    if (known === undefined) cells.set(id, { key, measures });
    else known.measures = known.measures.map((value, index) => value + measures[index]!);
  };
  add(before, -1n);
  add(after, 1n);
  for (const { key, measures } of cells.values()) {
    if (measures.every((value) => value === 0n)) continue;
    for (const { table, length } of GRAINS) {
      const cell = [at.slice(0, length), ...key];
      await tx.run(UPSERT.get(table)!, [...cell, ...measures]);
      await tx.run(DELETE_EMPTY.get(table)!, cell);
    }
  }
};

/** A version's cell and what it adds to it (`sign` ''), or takes away ('-'), as the cells' columns. */
const signedVersion = (sign: '' | '-') =>
  `stage, COALESCE(currency, '') AS currency, probability, ${sign}1 AS n,
   ${sign}(COALESCE(amount_whole, 0) / ${WHOLE_SPLIT}) AS whole_high, ${sign}(COALESCE(amount_whole, 0) % ${WHOLE_SPLIT}) AS whole_low,
   ${sign}COALESCE(amount_nanos, 0) AS nanos`;

/** Each open version's start (+) and end (-), as rows of the cells' columns; `period` its first `length` characters. */
const startsAndEnds = (length: number) =>
  `SELECT substr(valid_from, 1, ${length}) AS period, ${signedVersion('')} FROM read_pipeline_history WHERE status = 'OPEN'
   UNION ALL SELECT substr(valid_to, 1, ${length}) AS period, ${signedVersion('-')}
     FROM read_pipeline_history WHERE status = 'OPEN' AND valid_to IS NOT NULL`;

const SUMS = MEASURES.map((column) => `SUM(${column})`).join(', ');
const NOT_ALL_ZERO = MEASURES.map((column) => `SUM(${column}) <> 0`).join(' OR ');

/** Empties the cells and works them out from the versions (the end of a bulk rebuild). */
export const rebuildPipelineChanges = async (tx: SqlDatabase): Promise<void> => {
  for (const { table, length } of GRAINS) {
    await tx.run(`DELETE FROM ${table}`);
    await tx.run(
      `INSERT INTO ${table} (${[...KEY, ...MEASURES].join(', ')})
       SELECT ${KEY.join(', ')}, ${SUMS} FROM (${startsAndEnds(length)}) changes
       GROUP BY ${KEY.join(', ')} HAVING ${NOT_ALL_ZERO}`,
    );
  }
};

/** The cells as text, sorted; `expected`: as worked out from the versions. For the tests. */
export const pipelineChangeRowsAsText = async (db: SqlDatabase, expected = false): Promise<string[]> => {
  const rows: string[] = [];
  for (const { table, length } of GRAINS) {
    const sql = expected
      ? `SELECT ${KEY.join(', ')}, ${MEASURES.map((column) => `CAST(SUM(${column}) AS TEXT) AS ${column}`).join(', ')}
         FROM (${startsAndEnds(length)}) changes GROUP BY ${KEY.join(', ')} HAVING ${NOT_ALL_ZERO}`
      : `SELECT ${KEY.join(', ')}, ${MEASURES.map((column) => `CAST(${column} AS TEXT) AS ${column}`).join(', ')} FROM ${table}`;
    for (const row of await db.all<Record<string, SqlValue>>(sql)) {
      rows.push(JSON.stringify([table, ...KEY.map((column) => String(row[column])), ...MEASURES.map((column) => row[column])]));
    }
  }
  return rows.sort();
};

const DAY_START = 'T00:00:00.000Z';

/**
 * The open pipeline at `asOf` (a UTC ISO-8601 instant of a four-digit year), as known now, by
 * cell: the SQL whose rows are stage, currency (null without an amount), probability, the count
 * (`opportunities`) and the sums `whole_high`, `whole_low` and `nanos`, as text.
 */
export const openPipelineAt = (asOf: string): { sql: string; params: SqlValue[] } => {
  const [month, day] = [asOf.slice(0, 7), asOf.slice(0, 10)];
  const measures = MEASURES.join(', ');
  const versions = (sign: '' | '-', time: string) =>
    `SELECT ${signedVersion(sign)} FROM read_pipeline_history WHERE status = 'OPEN' AND ${time} >= ? AND ${time} <= ?`;
  return {
    sql: `SELECT stage, NULLIF(currency, '') AS currency, probability, CAST(SUM(n) AS TEXT) AS opportunities,
        CAST(SUM(whole_high) AS TEXT) AS whole_high, CAST(SUM(whole_low) AS TEXT) AS whole_low, CAST(SUM(nanos) AS TEXT) AS nanos
      FROM (
        SELECT stage, currency, probability, ${measures} FROM read_pipeline_changes_by_month WHERE period < ?
        UNION ALL SELECT stage, currency, probability, ${measures} FROM read_pipeline_changes_by_day WHERE period >= ? AND period < ?
        UNION ALL ${versions('', 'valid_from')}
        UNION ALL ${versions('-', 'valid_to')}
      ) open_then
      GROUP BY stage, currency, probability HAVING SUM(n) <> 0`,
    params: [month, `${month}-01`, day, `${day}${DAY_START}`, asOf, `${day}${DAY_START}`, asOf],
  };
};
