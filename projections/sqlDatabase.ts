/**
 * The small SQL port read models are written against, so that the same projections can later
 * run on PostgreSQL. Placeholders are positional `?`; keep the SQL portable (no SQLite-only
 * functions, JSON kept in TEXT columns, upserts with ON CONFLICT ... DO UPDATE).
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { BUSY_TIMEOUT_MS, inTurnToWrite } from '../src/eventStores/sqliteWriteTurns';
import { type ReadModelChanges, readModelChangesOf, tableWrittenBy } from './readModelChanges';
import { checkpointOnAThread } from './sqliteCheckpointThread';
import { newStagingDirectory } from './stagingDirectories';

/**
 * A commit that finds the WAL past this many pages copies it back into the file (a checkpoint,
 * with its fsyncs), on the thread that committed. SQLite's default is 1,000 pages. By default the
 * read models share their file with the event store, whose writer thread keeps that default
 * (src/eventStores/sqliteWriter.ts): it then checkpoints nearly always first, off the main thread.
 * Under `npm run bench:readers`, three alternating rounds against 1,000 pages here too: reads p99
 * 164, 128 and 118 ms against 190, 173 and 140, and 513, 579 and 625 reads/s against 510, 442 and
 * 530 (captures alone: 1.03x, within the noise). The read models' own threshold stays, higher,
 * for a file the event store does not write (a rebuild in a CLI, a read store of its own): about
 * 40 MB of WAL.
 */
const READ_MODEL_WAL_AUTOCHECKPOINT_PAGES = 10_000;

/** Where the read models live: the SQLite file, or a schema of a PostgreSQL database. */
export type ReadStoreConfig =
  | { kind: 'sqlite'; filename: string }
  | { kind: 'postgres'; connectionString: string; schema: string };

export type SqlValue = string | number | bigint | null;

export interface TransactionOptions {
  /**
   * SQLite: the transaction is known to be long (a rebuild's copy): the other writers of the file
   * in this process (the event store's appends) wait for it to end, instead of failing after the
   * busy timeout (see `WriteTurnOptions.long`). A nested transaction (a savepoint) and PostgreSQL,
   * whose writers of other connections wait for row locks as long as it takes, ignore it.
   */
  long?: boolean;
  /**
   * PostgreSQL, and SQLite on a thread of its own (sqliteOnAThread.ts): the transaction's writes
   * whose outcome nobody reads (`write`, `writeRows` without a RETURNING; on SQLite's thread also
   * a checked `write` or `updateRows`, whose counts PostgreSQL checks on their own answer) are
   * held and sent with its next statement that answers something, or with the COMMIT, several
   * statements in one round trip or message; the BEGIN goes with the first. An error of a held
   * write is then the error of that later call (the projection runner's batch, which names the
   * projection at fault, applies a failed batch again without holding). A SQLite connection on
   * the calling thread has nothing to save and ignores it.
   */
  holdWrites?: boolean;
  /**
   * PostgreSQL: the transaction runs at the same time as the handle's other transactions, on a
   * connection of its own, instead of after them (see `transaction` in postgresDatabase.ts). Only
   * for one that reads no row another transaction of the handle writes meanwhile, and writes none
   * it reads: a bulk rebuild's parts, each copying its own tables and moving its own checkpoints
   * (bulkRebuild.ts). SQLite, which has one writer, ignores it.
   */
  concurrently?: boolean;
}

/**
 * The statement named a table the database does not have (SQLite's "no such table", PostgreSQL's
 * 42P01): a query written for a projection's new version, while its old tables still serve as the
 * new ones are built beside them (ProjectionRunner), on this instance or on the one that leads.
 */
export const isMissingTable = (error: unknown): boolean =>
  (error as { code?: unknown } | null)?.code === '42P01' || /\bno such table\b/.test((error as Error | null)?.message ?? '');

/** The rows a `write` must change, and the message of the error it fails with otherwise. */
export interface ExpectedChanges {
  changes: number;
  otherwise: string;
}

