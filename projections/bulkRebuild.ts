/**
 * A rebuild in bulk: the projections that were just reset replay the log into a staging SQLite
 * database (no journal, no sync, one transaction), and their tables are then copied into the
 * read database in one transaction that also moves their checkpoints. The rows are those the
 * projections themselves wrote, by the same code and the same SQL, so they are what a replay
 * into the read database would have written; only the cost differs: a PostgreSQL read model pays
 * a round trip per statement, a SQLite file its journal and the reads of pages its small cache
 * has dropped, and a staging database neither.
 *
 * A projection that can fold events in memory (`foldInMemory`) does so instead, and writes its
 * rows into the staging database once, at the end.
 *
 * Nothing is visible until the copy commits: a crash or a stop before it leaves the projections
 * as they were reset (empty, no checkpoint), and the runner catches them up event by event.
 */
import { sqliteFileOf, type EventStore, type GlobalPosition, type RecordedEvent } from '../src/core/eventStore';
import type { InMemoryFold, Projection } from './projection';
import { openStagingDatabase, type SqlDatabase, type SqlValue, type StagedTable, type StagingDatabase } from './sqlDatabase';
import { takingTurns, turnsOf, type TurnTaker } from './eventLoopTurns';

export interface BulkRebuildOptions {
  store: EventStore;
  /** The read database, where the projections were reset. */
  db: SqlDatabase;
  projections: readonly Projection[];
  /** Whether a projection takes an event of this type. */
  handles(projection: Projection, type: string): boolean;
  pageSize: number;
  /** False once the runner is stopping: the rebuild is then abandoned, nothing copied. */
  isActive(): boolean;
  /**
   * Moves the checkpoints to `through`, inside the transaction that copies the tables; `eventTypes`
   * are the types of the events replayed, those no projection takes included.
   */
  moveCheckpoints(tx: SqlDatabase, through: GlobalPosition, eventTypes: readonly string[]): Promise<void>;
  /**
   * Rebuilt beside their tables (`ProjectionRunner`'s version change): the read database still
   * holds the projections' old rows, which the copy's transaction drops (`reset`, then `setup`)
   * before it copies the new ones, so that readers go from the old rows to the new at its commit.
   */
  replaceTables?: boolean;
  /**
   * Runs the copy (`copy`: its transaction), for a caller that must hold other writers of the
   * read database back meanwhile. Resolves false when it did not run it (the rebuild is then
   * abandoned). The copy runs at once without it.
   */
  switchOver?(copy: () => Promise<void>): Promise<boolean>;
  /**
   * The thread serves requests meanwhile (a rebuild beside a projection's old tables): the SQLite
   * copy then goes a thousand rows per statement, with turns of the event loop between them (see
   * `copyTableInSql`). Otherwise one statement per table, which a replay or a seed, alone on their
   * thread, want: on the insights history (1,004,970 events) the copy in turns took 21.0 and 21.7 s
   * against 17.8 and 19.4 s in one statement per table (`npm run replay`, alternated).
   */
  inTurns?: boolean;
}

/**
 * Replays the log from its first event into a staging database, then copies the tables over.
 * Resolves with the position copied through, or undefined when nothing was (an empty log, or a
 * stop). Rejects when a projection fails on an event or the copy fails: nothing is then written,
 * and the caller replays the usual way, which sets a failing projection aside at its event.
 */
export const rebuildInBulk = async (options: BulkRebuildOptions): Promise<GlobalPosition | undefined> => {
  const staged = await stageInBulk(options);
  if (staged === undefined) return undefined;
  try {
    return await copyStaged({ ...options, ...staged });
  } finally {
    staged.staging.close();
  }
};

