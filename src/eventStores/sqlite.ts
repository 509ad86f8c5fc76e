/**
 * The event store in one SQLite file. Several processes may share the file (the API, a
 * projector, read models opening their own connections), so nothing here assumes exclusive
 * access: writers serialise on SQLite's write lock and live subscriptions poll for appends made
 * by other connections.
 *
 * Appends are committed in groups, on a thread of their own with its own connection (see
 * sqliteWriter.ts; a bulk load's on the calling thread); reads run on the calling thread's
 * connection, which sees every commit answered (WAL).
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import {
  streamNotFound,
  type AppendResult,
  type BulkLoadTuning,
  type EventStore,
  type SqliteLogFile,
  type GlobalPosition,
  type RecordedEvent,
  type StreamAppend,
  type Subscription,
} from '../core/eventStore';
import { assertAppendableBatch, toJsonText } from './appendChecks';
import { NEVER_REPLACED_TRIGGER, type AppendWrite, type StreamWrite } from './sqliteAppends';
import { errorOf, writeOnAThread, writeOnThisThread, type AppendWriter } from './sqliteWriter';
import { BUSY_TIMEOUT_MS, inTurnToWrite } from './sqliteWriteTurns';
import { subscribeByPaging } from './catchUpSubscription';
import { recentCommits, type EventRow } from './recentCommits';

export interface SqliteEventStoreOptions {
  filename: string;
  /** How often a live subscription looks for appends made by other connections. */
  pollIntervalMs?: number;
  synchronous?: 'FULL' | 'NORMAL';
}

export interface SqliteEventStore extends EventStore, SqliteLogFile {
  readonly filename: string;
  readonly bulkLoad: BulkLoadTuning;
}

const SUBSCRIPTION_BATCH_SIZE = 500;
/** How many rows of its last commits the store holds for its live subscriptions (see recentCommits.ts). */
const RECENT_ROWS_HELD = 1024;

/** An `appendToStream` or an `appendToStreams` waiting for the next group commit: its writes, and its caller. */
interface QueuedAppend {
  write: AppendWrite;
  resolve(results: AppendResult[]): void;
  reject(error: unknown): void;
}

/**
 * A bulk load's page cache and batch. Every append inserts into two indexes (the event id; the
 * stream and revision), about 120 MB at a million events: with SQLite's default 2 MiB cache
 * nearly every insert read a page back from the file. When the ids were random, every batch
 * commit also wrote each index page it had touched to the WAL again (23 GB written to seed a
 * million events), and batches of 40,000 events instead of 4,000 took the million events from
 * 219 s to 124 s.
 *
 * Since the ids are time-ordered (ids.ts), a batch's keys land together at the end of the
 * indexes, and a smaller batch costs SQLite little. It costs the seed's generation less: all a
 * batch's events are held until it is written, then sealed and turned into JSON all at once, and
 * V8's young generation copies those that outlive a collection (seeding 30,000 leads, its
 * collections held the main thread 3.5 and 4.3 s with batches of 40,000, 3.0 and 3.2 s with
 * 8,000: `--trace-gc`). The staging thread also starts on the last batch sooner. The insights history (114,000 leads,
 * 1,003,388 events), batches of 10,000 against 40,000 in turn, two rounds: 125.2 and 121.2 s
 * against 153.1 and 135.7 s (1.22 and 1.12x); batches of 5,000 and 20,000 were no different
 * from 10,000 within the machine's noise. A batch stays at `UNGUARDED_BULK_FROM_EVENTS`
 * (sqliteAppends.ts) or more, so that it is written without the third trigger.
 */
const BULK_LOAD_CACHE_KIB = 512 * 1024;
const BULK_LOAD_BATCH_EVENTS = 10_000;

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
  ${NEVER_REPLACED_TRIGGER};
