/**
 * The audit index: one row per event of the log, in `audit_events`, keyed by its ordinal in the
 * global order (`seq`, 1 for the first event) with the columns an auditor filters on. It holds
 * no event data: the trail reads each event from the log itself, so what an auditor sees is the
 * recorded fact, never a copy of it.
 */
import type { RecordedEvent } from '../../src/core/eventStore';
import { utcInstant } from '../../src/core/eventTimes';
import { decodeCursor, encodeCursor, rowsAndCount, type Page } from '../pagination';
import { EVERY_EVENT_TYPE, type Projection } from '../projection';
import type { SqlDatabase, SqlValue } from '../sqlDatabase';

/** Where an event sits in the log: enough to read it back from the store. */
export interface AuditEntry {
  seq: number;
  streamId: string;
  revision: number;
}

export interface AuditFilter {
  actor?: string;
  /** A stream category: the stream id up to its first `-` (`lead`, `account`...). */
  category?: string;
  streamId?: string;
  types?: readonly string[];
  correlationId?: string;
  /** From inclusive, to exclusive. */
  recordedAt?: TimeRange;
  occurredAt?: TimeRange;
}

export interface TimeRange {
  from?: Date;
  to?: Date;
}

/**
 * Only what an auditor filters on, and where to read the event back: the event's id, position and
 * causation are in the log, which the trail reads each event from (version 2 copied them too, a
 * third of every row, written once per event and never read).
 */
const CREATE_TABLE = `
  CREATE TABLE IF NOT EXISTS audit_events (
    seq INTEGER PRIMARY KEY,
    stream_id TEXT NOT NULL,
    stream_category TEXT NOT NULL,
    revision INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    actor TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    correlation_id TEXT NOT NULL
  );`;

/**
 * The trail's indexes, each read in seq order. On SQLite seq is the rowid, which every index
 * already ends with: naming it again stored it twice in each entry (a fifth of each of those
 * indexes). PostgreSQL needs it named.
 */
const createIndexes = (dialect: SqlDatabase['dialect']): string => {
  const thenSeq = dialect === 'sqlite' ? '' : ', seq';
  return `
  CREATE INDEX IF NOT EXISTS audit_events_by_stream ON audit_events (stream_id${thenSeq});
  CREATE INDEX IF NOT EXISTS audit_events_by_actor ON audit_events (actor${thenSeq});
  CREATE INDEX IF NOT EXISTS audit_events_by_type ON audit_events (event_type${thenSeq});
  CREATE INDEX IF NOT EXISTS audit_events_by_recorded_at ON audit_events (recorded_at);
  CREATE INDEX IF NOT EXISTS audit_events_by_occurred_at ON audit_events (occurred_at);`;
};
// Every index slows the replay of a long log. The few categories need none (a scan in seq order
// meets them at once), and a correlation id is looked for rarely enough to afford a scan.

const COLUMNS = 'seq, stream_id, stream_category, revision, event_type, actor, recorded_at, occurred_at, correlation_id';
/** The columns of an event's row but its ordinal, which the statement finds (one past the table's last). */
const ROW_COLUMNS = COLUMNS.split(',').map((column) => column.trim()).slice(1);
const INSERT_COLUMNS = ['seq', ...ROW_COLUMNS];
// The ordinal found by the statement itself: it answers nothing, so that on PostgreSQL it goes
// with the batch's next round trip (a round trip of its own was a turn of the event loop that
// every capture of the batch waited for).
const INSERT_NEXT = `INSERT INTO audit_events (${COLUMNS})
  SELECT COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ? FROM audit_events`;

