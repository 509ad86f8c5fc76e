/**
 * The event store in one SQLite file. Several processes may share the file (the API, a
 * projector, read models opening their own connections), so nothing here assumes exclusive
 * access: writers serialise on SQLite's write lock and live subscriptions poll for appends made
 * by other connections.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import {
  ConcurrencyConflictError,
  NO_STREAM,
  matchesExpectedRevision,
  streamNotFound,
  type AppendResult,
  type BulkLoadTuning,
  type EventStore,
  type ExpectedRevision,
  type GlobalPosition,
  type NewEvent,
  type RecordedEvent,
  type StreamAppend,
  type Subscription,
} from '../core/eventStore';
import { assertAppendableBatch, resultOfRetriedAppend, toJsonText } from './appendChecks';
import { subscribeByPaging } from './catchUpSubscription';

export interface SqliteEventStoreOptions {
  filename: string;
  /** How often a live subscription looks for appends made by other connections. */
  pollIntervalMs?: number;
  synchronous?: 'FULL' | 'NORMAL';
}

export interface SqliteEventStore extends EventStore {
  readonly filename: string;
  readonly bulkLoad: BulkLoadTuning;
}

const SUBSCRIPTION_BATCH_SIZE = 500;

/** An `appendToStream` or an `appendToStreams` waiting for the next group commit: its writes, and its caller. */
interface QueuedAppend<Result = unknown> {
  /** The writes, all or none: they run in a savepoint, or in a transaction, of their own. */
  write(): Result;
  /** When `write` throws `Unsure`: the answer, written with every check, once `write`'s writes are undone. */
  checked?(): Result;
  resolve(result: Result): void;
  reject(error: unknown): void;
}
// Long enough to outwait another process's append, short enough to surface a stuck writer.
const BUSY_TIMEOUT_MS = 5000;

/**
 * A bulk load's page cache and batch. Every append inserts into two indexes on random keys (the
 * event id; the stream and revision), about 120 MB at a million events: with SQLite's default
 * 2 MiB cache nearly every insert read a page back from the file, and every batch commit wrote
 * each page it had touched to the WAL again (23 GB written to seed a million events). With the
 * indexes held and a page written once per batch of 40,000 events instead of 4,000, generating
 * the million events took 124 s instead of 219 s (40,000 events alone: about 150 s).
 */
const BULK_LOAD_CACHE_KIB = 512 * 1024;
const BULK_LOAD_BATCH_EVENTS = 40_000;

// AUTOINCREMENT so that a position is never handed out twice, even after the newest row is
// gone. The triggers make the log append-only for every connection, not only this adapter: an
// auditor must be able to trust that no fact was rewritten. The insert trigger closes the one
// gap the other two leave: INSERT OR REPLACE deletes the row it collides with without firing
// delete triggers (unless a connection enables recursive_triggers).
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS events (
    global_position INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    stream_id TEXT NOT NULL,
    stream_revision INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    data TEXT NOT NULL,
    metadata TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    UNIQUE (stream_id, stream_revision)
  );
  CREATE TRIGGER IF NOT EXISTS events_are_never_updated BEFORE UPDATE ON events
  BEGIN SELECT RAISE(ABORT, 'events are immutable: UPDATE refused'); END;
  CREATE TRIGGER IF NOT EXISTS events_are_never_deleted BEFORE DELETE ON events
  BEGIN SELECT RAISE(ABORT, 'events are immutable: DELETE refused'); END;
  CREATE TRIGGER IF NOT EXISTS events_are_never_replaced BEFORE INSERT ON events
  WHEN EXISTS (SELECT 1 FROM events WHERE global_position = NEW.global_position)
    OR EXISTS (SELECT 1 FROM events WHERE event_id = NEW.event_id)
    OR EXISTS (SELECT 1 FROM events WHERE stream_id = NEW.stream_id AND stream_revision = NEW.stream_revision)
  BEGIN SELECT RAISE(ABORT, 'events are immutable: an insert may not replace one'); END;
