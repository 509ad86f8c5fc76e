/**
 * Relay-style pages over a read-model table kept in alphabetical order: rows are sorted by a
 * `sort_key` column (a folded name) and then by `id`, and a cursor is the last row's pair, so
 * pages neither repeat nor skip rows while others are added.
 */
import { ValidationError } from '../src/core/errors';
import type { ReportCache } from './reportCache';
import type { SqlDatabase, SqlValue } from './sqlDatabase';

export interface Page<T> {
  nodes: T[];
  /** All rows matching the filter, whatever the page. */
  totalCount: number;
  hasNextPage: boolean;
  endCursor?: string;
  /** One per node, in the same order. */
  cursors: string[];
}

export const DEFAULT_PAGE_SIZE = 50;

export interface PageQuery<Row, View> {
  table: string;
  /** SQL conditions joined with AND, with their `?` parameters in order. */
  conditions: readonly string[];
  params: readonly SqlValue[];
  first?: number;
  after?: string;
  fromRow(row: Row): View;
  /** Where the count is asked when the page's database is not the reports' (`rowsAndCount`). */
  counts?: ReportCache;
}

export const findPageBySortKey = async <Row extends { sort_key: SqlValue; id: SqlValue }, View>(
  db: SqlDatabase,
  query: PageQuery<Row, View>,
): Promise<Page<View>> => {
  const { table, first = DEFAULT_PAGE_SIZE, after } = query;
  if (!Number.isInteger(first) || first < 0) {
    throw new ValidationError([{ field: 'first', message: 'must be a whole number, 0 or more' }]);
  }
  const { rows, total } = await rowsAndCount<Row>(db, {
    table,
    columns: '*',
    filter: query,
    cursor: after === undefined ? undefined : sortKeyCursor(after),
    orderBy: 'sort_key, id',
    limit: first + 1,
  }, query.counts);
  const shown = rows.slice(0, first);
  const cursors = shown.map((row) => encodeCursor([String(row.sort_key), String(row.id)]));
  return {
    nodes: shown.map(query.fromRow),
    totalCount: total,
    hasNextPage: rows.length > first,
    endCursor: cursors.at(-1),
    cursors,
  };
};

/** Rows after a cursor of `findPageBySortKey`: in (sort_key, id) order. */
const sortKeyCursor = (after: string): Conditions => {
  const [sortKey, id] = decodeCursor(after, ['string', 'string']);
  return { conditions: ['(sort_key > ? OR (sort_key = ? AND id > ?))'], params: [sortKey, sortKey, id] };
};

/** SQL conditions joined with AND, with their `?` parameters in order. */
export interface Conditions {
  conditions: readonly string[];
  params: readonly SqlValue[];
}

/**
 * A page of `table`'s rows (those `filter` matches, after `cursor` if any) and the count of every
 * row `filter` matches, in one statement: the count is a subquery the database runs once
 * (PostgreSQL as an InitPlan, SQLite behind OP_Once). On PostgreSQL that is one round trip where
 * a count and a page took two, each answer waiting its turn on the API's main thread
 * (bench/leadPages.ts). A page with no rows carries no count: after a cursor (perhaps past the
 * last match) the count is then asked alone; without one, none match.
 *
 * With `counts` whose database is not `db` (on SQLite: `db` is the main thread's connection,
 * `counts` reads on the report reader's thread), the count is asked there instead, as a report
 * remembered until `table` changes, beside the page. A count reads every row it counts: on the
 * main thread, counting the 67,587 disqualified leads of the insights history held every other
 * request for 3 to 6 ms, and it grows with the history; a page read through an index does not.
 */