export const auditEventsProjection: Projection = {
  name: 'audit-events',
  version: 3,
  rebuildsInBulk: true,
  rebuildWeight: 9.8,
  readsPersonalData: false,
  // The trail is only appended to (by seq): its indexes serve the auditors' queries.
  deferredIndexes: ['audit_events_by_stream', 'audit_events_by_actor', 'audit_events_by_type', 'audit_events_by_recorded_at', 'audit_events_by_occurred_at'],
  canHandle: [EVERY_EVENT_TYPE],
  setup: (db) => db.exec(CREATE_TABLE + createIndexes(db.dialect)),
  reset: (db) => db.exec('DROP TABLE IF EXISTS audit_events'),
  async apply(tx, event) {
    // The runner applies each event once, in global order: the next ordinal is one past the last.
    await tx.write(INSERT_NEXT, rowOf(event));
  },
  /**
   * A batch of the runner in one statement, numbered on from the table's last
   * (`writeNumberedRows`; a few statements on SQLite). Under a load of captures on PostgreSQL, a
   * statement per event was the trail's two round trips for every capture (the lead's event and
   * its score's), and a first statement that answered its ordinal, one more round trip a batch.
   */
  async applyBatch(tx, events) {
    await tx.writeNumberedRows('audit_events', 'seq', ROW_COLUMNS, events.map(rowOf));
  },
  /**
   * A rebuild's rows gathered for a page of events and written together (`insertRows`: one
   * prepared statement run row after row, no await between them) instead of a statement awaited
   * per event: the trail is the one table with a row for every event of the log.
   */
  foldInMemory() {
    let last: number | undefined;
    let rows: SqlValue[][] = [];
    return {
      async apply(tx, event) {
        last ??= Number((await tx.get<{ seq: number | string | null }>('SELECT MAX(seq) AS seq FROM audit_events'))?.seq ?? 0);
        last += 1;
        rows.push([last, ...rowOf(event)]);
      },
      async flush(tx) {
        if (rows.length === 0) return;
        const written = rows;
        rows = [];
        await tx.insertRows('audit_events', INSERT_COLUMNS, written);
      },
    };
  },
  stageFromSqliteLog: (tx, log) => stageAuditTrailFromSqliteLog(tx, log),
};

/**
 * A rebuild from a SQLite log, in SQL: the rows `rowOf` makes, numbered in the log's order. The
 * trail is the one table with a row for every event: read and parsed in JavaScript, then
 * inserted, it was most of a rebuild of it alone. `positionsPerStatement`: how many positions of
 * the log each statement stages (a test makes it small).
 */
export const stageAuditTrailFromSqliteLog = async (
  tx: SqlDatabase,
  { schema, through, onStaged }: { schema: string; through: number; onStaged?(events: number): void },
  positionsPerStatement = STAGED_IN_SQL_PER_STATEMENT,
): Promise<void> => {
  const log = `${schema}.events`;
  // A slice of the log at a time, each told of (`onStaged`): in one statement, a replay of the
  // trail alone showed no progress until the end. Sliced by position (a rowid: the log's events are
  // numbered one after the other), not by counting events, which would read the log's pages twice.
  for (let after = 0, staged = 0; after < through; ) {
    const upTo = Math.min(through, after + positionsPerStatement);
    const { changes } = await tx.run(
      `INSERT INTO audit_events (${COLUMNS})
       SELECT ? + row_number() OVER (ORDER BY global_position), stream_id,
              CASE instr(stream_id, '-') WHEN 0 THEN stream_id ELSE substr(stream_id, 1, instr(stream_id, '-') - 1) END,
              stream_revision, event_type, metadata ->> '$.actor', metadata ->> '$.recordedAt',
              metadata ->> '$.occurredAt', metadata ->> '$.correlationId'
       FROM ${log} WHERE global_position > ? AND global_position <= ? ORDER BY global_position`,
      [staged, after, upTo],
    );
    staged += changes;
    after = upTo;
    if (changes > 0) onStaged?.(changes);
  }
  // A time the log holds in another form than the trail's (never one this application stamped)
  // is made as `rowOf` makes it, from the event's metadata as JavaScript parses it; a page of
  // rows at a time, should a log from elsewhere hold nothing but such times.
  for (let after = 0; ; ) {
    const others = await tx.all<{ seq: number; metadata: string }>(
      `SELECT a.seq, e.metadata FROM audit_events a JOIN ${log} e ON e.stream_id = a.stream_id AND e.stream_revision = a.revision
       WHERE a.seq > ? AND NOT (${CANONICAL_IN_SQL('a.recorded_at')} AND ${CANONICAL_IN_SQL('a.occurred_at')})
       ORDER BY a.seq LIMIT ${TIMES_MADE_AGAIN_PER_PAGE}`,
      [after],
    );
    for (const { seq, metadata } of others) {
      const { recordedAt, occurredAt } = JSON.parse(metadata) as RecordedEvent['metadata'];
      await tx.run('UPDATE audit_events SET recorded_at = ?, occurred_at = ? WHERE seq = ?', [utc(recordedAt), utc(occurredAt), seq]);
    }
    if (others.length < TIMES_MADE_AGAIN_PER_PAGE) break;
    after = others.at(-1)!.seq;
  }
};

