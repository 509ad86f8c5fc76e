/**
 * The rows of one table whose key is one of many, for a projection's `applyBatch` and for
 * `rowsInTurn`: on PostgreSQL every statement is a round trip, and a batch of the runner may read
 * dozens of rows, which go in one statement there, the keys as one array.
 */
import { forEachChunk, valueRows, type SqlDatabase } from './sqlDatabase';

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