export interface StageOptions {
  store: EventStore;
  projections: readonly Projection[];
  handles(projection: Projection, type: string): boolean;
  pageSize: number;
  /** False once the stage must stop: it is then abandoned. */
  isActive(): boolean;
  /**
   * Staged while the log is still being written (the seed's load): a page shorter than asked
   * for is the end of the log only once this says the writing has ended; until then the stage
   * waits for more. Undefined: the log as it is now.
   */
  writingEnded?(): boolean;
  /**
   * The log's first events, read already (the whole log when `last`): the stage starts from them
   * instead of reading them again. Not with `writingEnded`.
   */
  firstPage?: { events: RecordedEvent[]; last: boolean };
  /**
   * Keeps the projections' indexes in the staging database as its rows go in, instead of deferring
   * them to the copy (`Projection.deferredIndexes`), for a stage with time to spare: one that
   * follows a log still being written (the seed's), which waits for each batch of it. The copy
   * then moves each table with its indexes as they are (see `copyTableInSql`), and the sort of
   * every index no longer holds up the end of the load, on the thread that copies.
   */
  indexesAsStaged?: boolean;
  /**
   * Told of the events staged in SQL from a SQLite log's table (`Projection.stageFromSqliteLog`),
   * as it goes: no event is read then, so a store that counts its reads counts none of them.
   */
  onStagedInSql?(events: number): void;
}

/** A log staged: its projections' rows in a staging database, from the first event through `through`. */
export interface Staged {
  staging: StagingDatabase;
  through: GlobalPosition;
  /** The types of the events staged, those no projection takes included. */
  eventTypes: string[];
}

/**
 * The first half of `rebuildInBulk`: the log replayed into a new staging database. Resolves with
 * it (the caller closes it), or undefined when nothing was staged (an empty log, or a stop); the
 * staging database is then gone. Rejects, leaving nothing, when a projection fails on an event.
 */
export const stageInBulk = async (options: StageOptions): Promise<Staged | undefined> => {
  const { store, projections, handles, pageSize, isActive, writingEnded } = options;
  // In SQL from the log's table, when every projection can (`Projection.stageFromSqliteLog`): not
  // in a stage that follows a load as it is written (a seed's), a batch at a time; nor beside a
  // projection that needs the events read into JavaScript. That one reads the whole log anyway, and
  // in a replay of every projection of the insights history, the audit trail made in SQL beside the
  // others made it no faster (41.6 s against 38.7, medians of five alternated rounds).
  const logFile = writingEnded === undefined ? sqliteFileOf(store) : undefined;
  if (logFile !== undefined && projections.length > 0 && projections.every((projection) => projection.stageFromSqliteLog !== undefined)) {
    return stageFromLog(options, logFile);
  }
  let requested = Math.min(FIRST_PAGE_SIZE, pageSize);
  const opensPersonalDataOf = personalDataReadBy(projections, handles);
  /**
   * The events after `fromPosition`, at most `maxCount`; `last` when they end the log: fewer than
   * asked for, read once nothing more will be written. While the log is still being written, an
   * empty read waits for more.
   */
  const read = async (fromPosition: GlobalPosition | undefined, maxCount: number): Promise<{ events: RecordedEvent[]; last: boolean }> => {
    for (;;) {
      // Asked before reading: a read that follows the end of the writing has everything written.
      const ended = writingEnded?.() ?? true;
      const events = await store.readAll({ fromPosition, maxCount, opensPersonalDataOf });
      const last = ended && events.length < maxCount;
      if (events.length > 0 || last || !isActive()) return { events, last };
      await new Promise((resolve) => setTimeout(resolve, WRITING_POLL_MS));
    }
  };
  let { events: page, last } = options.firstPage ?? (await read(undefined, requested));
  if (options.firstPage) requested = Math.max(requested, page.length);
  if (page.length === 0) return undefined;
  const staging = await openStagingFor(options);
  let staged = false;
  try {
    const folds = new Map(projections.flatMap((projection) => (projection.foldInMemory ? [[projection, projection.foldInMemory()] as const] : [])));
    let through: GlobalPosition = page[page.length - 1]!.position;
    const eventTypes = new Set<string>();
    let abandoned = false;
    // One transaction for the whole replay: with no journal, SQLite writes a page out only when its
    // cache is full, or at the commit, each page once. A commit per page of events wrote every page
    // the page of events had touched, again at each commit: on a million events, 205 commits took
    // 8.4 s of a 117 s rebuild.
    // In turns of the thread (see eventLoopTurns.ts): a rebuild beside a projection's old tables
    // runs on the thread that serves requests.
    const takeTurn = turnsOf(STAGE_SLICE_MS);
    await staging.db.transaction(async (unpaced) => {
      const tx = takingTurns(unpaced, takeTurn);
      for (;;) {
        through = page[page.length - 1]!.position;
        // The next page is read while this one is applied: its personal data is opened on another
        // thread meanwhile, and PostgreSQL answers meanwhile (see OpenerThread).
        for (const event of page) eventTypes.add(event.type);
        requested = Math.min(requested * 2, pageSize);
        const next = last ? undefined : read(through, requested);
        next?.catch(() => undefined); // awaited below; a failure here must not go unhandled if the apply fails first
        await applyPage(tx, projections, folds, handles, page, takeTurn);
        if (!isActive()) {
          abandoned = true;
          return;
        }
        if (next === undefined) break;
        ({ events: page, last } = await next);
        if (page.length === 0) break;
      }
      for (const fold of folds.values()) await fold.flush(tx, true);
    });
    if (abandoned) return undefined;
    staged = true;
    return { staging, through, eventTypes: [...eventTypes] };
  } finally {
    if (!staged) staging.close();
  }
};