`;

interface EventRow {
  global_position: number;
  event_id: string;
  stream_id: string;
  stream_revision: number;
  event_type: string;
  data: string;
  metadata: string;
}

interface PlaceRow {
  stream_id: string;
  stream_revision: number;
  global_position: number;
}

export const openSqliteEventStore = ({
  filename,
  pollIntervalMs = 250,
  synchronous = 'FULL',
}: SqliteEventStoreOptions): SqliteEventStore => {
  if (filename !== ':memory:') fs.mkdirSync(path.dirname(filename), { recursive: true });
  const db = new Database(filename);
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.pragma('journal_mode = WAL');
  // FULL by default: an acknowledged append must survive a crash of the process and of the
  // machine. In WAL mode NORMAL survives a process crash but may lose the last commits on a
  // power loss, because it only syncs the WAL at checkpoints.
  db.pragma(`synchronous = ${synchronous}`);
  db.transaction(() => db.exec(SCHEMA)).immediate();

  const statements = {
    lastRevision: db.prepare<[string], { revision: number | null }>(
      'SELECT MAX(stream_revision) AS revision FROM events WHERE stream_id = ?',
    ),
    placeOfEvent: db.prepare<[string], PlaceRow>(
      'SELECT stream_id, stream_revision, global_position FROM events WHERE event_id = ?',
    ),
    insert: db.prepare<[string, string, number, string, string, string, string]>(
      `INSERT INTO events
         (event_id, stream_id, stream_revision, event_type, data, metadata, recorded_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    // SQLite (built with STAT4, as better-sqlite3 is) compiles a statement again whenever a bound
    // value could change its plan, and a LIMIT does: 15 us, most of a short read (a new lead's
    // stream read took 22 us with LIMIT ?, 7 without). So each read has a statement without
    // LIMIT, iterated for short reads, and one with it for long ones (see `readRows`).
    readStream: db.prepare<[string, number], EventRow>(
      `SELECT * FROM events WHERE stream_id = ? AND stream_revision >= ?
       ORDER BY stream_revision`,
    ),
    readStreamLimited: db.prepare<[string, number, number], EventRow>(
      `SELECT * FROM events WHERE stream_id = ? AND stream_revision >= ?
       ORDER BY stream_revision LIMIT ?`,
    ),
    streamExists: db.prepare<[string], { found: 1 }>(
      'SELECT 1 AS found FROM events WHERE stream_id = ? LIMIT 1',
    ),
    readAll: db.prepare<[number], EventRow>(
      'SELECT * FROM events WHERE global_position > ? ORDER BY global_position',
    ),
    readAllLimited: db.prepare<[number, number], EventRow>(
      'SELECT * FROM events WHERE global_position > ? ORDER BY global_position LIMIT ?',
    ),
    head: db.prepare<[], { position: number | null }>(
      'SELECT MAX(global_position) AS position FROM events',
    ),
  };

  const lastRevisionOf = (streamId: string) =>
    statements.lastRevision.get(streamId)?.revision ?? NO_STREAM;

  const insertEvent = (streamId: string, revision: number, event: NewEvent) =>
    statements.insert.run(
      event.id,
      streamId,
      revision,
      event.type,
      toJsonText(event.data, 'data'),
      toJsonText(event.metadata, 'metadata'),
      // A column of its own so that an audit can select by time without parsing JSON.
      event.metadata.recordedAt,
    ).lastInsertRowid;

  // Run inside a transaction: IMMEDIATE takes the write lock before reading the stream's
  // revision, so no other connection can append between that check and the inserts.
  const appendInTransaction = (
    streamId: string,
    events: readonly NewEvent[],
    expectedRevision: ExpectedRevision,
  ): AppendResult => {
    const actualRevision = lastRevisionOf(streamId);
    const retried = resultOfRetriedAppend(
      streamId,
      expectedRevision,
      events.map((event) => {
        const row = statements.placeOfEvent.get(event.id);
        return (
          row && {
            streamId: row.stream_id,
            revision: row.stream_revision,
            position: String(row.global_position),
          }
        );
      }),
      actualRevision,
    );
    if (retried) return retried;
    if (!matchesExpectedRevision(expectedRevision, actualRevision)) {
      throw new ConcurrencyConflictError(streamId, expectedRevision, actualRevision);
    }
    const firstRevision = actualRevision === NO_STREAM ? 0 : actualRevision + 1;
    let position = '';
    events.forEach((event, index) => {
      position = String(insertEvent(streamId, firstRevision + index, event));
    });
    return { nextExpectedRevision: firstRevision + events.length - 1, position };
  };
  // Every entry checked as `appendToStream` checks it; the first refusal undoes them all.
  const appendEachChecked = (appends: readonly StreamAppend[]) =>
    appends.map(({ streamId, events, expectedRevision }) => appendInTransaction(streamId, events, expectedRevision));
  /**
   * The path of a bulk load: no lookup of each event's id (a stored one makes the insert trigger
   * abort), and a stream's revision read once per call. Any doubt (an expected revision that does
   * not match, an id already stored) throws `Unsure`, and the call is made again entry by entry.
   */
  const appendUnchecked = (appends: readonly StreamAppend[]): AppendResult[] => {
    const revisions = new Map<string, number | typeof NO_STREAM>();
    return appends.map(({ streamId, events, expectedRevision }): AppendResult => {
      const actualRevision = revisions.get(streamId) ?? lastRevisionOf(streamId);
      if (!matchesExpectedRevision(expectedRevision, actualRevision)) throw new Unsure();
      const firstRevision = actualRevision === NO_STREAM ? 0 : actualRevision + 1;
      let position = '';
      events.forEach((event, index) => {
        try {
          position = String(insertEvent(streamId, firstRevision + index, event));
        } catch (error) {
          if (error instanceof Database.SqliteError) throw new Unsure();
          throw error;
        }
      });
      const nextExpectedRevision = firstRevision + events.length - 1;
      revisions.set(streamId, nextExpectedRevision);
      return { nextExpectedRevision, position };
    });
  };

  /**
   * Group commit: the appends requested during one turn of the event loop share one transaction,
   * so under load one fsync serves many of them. Each `appendToStream`, and each `appendToStreams`
   * as a whole, runs in its own savepoint (a nested better-sqlite3 transaction), so a conflict
   * refuses that call alone; every caller is answered only once the shared transaction has
   * committed. (The lead scorer's batches and conversions go through `appendToStreams`: in a
   * transaction of their own, each paid an fsync of its own beside the captures'.)
   *
   * An append alone in its turn runs in the transaction itself, without a savepoint: its failure
   * rolls back a transaction that holds nothing else, which refuses it alone just the same. A
   * savepoint is not free: SQLite copies each page the savepoint first changes into its
   * sub-journal, so that it can roll back to it. A seed's batches of 40,000 events, each alone in
   * its commit, took 68 us an event in a savepoint and 35 without (`npm run bench:bulk-appends`).
   */
  const queuedAppends: QueuedAppend[] = [];
  /** `write`, and `checked` in its place when `write` is unsure, each in a transaction (or savepoint) of its own. */
  const writeAtomically = (request: QueuedAppend, atomically: (writes: () => unknown) => unknown) => {
    try {
      return atomically(request.write);
    } catch (error) {
      if (!(error instanceof Unsure) || !request.checked) throw error;
      return atomically(request.checked);
    }
  };
  // Run inside `appendAll`'s transaction, a better-sqlite3 transaction function is a savepoint.
  const inSavepoint = db.transaction((writes: () => unknown) => writes());
  const appendAll = db.transaction((batch: readonly QueuedAppend[]) =>
    batch.map((request) => {
      try {
        return { ok: true, result: writeAtomically(request, inSavepoint) };
      } catch (error) {
        return { ok: false, error };
      }
    }),
  );
  const inTransaction = db.transaction((writes: () => unknown) => writes());
  const appendAlone = (request: QueuedAppend) => writeAtomically(request, (writes) => inTransaction.immediate(writes));
  /** Resolves once the group commit that writes it has committed. */
  const queueAppend = <Result>(write: () => Result, checked?: () => Result): Promise<Result> =>
    new Promise<Result>((resolve, reject) => {
      queuedAppends.push({ write, checked, resolve, reject } as QueuedAppend);
      if (queuedAppends.length === 1) setImmediate(commitQueuedAppends);
    });
  const commitQueuedAppends = () => {
    const batch = queuedAppends.splice(0);
    if (batch.length === 1) {
      const request = batch[0]!;
      let result: unknown;
      try {
        result = appendAlone(request);
      } catch (error) {
        request.reject(error);
        return;
      }
      request.resolve(result);
      for (const listener of appendListeners) listener();
      return;
    }
    let outcomes: Array<{ ok: boolean; result?: unknown; error?: unknown }>;
    try {
      outcomes = appendAll.immediate(batch);
    } catch (error) {
      for (const request of batch) request.reject(error);
      return;
    }
    batch.forEach((request, index) => {
      const { ok, result, error } = outcomes[index]!;
      if (ok) request.resolve(result);
      else request.reject(error);
    });
    for (const listener of appendListeners) listener();
  };

  const appendListeners = new Set<() => void>();
  const subscriptions = new Set<Subscription>();

  const readAllNow = (fromPosition: GlobalPosition | undefined, maxCount?: number) =>
    readRows(
      maxCount,
      statements.readAll,
      [fromPosition === undefined ? 0 : parsePosition(fromPosition)],
      (after, count) => statements.readAllLimited.all(after.global_position, count),
    ).map(toRecordedEvent);

  return {
    name: 'sqlite',
    appendsToStreamsAtomically: true,
    filename,

    bulkLoad: {
      batchEvents: BULK_LOAD_BATCH_EVENTS,
      begin() {
        const cacheSize = db.pragma('cache_size', { simple: true }) as number;
        db.pragma(`cache_size = -${BULK_LOAD_CACHE_KIB}`);
        return () => {
          // Lowered again, SQLite lets go of the pages past the old size.
          if (db.open) db.pragma(`cache_size = ${cacheSize}`);
        };
      },
    },

    appendToStream(streamId, events, { expectedRevision }) {
      assertAppendableBatch(streamId, events);
      return queueAppend(() => appendInTransaction(streamId, events, expectedRevision));
    },

    async appendToStreams(appends) {
      for (const { streamId, events } of appends) assertAppendableBatch(streamId, events);
      if (appends.length === 0) return [];
      // Several streams at once, all or none: the bulk path first, entry by entry when it is unsure.
      return queueAppend(
        () => appendUnchecked(appends),
        () => appendEachChecked(appends),
      );
    },

    async readStream(streamId, { fromRevision = 0, maxCount } = {}) {
      const rows = readRows(
        maxCount,
        statements.readStream,
        [streamId, fromRevision],
        (after, count) => statements.readStreamLimited.all(streamId, after.stream_revision + 1, count),
      );
      // Revisions start at 0 with no gap: nothing read from 0 (with room for a row) means no stream.
      if (rows.length === 0 && ((fromRevision <= 0 && maxCount !== 0) || statements.streamExists.get(streamId) === undefined)) {
        throw streamNotFound(streamId);
      }
      return rows.map(toRecordedEvent);
    },

    async readAll({ fromPosition, maxCount } = {}) {
      return readAllNow(fromPosition, maxCount);
    },

    subscribeToAll(options) {
      const subscription = subscribeByPaging(
        {
          readAll: async ({ fromPosition, maxCount }) => readAllNow(fromPosition, maxCount),
          onAppended(listener) {
            appendListeners.add(listener);
            return () => appendListeners.delete(listener);
          },
          batchSize: SUBSCRIPTION_BATCH_SIZE,
          pollIntervalMs,
        },
        options,
      );
      subscriptions.add(subscription);
      return {
        async stop() {
          subscriptions.delete(subscription);
          await subscription.stop();
        },
      };
    },

    async headPosition() {
      const { position } = statements.head.get()!;
      return position === null ? undefined : String(position);
    },

    comparePositions: (a, b) => parsePosition(a) - parsePosition(b),

    async close() {
      await Promise.all([...subscriptions].map((subscription) => subscription.stop()));
      subscriptions.clear();
      // Appends already requested are committed, not dropped: their callers are waiting.
      if (queuedAppends.length > 0 && db.open) commitQueuedAppends();
      if (db.open) db.close();
    },
  };
};

