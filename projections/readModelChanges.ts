/**
 * When each table of a read database last changed, as committed by this process's connections to
 * it (`openSqliteDatabase`, `openPostgresDatabase`): what lets a report computed earlier be answered
 * again while none of the tables it read has changed since (see reportCache.ts).
 *
 * A change counts once it is committed, never before: a report read between a statement and its
 * COMMIT saw the rows before it, and must not be taken as current after the commit. Statements
 * whose table cannot be told (DDL, a copy from an attached file, anything `exec` runs) count as a
 * change of every table. Only this process's connections are followed: a SQLite read database has
 * one serving process (the CLIs that write it ask for the server to be stopped first); a
 * PostgreSQL one is written by the instance that leads (see `changesSeenWhileLeading`).
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
    if (tables === 'every table') {
      this.everyTableAt = this.count;
      return;
    }
    for (const table of tables) {
      this.tableAt.set(table, this.count);
      for (const kept of keptByTriggersOn.get(table) ?? []) this.tableAt.set(kept, this.count);
    }
  }

  /** Whether none of `tables` changed after `since` (a count taken with `now`). */
  unchangedSince(tables: Iterable<string>, since: number): boolean {
    if (this.everyTableAt > since) return false;
    for (const table of tables) if ((this.tableAt.get(table) ?? 0) > since) return false;
    return true;
  }
}

/**
 * Tables that triggers write whenever a table is written (a search index beside its table), by
 * that table: no statement names them, so a commit that changed the table changed them too.
 */
const keptByTriggersOn = new Map<string, readonly string[]>();

/** Declares tables kept in step with `table` by its triggers (lowercase names, as `tableWrittenBy` gives them). */
export const keptInStepByTriggers = (table: string, kept: readonly string[]): void => {
  keptByTriggersOn.set(table, [...new Set([...(keptByTriggersOn.get(table) ?? []), ...kept])]);
};

/** By database: a file's absolute name, or a PostgreSQL server and schema. */
const byDatabase = new Map<string, ReadModelChanges>();

const changesOf = (key: string): ReadModelChanges => {
  let changes = byDatabase.get(key);
  if (changes === undefined) {
    changes = new ReadModelChanges();
    byDatabase.set(key, changes);
  }
  return changes;
};

/**
 * The changes of one database file, shared by every connection this process opens to it, however
 * its name is written (relative or absolute).
 */
export const readModelChangesOf = (filename: string): ReadModelChanges => changesOf(`sqlite\0${path.resolve(filename)}`);

/**
 * The changes of one PostgreSQL schema, shared by every connection pool this process opens to it
 * (the projections' and the queries'), however many.
 */
export const readModelChangesOfSchema = (connectionString: string, schema: string): ReadModelChanges =>
  changesOf(`postgres\0${connectionString}\0${schema}`);

/**
 * What a report cache asks of the changes it follows. `seesEveryWrite`, when given and false for
 * now, tells that some writer is not seen: then the cache computes the report and keeps nothing.
 */
export type ChangeCount = Pick<ReadModelChanges, 'now' | 'unchangedSince'> & { seesEveryWrite?(): boolean };

/**
 * The changes of a read database other instances may write: seen only while this instance leads,
 * for then its runner is the only writer of the read models' tables (a follower's own writes are
 * its scoring jobs, which no report reads). `term` tells the lead this instance holds (a new one
 * each time it takes it), or undefined while it follows.
 *
 * While it follows, the cache computes every report and keeps none (`seesEveryWrite`). A new term
 * counts as a change of every table, however few reports were asked meanwhile: what another
 * leader wrote before it was not seen here, and a report computed in an earlier term may have
 * been kept as it ended.
 *
 * The one window left is the leader's: a leader that lost its lease without knowing it yet (its
 * lease connection cut) may answer a report from memory that the new leader has changed, until it
 * notices (`AdvisoryLockLease`), as its runner may still write until then.
 */
export const changesSeenWhileLeading = (changes: ReadModelChanges, term: () => number | undefined): ChangeCount => {
  let seen: number | undefined;
  const leads = (): boolean => {
    const now = term();
    if (now !== seen) changes.committed('every table');
    seen = now;
    return now !== undefined;
  };
  return {
    seesEveryWrite: leads,
    now: () => {
      leads();
      return changes.now();
    },
    unchangedSince: (tables, since) => leads() && changes.unchangedSince(tables, since),
  };
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
