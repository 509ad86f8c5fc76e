/**
 * The write side of the SQLite event store: a group commit of appends, each checked inside the
 * write transaction. It runs on the thread that owns the writing connection: the store's writer
 * thread for a file (sqliteWriterThread.ts), the calling thread for a database in memory. So it
 * takes and gives only what a thread can be sent: the events already as JSON text, and a failure
 * as a description that `fromWriteFailure` turns back into the error the caller expects.
 */
import type Database from 'better-sqlite3';
import {
  ConcurrencyConflictError,
  NO_STREAM,
  matchesExpectedRevision,
  type AppendResult,
  type ExpectedRevision,
} from '../core/eventStore';
import { resultOfRetriedAppend } from './appendChecks';

/**
 * The trigger that keeps an INSERT OR REPLACE (of any connection) from replacing an event: such
 * an insert deletes the row it collides with without firing delete triggers. Part of the log's
 * schema (sqlite.ts); a bulk batch goes without it inside its own transaction (see
 * `appendUnchecked`).
 */
export const NEVER_REPLACED_TRIGGER = `CREATE TRIGGER IF NOT EXISTS events_are_never_replaced BEFORE INSERT ON events
  WHEN EXISTS (SELECT 1 FROM events WHERE global_position = NEW.global_position)
    OR EXISTS (SELECT 1 FROM events WHERE event_id = NEW.event_id)
    OR EXISTS (SELECT 1 FROM events WHERE stream_id = NEW.stream_id AND stream_revision = NEW.stream_revision)
  BEGIN SELECT RAISE(ABORT, 'events are immutable: an insert may not replace one'); END`;

/**
 * From this many events, a bulk append (a seed's batch: 10,000 on SQLite) runs without the
 * trigger: it costs each insert two more lookups of its keys, which its plain INSERT makes anyway.
 * Dropping a trigger changes the schema, which every connection then reads again: once a batch,
 * not once an API's append.
 */
export const UNGUARDED_BULK_FROM_EVENTS = 5_000;

/** An event as its row stores it: data and metadata already JSON text. */
export interface EventToInsert {
  id: string;
  type: string;
  data: string;
  metadata: string;
  recordedAt: string;
}

export interface StreamWrite {
  streamId: string;
  expectedRevision: ExpectedRevision;
  events: EventToInsert[];
}

/**
 * One caller's append: one `appendToStream` (one entry), or one `appendToStreams`, whose entries
 * are written all or none, on the bulk path first (`bulk`).
 */
export interface AppendWrite {
  streams: StreamWrite[];
  bulk: boolean;
}

/** Why an append was refused, in a form a thread can send. */
export type WriteFailure =
  | { kind: 'conflict'; streamId: string; expectedRevision: ExpectedRevision; actualRevision: number | typeof NO_STREAM }
  | { kind: 'sqlite'; message: string; code: string }
  | { kind: 'error'; name: string; message: string };

/**
 * An entry's result as the writer gives it: with the position of its first event when this commit
 * inserted its events, and without when it recognised a retry of events stored before (whose rows
 * may differ from the retry's: see recentCommits.ts, the one reader of it).
 */
export interface WrittenEntry extends AppendResult {
  firstInserted?: number;
}

/** Each append's answer, in the order given: its results (one per entry), or why it was refused. */
export type WriteOutcome = { ok: true; results: WrittenEntry[] } | { ok: false; failure: WriteFailure };

export const toWriteFailure = (error: unknown): WriteFailure => {
  if (error instanceof ConcurrencyConflictError) {
    return { kind: 'conflict', streamId: error.streamId, expectedRevision: error.expectedRevision, actualRevision: error.actualRevision };
  }
  if (isSqliteError(error)) return { kind: 'sqlite', message: error.message, code: error.code };
  if (error instanceof Error) return { kind: 'error', name: error.name, message: error.message };
  return { kind: 'error', name: 'Error', message: String(error) };
};