/** A staging database with the projections' tables, their deferred indexes left out, no triggers. */
const openStagingFor = async ({ projections, indexesAsStaged }: StageOptions): Promise<StagingDatabase> => {
  const staging = openStagingDatabase();
  try {
    for (const projection of projections) await projection.setup(staging.db);
    // Kept as staged, only the indexes of tables the copy can move whole: not those of a table
    // with triggers, which the copy inserts row by row, unless its projection copies it with its
    // triggers off (`Projection.copyInBulk`: the leads', which fill their search index after).
    const triggered = indexesAsStaged ? staging.tablesWithTriggers() : undefined;
    const copiedWithoutTriggers = new Set(projections.flatMap((projection) => Object.keys(projection.copyInBulk ?? {})));
    const onlyOn = triggered && ((table: string) => triggered.has(table) && !copiedWithoutTriggers.has(table));
    staging.deferIndexes(projections.flatMap((projection) => projection.deferredIndexes ?? []), { onlyOn });
    staging.deferIndexes(projections.flatMap((projection) => projection.deferredUniqueIndexes ?? []), { unique: true, onlyOn });
    staging.dropTriggers();
    return staging;
  } catch (error) {
    staging.close();
    throw error;
  }
};

/** The schema a staging database attaches a SQLite log as (`stageFromLog`). */
const LOG_SCHEMA = 'rebuild_log';
const LOG_BUSY_TIMEOUT_MS = 5_000;

/**
 * `stageInBulk` in SQL: the log as it is now, through its head, staged by each projection's
 * `stageFromSqliteLog` from the log's file attached to the staging database, in one transaction.
 * No event is read into JavaScript, not even to tell the types of those staged.
 */
const stageFromLog = async (options: StageOptions, logFile: string): Promise<Staged | undefined> => {
  const head = await options.store.headPosition();
  if (head === undefined) return undefined;
  const staging = await openStagingFor(options);
  try {
    const { db } = staging;
    // A reader of a WAL file may meet a writer's lock for a moment: waited out, not a failed rebuild.
    await db.exec(`PRAGMA busy_timeout = ${LOG_BUSY_TIMEOUT_MS}`);
    const through = Number(head);
    const eventTypes = await db.withAttached!(logFile, LOG_SCHEMA, () =>
      db.transaction(async (tx) => {
        // Each projection stages every event: the progress told is that of the first (one, in practice: the audit trail).
        const [first] = options.projections;
        for (const projection of options.projections) {
          await projection.stageFromSqliteLog!(tx, { schema: LOG_SCHEMA, through, onStaged: projection === first ? options.onStagedInSql : undefined });
        }
        const types = await tx.all<{ type: string }>(`SELECT DISTINCT event_type AS type FROM ${LOG_SCHEMA}.events WHERE global_position <= ?`, [through]);
        return types.map((row) => row.type);
      }),
    );
    if (!options.isActive()) {
      staging.close();
      return undefined;
    }
    return { staging, through: head, eventTypes };
  } catch (error) {
    staging.close();
    throw error;
  }
};