/** The quick path of `appendToStreams` met something only the checked path can answer. */
class Unsure extends Error {}

const parsePosition = (position: GlobalPosition): number => {
  if (!/^\d+$/.test(position)) throw new RangeError(`Not a SQLite position: ${position}`);
  return Number(position);
};

/** Rows read one by one before a long read switches to a LIMIT: iterating costs about 1 us a row. */
const ROWS_ITERATED = 32;

/**
 * At most `maxCount` rows (all when undefined or negative): the first ones by iterating the
 * statement without LIMIT, which a live subscription's or a command's short read never goes
 * past, then, for a long read (a replay's page), the rest in one `LIMIT` query after the last
 * row iterated.
 */
const readRows = <Parameters extends unknown[]>(
  maxCount: number | undefined,
  unlimited: Database.Statement<Parameters, EventRow>,
  parameters: Parameters,
  rest: (after: EventRow, count: number) => EventRow[],
): EventRow[] => {
  if (maxCount === undefined || maxCount === Infinity || maxCount < 0) return unlimited.all(...parameters);
  const rows: EventRow[] = [];
  if (maxCount === 0) return rows;
  for (const row of unlimited.iterate(...parameters)) {
    rows.push(row);
    if (rows.length >= maxCount) return rows;
    if (rows.length >= ROWS_ITERATED) break;
  }
  if (rows.length < ROWS_ITERATED) return rows;
  return rows.concat(rest(rows.at(-1)!, maxCount - rows.length));
};

const toRecordedEvent = (row: EventRow): RecordedEvent => ({
  id: row.event_id,
  streamId: row.stream_id,
  revision: row.stream_revision,
  position: String(row.global_position),
  type: row.event_type,
  data: JSON.parse(row.data) as unknown,
  metadata: JSON.parse(row.metadata) as RecordedEvent['metadata'],
});
