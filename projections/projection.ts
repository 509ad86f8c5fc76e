import type { RecordedEvent } from '../src/core/eventStore';
import type { SqlDatabase } from './sqlDatabase';

/** In `canHandle`: every event, of any type, even one added after the projection was written. */
export const EVERY_EVENT_TYPE = '*';

/**
 * A read model fed by the event log. The runner owns when things happen: it calls `setup` on
 * every start, `reset` then `setup` on a rebuild, and `apply` inside the transaction that also
 * moves the projection's checkpoint, so a projection never has to track positions itself.
 */
export interface Projection {
  /** Stable: it keys the checkpoint. */
  name: string;
  /** Bump it when the tables or the way events map to rows change: the runner then rebuilds. */
  version: number;
  /** Creates the tables if missing; runs on every start. */
  setup(db: SqlDatabase): Promise<void>;
  /** Drops the tables (setup follows); must also work when they do not exist yet. */
  reset(db: SqlDatabase): Promise<void>;
  /**
   * The event types `apply` is called with; others only move the checkpoint. While the
   * projection is set aside, a write of a type it names answers READ_MODEL_STOPPED (unless the
   * caller says which read models its answer reads); one handling `EVERY_EVENT_TYPE` (an index)
   * is never taken for the read model of a write's answer.
   */
  canHandle: readonly string[];
  /**
   * Throws when the event cannot be applied: nothing of it is kept, and the projection is set
   * aside at that event (the others go on) until a start that gets past it, or a rebuild.
   */
  apply(tx: SqlDatabase, event: RecordedEvent): Promise<void>;
  /**
   * Optional, for a batch of more than one event: applies `events` (each of a type it handles,
   * in log order) as `apply` would one after the other, in fewer statements: the rows the batch
   * touches read at once and written at once, each once. An event `apply` would refuse throws
   * `EventNotApplied` naming it, and the projection is set aside at it as usual; any other error
   * rolls the batch back and the runner applies it again event by event, which tells which event
   * (if any) it was.
   */
  applyBatch?(tx: SqlDatabase, events: readonly RecordedEvent[]): Promise<void>;
  /**
   * True when everything the projection keeps is in the tables its `setup` creates, written in
   * the port's portable SQL, and it reads no other table and acts on nothing outside the
   * database: a rebuild may then replay it into a scratch SQLite database and copy its tables
   * over in one transaction (see bulkRebuild.ts), which is many times faster than the read
   * model's own database, and the same rows.
   */
  rebuildsInBulk?: boolean;
  /**
   * What a bulk rebuild of it costs, relative to the others (1 when absent): a replay alone on its
   * thread splits the projections between two threads by it (`ProjectionRunner`'s staging
   * thread). The seconds it adds to a replay of the insights history (1,004,970 events), measured
   * with `npm run replay -- --projection NAME` against one that applies next to nothing.
   */
  rebuildWeight?: number;
  /**
   * False when the projection reads none of an event's personal fields (PERSONAL_FIELDS in
   * src/domain/personalData.ts) and never asks whether they were erased. A bulk rebuild then
   * leaves those fields sealed in the events only such projections take (see `stageInBulk`), and
   * does not open them: on the insights history (1,004,970 events), opening personal data took
   * about a fifth of a replay's CPU.
   */
  readsPersonalData?: false;
  /**
   * Indexes of its tables that `apply` (and `foldInMemory`) never reads through, which serve the
   * API's queries only: a bulk rebuild leaves them out while it replays and builds each once,
   * over all the rows, as it copies the tables over, instead of updating it at every row. Never a
   * UNIQUE index: those enforce what `apply` relies on. Naming one that `apply` does read through
   * costs speed only, never rows.
   */
  deferredIndexes?: readonly string[];
  /**
   * UNIQUE indexes that only guard against a duplicate: no upsert targets them, and `apply` (and
   * `foldInMemory`) never reads through them. A bulk rebuild builds them at the copy, like
   * `deferredIndexes`, where a duplicate fails the copy and so the whole bulk rebuild (nothing is
   * copied; the usual replay then fails on the duplicate's event, as it would have at once).
   */
  deferredUniqueIndexes?: readonly string[];
  /**
   * For a bulk rebuild only, when the projection can hold rows in memory: `apply` takes each
   * event the projection handles, in log order, as `apply` above would, and `flush` writes the
   * rows `apply` above would have left, in its tables of `tx` (created by `setup`): after each
   * page of events as much as keeps its memory bounded, and everything at the end. A row
   * written once instead of read and written at every event is what makes it worth having.
   */
  foldInMemory?(): InMemoryFold;
  /**
   * For a bulk rebuild's copy into the read database, by table of its own: runs `copy`, which
   * fills the table from the staged rows, with whatever its triggers keep in step with it (a
   * search index) brought up to date once for all the rows instead of at each. A table not named
   * here is copied as it is. `inTurns`: the copy takes turns of a thread that serves requests
   * (see `BulkRebuildOptions.inTurns`), so no single statement may hold it for long. Otherwise,
   * on SQLite, `copy` must find the table without triggers: a seed's stage keeps the indexes of
   * such a table as its rows go in (`StageOptions.indexesAsStaged`), for the copy to move whole.
   */
  copyInBulk?: Readonly<Record<string, (tx: SqlDatabase, copy: () => Promise<void>, options: { inTurns: boolean }) => Promise<void>>>;
  /**
   * For a bulk rebuild of this projection alone (or with others that all have it) from a SQLite
   * log (`SqliteLogFile`), but not a stage that follows a load as it is written (a seed's): fills the projection's tables in `tx` (the
   * staging database, where `setup` created them) in SQL, from the log's `events` table, attached
   * as `log.schema`, with the rows `apply` would have left after every event whose position is
   * `log.through` or less; no event is read into JavaScript for it. Throws where `apply` would:
   * the bulk rebuild is then given up for the usual replay. Only for a projection whose rows need
   * nothing but what the log's columns and its events' metadata hold. Tells `log.onStaged` of the
   * events staged as it goes, for a progress line.
   */
  stageFromSqliteLog?(tx: SqlDatabase, log: { schema: string; through: number; onStaged?(events: number): void }): Promise<void>;
}

export interface InMemoryFold {
  /** Throws where `Projection.apply` would: the bulk rebuild is then given up for the usual replay. */
  apply(tx: SqlDatabase, event: RecordedEvent): Promise<void>;
  /** `everything`: the last call, after the last event. */
  flush(tx: SqlDatabase, everything: boolean): Promise<void>;
}

/** Thrown by `Projection.applyBatch`: this event of the batch cannot be applied (`cause` says why). */
export class EventNotApplied extends Error {
  override readonly name = 'EventNotApplied';
  constructor(
    readonly event: RecordedEvent,
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}