/**
 * Whether any of the projections that take events of a type reads their personal data
 * (`Projection.readsPersonalData`): a stage opens it only in those events. Each type is asked once.
 */
const personalDataReadBy = (projections: readonly Projection[], handles: StageOptions['handles']): ((eventType: string) => boolean) => {
  const readers = projections.filter((projection) => projection.readsPersonalData !== false);
  const known = new Map<string, boolean>();
  return (eventType) => {
    let reads = known.get(eventType);
    if (reads === undefined) known.set(eventType, (reads = readers.some((projection) => handles(projection, eventType))));
    return reads;
  };
};

export interface CopyOptions extends Staged {
  db: SqlDatabase;
  projections: readonly Projection[];
  moveCheckpoints: BulkRebuildOptions['moveCheckpoints'];
  replaceTables?: boolean;
  switchOver?: BulkRebuildOptions['switchOver'];
  inTurns?: BulkRebuildOptions['inTurns'];
  /**
   * SQLite: the WAL the copy filled is left for the caller to copy back into the file (a copy on
   * another thread for a serving API, whose checkpoint thread does so after the switch-over).
   */
  leavesTheWal?: boolean;
  /**
   * PostgreSQL: the copy's transaction runs at the same time as the other parts' copies of the
   * same rebuild instead of after them (`TransactionOptions.concurrently`): each part has its own
   * tables and checkpoints.
   */
  concurrently?: boolean;
}

/**
 * The second half of `rebuildInBulk`: the staged tables copied into the read database, in one
 * transaction that also moves the checkpoints. Resolves with the position copied through, or
 * undefined when `switchOver` did not run the copy. The caller closes the staging database.
 */
export const copyStaged = async (options: CopyOptions): Promise<GlobalPosition | undefined> => {
  const { db, projections, staging, through } = options;
  const tables = staging.tables();
  /** PostgreSQL: the tables the copy's transaction wrote, vacuumed after its commit. */
  let written: string[] = [];
  // Between the SQLite copy's statements, a turn of the thread (see copyTableInSql).
  const takeTurn = options.inTurns ? turnsOf(STAGE_SLICE_MS, 1) : undefined;
  // A long transaction (seconds to tens of seconds on SQLite), which the appends of this process
  // wait out instead of failing at the busy timeout: beside a serving API, captures go on meanwhile.
  const copyAll = () =>
    db.transaction(async (tx) => {
      if (options.replaceTables) {
        for (const projection of projections) {
          // `setup` first: with the staging database attached, SQLite resolves an unqualified
          // DROP TABLE of a table main lacks (one the new version adds) to the staging
          // database's, which `reset` would then drop before it is copied.
          await projection.setup(tx);
          await projection.reset(tx);
          await projection.setup(tx);
        }
      }
      for (const table of tables) {
        const copy = () => (db.withAttached ? copyTableInSql(tx, table, takeTurn) : copyTable(tx, table));
        const copyInBulk = projections.map((projection) => projection.copyInBulk?.[table.name]).find((hook) => hook !== undefined);
        await (copyInBulk ? copyInBulk(tx, copy, { inTurns: takeTurn !== undefined }) : copy());
      }
      if (tx.dialect === 'postgres') written = await analyzeWhatThisTransactionWrote(tx);
      await options.moveCheckpoints(tx, through, options.eventTypes);
    }, { long: true, concurrently: options.concurrently });
  // Beside a serving API, the WAL the copy filled is copied back into the file on another thread,
  // once the switch-over is done (the runner follows the log again meanwhile): on this one, the
  // commit (SQLite's automatic checkpoint) held every request 2.5 to 3.7 s after a rebuild of the
  // audit trail of the insights history (1,004,970 rows); now the commit takes about 0.5 s.
  const elsewhere = options.inTurns ? db.checkpointingElsewhere : undefined;
  const copy = async () => {
    if (!db.withAttached) return copyAll();
    await db.withAttached(staging.file, STAGING_SCHEMA, copyAll);
    if (!elsewhere && !options.leavesTheWal) await checkpointTheCopy(db);
  };
  /** The copy, through the caller's switch-over when it has one; false when that did not run it. */
  const copyOrSwitchOver = async () => {
    if (!options.switchOver) await copy();
    else if (!(await options.switchOver(copy))) return false;
    return true;
  };
  if (!(await (elsewhere ? elsewhere(copyOrSwitchOver) : copyOrSwitchOver()))) return undefined;
  await vacuumTheCopy(db, written);
  return through;
};