/** The error of a write that changed another number of rows than expected (`SqlDatabase.write`). */
export class UnexpectedChangesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnexpectedChangesError';
  }
}

/** Throws when a write's `changes` is not what `expected` said. */
export const checkChanges = (changes: number, expected: ExpectedChanges | undefined): void => {
  if (expected !== undefined && changes !== expected.changes) throw new UnexpectedChangesError(expected.otherwise);
};

/** How a read may be run, where the database makes a difference. */
export interface ReadOptions {
  /**
   * Whatever its parameters, the statement reads few rows (a range of at most half a month, a few
   * hundred rollup cells), so that one plan fits every use: PostgreSQL plans it once per connection
   * (src/eventStores/postgresConnection.ts, `PLANS_MADE_ONCE`) where it plans the read models'
   * statements at each use. SQLite plans every statement once anyway. Ignored inside a transaction.
   */
  planOnce?: boolean;
}

export interface SqlDatabase {
  /** Which SQL it speaks beyond the portable part: where a projection keeps a SQLite-only index (FTS5). */
  readonly dialect: 'sqlite' | 'postgres';
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
  /**
   * A statement whose outcome the caller does not read: `run`, but in a transaction that holds
   * writes (`TransactionOptions.holdWrites`) it goes with the next statement that answers something.
   * With `expected`, it must change exactly that many rows, or it fails with `expected.otherwise`
   * (held, the later call that carried it fails so), as a guard no caller has to wait for.
   */
  write(sql: string, params?: readonly SqlValue[], expected?: ExpectedChanges): Promise<void>;
  all<T>(sql: string, params?: readonly SqlValue[], options?: ReadOptions): Promise<T[]>;
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  /** Runs several statements without parameters (DDL). */
  exec(sql: string): Promise<void>;
  /**
   * Inserts many rows into one table, each holding the values of `columns`, the fastest way the
   * database has (a rebuild copies its tables with it; see bulkRebuild.ts). `rows` may be an
   * iterator: it is read as the rows are sent, not first gathered (PostgreSQL: one COPY, streamed).
   */
  insertRows(table: string, columns: readonly string[], rows: Iterable<readonly SqlValue[]>): Promise<void>;
  /**
   * `INSERT INTO table (columns) <rows> <tail>` for a projection's batch (`tail`: an ON CONFLICT
   * clause, a RETURNING): on PostgreSQL one statement whatever the number of rows, which go as one
   * JSON parameter; on SQLite, which has no round trip to save, statements of a few rows each
   * (`CHUNK_SIZES`). Answers the rows a RETURNING gives, in no promised order. No two rows may
   * have the same conflict key: PostgreSQL refuses a statement that updates a row twice.
   */
  writeRows<T = Record<string, SqlValue>>(
    table: string,
    columns: readonly string[],
    rows: ReadonlyArray<readonly SqlValue[]>,
    tail?: string,
  ): Promise<T[]>;
  /**
   * Appends `rows` to a table numbered by `column` (the audit trail's ordinal): the first row takes
   * one past the table's largest number, the others count on in their order. Answers nothing: on
   * PostgreSQL one statement that finds the number itself, held like a `write` where writes are
   * held, so that no round trip waits for it; on SQLite a read of the number, then `writeRows`.
   * For a table only one writer appends to at a time (a projection's, under its runner).
   */
  writeNumberedRows(table: string, column: string, columns: readonly string[], rows: ReadonlyArray<readonly SqlValue[]>): Promise<void>;
  /**
   * `UPDATE table SET columns WHERE key = …` for each row (its key's value first, then those of
   * `columns`): on PostgreSQL one statement, the rows as one JSON parameter; on SQLite a statement
   * per row. Answers the keys of the rows found, in no promised order. No two rows may share a key.
   * With `expected`, the rows found must be that many, or it fails with `expected.otherwise`; it
   * then answers no keys, and is held like a `write` where writes are held (SQLite).
   */
  updateRows(
    table: string,
    key: string,
    columns: readonly string[],
    rows: ReadonlyArray<readonly SqlValue[]>,
    expected?: ExpectedChanges,
  ): Promise<string[]>;
  /**
   * Commits when `fn` resolves, rolls back when it rejects. Use only `tx` inside `fn`: the
   * outer handle waits for the transaction to end, so using it there would never finish.
   */
  transaction<T>(fn: (tx: SqlDatabase) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * SQLite only (absent on PostgreSQL): runs `fn` with the SQLite file `file` attached to this
   * connection as the schema `alias`, so that one statement copies a whole table out of it
   * (`INSERT INTO main.t SELECT … FROM alias.t`) without a row passing through JavaScript.
   */
  withAttached?<T>(file: string, alias: string, fn: () => Promise<T>): Promise<T>;
  /**
   * SQLite only (absent on PostgreSQL and in memory): runs `fn`, which makes a large write (a
   * rebuild's copy beside a serving API), with this connection's automatic checkpoint off, so that
   * no commit copies the whole WAL back into the file on this thread; then has that done on a
   * thread of its own (sqliteCheckpointThread.ts) and turns the automatic checkpoint back on.
   * Resolves as `fn` does, once the checkpoint ended; a checkpoint that fails leaves the pages to
   * the next one.
   */
  checkpointingElsewhere?<T>(fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * better-sqlite3 is synchronous but our transactions span awaits, so every top-level call is
 * queued behind the open transaction: two transactions never interleave on the connection and
 * a plain read never sees another caller's uncommitted rows.
 */
/**
 * Read models default to `synchronous = NORMAL`: in WAL mode a crash of the process loses
 * nothing, and a power loss can only drop the last commits, checkpoint included, so the runner
 * replays those events from the log. The events themselves stay on FULL (see the event store).
 */
export const openSqliteDatabase = (
  filename: string,
  options: { synchronous?: 'FULL' | 'NORMAL' } = {},
): SqlDatabase => {
  const connection = openReadModelConnection(filename, options.synchronous);
  // A file's changes are followed for the caches of reports read from it; ':memory:' is private to the connection.
  const db = sqlDatabaseOn(connection, filename === ':memory:' ? undefined : readModelChangesOf(filename), (work, options) =>
    // The event store may write the same file, from its writer thread: writes wait their turn
    // without holding this thread (see sqliteWriteTurns.ts).
    inTurnToWrite(filename, BUSY_TIMEOUT_MS, work, options),
  );
  if (filename === ':memory:') return db;
  let checkpointsElsewhere = 0;
  let automaticPages = READ_MODEL_WAL_AUTOCHECKPOINT_PAGES;
  return {
    ...db,
    checkpointingElsewhere: async (fn) => {
      if (checkpointsElsewhere++ === 0) {
        automaticPages = connection.pragma('wal_autocheckpoint', { simple: true }) as number;
        connection.pragma('wal_autocheckpoint = 0');
      }
      try {
        return await fn();
      } finally {
        await checkpointOnAThread(filename).catch(() => undefined);
        if (--checkpointsElsewhere === 0 && connection.open) connection.pragma(`wal_autocheckpoint = ${automaticPages}`);
      }
    },
  };
};

/** A connection to a read database, set up as every one of them is (WAL, busy timeout, sync, checkpoints). */
export const openReadModelConnection = (filename: string, synchronous: 'FULL' | 'NORMAL' = 'NORMAL'): Database.Database => {
  const connection = new Database(filename);
  connection.pragma('journal_mode = WAL');
  connection.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  connection.pragma(`synchronous = ${synchronous}`);
  connection.pragma(`wal_autocheckpoint = ${READ_MODEL_WAL_AUTOCHECKPOINT_PAGES}`);
  return connection;
};

interface Prepared {
  statement: Database.Statement<unknown[]>;
  writes: string | undefined;
  /** Its rows name the columns of a table as it is (`SELECT *`): their names may change with the schema. */
  followsSchema: boolean;
  /** Makes a row object of the statement's values; made at the first row read. */
  toRow: RowBuilder | undefined;
}

interface RowBuilder {
  (values: readonly unknown[]): Record<string, unknown>;
  /** The schema version it was made under, for a statement that follows the schema. */
  schemaVersion: number | undefined;
}

/** A star anywhere but in `count(*)`: a statement whose columns are those of a table as it is now. */
const namesColumnsOfTables = (sql: string): boolean => sql.replace(/\(\s*\*\s*\)/g, '').includes('*');

/**
 * A function that makes the object of a row from its values, keyed by the columns' names: an
 * object literal, which V8 builds at once in its final shape. better-sqlite3 sets an object's
 * properties one by one from C++; reading rows as arrays and building them here was 1.8x as fast
 * for a page of 21 leads of 37 columns (0.098 against 0.177 ms; `npm run bench:lead-pages`). A
 * lead read by its key gains nothing: the schema check of a `SELECT *` (below) takes back what the
 * arrays save on one row. The names are written as JSON strings, so any name is a literal key. A
 * later column of the same name wins, as in better-sqlite3's objects.
 */
const rowBuilder = (names: readonly string[], schemaVersion: number | undefined): RowBuilder => {
  // In an object literal, a key "__proto__" sets the prototype: such a row is built as own properties.
  const build = names.includes('__proto__')
    ? (values: readonly unknown[]) => Object.fromEntries(names.map((name, index) => [name, values[index]]))
    : (new Function('values', `return {${names.map((name, index) => `${JSON.stringify(name)}: values[${index}]`).join(', ')}};`) as (
        values: readonly unknown[],
      ) => Record<string, unknown>);
  return Object.assign(build, { schemaVersion });
};

/** Builders by column names, for rows that come with their names (the report thread's answers). */
const buildersByNames = new Map<string, RowBuilder>();

/** The row builder of these column names, made once (up to 500 shapes kept). */
export const rowBuilderOf = (names: readonly string[]): ((values: readonly unknown[]) => Record<string, unknown>) => {
  const key = JSON.stringify(names);
  let builder = buildersByNames.get(key);
  if (builder === undefined) {
    if (buildersByNames.size >= 500) buildersByNames.delete(buildersByNames.keys().next().value!);
    buildersByNames.set(key, (builder = rowBuilder(names, undefined)));
  }
  return builder;
};

/**
 * `all` or `get` of a prepared statement, rows as objects. Rows are read as arrays and built by
 * the statement's row builder. Its column names are read once (`columns()` costs 27 us for 37
 * columns), and again for a `SELECT *` once the schema has changed: another connection of this
 * process (the projections' own, switching to a new version's tables) or of another may have
 * changed the table under it, and SQLite then prepares the statement again, with the table's
 * columns as they are. The schema version is read after the statement has run: if it is the one
 * the builder was made under, the statement ran as the builder knows it. (It is the main
 * database's: no `SELECT *` here reads an attached one, whose tables a bulk rebuild copies in SQL.)
 */
const rowsAsObjects = (entry: Prepared, params: readonly SqlValue[], method: 'all' | 'get', schemaVersion: () => number): unknown => {
  const { statement } = entry;
  // Not a reader: better-sqlite3's own error ("This statement does not return data").
  if (!statement.reader) return statement[method](...params);
  if (method === 'get') {
    const values = statement.get(...params) as unknown[] | undefined;
    return values === undefined ? undefined : builderOf(entry, schemaVersion)(values);
  }
  const rows = statement.all(...params) as unknown[][];
  if (rows.length === 0) return rows;
  const toRow = builderOf(entry, schemaVersion);
  const objects = new Array<Record<string, unknown>>(rows.length);
  for (let index = 0; index < rows.length; index++) objects[index] = toRow(rows[index]!);
  return objects;
};

const builderOf = (entry: Prepared, schemaVersion: () => number): RowBuilder => {
  const version = entry.followsSchema ? schemaVersion() : undefined;
  if (entry.toRow === undefined || entry.toRow.schemaVersion !== version) {
    entry.toRow = rowBuilder(
      entry.statement.columns().map((column) => column.name),
      version,
    );
  }
  return entry.toRow;
};

/**
 * The port over an open connection, whatever its file and settings. With `changes`, every table
 * a statement writes is told to it once committed (see readModelChanges.ts).
 */
export const sqlDatabaseOn = (
  connection: Database.Database,
  changes?: Pick<ReadModelChanges, 'committed'>,
  /** Runs a write when this process's other connections to the file let it (plain reads need no turn). */
  inTurn: <T>(work: () => Promise<T>, options?: TransactionOptions) => Promise<T> = (work) => work(),
): SqlDatabase => {
  /** Per prepared statement: the table it writes ('every table', or undefined when it only reads), and how its rows are read. */
  const prepared = new Map<string, Prepared>();
  let uncommitted: Set<string> | 'every table' = new Set<string>();
  const wrote = (table: string | undefined) => {
    if (table === undefined || changes === undefined || uncommitted === 'every table') return;
    if (table === 'every table') uncommitted = table;
    else uncommitted.add(table);
  };
  /** After each call and each transaction: what was written counts once no transaction holds it. */
  const settle = () => {
    if (changes === undefined || connection.inTransaction) return;
    // Most calls are reads, or writes inside a transaction still open: nothing to tell.
    if (uncommitted !== 'every table' && uncommitted.size === 0) return;
    const tables = uncommitted;
    uncommitted = new Set<string>();
    changes.committed(tables);
  };
  const prepare = (sql: string): Prepared => {
    let entry = prepared.get(sql);
    if (entry === undefined) {
      const statement = connection.prepare<unknown[]>(sql);
      // A statement that returns rows gives them as arrays (see `rowsAsObjects`).
      if (statement.reader) statement.raw(true);
      entry = { statement, writes: statement.readonly ? undefined : tableWrittenBy(sql), followsSchema: namesColumnsOfTables(sql), toRow: undefined };
      prepared.set(sql, entry);
    }
    wrote(entry.writes);
    return entry;
  };
  const schemaVersionStatement = connection.prepare<[], number>('PRAGMA schema_version').pluck();
  const schemaVersion = () => schemaVersionStatement.get()!;
  const settled = <A extends unknown[], T>(call: (...args: A) => T) => async (...args: A): Promise<T> => {
    try {
      return call(...args);
    } finally {
      settle();
    }
  };

  const unqueued = {
    dialect: 'sqlite' as const,
    run: settled((sql: string, params: readonly SqlValue[] = []) => ({
      changes: prepare(sql).statement.run(...params).changes,
    })),
    write: settled((sql: string, params: readonly SqlValue[] = [], expected?: ExpectedChanges) => {
      checkChanges(prepare(sql).statement.run(...params).changes, expected);
    }),
    all: settled(<T>(sql: string, params: readonly SqlValue[] = []) => rowsAsObjects(prepare(sql), params, 'all', schemaVersion) as T[]) as <T>(
      sql: string,
      params?: readonly SqlValue[],
    ) => Promise<T[]>,
    get: settled(<T>(sql: string, params: readonly SqlValue[] = []) => rowsAsObjects(prepare(sql), params, 'get', schemaVersion) as T | undefined) as <T>(
      sql: string,
      params?: readonly SqlValue[],
    ) => Promise<T | undefined>,
    exec: settled((sql: string) => {
      wrote('every table');
      connection.exec(sql);
    }),
    writeRows: <T>(table: string, columns: readonly string[], rows: ReadonlyArray<readonly SqlValue[]>, tail?: string) =>
      writeRowsInChunks<T>(unqueued, table, columns, rows, tail),
    writeNumberedRows: async (table: string, column: string, columns: readonly string[], rows: ReadonlyArray<readonly SqlValue[]>) => {
      if (rows.length === 0) return;
      const found = await unqueued.get<{ last: number | bigint }>(`SELECT COALESCE(MAX(${quoteName(column)}), 0) AS last FROM ${quoteName(table)}`);
      const last = Number(found!.last);
      await writeRowsInChunks(unqueued, table, [column, ...columns], rows.map((row, index) => [last + 1 + index, ...row]));
    },
    updateRows: async (table: string, key: string, columns: readonly string[], rows: ReadonlyArray<readonly SqlValue[]>, expected?: ExpectedChanges) => {
      const found = await updateRowsOneByOne(unqueued, table, key, columns, rows);
      if (expected === undefined) return found;
      checkChanges(found.length, expected);
      return [];
    },
    // One prepared INSERT run per row: no statement to parse, and SQLite has no round trip to save.
    insertRows: settled((table: string, columns: readonly string[], rows: Iterable<readonly SqlValue[]>) => {
      const { statement: insert } = prepare(
        `INSERT INTO ${quoteName(table)} (${columns.map(quoteName).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
      );
      for (const row of rows) insert.run(...row);
    }),
  };

  const atomically = async <T>(
    sql: { begin: string; commit: string; rollback: string },
    body: () => Promise<T>,
  ): Promise<T> => {
    connection.exec(sql.begin);
    try {
      const result = await body();
      connection.exec(sql.commit);
      return result;
    } catch (error) {
      // SQLite rolls back by itself after some failures; a second ROLLBACK would then throw.
      if (connection.inTransaction) connection.exec(sql.rollback);
      throw error;
    } finally {
      // A rolled-back write counts too: a report read meanwhile saw no change, one read after sees none.
      settle();
    }
  };

  const transactionScope = (depth: number): SqlDatabase => {
    const savepoint = `nested_${depth}`;
    return {
      ...unqueued,
      transaction: (fn) =>
        atomically(
          {
            begin: `SAVEPOINT ${savepoint}`,
            commit: `RELEASE ${savepoint}`,
            rollback: `ROLLBACK TO ${savepoint}; RELEASE ${savepoint}`,
          },
          () => fn(transactionScope(depth + 1)),
        ),
      close: () => Promise.reject(new Error('Close the database, not one of its transactions')),
    };
  };

  let tail: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(task: () => Promise<T>): Promise<T> => {
    const run = tail.then(task);
    tail = run.catch(() => undefined);
    return run;
  };

  /** A call that may write: in the queue, and in its turn at the file. */
  const writing = <T>(task: () => Promise<T>): Promise<T> => exclusive(() => inTurn(task));

  return {
    dialect: 'sqlite',
    run: (sql, params) => writing(() => unqueued.run(sql, params)),
    write: (sql, params, expected) => writing(() => unqueued.write(sql, params, expected)),
    insertRows: (table, columns, rows) => writing(() => unqueued.insertRows(table, columns, rows)),
    writeRows: <T>(table: string, columns: readonly string[], rows: ReadonlyArray<readonly SqlValue[]>, tail?: string) =>
      writing(() => unqueued.writeRows<T>(table, columns, rows, tail)),
    writeNumberedRows: (table, column, columns, rows) => writing(() => unqueued.writeNumberedRows(table, column, columns, rows)),
    updateRows: (table, key, columns, rows, expected) => writing(() => unqueued.updateRows(table, key, columns, rows, expected)),
    all: <T>(sql: string, params?: readonly SqlValue[]) => exclusive(() => unqueued.all<T>(sql, params)),
    get: <T>(sql: string, params?: readonly SqlValue[]) => exclusive(() => unqueued.get<T>(sql, params)),
    exec: (sql) => writing(() => unqueued.exec(sql)),
    transaction: (fn, options) =>
      exclusive(async () => {
        await startOfMacrotask();
        // IMMEDIATE takes the write lock up front, once this process's turn has come (waiting up
        // to busy_timeout for other processes' connections): a read-then-write upgrade could fail
        // at once with BUSY.
        return inTurn(
          () => atomically({ begin: 'BEGIN IMMEDIATE', commit: 'COMMIT', rollback: 'ROLLBACK' }, () => fn(transactionScope(1))),
          options,
        );
      }),
    // ATTACH and DETACH cannot run inside a transaction: they go through the queue between them.
    withAttached: async (file, alias, fn) => {
      await exclusive(async () => {
        connection.prepare(`ATTACH DATABASE ? AS ${quoteName(alias)}`).run(file);
      });
      try {
        return await fn();
      } finally {
        await exclusive(async () => {
          connection.exec(`DETACH DATABASE ${quoteName(alias)}`);
          // Whatever was copied from the attached file: any report may have changed.
          wrote('every table');
          settle();
        });
      }
    },
    close: () =>
      exclusive(async () => {
        if (connection.open) connection.close();
      }),
  };
};

/** A table of a staging database, read as it stands: its columns, its rows, and its indexes' DDL. */
export interface StagedTable {
  name: string;
  columns: string[];
  /** Each row's values in the order of `columns`; integers as bigint, so that none loses precision. */
  rows(): IterableIterator<SqlValue[]>;
  /** The CREATE INDEX statements its projection's setup ran (not the implicit ones of keys). */
  indexes: Array<{ name: string; sql: string }>;
}

export interface StagingDatabase {
  db: SqlDatabase;
  /**
   * Drops these indexes, which `tables()` still reports with their tables, to be built where the
   * tables are copied to. Throws for an index that does not exist, or that is UNIQUE unless
   * `unique` says the caller knows (see `Projection.deferredUniqueIndexes`). With `onlyOn`, only
   * those of the tables it accepts; the others stay.
   */
  deferIndexes(names: readonly string[], options?: { unique?: boolean; onlyOn?(table: string): boolean }): void;
  /** The tables that have triggers (until `dropTriggers`). */
  tablesWithTriggers(): Set<string>;
  /**
   * Drops every trigger the projections' setup made: what they keep in step (a search index) is
   * not copied, and the same triggers in the database the tables are copied to build it there.
   */
  dropTriggers(): void;
  /** Its file, which a SQLite read database attaches to copy the tables in SQL (`withAttached`). */
  file: string;
  tables(): StagedTable[];
  /**
   * Closes it and keeps its file, for another thread to open (`openStagingDatabase(handed)`),
   * which then removes it on close.
   */
  handOver(): HandedOverStaging;
  close(): void;
}

/** A staging database closed by one thread for another to open: its file, and the indexes it defers. */
export interface HandedOverStaging {
  file: string;
  deferred: Array<{ table: string; name: string; sql: string }>;
}

/**
 * A private, throwaway SQLite database for a rebuild to project into before its tables are
 * copied over (see bulkRebuild.ts): nothing in it has to survive a crash, so it keeps no journal
 * and never syncs. Its file is in a directory of its own under the system's temporary directory,
 * removed on close (or, if its process dies first, by the next process that stages: see
 * stagingDirectories.ts); it is a file, not memory, so that a SQLite read database can attach it and
 * copy its tables without the rows passing through JavaScript. Its pages are written at each
 * commit, to the operating system's file cache, never synced.
 */
export const openStagingDatabase = (handed?: HandedOverStaging): StagingDatabase => {
  const file = handed?.file ?? path.join(newStagingDirectory(), 'staging.sqlite');
  const directory = path.dirname(file);
  const connection = new Database(file);
  connection.pragma('journal_mode = OFF');
  connection.pragma('synchronous = OFF');
  connection.pragma(`cache_size = -${STAGING_CACHE_KIB}`);
  const deferred: HandedOverStaging['deferred'] = [...(handed?.deferred ?? [])];
  return {
    db: sqlDatabaseOn(connection),
    deferIndexes: (names, { unique = false, onlyOn } = {}) => {
      for (const name of names) {
        const index = connection
          .prepare<[string], { tbl_name: string; sql: string | null }>("SELECT tbl_name, sql FROM sqlite_master WHERE type = 'index' AND name = ?")
          .get(name);
        if (index?.sql == null) throw new Error(`No index ${name} to defer in the staging database`);
        if (!unique && /^CREATE UNIQUE /.test(index.sql)) throw new Error(`Index ${name} is UNIQUE: it cannot be deferred`);
        if (onlyOn && !onlyOn(index.tbl_name)) continue;
        connection.exec(`DROP INDEX ${quoteName(name)}`);
        deferred.push({ table: index.tbl_name, name, sql: index.sql });
      }
    },
    tablesWithTriggers: () =>
      new Set(connection.prepare<[], { table: string }>("SELECT DISTINCT tbl_name AS \"table\" FROM sqlite_master WHERE type = 'trigger'").all().map(({ table }) => table)),
    dropTriggers: () => {
      const triggers = connection.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'trigger'").all();
      for (const { name } of triggers) connection.exec(`DROP TRIGGER ${quoteName(name)}`);
    },
    tables: () =>
      connection
        // Plain tables only: a virtual table (an FTS5 index) and its shadow tables are built where
        // the rows are copied to, by the triggers of its table there.
        .prepare<[], { name: string }>(
          "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        )
        .all()
        .map(({ name }) => {
          const columns = connection
            .prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${name.replace(/'/g, "''")}') ORDER BY cid`)
            .all()
            .map((column) => column.name);
          const indexes = connection
            .prepare<[string], { name: string; sql: string }>(
              "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY name",
            )
            .all(name)
            .concat(deferred.filter((index) => index.table === name).map(({ name: indexName, sql }) => ({ name: indexName, sql })));
          const select = connection.prepare(`SELECT ${columns.map(quoteName).join(', ')} FROM ${quoteName(name)}`);
          return { name, columns, indexes, rows: () => select.raw(true).safeIntegers(true).iterate() as IterableIterator<SqlValue[]> };
        }),
    file,
    handOver: () => {
      connection.close();
      return { file, deferred: [...deferred] };
    },
    close: () => {
      if (connection.open) connection.close();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
};

/**
 * The page cache of a staging database: the data set of issue 11 (3,000 leads, 27,000 events)
 * stays within it; a log of a million events is read back from the operating system's file cache
 * rather than held, half a gigabyte of it, in the process.
 */
const STAGING_CACHE_KIB = 64 * 1024;

const quoteName = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/**
 * Our transactions hold SQLite's write lock across awaits. If other code of this process ran
 * in between and wrote to the same file through another connection (the event store does),
 * its synchronous busy wait would block the event loop, so our transaction could never commit:
 * a 5 s stall, then "database is locked". Starting on a fresh macrotask, with an empty
 * microtask queue, means only our own continuations run until COMMIT, provided the body
 * awaits nothing but this connection (which answers at once).
 */
const startOfMacrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

// ---------------------------------------------------------------------------------------------
// Many rows in few statements, where each statement takes its rows' values as placeholders: the
// SQLite side of `writeRows` and `updateRows`, and reads by key (rowsByKeys.ts). The rows go in
// chunks of a few fixed sizes, largest first, so that only a few statement texts are prepared.

/**
 * Powers of two up to 32: any count under 64 takes at most six statements, one per binary digit,
 * and six statement texts per table are all that is ever prepared. (PostgreSQL wrote in these
 * chunks too, until one statement of any size replaced them: there each statement was a round trip.)
 */
const CHUNK_SIZES = [32, 16, 8, 4, 2, 1] as const;

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
const writeRowsInChunks = async <T>(
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
const updateRowsOneByOne = async (
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
