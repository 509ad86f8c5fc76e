/**
 * Many rows of one table in few statements, for a projection's `applyBatch`: on PostgreSQL every
 * statement is a round trip, and a batch of the runner may write dozens of rows. The rows go in
 * chunks of a few fixed sizes, largest first, so that only a few statement texts are prepared
 * (the PostgreSQL port keeps each text it meets prepared, up to a bound).
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

/** Runs `sqlFor(n)` (a statement taking n rows' values in order) over `rows`, in chunks of CHUNK_SIZES. */
export const writeInChunks = (
  tx: SqlDatabase,
  sqlFor: (rowCount: number) => string,
  rows: ReadonlyArray<readonly SqlValue[]>,
): Promise<void> => forEachChunk(rows, async (chunk) => void (await tx.run(sqlFor(chunk.length), chunk.flat())));

/** `count` placeholder groups of `width` values each: `(?, ?), (?, ?)`. */
export const valueRows = (count: number, width: number): string =>
  Array.from({ length: count }, () => `(${Array.from({ length: width }, () => '?').join(', ')})`).join(', ');