/** How often a stage that follows a log still being written looks for more. */
const WRITING_POLL_MS = 20;

/**
 * The first page is read, and its personal data opened, with nothing to overlap it: kept small,
 * the rebuild starts at once. Each page after it is twice the one before, up to the page size, so
 * it is read and opened in less time than the page before takes to apply. On the 3,000-lead data
 * set the first page of 5,000 events kept the rebuild waiting 120 to 170 ms with personal data
 * sealed (its keys read, its values opened) and about 50 ms without; a first page of 500, 15 to
 * 20 ms and 5 ms.
 */
const FIRST_PAGE_SIZE = 500;

/** A page of events, projection after projection, as the runner applies a batch. */
const applyPage = async (
  tx: SqlDatabase,
  projections: readonly Projection[],
  folds: ReadonlyMap<Projection, InMemoryFold>,
  handles: BulkRebuildOptions['handles'],
  page: readonly RecordedEvent[],
  takeTurn: TurnTaker,
): Promise<void> => {
  for (const projection of projections) {
    const fold = folds.get(projection);
    for (const event of page) {
      if (!handles(projection, event.type)) continue;
      // Also here: a fold in memory applies most events without a statement.
      const turn = takeTurn();
      if (turn !== undefined) await turn;
      if (fold) await fold.apply(tx, event);
      else await projection.apply(tx, event);
    }
    await fold?.flush(tx, false);
  }
};

/**
 * Copies a staged table into the read database's table of the same name, which its projection's
 * `setup` created there too. Its indexes are dropped first and created again once the rows are
 * in: one sort per index instead of an insertion per row. The rows are sent as they are read
 * (on PostgreSQL one COPY per table, streamed: see `insertRows`).
 */
const copyTable = async (tx: SqlDatabase, table: StagedTable): Promise<void> => {
  const indexes = await targetIndexes(tx, table);
  for (const index of indexes) await tx.exec(`DROP INDEX IF EXISTS ${quoteName(index.name)}`);
  await tx.insertRows(table.name, table.columns, table.rows());
  for (const index of indexes) await tx.exec(index.sql);
};

/**
 * The staged table's indexes as the read database defines them. The staging database is SQLite,
 * and a projection may index differently on PostgreSQL (the audit trail names its seq column
 * there, SQLite has it as the rowid): PostgreSQL's own definitions are made again, not SQLite's.
 */
const targetIndexes = async (tx: SqlDatabase, table: StagedTable): Promise<StagedTable['indexes']> => {
  if (tx.dialect !== 'postgres' || table.indexes.length === 0) return table.indexes;
  const defined = new Map(
    (
      await tx.all<{ indexname: string; indexdef: string }>(
        'SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ?',
        [table.name],
      )
    ).map((row) => [row.indexname, row.indexdef]),
  );
  return table.indexes.map((index) => ({ name: index.name, sql: defined.get(index.name) ?? index.sql }));
};

/**
 * On PostgreSQL, every table of the read schema that the copy's transaction wrote is analyzed in
 * it: those copied, and those filled beside them (the leads' search texts, see
 * `Projection.copyInBulk`). The planner otherwise plans their queries from defaults until
 * autovacuum analyzes them (a minute or more; never where autovacuum is off). On the insights history (114,000 leads) the lead search's p99
 * went from 29 to 15 ms with the statistics of the leads (`npm run bench -- --only
 * insightsPostgres`); without those of the search texts, a count of a search read the whole
 * table of texts.
 */