const TIMES_MADE_AGAIN_PER_PAGE = 1_000;
/** Positions of the log staged by one statement (`stageFromSqliteLog`): on the insights history, 0.4 s each. */
const STAGED_IN_SQL_PER_STATEMENT = 100_000;

/**
 * Whether a column holds a time as `utcInstant` returns it unchanged: the SQL of its
 * `CANONICAL_INSTANT` (src/core/eventTimes.ts), where GLOB's [0-9] is an ASCII digit as \d is.
 */
const CANONICAL_IN_SQL = (column: string): string =>
  `(typeof(${column}) = 'text' AND length(${column}) = 24
    AND ${column} GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-2][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z'
    AND substr(${column}, 6, 2) BETWEEN '01' AND '12' AND substr(${column}, 9, 2) BETWEEN '01' AND '28'
    AND substr(${column}, 12, 2) <= '23')`;

/** An event's row of the trail, its ordinal apart. */
const rowOf = (event: RecordedEvent): SqlValue[] => {
  const { metadata } = event;
  return [
    event.streamId,
    streamCategory(event.streamId),
    event.revision,
    event.type,
    metadata.actor,
    utc(metadata.recordedAt),
    utc(metadata.occurredAt),
    metadata.correlationId,
  ];
};

/** The part of a stream id before its first `-`: `lead-42` is in the `lead` category. */
export const streamCategory = (streamId: string): string => {
  const dash = streamId.indexOf('-');
  return dash === -1 ? streamId : streamId.slice(0, dash);
};

/** Times are compared as text: every row holds the same UTC ISO-8601 form. */
const utc = utcInstant;

export const findAuditEntries = async (
  db: SqlDatabase,
  query: { filter?: AuditFilter; first: number; after?: string },
): Promise<Page<AuditEntry>> => {
  const { rows, total } = await rowsAndCount<{ seq: number; stream_id: string; revision: number }>(db, {
    table: 'audit_events',
    columns: 'seq, stream_id, revision',
    filter: conditionsOf(query.filter ?? {}),
    cursor: query.after === undefined ? undefined : { conditions: ['seq > ?'], params: [decodeCursor(query.after, ['integer'])[0]!] },
    orderBy: 'seq',
    limit: query.first + 1,
    // The trail's ordinals run from 1 with no gap (each row one past the last, none ever deleted):
    // the last is the count of the whole trail, read down the key where a count read every row
    // (25 ms at 1,004,970 events).
    countOfAll: 'SELECT COALESCE(MAX(seq), 0) AS total FROM audit_events',
  });
  const shown = rows.slice(0, query.first);
  const cursors = shown.map((row) => encodeCursor([row.seq]));
  return {
    nodes: shown.map((row) => ({ seq: row.seq, streamId: row.stream_id, revision: row.revision })),
    totalCount: total,
    hasNextPage: rows.length > query.first,
    endCursor: cursors.at(-1),
    cursors,
  };
};

const conditionsOf = (filter: AuditFilter): { conditions: string[]; params: SqlValue[] } => {
  const conditions: string[] = [];
  const params: SqlValue[] = [];
  const equal = (column: string, value: string | undefined) => {
    if (value === undefined) return;
    conditions.push(`${column} = ?`);
    params.push(value);
  };
  equal('actor', filter.actor);
  equal('stream_category', filter.category);
  equal('stream_id', filter.streamId);
  equal('correlation_id', filter.correlationId);
  if (filter.types !== undefined) {
    // An empty list asks for no type at all, which matches nothing.
    conditions.push(filter.types.length === 0 ? '1 = 0' : `event_type IN (${filter.types.map(() => '?').join(', ')})`);
    params.push(...filter.types);
  }
  for (const [column, range] of [['recorded_at', filter.recordedAt], ['occurred_at', filter.occurredAt]] as const) {
    if (range?.from) {
      conditions.push(`${column} >= ?`);
      params.push(range.from.toISOString());
    }
    if (range?.to) {
      conditions.push(`${column} < ?`);
      params.push(range.to.toISOString());
    }
  }
  return { conditions, params };
};

