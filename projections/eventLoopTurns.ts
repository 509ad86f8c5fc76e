/**
 * Long work on the thread that serves requests, cut into turns: after `sliceMs` of work it steps
 * aside (a macrotask of its own, `setImmediate`) so that what waits meanwhile (requests, the live
 * following of the log, timers) runs, then goes on.
 *
 * Why: a projection rebuilt beside its old tables (a new version, `ProjectionRunner`) is staged
 * on the API's own thread. Its reads of the log, its applies and its statements to the staging
 * database all run synchronously (SQLite) between awaits that settle at once, so nothing else
 * ran until it ended: on the insights history of issue 11 (114,000 leads, 1,004,970 events) the
 * rebuild of the leads' new version kept the API from answering even `/livez` for 7 s, then for
 * 19 s. A rebuild that stops the service was what goal 3 ruled out. Its copy into the read
 * database (one transaction, so that readers switch at its commit) goes on SQLite a thousand rows
 * per statement with turns between them, for the same reason (`inTurns` in bulkRebuild.ts).
 */
import type { ReadOptions, SqlDatabase, SqlValue, TransactionOptions } from './sqlDatabase';

/**
 * Answers a promise to await when the work has had its slice (and a turn of the event loop is
 * due), undefined otherwise: the caller awaits only then, so that the work between turns costs no
 * promise. The clock is read once every few calls (a call is an event applied or a statement).
 */
export type TurnTaker = () => Promise<void> | undefined;

/**
 * Turns after `sliceMs` of work, the clock read once every `callsPerClockReading` calls: 16 where
 * a call is an event applied or a statement of a few rows (well under a millisecond each), 1 where
 * each call may take milliseconds.
 */
export const turnsOf = (sliceMs: number, callsPerClockReading = 16): TurnTaker => {
  let sliceStart = performance.now();
  let calls = 0;
  const resume = (resolve: () => void) => () => {
    sliceStart = performance.now();
    resolve();
  };
  return () => {
    calls += 1;
    if (calls % callsPerClockReading !== 0 || performance.now() - sliceStart < sliceMs) return undefined;
    return new Promise<void>((resolve) => setImmediate(resume(resolve)));
  };
};

/**
 * `db` taking a turn (`takeTurn`) before each statement, its transactions' statements included.
 * For a database only this work writes (a rebuild's staging database): the turns let other work of
 * the thread run, never other statements in between on the same connection.
 */
export const takingTurns = (db: SqlDatabase, takeTurn: TurnTaker): SqlDatabase => {
  const after = async <T>(statement: () => Promise<T>): Promise<T> => {
    const turn = takeTurn();
    if (turn !== undefined) await turn;
    return statement();
  };
  return {
    dialect: db.dialect,
    run: (sql, params) => after(() => db.run(sql, params)),
    write: (sql, params, expected) => after(() => db.write(sql, params, expected)),
    all: <T>(sql: string, params?: readonly SqlValue[], options?: ReadOptions) => after(() => db.all<T>(sql, params, options)),
    get: <T>(sql: string, params?: readonly SqlValue[]) => after(() => db.get<T>(sql, params)),
    exec: (sql) => after(() => db.exec(sql)),
    insertRows: (table, columns, rows) => after(() => db.insertRows(table, columns, rows)),
    writeRows: <T>(table: string, columns: readonly string[], rows: ReadonlyArray<readonly SqlValue[]>, tail?: string) =>
      after(() => db.writeRows<T>(table, columns, rows, tail)),
    writeNumberedRows: (table, column, columns, rows) => after(() => db.writeNumberedRows(table, column, columns, rows)),
    updateRows: (table, key, columns, rows, expected) => after(() => db.updateRows(table, key, columns, rows, expected)),
    transaction: <T>(fn: (tx: SqlDatabase) => Promise<T>, options?: TransactionOptions) =>
      db.transaction((tx) => fn(takingTurns(tx, takeTurn)), options),
    ...(db.withAttached ? { withAttached: db.withAttached.bind(db) } : {}),
    close: () => db.close(),
  };
};