const analyzeWhatThisTransactionWrote = async (tx: SqlDatabase): Promise<string[]> => {
  const written = await tx.all<{ name: string }>(
    `SELECT relname AS name FROM pg_stat_xact_user_tables
     WHERE schemaname = current_schema() AND n_tup_ins + n_tup_upd + n_tup_del > 0 ORDER BY relname`,
  );
  for (const { name } of written) await tx.exec(`ANALYZE ${quoteName(name)}`);
  return written.map(({ name }) => name);
};

/**
 * On PostgreSQL, the tables the copy wrote are vacuumed once it has committed (VACUUM cannot run
 * in a transaction), as PostgreSQL's own advice for a bulk load goes. Rows just copied are not yet
 * marked visible to all: until a VACUUM, an index-only scan reads every row's page again, so the
 * planner prefers to scan the table, and the first query to read each page also writes it (its
 * hint bits). Autovacuum comes to them a minute or so later, or never where it is off (as on our
 * test machines). On the insights history (1,004,970 events) `pipeline(asOf)` computed each time
 * went from p50 7.0 and 11.2 ms to 4.7 and 5.3 ms; the VACUUM of every table took 2.5 to 2.9 s.
 * Readers and writers go on meanwhile (it takes no lock they wait for). The copy is committed
 * whatever happens here: a VACUUM that fails leaves the tables to autovacuum, as before.
 */
const vacuumTheCopy = async (db: SqlDatabase, tables: readonly string[]): Promise<void> => {
  if (db.dialect !== 'postgres' || tables.length === 0) return;
  await db.exec(`VACUUM ${tables.map(quoteName).join(', ')}`).catch(() => undefined);
};

/**
 * The copy's pages moved from the WAL into the database file now, as part of the rebuild, and the
 * WAL emptied. Left there, they were moved by the automatic checkpoint of whichever commit came
 * next, on the thread that made it: after a rebuild of the million events of issue 11 the first
 * capture held the API's event loop for 7 s, every request waiting behind it, and the WAL file
 * kept its gigabyte on disk. On a macrotask of its own, no other transaction of this process is
 * open (see `startOfMacrotask` in sqlDatabase.ts), so the checkpoint waits for none of them.
 */
const checkpointTheCopy = async (db: SqlDatabase): Promise<void> => {
  await new Promise<void>((resolve) => setImmediate(resolve));
  // The copy is committed whatever happens here. The checkpoint waits for reads in progress on
  // other connections (the report thread's: milliseconds), at most busy_timeout (5 s); one that
  // cannot finish says so in its result, and one that fails leaves the pages to the automatic
  // checkpoint, as before. Neither is a failed rebuild.
  await db.exec('PRAGMA wal_checkpoint(TRUNCATE)').catch(() => undefined);
};

/**
 * How long a stage works before it lets the rest of its thread run (`turnsOf`): a request that
 * arrives meanwhile waits about this long for it, and the stage takes about a hundred turns a
 * second, each a macrotask of next to nothing when nothing waits.
 */
const STAGE_SLICE_MS = 10;

/** The schema a SQLite read database attaches the staging database as, while copying. */
const STAGING_SCHEMA = 'rebuild_staging';

/**
 * As `copyTable`, for a SQLite read database with the staging file attached: INSERT … SELECT run
 * inside SQLite (on the 3,000-lead data set the copy took 0.76 s through JavaScript, a quarter of
 * the rebuild), one statement per table; or, given `takeTurn` (`inTurns`), in statements of a
 * thousand rows with turns of the thread between them (`copyInTurns`). The copy
 * of a projection rebuilt beside its old tables on a short log runs on the thread that serves
 * requests (on a long one, on another: `ProjectionRunnerOptions.copyThread`), and one statement
 * per table held it for the whole copy: 5.1 s for the leads of the insights history (114,000
 * leads, their search index filled by the table's triggers). Requests that read this
 * connection still wait for the commit (the transaction is open); the others, and the reports of
 * the report thread, go on.
 */
