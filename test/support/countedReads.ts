/**
 * A database handle whose reads through `all` are written down, for the tests that count the
 * statements a batch of reads takes (`rowsByKeys`, `rowsInTurn`), or tell which connection read
 * what (`get` too, with `andGets`). Everything else goes to `db`.
 */
import type { ReadOptions, SqlDatabase, SqlValue } from '../../projections/sqlDatabase';

export const countedReads = (
  db: SqlDatabase,
  { andGets = false } = {},
): { handle: SqlDatabase; statements: string[]; values: SqlValue[][] } => {
  const statements: string[] = [];
  /** Each statement's values, in the same order. */
  const values: SqlValue[][] = [];
  const handle: SqlDatabase = Object.create(db) as SqlDatabase;
  handle.all = <T>(sql: string, params?: readonly SqlValue[], options?: ReadOptions) => {
    statements.push(sql);
    values.push([...(params ?? [])]);
    return db.all<T>(sql, params, options);
  };
  if (andGets) {
    handle.get = <T>(sql: string, params?: readonly SqlValue[]) => {
      statements.push(sql);
      values.push([...(params ?? [])]);
      return db.get<T>(sql, params);
    };
  }
  return { handle, statements, values };
};
