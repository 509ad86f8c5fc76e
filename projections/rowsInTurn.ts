/**
 * Point reads of one table by its key, gathered: the reads asked of one PostgreSQL database in
 * one turn of the event loop go as one statement (`rowsByKeys`: `WHERE key = ANY(…)`), at the end
 * of the turn, instead of a round trip each. Under a load of captures, every mutation answered
 * its lead from such a read once the runner's batch had committed: the batch's waiters resume
 * together, and their reads now share a statement. A read is never older for it: it runs after the turn that asked for it.
 *
 * For the database handle outside a transaction only (a transaction's statements are its own,
 * in order). SQLite reads in-process and gains nothing: it reads at once, one row at a time.
 */
import { rowsByKeys } from './rowsByKeys';
import type { SqlDatabase, SqlValue } from './sqlDatabase';

type Row = Record<string, SqlValue>;

interface Asked {
  keys: Map<string, Array<{ resolve(row: Row | undefined): void; reject(error: unknown): void }>>;
}

export const rowsInTurn = (table: string, keyColumn: string) => {
  const asked = new WeakMap<SqlDatabase, Asked>();

  const readAll = async (db: SqlDatabase, { keys }: Asked): Promise<void> => {
    const wanted = [...keys.keys()];
    const found = new Map<string, Row>();
    try {
      for (const row of await rowsByKeys<Row>(db, table, keyColumn, wanted)) found.set(String(row[keyColumn]), row);
    } catch (error) {
      for (const waiting of keys.values()) for (const { reject } of waiting) reject(error);
      return;
    }
    // Each caller its own copy: a row is a plain object its reader may change.
    for (const [key, waiting] of keys) for (const { resolve } of waiting) resolve(found.has(key) ? { ...found.get(key)! } : undefined);
  };

  /** The row whose key is `key`, read with the others asked of `db` in this turn. */
  return (db: SqlDatabase, key: string): Promise<Row | undefined> =>
    new Promise((resolve, reject) => {
      let turn = asked.get(db);
      if (turn === undefined) {
        const started: Asked = { keys: new Map() };
        asked.set(db, (turn = started));
        setImmediate(() => {
          asked.delete(db);
          void readAll(db, started);
        });
      }
      const waiting = turn.keys.get(key);
      if (waiting) waiting.push({ resolve, reject });
      else turn.keys.set(key, [{ resolve, reject }]);
    });
};