const copyTableInSql = async (tx: SqlDatabase, table: StagedTable, takeTurn: TurnTaker | undefined): Promise<void> => {
  const staged = `${STAGING_SCHEMA}.${quoteName(table.name)}`;
  const same = takeTurn === undefined && (await sameColumns(tx, table.name));
  if (same && (await transfersIndexes(tx, table.name))) {
    await tx.exec(`INSERT INTO main.${quoteName(table.name)} SELECT * FROM ${staged}`);
    return;
  }
  // Every name qualified: the staging database has tables and indexes of the same names.
  for (const index of table.indexes) await tx.exec(`DROP INDEX IF EXISTS main.${quoteName(index.name)}`);
  if (takeTurn !== undefined) return copyInTurns(tx, table, takeTurn);
  const columns = table.columns.map(quoteName).join(', ');
  // `SELECT *` where both tables have the same columns in the same order: SQLite then copies the
  // records as they are (its transfer optimization), where naming the columns decodes each row
  // and encodes it again. It does so only into a table with no trigger (not the leads', which
  // fill their search index). In a seed of the insights history (114,000 leads), the eight
  // largest tables' copies took 3.4 s instead of 4.9 (the audit index's 1,003,388 rows 0.69 s
  // instead of 0.93); in `npm run replay` of it, the second part's copy, the rebuild's last
  // step, 3.5 and 3.6 s instead of 4.6 to 5.0.
  const into = `main.${quoteName(table.name)}`;
  await tx.exec(same ? `INSERT INTO ${into} SELECT * FROM ${staged}` : `INSERT INTO ${into} (${columns}) SELECT ${columns} FROM ${staged}`);
  for (const index of table.indexes) await tx.exec(inMain(index.sql));
};

/**
 * `copyTableInSql` beside a serving API: a thousand rows of the staged table (by rowid) per
 * statement, with a turn of the thread between statements, and a turn before each index.
 *
 * A table with triggers (the leads', which fill their search index) gets its indexes first, on
 * the empty table, and they take each statement's rows as they come in: each row costs its
 * triggers' work anyway, and an index sorted after the rows was one CREATE INDEX that no turn
 * could cut. Rebuilding the leads beside their old rows on the insights history (114,000 leads,
 * 1,004,970 events) with a capture every 50 ms, the API's answers over 100 ms summed 1.9, 1.3
 * and 1.5 s instead of 3.2, 3.4 and 3.2 s, the longest 0.35, 0.33 and 0.38 s instead of 2.0, 1.3
 * and 2.5 s, and the longest capture (captures wait out the copy) took 6.9, 6.7 and 6.4 s instead
 * of 6.2, 5.8 and 5.9 s (README).
 *
 * Any other table gets them after its rows, sorted: its rows copy fast, and keeping the indexes
 * up as they come made the copy, which captures wait out, about twice as long. The audit trail's
 * five indexes over 1,004,970 rows, kept from the start, had the longest capture wait 15.5 and
 * 21.0 s instead of 9.8 and 9.7 s; sorted after, each holds the thread 0.5 to 1.7 s.
 */
const copyInTurns = async (tx: SqlDatabase, table: StagedTable, takeTurn: TurnTaker): Promise<void> => {
  const staged = `${STAGING_SCHEMA}.${quoteName(table.name)}`;
  const columns = table.columns.map(quoteName).join(', ');
  const turn = async () => {
    const taken = takeTurn();
    if (taken !== undefined) await taken;
  };
  const makeIndexes = async () => {
    for (const index of table.indexes) {
      await turn();
      await tx.exec(inMain(index.sql));
    }
  };
  const triggered = await hasTriggers(tx, table.name);
  if (triggered) await makeIndexes();
  const insert = (where: string) => `INSERT INTO main.${quoteName(table.name)} (${columns}) SELECT ${columns} FROM ${staged} ${where} ORDER BY rowid`;
  // The last rowid of the next statement's rows, as text: a rowid past 2^53 is exact only so.
  const lastOfNext = (where: string) => `SELECT CAST(rowid AS TEXT) AS last FROM ${staged} ${where} ORDER BY rowid LIMIT 1 OFFSET ${COPY_ROWS_PER_STATEMENT - 1}`;
  let after: string | undefined;
  for (;;) {
    await turn();
    const from = after === undefined ? { where: '', params: [] } : { where: 'WHERE rowid > CAST(? AS INTEGER)', params: [after] };
    const last = await tx.get<{ last: string }>(lastOfNext(from.where), from.params);
    if (last === undefined) {
      await tx.run(insert(from.where), from.params);
      break;
    }
    const upTo = `${from.where === '' ? 'WHERE' : `${from.where} AND`} rowid <= CAST(? AS INTEGER)`;
    await tx.run(insert(upTo), [...from.params, last.last]);
    after = last.last;
  }
  if (!triggered) await makeIndexes();
};