/** The error a caller of the store expects for `failure`. */
export const fromWriteFailure = (failure: WriteFailure, SqliteError: new (message: string, code: string) => Error): Error => {
  switch (failure.kind) {
    case 'conflict':
      return new ConcurrencyConflictError(failure.streamId, failure.expectedRevision, failure.actualRevision);
    case 'sqlite':
      return new SqliteError(failure.message, failure.code);
    default: {
      const error = new Error(failure.message);
      error.name = failure.name;
      return error;
    }
  }
};

// Not `instanceof Database.SqliteError`: this module must not load the driver (the writer thread
// is given its path), and an error's code is what the store's callers look at.
const isSqliteError = (error: unknown): error is Error & { code: string } => {
  const code = error instanceof Error ? (error as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('SQLITE_');
};

/** The quick path of `appendToStreams` met something only the checked path can answer. */
class Unsure extends Error {}

interface PlaceRow {
  stream_id: string;
  stream_revision: number;
  global_position: number;
}

/**
 * Writes a batch of appends in one transaction: one commit, so one fsync, serves them all (group
 * commit). Each append runs in its own savepoint (a nested better-sqlite3 transaction), so a
 * conflict refuses that append alone. Never throws: a failure of the transaction itself (the
 * file is locked for too long, the disk is full) refuses every append of the batch.
 *
 * An append alone in its batch runs in the transaction itself, without a savepoint: its failure
 * rolls back a transaction that holds nothing else, which refuses it alone just the same. A
 * savepoint is not free: SQLite copies each page the savepoint first changes into its
 * sub-journal, so that it can roll back to it. A seed's batches (then of 40,000 events), each
 * alone in its commit, took 68 us an event in a savepoint and 35 without (`npm run bench:bulk-appends`).
 */
export const createAppendWriter = (db: Database.Database): ((batch: readonly AppendWrite[]) => WriteOutcome[]) => {
  const statements = {
    lastRevision: db.prepare<[string], { revision: number | null }>('SELECT MAX(stream_revision) AS revision FROM events WHERE stream_id = ?'),
    placeOfEvent: db.prepare<[string], PlaceRow>('SELECT stream_id, stream_revision, global_position FROM events WHERE event_id = ?'),
    insert: db.prepare<[string, string, number, string, string, string, string]>(
      `INSERT INTO events
         (event_id, stream_id, stream_revision, event_type, data, metadata, recorded_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
  };
  const lastRevisionOf = (streamId: string) => statements.lastRevision.get(streamId)?.revision ?? NO_STREAM;
  // recorded_at has a column of its own so that an audit can select by time without parsing JSON.
  const insertEvent = (streamId: string, revision: number, event: EventToInsert) =>
    statements.insert.run(event.id, streamId, revision, event.type, event.data, event.metadata, event.recordedAt).lastInsertRowid;

  // Run inside a transaction: IMMEDIATE takes the write lock before reading the stream's
  // revision, so no other connection can append between that check and the inserts.
  const appendChecked = ({ streamId, events, expectedRevision }: StreamWrite): WrittenEntry => {
    const actualRevision = lastRevisionOf(streamId);
    const retried = resultOfRetriedAppend(
      streamId,
      expectedRevision,
      events.map((event) => {
        const row = statements.placeOfEvent.get(event.id);
        return row && { streamId: row.stream_id, revision: row.stream_revision, position: String(row.global_position) };
      }),
      actualRevision,
    );
    if (retried) return retried;
    if (!matchesExpectedRevision(expectedRevision, actualRevision)) {
      throw new ConcurrencyConflictError(streamId, expectedRevision, actualRevision);
    }
    const firstRevision = actualRevision === NO_STREAM ? 0 : actualRevision + 1;
    const positions = events.map((event, index) => insertEvent(streamId, firstRevision + index, event));
    return { nextExpectedRevision: firstRevision + events.length - 1, position: String(positions.at(-1)), firstInserted: Number(positions[0]) };
  };
  /**
   * The path of a bulk load: no lookup of each event's id (a stored one makes the insert abort,
   * on its UNIQUE constraint or the trigger), and a stream's revision read once per call, and not
   * at all for a stream expected not to exist: if it does, its revision 0 is stored, and the
   * insert aborts on UNIQUE (stream_id, stream_revision). (A seed of 20,000 leads looked up
   * 41,189 revisions, now 8,359; a million events' 410,230 lookups took 1.3 s of its thread.)
   * Any doubt (an expected revision that does not match, an id or a revision already stored)
   * throws `Unsure`, and the append is made again entry by entry, which tells the conflict or
   * recognises a retry.
   */
  const appendUnchecked = (streams: readonly StreamWrite[]): WrittenEntry[] => {
    const revisions = new Map<string, number | typeof NO_STREAM>();
    const append = ({ streamId, events, expectedRevision }: StreamWrite): WrittenEntry => {
      const actualRevision = revisions.get(streamId) ?? (expectedRevision === NO_STREAM ? NO_STREAM : lastRevisionOf(streamId));
      if (!matchesExpectedRevision(expectedRevision, actualRevision)) throw new Unsure();
      const firstRevision = actualRevision === NO_STREAM ? 0 : actualRevision + 1;
      let firstInserted = 0;
      let position = '';
      events.forEach((event, index) => {
        try {
          const inserted = insertEvent(streamId, firstRevision + index, event);
          if (index === 0) firstInserted = Number(inserted);
          position = String(inserted);
        } catch (error) {
          if (isSqliteError(error)) throw new Unsure();
          throw error;
        }
      });
      const nextExpectedRevision = firstRevision + events.length - 1;
      revisions.set(streamId, nextExpectedRevision);
      return { nextExpectedRevision, position, firstInserted };
    };
    if (streams.reduce((sum, stream) => sum + stream.events.length, 0) < UNGUARDED_BULK_FROM_EVENTS) return streams.map(append);
    // A big batch goes without the insert trigger, dropped and made again inside this
    // transaction: no other connection ever sees the log without it, and a batch that fails
    // rolls the drop back with its rows. The batch's own inserts are plain INSERTs, refused
    // (as Unsure) on a key already stored by the UNIQUE constraints the trigger stands beside.
    // About 5 us less an event: 34.7 against 39.5 (`npm run bench:bulk-appends`).
    db.exec('DROP TRIGGER IF EXISTS events_are_never_replaced');
    const results = streams.map(append);
    db.exec(NEVER_REPLACED_TRIGGER);
    return results;
  };
  // Every entry checked as `appendToStream` checks it; the first refusal undoes them all.
  const appendEachChecked = (streams: readonly StreamWrite[]) => streams.map(appendChecked);

  /** The append's writes in a transaction (or savepoint) of their own, entry by entry when the bulk path is unsure. */
  const writeAtomically = (append: AppendWrite, atomically: (writes: () => WrittenEntry[]) => WrittenEntry[]): WrittenEntry[] => {
    if (!append.bulk) return atomically(() => append.streams.map(appendChecked));
    try {
      return atomically(() => appendUnchecked(append.streams));
    } catch (error) {
      if (!(error instanceof Unsure)) throw error;
      return atomically(() => appendEachChecked(append.streams));
    }
  };
  const outcomeOf = (write: () => WrittenEntry[]): WriteOutcome => {
    try {
      return { ok: true, results: write() };
    } catch (error) {
      return { ok: false, failure: toWriteFailure(error) };
    }
  };
  // Run inside `writeTogether`'s transaction, a better-sqlite3 transaction function is a savepoint.
  const inSavepoint = db.transaction((writes: () => WrittenEntry[]) => writes());
  const writeTogether = db.transaction((batch: readonly AppendWrite[]) =>
    batch.map((append) => outcomeOf(() => writeAtomically(append, inSavepoint))),
  );
  const inTransaction = db.transaction((writes: () => WrittenEntry[]) => writes());

  return (batch) => {
    if (batch.length === 1) return [outcomeOf(() => writeAtomically(batch[0]!, (writes) => inTransaction.immediate(writes)))];
    try {
      return writeTogether.immediate(batch);
    } catch (error) {
      const failure = toWriteFailure(error);
      return batch.map(() => ({ ok: false, failure }));
    }
  };
};
