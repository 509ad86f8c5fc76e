/**
 * Relay-style pages over a read-model table kept in alphabetical order: rows are sorted by a
 * `sort_key` column (a folded name) and then by `id`, and a cursor is the last row's pair, so
 * pages neither repeat nor skip rows while others are added.
 */
import { ValidationError } from '../src/core/errors';
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
}

export const findPageBySortKey = async <Row extends { sort_key: SqlValue; id: SqlValue }, View>(
  db: SqlDatabase,
  query: PageQuery<Row, View>,
): Promise<Page<View>> => {
  const { table, first = DEFAULT_PAGE_SIZE, after } = query;
  if (!Number.isInteger(first) || first < 0) {
    throw new ValidationError([{ field: 'first', message: 'must be a whole number, 0 or more' }]);
  }
  const counted = `SELECT CAST(COUNT(*) AS INTEGER) AS total FROM ${table} ${whereClause(query.conditions)}`;
  const conditions = [...query.conditions];
  const params = [...query.params];
  if (after !== undefined) {
    const [sortKey, id] = decodeCursor(after, ['string', 'string']);
    conditions.push('(sort_key > ? OR (sort_key = ? AND id > ?))');
    params.push(sortKey, sortKey, id);
  }
  // The page and the count in one statement (the count a subquery the database runs once): on
  // PostgreSQL one round trip where there were two, one after the other.
  const rows = await db.all<Row & { total_count: number }>(
    `SELECT *, (${counted}) AS total_count FROM ${table} ${whereClause(conditions)} ORDER BY sort_key, id LIMIT ?`,
    [...query.params, ...params, first + 1],
  );
  // A page with no rows carries no count: none match, or the cursor is past the last match.
  const total =
    rows.length > 0
      ? Number(rows[0]!.total_count)
      : after === undefined
        ? 0
        : Number((await db.get<{ total: number }>(counted, [...query.params]))?.total ?? 0);
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