/**
 * Whether the table has the same columns in the read database as staged, in the same order, with
 * the same types, constraints and defaults, and none hidden or generated: then `SELECT *` copies
 * each value into the column of its name. A table the read database made with an older version
 * and changed since (ALTER TABLE … ADD COLUMN appends) may have them in another order.
 */
const sameColumns = async (tx: SqlDatabase, table: string): Promise<boolean> => {
  const columnsIn = (schema: string) =>
    tx.all<Record<string, SqlValue>>(`SELECT name, type, "notnull", dflt_value, pk, hidden FROM pragma_table_xinfo(?, ?) ORDER BY cid`, [table, schema]);
  const [main, staged] = await Promise.all([columnsIn('main'), columnsIn(STAGING_SCHEMA)]);
  return (
    main.length > 0 &&
    main.every((column) => Number(column.hidden) === 0) &&
    JSON.stringify(main) === JSON.stringify(staged)
  );
};

/**
 * Whether `INSERT INTO main.t SELECT * FROM staged.t`, of a table with the same columns in both
 * (`sameColumns`), copies the table's indexes too, page by page as it copies its rows (SQLite's
 * transfer optimization): the staged table has every index of the read database's, built as it
 * was staged (`StageOptions.indexesAsStaged`); the read database's table is empty (SQLite
 * transfers an index only into an empty table) and has no trigger (SQLite transfers nothing into
 * one). Otherwise the indexes are dropped and sorted
 * again after the rows, as ever: with them kept, SQLite would insert every row into each of them.
 * In two alternated pairs of seeds of the insights history (114,000 leads, 1,004,970 events), the
 * copy at the end took 15.4 and 15.3 s instead of 20.3 and 19.2 (the audit trail's million rows
 * with their five indexes: 2.5 s instead of 7.2), and the stage, keeping them, ended 8.3 and
 * 8.6 s after the writing instead of 7.0 and 6.0: the load's tail 23.7 and 23.9 s against 27.3
 * and 25.2.
 */
const transfersIndexes = async (tx: SqlDatabase, table: string): Promise<boolean> => {
  const indexesIn = (schema: string) =>
    tx.all<{ name: string; sql: string }>(
      `SELECT name, sql FROM ${schema}.sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY name`,
      [table],
    );
  const [main, staged, triggered, row] = await Promise.all([
    indexesIn('main'),
    indexesIn(STAGING_SCHEMA),
    hasTriggers(tx, table),
    tx.get<{ found: 1 }>(`SELECT 1 AS found FROM main.${quoteName(table)} LIMIT 1`),
  ]);
  return !triggered && row === undefined && JSON.stringify(main) === JSON.stringify(staged);
};

/** Whether the read database's table has triggers (the leads', which fill their search index). */
const hasTriggers = async (tx: SqlDatabase, table: string): Promise<boolean> =>
  (await tx.get<{ found: 1 }>("SELECT 1 AS found FROM main.sqlite_master WHERE type = 'trigger' AND tbl_name = ? LIMIT 1", [table])) !== undefined;

/** Rowids of a staged table per statement of the SQLite copy: tens of milliseconds at most (a lead with its search index about 35 us). */
const COPY_ROWS_PER_STATEMENT = 1_000;

/** A CREATE INDEX statement as SQLite keeps it (normalized: `CREATE [UNIQUE] INDEX name ON …`), made to create it in main. */
const inMain = (createIndex: string): string => {
  const qualified = createIndex.replace(/^CREATE (UNIQUE )?INDEX /, (start) => `${start}main.`);
  if (qualified === createIndex) throw new Error(`Not a CREATE INDEX statement as SQLite keeps it: ${createIndex}`);
  return qualified;
};

const quoteName = (name: string): string => `"${name.replace(/"/g, '""')}"`;