export const rowsAndCount = async <Row>(
  db: SqlDatabase,
  query: {
    table: string;
    columns: string;
    filter: Conditions;
    cursor?: Conditions;
    orderBy: string;
    limit: number;
    /** A statement that gives the count of every row (as `total`) without counting them, for a filter with no condition. */
    countOfAll?: string;
  },
  counts?: ReportCache,
): Promise<{ rows: Row[]; total: number }> => {
  const { table, filter, cursor } = query;
  const counted =
    filter.conditions.length === 0 && query.countOfAll !== undefined
      ? query.countOfAll
      : `SELECT CAST(COUNT(*) AS INTEGER) AS total FROM ${table} ${whereClause(filter.conditions)}`;
  const page = whereClause([...filter.conditions, ...(cursor?.conditions ?? [])]);
  if (counts !== undefined && counts.db !== db) {
    const [rows, total] = await Promise.all([
      db.all<Row>(`SELECT ${query.columns} FROM ${table} ${page} ORDER BY ${query.orderBy} LIMIT ?`, [
        ...filter.params,
        ...(cursor?.params ?? []),
        query.limit,
      ]),
      counts.report('rowCount', { sql: counted, params: filter.params }, async (on) =>
        Number((await on.get<{ total: number }>(counted, [...filter.params]))?.total ?? 0),
      ),
    ]);
    return { rows, total };
  }
  const rows = await db.all<Row & { total_count: number }>(
    `SELECT ${query.columns}, (${counted}) AS total_count FROM ${table} ${page} ORDER BY ${query.orderBy} LIMIT ?`,
    [...filter.params, ...filter.params, ...(cursor?.params ?? []), query.limit],
  );
  if (rows.length > 0) return { rows, total: Number(rows[0]!.total_count) };
  if (cursor === undefined) return { rows, total: 0 };
  const row = await db.get<{ total: number }>(counted, [...filter.params]);
  return { rows, total: Number(row?.total ?? 0) };
};

/**
 * Where a page is read: on `db` when an index gives its rows in its order, so that it reads its
 * own rows and stops; otherwise where reports are read (`counts.db`: on SQLite the report
 * reader's thread, with its count in one statement), since a condition no index serves is tested
 * row after row down the order until the page is full, which may pass over the whole table (a
 * campaign no lead has: 214 ms over the insights history's 114,000 leads, on the main thread).
 * `given`: the fields of the filter that hold a condition; `servedBy`: the sets of such fields an
 * index serves in the page's order. A filter by key (`id`) reads one row.
 */
export const pageDatabase = (
  db: SqlDatabase,
  counts: ReportCache | undefined,
  given: readonly string[],
  servedBy: readonly (readonly string[])[],
): SqlDatabase =>
  counts === undefined ||
  given.includes('id') ||
  servedBy.some((fields) => fields.length === given.length && given.every((field) => fields.includes(field)))
    ? db
    : counts.db;

/** The fields of a filter that hold a value. */
export const givenFields = (filter: object): string[] =>
  Object.entries(filter)
    .filter(([, value]) => value !== undefined && value !== null)
    .map(([field]) => field);

/** A LIKE pattern for "contains", with the wildcards of the search taken literally (ESCAPE '\'). */
export const containing = (text: string): string => `%${text.replace(/[\\%_]/g, (wildcard) => `\\${wildcard}`)}%`;

export const whereClause = (conditions: readonly string[]) =>
  conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;

/** A cursor is the sort values of a page's last row, as opaque base64url JSON. */
export const encodeCursor = (values: readonly (string | number)[]): string =>
  Buffer.from(JSON.stringify(values)).toString('base64url');

/**
 * The sort values of a cursor this list issued, or BAD_USER_INPUT on `after`: each value must
 * have the kind the list's order expects ('string', or 'integer').
 */
export const decodeCursor = (
  cursor: string,
  kinds: readonly ('string' | 'integer')[],
  message = 'is not a cursor of this list',
): (string | number)[] | never => {
  try {
    const values = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as unknown;
    if (
      Array.isArray(values) &&
      values.length === kinds.length &&
      values.every((value, index) => (kinds[index] === 'string' ? typeof value === 'string' : Number.isInteger(value)))
    ) {
      return values as (string | number)[];
    }
  } catch {
    // Reported below, as for any cursor that is not one of ours.
  }
  throw new ValidationError([{ field: 'after', message }]);
};