`;

/** The tables and triggers SCHEMA makes, by name. */
const SCHEMA_OBJECTS = [...SCHEMA.matchAll(/CREATE (?:TABLE|TRIGGER|INDEX) IF NOT EXISTS (\w+)/g)].map((match) => match[1]!);

/**
 * Whether the file already holds every table and trigger of SCHEMA. Opening a store on such a file
 * then only reads, which in WAL mode never waits: making the schema takes the write lock, and a
 * thread blocked in SQLite's busy handler waiting for it cannot answer the thread holding it. That
 * happened in this process's own tests, opening a store beside a serving API whose projections'
 * thread held the lock between two statements that the blocked thread had to send: "database is
 * locked" after the 5 s busy timeout.
 */
const hasTheSchema = (db: Database.Database): boolean => {
  const found = db
    .prepare<string[], { n: number }>(`SELECT COUNT(*) AS n FROM sqlite_master WHERE name IN (${SCHEMA_OBJECTS.map(() => '?').join(', ')})`)
    .get(...SCHEMA_OBJECTS)!;
  return found.n === SCHEMA_OBJECTS.length;
};

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
  if (!hasTheSchema(db)) db.transaction(() => db.exec(SCHEMA)).immediate();
  // The schema is made: the writer's connection may open the file.
  const writerThread = filename === ':memory:' ? undefined : writeOnAThread({ filename, synchronous, busyTimeoutMs: BUSY_TIMEOUT_MS });
  let onThisThread: AppendWriter | undefined;
  const writerOnThisThread = () => (onThisThread ??= writeOnThisThread(db));
  /** Where the next batch is written: see `bulkLoad` for when it is this thread. */
  let writer = writerThread ?? writerOnThisThread();

  const statements = {
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

  /** The appends asked since the last batch was handed to the writer: the next group commit. */
  let queued: QueuedAppend[] = [];
  /** The batch out with the writer, if any: one at a time, so the appends asked meanwhile share the next. */
  let committing: Promise<void> | undefined;
  const queueAppend = (write: AppendWrite): Promise<AppendResult[]> =>
    new Promise<AppendResult[]>((resolve, reject) => {
      queued.push({ write, resolve, reject });
      // On the next macrotask: the appends asked during this turn of the event loop join it.
      if (queued.length === 1 && committing === undefined) setImmediate(commitQueued);
    });
  const commitQueued = () => {
    if (committing !== undefined || queued.length === 0) return;
    const batch = queued;
    queued = [];
    // In turn with this process's read models, when they share the file (see sqliteWriteTurns.ts).
    committing = inTurnToWrite(filename, BUSY_TIMEOUT_MS, () => writer.write(batch.map(({ write }) => write))).then(
      (outcomes) => {
        batch.forEach((append, index) => {
          const outcome = outcomes[index]!;
          if (outcome.ok) {
            recent.committed(append.write.streams, outcome.results);
            append.resolve(outcome.results.map(({ nextExpectedRevision, position }) => ({ nextExpectedRevision, position })));
          } else append.reject(errorOf(outcome));
        });
      },
      (error: unknown) => {
        for (const append of batch) append.reject(error);
      },
    ).finally(() => {
      committing = undefined;
      for (const listener of appendListeners) listener();
      if (queued.length > 0) setImmediate(commitQueued);
    });
  };
  /** Resolves once every append asked so far is answered. */
  const drained = async () => {
    while (committing !== undefined || queued.length > 0) {
      commitQueued();
      await committing;
    }
  };

  const appendListeners = new Set<() => void>();
  const subscriptions = new Set<Subscription>();
  const recent = recentCommits(RECENT_ROWS_HELD);

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
    sqliteFile: filename === ':memory:' ? undefined : filename,

    bulkLoad: {
      batchEvents: BULK_LOAD_BATCH_EVENTS,
      /**
       * A bulk load writes on this thread, the page cache of its connection raised. The seed's
       * load keeps both cores busy already (the generation here, the read models staged on
       * another thread): handing its batches (then of 40,000 events) to the writer thread only
       * added their copy, and the seed of 20,000 leads wrote 0.88x the events a second (two rounds
       * of `BENCH_SEED_LEADS=20000 bash bench/seedBeforeAfter.sh`).
       */
      begin() {
        const before = writer;
        // Batches go out one at a time: the next is written here, after any out on the thread.
        writer = writerOnThisThread();
        const cacheSize = db.pragma('cache_size', { simple: true }) as number;
        db.pragma(`cache_size = -${BULK_LOAD_CACHE_KIB}`);
        return () => {
          // Lowered again, SQLite lets go of the pages past the old size.
          if (db.open) db.pragma(`cache_size = ${cacheSize}`);
          writer = before;
        };
      },
    },

    async appendToStream(streamId, events, { expectedRevision }) {
      assertAppendableBatch(streamId, events);
      const [result] = await queueAppend({ streams: [toStreamWrite({ streamId, events, expectedRevision })], bulk: false });
      return result!;
    },

    async appendToStreams(appends) {
      for (const { streamId, events } of appends) assertAppendableBatch(streamId, events);
      if (appends.length === 0) return [];
      // Several streams at once, all or none: the bulk path first, entry by entry when it is unsure.
      return queueAppend({ streams: appends.map(toStreamWrite), bulk: true });
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
          // The rows this process just committed without reading them back, when the page starts with them.
          readAll: async ({ fromPosition, maxCount = SUBSCRIPTION_BATCH_SIZE }) =>
            recent.after(fromPosition === undefined ? 0 : parsePosition(fromPosition), maxCount)?.map(toRecordedEvent) ??
            readAllNow(fromPosition, maxCount),
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
      await drained();
      await writerThread?.close();
      if (db.open) db.close();
    },
  };
};

/** An append as the writer takes it: data and metadata as JSON text, made here, where a refusal reaches the caller at once. */
const toStreamWrite = ({ streamId, events, expectedRevision }: StreamAppend): StreamWrite => ({
  streamId,
  expectedRevision,
  events: events.map((event) => ({
    id: event.id,
    type: event.type,
    data: toJsonText(event.data, 'data'),
    metadata: toJsonText(event.metadata, 'metadata'),
    recordedAt: event.metadata.recordedAt,
  })),
});

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
