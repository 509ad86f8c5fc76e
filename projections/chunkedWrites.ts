/**
 * Many rows of one table in few statements, for a projection's `applyBatch`: on PostgreSQL every
 * statement is a round trip, and a batch of the runner may write dozens of rows. The rows go in
 * chunks of a few fixed sizes, largest first, so that only a few statement texts are prepared
 * (the PostgreSQL port keeps each text it meets prepared, up to a bound).
 */
import type { SqlDatabase, SqlValue } from './sqlDatabase';

const CHUNK_SIZES = [32, 8, 1] as const;

/** Runs `sqlFor(n)` (a statement taking n rows' values in order) over `rows`, in chunks of 32, 8 and 1. */
export const writeInChunks = async (
  tx: SqlDatabase,
  sqlFor: (rowCount: number) => string,
  rows: ReadonlyArray<readonly SqlValue[]>,
): Promise<void> => {
  let written = 0;
  for (const size of CHUNK_SIZES) {
    for (; rows.length - written >= size; written += size) {
      await tx.run(sqlFor(size), rows.slice(written, written + size).flat());
    }
  }
};

/** `count` placeholder groups of `width` values each: `(?, ?), (?, ?)`. */
export const valueRows = (count: number, width: number): string =>
  Array.from({ length: count }, () => `(${Array.from({ length: width }, () => '?').join(', ')})`).join(', ');
