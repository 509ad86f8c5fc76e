/**
 * Many rows of one table in few statements, for a projection's `applyBatch`: on PostgreSQL every
 * statement is a round trip, and a batch of the runner may write and read dozens of rows. There
 * they go in one statement (`SqlDatabase.writeRows`, `rowsByKeys`). Where a statement takes each
 * row's values as placeholders, they go in chunks of a few fixed sizes, largest first, so that
 * only a few statement texts are prepared.
 */
import type { SqlDatabase, SqlValue } from './sqlDatabase';

/**
 * Powers of two up to 32: any count under 64 takes at most six statements, one per binary digit
 * (with 32, 8 and 1, thirteen rows took six and seven took seven). Under load each statement of
 * the runner's batch waits its turn on a busy event loop, so their number sets the batch's time.
 */
export const CHUNK_SIZES = [32, 16, 8, 4, 2, 1] as const;

/** Calls `write` on consecutive chunks of `items`, in order, each of one of CHUNK_SIZES, largest first. */
export const forEachChunk = async <T>(items: readonly T[], write: (chunk: T[]) => Promise<void>): Promise<void> => {
  let done = 0;
  for (const size of CHUNK_SIZES) {
    for (; items.length - done >= size; done += size) await write(items.slice(done, done + size));
  }
};

/**
 * `SqlDatabase.writeRows` where each statement takes its rows as placeholders (SQLite): chunks of
 * CHUNK_SIZES rows, one after the other, the rows each RETURNING gave put together.
 */
export const writeRowsInChunks = async <T>(
  db: Pick<SqlDatabase, 'all' | 'run'>,
  table: string,
  columns: readonly string[],
  rows: ReadonlyArray<readonly SqlValue[]>,
  tail = '',
): Promise<T[]> => {
  const returned: T[] = [];
  const returning = /\bRETURNING\b/i.test(tail);
  await forEachChunk(rows, async (chunk) => {
    const sql = insertSql(table, columns, chunk.length, tail);
    if (returning) returned.push(...(await db.all<T>(sql, chunk.flat())));
    else await db.run(sql, chunk.flat());
  });
  return returned;
};

/** `SqlDatabase.updateRows` a statement per row, for SQLite, which has no round trip to save. */
export const updateRowsOneByOne = async (
  db: Pick<SqlDatabase, 'run'>,
  table: string,
  key: string,
  columns: readonly string[],
  rows: ReadonlyArray<readonly SqlValue[]>,
): Promise<string[]> => {
  const sql = `UPDATE ${table} SET ${columns.map((column) => `${column} = ?`).join(', ')} WHERE ${key} = ?`;
  const found: string[] = [];
  for (const [keyValue, ...values] of rows) {
    if ((await db.run(sql, [...values, keyValue ?? null])).changes > 0) found.push(String(keyValue));
  }
  return found;
};

/**
 * The rows of `table` whose `keyColumn` (text) is one of `keys`: on PostgreSQL in one statement,
 * the keys as one array; elsewhere `IN (…)` in chunks of CHUNK_SIZES.
 */
export const rowsByKeys = async <T>(db: Pick<SqlDatabase, 'all' | 'dialect'>, table: string, keyColumn: string, keys: readonly string[]): Promise<T[]> => {
  if (keys.length === 0) return [];
  if (db.dialect === 'postgres') return db.all<T>(`SELECT * FROM ${table} WHERE ${keyColumn} = ANY(?::text[])`, [textArray(keys)]);
  const rows: T[] = [];
  await forEachChunk(keys, async (chunk) => {
    rows.push(...(await db.all<T>(`SELECT * FROM ${table} WHERE ${keyColumn} IN ${valueRows(1, chunk.length)}`, chunk)));
  });
  return rows;
};

/** A PostgreSQL array literal of texts: each element quoted, its quotes and backslashes escaped. */
const textArray = (texts: readonly string[]): string => `{${texts.map((text) => `"${text.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;

/** Statement texts by table, columns, row count and tail: built once each. */
const insertTexts = new Map<string, string>();
const insertSql = (table: string, columns: readonly string[], count: number, tail: string): string => {
  const key = `${table}\0${columns.join(',')}\0${count}\0${tail}`;
  let text = insertTexts.get(key);
  if (text === undefined) {
    text = `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${valueRows(count, columns.length)} ${tail}`;
    insertTexts.set(key, text);
  }
  return text;
};

/** `count` placeholder groups of `width` values each: `(?, ?), (?, ?)`. */
export const valueRows = (count: number, width: number): string =>
  Array.from({ length: count }, () => `(${Array.from({ length: width }, () => '?').join(', ')})`).join(', ');
