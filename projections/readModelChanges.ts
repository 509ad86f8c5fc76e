/**
 * When each table of a SQLite read database last changed, as committed by this process's
 * connections to it (`openSqliteDatabase`): what lets a report computed earlier be answered again
 * while none of the tables it read has changed since (see reportCache.ts).
 *
 * A change counts once it is committed, never before: a report read between a statement and its
 * COMMIT saw the rows before it, and must not be taken as current after the commit. Statements
 * whose table cannot be told (DDL, a copy from an attached file, anything `exec` runs) count as a
 * change of every table. Only this process's connections are followed: the SQLite read database
 * has one serving process (the CLIs that write it ask for the server to be stopped first).
 */
import path from 'node:path';

export type ChangedTables = ReadonlySet<string> | 'every table';

export class ReadModelChanges {
  /** Counts commits that changed something; a report remembers the count it started at. */
  private count = 0;
  private everyTableAt = 0;
  private readonly tableAt = new Map<string, number>();

  /** The count now: take it before a report's first statement. */
  now(): number {
    return this.count;
  }

  /** Called after a commit (or a statement outside a transaction) that wrote these tables. */
  committed(tables: ChangedTables): void {
    if (tables !== 'every table' && tables.size === 0) return;
    this.count += 1;
    if (tables === 'every table') this.everyTableAt = this.count;
    else for (const table of tables) this.tableAt.set(table, this.count);
  }

  /** Whether none of `tables` changed after `since` (a count taken with `now`). */
  unchangedSince(tables: Iterable<string>, since: number): boolean {
    if (this.everyTableAt > since) return false;
    for (const table of tables) if ((this.tableAt.get(table) ?? 0) > since) return false;
    return true;
  }
}

const byFile = new Map<string, ReadModelChanges>();

/**
 * The changes of one database file, shared by every connection this process opens to it, however
 * its name is written (relative or absolute).
 */
export const readModelChangesOf = (filename: string): ReadModelChanges => {
  const file = path.resolve(filename);
  let changes = byFile.get(file);
  if (changes === undefined) {
    changes = new ReadModelChanges();
    byFile.set(file, changes);
  }
  return changes;
};

const WRITE_TARGET =
  /^\s*(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|REPLACE\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)\s+(?:main\.)?(?:"([^"]+)"|([A-Za-z_][A-Za-z0-9_]*))(?=[\s(]|$)/i;

/**
 * The table a writing statement changes, or 'every table' when the statement's text does not
 * say it plainly (a WITH clause, a schema other than main, DDL): then any report may be stale.
 */
export const tableWrittenBy = (sql: string): string | 'every table' => {
  const match = WRITE_TARGET.exec(sql);
  if (match === null) return 'every table';
  const table = match[1] ?? match[2]!;
  return table.toLowerCase();
};
