/**
 * The event store on PostgreSQL, for teams that run several API processes on one database.
 *
 * Global order, and why a position is a pair. A sequence value is handed out at insert but
 * becomes visible only at commit, so transactions commit out of sequence order: a reader that
 * takes `position > last ORDER BY position` can pass 11 while 10 is still uncommitted, and never
 * come back for it. Two known answers:
 * - Marten keeps a high-water mark below which the sequence has no gaps, and when a gap stays
 *   open it waits, then skips it ("stale gap"). Rolled-back inserts leave gaps that never fill,
 *   so it has to guess when to give up, and a slow transaction that commits after the skip is
 *   lost to every reader that already moved on.
 * - Emmett stamps each row with the writing transaction's id (xid8) and reads only rows of
 *   transactions older than the oldest one still running (`pg_snapshot_xmin` of the current
 *   snapshot), in (transaction id, sequence) order. Everything below that horizon is final:
 *   any transaction that commits later has a higher id. Nothing is ever skipped and nothing
 *   needs a timeout to be correct.
 * We take Emmett's: correctness without guessing matters more to a projection than latency.
 * Its cost is that a writing transaction left open anywhere in the cluster holds readers back
 * (never reorders them) until it ends, which `idle_in_transaction_session_timeout` bounds.
 * A position is therefore `<transaction id>:<sequence>`, compared as a pair of integers.
 *
 * Needs PostgreSQL 14 or later (xid8 and pg_current_snapshot since 13, CREATE OR REPLACE
 * TRIGGER since 14).
 *
 * The id order must also keep each stream's revisions in order. It does because an append
 * writes nothing (so gets no transaction id) before it holds its stream's lock and has read
 * the stream's revision: the previous writer of the stream had its id before committing, and
 * that commit came before our read.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  ANY,
  ConcurrencyConflictError,
  NO_STREAM,
  STREAM_EXISTS,
  streamNotFound,
  matchesExpectedRevision,
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
  type GlobalPosition,
  type NewEvent,
  type RecordedEvent,
  type StreamAppend,
  type Subscription,
} from '../core/eventStore';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { assertAppendableBatch, resultOfRetriedAppend, toJsonText, type StoredPlace } from './appendChecks';
import { sharedPageReads, subscribeByPaging } from './catchUpSubscription';
import { createAppendSignal } from './postgresAppendSignal';
import {
  INSUFFICIENT_PRIVILEGE,
  UNIQUE_VIOLATION,
  connectToPostgres,
  escapeCopyText,
  isDatabaseError,
  migrate,
  preparedStatement,
  type PostgresConnectionOptions,
} from './postgresConnection';

export interface PostgresEventStoreOptions extends PostgresConnectionOptions {
  /** How often a live subscription looks for appends when no notification woke it. */
  pollIntervalMs?: number;
  /**
   * How long `readAll` waits for appends that committed out of order to settle before
   * returning only what precedes them: long enough for appends in flight, short enough not to
   * stall behind a transaction left open. Default 3000.
   */
  settleTimeoutMs?: number;
  /**
   * From how many events one `appendToStreams` (or one group commit) sends them by COPY rather
   * than as array parameters (see `appendCopied`). Default 1,000; the contract suite runs with 1.
   */
  copyFromEvents?: number;
}

/** The pool, or a client inside a transaction. */
type Queryable = Pick<pg.PoolClient, 'query'>;

export interface PostgresEventStore extends EventStore {
  readonly schema: string;
}

const SUBSCRIPTION_BATCH_SIZE = 500;
/** An append that loses a race to a writer bypassing the stream lock tries again this often. */
const MAX_APPEND_ATTEMPTS = 3;

/**
 * Appends of one turn in one transaction at most: a turn may ask for thousands (a caller that
 * starts many at once), and one statement of them all would hold every one of their stream locks,
 * and every reader behind it, as long as the largest takes.
 */
const MAX_GROUP_COMMIT = 256;

/** What append_to_streams and append_copied_to_streams answer. */
interface BulkOutcome {
  r_refused: number | null;
  r_transaction_id: string | null;
  r_revisions: string[];
  r_positions: string[];
}

/** An `appendToStream` waiting for the group commit of its turn, and its caller. */
interface QueuedAppend extends StreamAppend {
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}
/** The class of the two-key advisory locks that serialise the appends to one stream. */
const STREAM_LOCK_CLASS = 0x45564e54;

// The expected revision as the append function takes it: NULL for ANY, -1 for NO_STREAM, -2 for
// STREAM_EXISTS, else the exact revision. It mirrors `matchesExpectedRevision`; the check runs in
// the database because it must hold the stream lock until the insert commits.
const encodeExpected = (expected: ExpectedRevision): number | null => {
  if (expected === ANY) return null;
  if (expected === NO_STREAM) return -1;
  if (expected === STREAM_EXISTS) return -2;
  if (!Number.isSafeInteger(expected) || expected < 0) {
    throw new RangeError(`An expected revision must be a whole number, 0 or more: ${expected}`);
  }
  return expected;
};

/**
 * The event columns of an append, one array per column, in the order every append function
 * takes them. recorded_at is a column of its own so that an audit selects by time without
 * parsing JSON.
 */
const eventColumns = (events: readonly NewEvent[]) => [
  events.map((event) => event.id),
  events.map((event) => event.type),
  events.map((event) => toJsonText(event.data, 'data')),
  events.map((event) => toJsonText(event.metadata, 'metadata')),
  events.map((event) => event.metadata.recordedAt),
];

/**
 * The checked insert of a bulk append (`append_to_streams`), the events read from `events`: a
 * FROM item named ev with the columns id, type, data, metadata, recorded_at and ordinal (from 1).
 */
const appendEntries = (s: string, events: string) => `
    RETURN QUERY
    WITH entries AS (
      SELECT e.i::int AS i, e.stream_id, e.expected, e.n,
             (sum(e.n) OVER (ORDER BY e.i) - e.n)::int AS first_event,
             sum(e.n) OVER (PARTITION BY e.stream_id ORDER BY e.i) - e.n AS earlier_in_batch
      FROM unnest(p_stream_ids, p_expected, p_counts) WITH ORDINALITY AS e(stream_id, expected, n, i)
    ), stored AS (
      -- One look-up per stream, down the index of (stream_id, stream_revision). As a filter
      -- (stream_id = ANY (p_stream_ids)), the planner sized thousands of streams at more rows
      -- than the table holds and read the whole table: on a log of a million events, 585 ms of
      -- a 4,000-event batch's 790, and a seed's every batch slower than the one before.
      SELECT d.stream_id,
             (SELECT max(ev.stream_revision) FROM ${s}.events ev WHERE ev.stream_id = d.stream_id) AS revision
      FROM (SELECT DISTINCT id AS stream_id FROM unnest(p_stream_ids) AS id) AS d
    ), checked AS (
      SELECT en.*, coalesce(st.revision, -1) + en.earlier_in_batch AS actual
      FROM entries en LEFT JOIN stored st ON st.stream_id = en.stream_id
    ), refused AS (
      SELECT c.i, c.actual FROM checked c
      WHERE (c.expected IS NULL
              OR (c.expected = -1 AND c.actual = -1)
              OR (c.expected = -2 AND c.actual >= 0)
              OR (c.expected >= 0 AND c.expected = c.actual)) IS NOT TRUE
      ORDER BY c.i LIMIT 1
    ), appended AS (
      INSERT INTO ${s}.events (transaction_id, event_id, stream_id, stream_revision, event_type,
                               data, metadata, recorded_at)
      -- Joined by ordinal rather than subscripted: each subscript of a big array parameter
      -- copies the array, which made a batch of 4,000 events take seconds.
      SELECT pg_current_xact_id(), ev.id, c.stream_id, c.actual + k, ev.type, ev.data::json,
             ev.metadata::json, ev.recorded_at::timestamptz
      FROM checked c
      CROSS JOIN LATERAL generate_series(1, c.n) AS k
      JOIN ${events}
        ON ev.ordinal = c.first_event + k
      WHERE NOT EXISTS (SELECT 1 FROM refused)
      ORDER BY c.i, k
      RETURNING stream_id, stream_revision, global_position
    )
    SELECT (SELECT r.i FROM refused r),
           (SELECT nullif(r.actual, -1) FROM refused r),
           CASE WHEN EXISTS (SELECT 1 FROM refused) THEN NULL ELSE pg_current_xact_id()::text END,
           array_agg(c.actual + c.n ORDER BY c.i),
           array_agg(a.global_position ORDER BY c.i)
    FROM checked c
    LEFT JOIN appended a ON a.stream_id = c.stream_id AND a.stream_revision = c.actual + c.n;`;

/**
 * The temporary table a big bulk append fills by COPY (`appendCopied`), dropped at the commit
 * or rollback of the transaction that made it.
 */
const EVENTS_TO_APPEND = 'pg_temp.events_to_append';

/** What `appendCopied` answers when the role may not do what it needs: the batch goes as arrays. */
const COPY_REFUSED = Symbol('copy refused');

const CREATE_EVENTS_TO_APPEND = `CREATE TEMPORARY TABLE events_to_append
  (ordinal bigint, id text, type text, data text, metadata text, recorded_at text) ON COMMIT DROP`;

/**
 * The events of a bulk append as the text COPY reads into events_to_append, made before anything
 * is sent: an event whose data is not JSON is refused before the transaction starts.
 */
const eventsAsCopyText = (events: readonly NewEvent[]): string => {
  let text = '';
  events.forEach((event, index) => {
    const data = escapeCopyText(toJsonText(event.data, 'data'));
    const metadata = escapeCopyText(toJsonText(event.metadata, 'metadata'));
    text += `${index + 1}\t${escapeCopyText(event.id)}\t${escapeCopyText(event.type)}\t${data}\t${metadata}\t${escapeCopyText(event.metadata.recordedAt)}\n`;
  });
  return text;
};

/**
 * Append-only for everyone, not only this adapter: statement triggers refuse UPDATE, DELETE and
 * TRUNCATE even when no row matches, and INSERT ... ON CONFLICT DO UPDATE fires the UPDATE one.
 * (A superuser can still disable triggers; production should connect as a role that does not
 * own the table.) Event data is `json`, not `jsonb`: it keeps the exact text appended, and
 * accepts `\u0000`, which jsonb refuses and SQLite stores, so a log moved here loses nothing.
 */
const schemaSql = (s: string) => `
  CREATE SCHEMA IF NOT EXISTS ${s};
  CREATE TABLE IF NOT EXISTS ${s}.events (
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    event_id text NOT NULL UNIQUE,
    stream_id text NOT NULL,
    stream_revision bigint NOT NULL CHECK (stream_revision >= 0),
    event_type text NOT NULL,
    data json NOT NULL,
    metadata json NOT NULL,
    recorded_at timestamptz NOT NULL,
    UNIQUE (stream_id, stream_revision)
  );
  CREATE INDEX IF NOT EXISTS events_in_commit_order ON ${s}.events (transaction_id, global_position);

  CREATE OR REPLACE FUNCTION ${s}.refuse_changing_events() RETURNS trigger LANGUAGE plpgsql AS $body$
  BEGIN
    RAISE EXCEPTION 'events are immutable: % refused', TG_OP;
  END $body$;
  CREATE OR REPLACE TRIGGER events_are_immutable
    BEFORE UPDATE OR DELETE OR TRUNCATE ON ${s}.events
    FOR EACH STATEMENT EXECUTE FUNCTION ${s}.refuse_changing_events();

  -- One round trip per append. The unique constraints stay the last guard against writers
  -- that bypass this function; the adapter maps their violations to conflicts.
  CREATE OR REPLACE FUNCTION ${s}.append_to_stream(
    p_stream_id text, p_expected bigint, p_event_ids text[], p_event_types text[],
    p_data text[], p_metadata text[], p_recorded_at text[]
  ) RETURNS TABLE (r_appended boolean, r_revision bigint, r_transaction_id text, r_position bigint)
  LANGUAGE plpgsql AS $body$
  DECLARE
    v_actual bigint;
    v_position bigint;
  BEGIN
    PERFORM pg_advisory_xact_lock(${STREAM_LOCK_CLASS}, hashtext(p_stream_id));
    SELECT max(e.stream_revision) INTO v_actual FROM ${s}.events e WHERE e.stream_id = p_stream_id;
    IF (p_expected IS NULL
            OR (p_expected = -1 AND v_actual IS NULL)
            OR (p_expected = -2 AND v_actual IS NOT NULL)
            OR (p_expected >= 0 AND p_expected = v_actual)) IS NOT TRUE THEN
      RETURN QUERY SELECT false, v_actual, NULL::text, NULL::bigint;
      RETURN;
    END IF;
    WITH appended AS (
      INSERT INTO ${s}.events (transaction_id, event_id, stream_id, stream_revision, event_type,
                               data, metadata, recorded_at)
      SELECT pg_current_xact_id(), n.id, p_stream_id, coalesce(v_actual, -1) + n.ordinal, n.type,
             n.data::json, n.metadata::json, n.recorded_at::timestamptz
      FROM unnest(p_event_ids, p_event_types, p_data, p_metadata, p_recorded_at)
        WITH ORDINALITY AS n(id, type, data, metadata, recorded_at, ordinal)
      ORDER BY n.ordinal
      RETURNING global_position
    )
    SELECT max(a.global_position) INTO v_position FROM appended a;
    RETURN QUERY SELECT true, coalesce(v_actual, -1) + cardinality(p_event_ids),
      pg_current_xact_id()::text, v_position;
  END $body$;

  -- The stream locks of a bulk append, in one order for every one of them, so two of them never
  -- wait on each other's locks. Taking one writes nothing: no transaction id is handed out for it.
  CREATE OR REPLACE FUNCTION ${s}.lock_streams(p_stream_ids text[]) RETURNS void
  LANGUAGE plpgsql AS $body$
  BEGIN
    PERFORM pg_advisory_xact_lock(${STREAM_LOCK_CLASS}, locks.key)
    FROM (SELECT DISTINCT hashtext(id) AS key FROM unnest(p_stream_ids) AS id ORDER BY 1) AS locks;
  END $body$;

  -- Many appends in one statement (bulk loads): entry i appends the next p_counts[i] events of
  -- the arrays to p_stream_ids[i], expecting p_expected[i] as encoded above, checked against the
  -- stream as the stored events and the entries before i leave it. Either every entry is
  -- appended, or none is and r_refused names the first refused one (1-based) with the revision
  -- it found (NULL: no stream). The adapter then tells a retry from a conflict entry by entry.
  CREATE OR REPLACE FUNCTION ${s}.append_to_streams(
    p_stream_ids text[], p_expected bigint[], p_counts int[], p_event_ids text[],
    p_event_types text[], p_data text[], p_metadata text[], p_recorded_at text[]
  ) RETURNS TABLE (r_refused int, r_actual bigint, r_transaction_id text, r_revisions bigint[],
                   r_positions bigint[])
  -- The planner cannot size the unnested arrays and guessed so high that JIT compilation took
  -- 2.8 s of a 3 s call (EXPLAIN ANALYZE, 500 events); the statement itself takes milliseconds.
  LANGUAGE plpgsql SET jit = off AS $body$
  BEGIN
    PERFORM ${s}.lock_streams(p_stream_ids);
${appendEntries(s, `unnest(p_event_ids, p_event_types, p_data, p_metadata, p_recorded_at)
        WITH ORDINALITY AS ev(id, type, data, metadata, recorded_at, ordinal)`)}
  END $body$;

  -- The same, the events read from the session's ${EVENTS_TO_APPEND}, which the caller filled
  -- by COPY in the same transaction, after taking the streams' locks (lock_streams): a big batch
  -- sent as array parameters spent most of its time in their parsing (\`appendCopied\`).
  CREATE OR REPLACE FUNCTION ${s}.append_copied_to_streams(
    p_stream_ids text[], p_expected bigint[], p_counts int[]
  ) RETURNS TABLE (r_refused int, r_actual bigint, r_transaction_id text, r_revisions bigint[],
                   r_positions bigint[])
  LANGUAGE plpgsql SET jit = off AS $body$
  BEGIN
${appendEntries(s, `${EVENTS_TO_APPEND} ev`)}
  END $body$;
`;

interface EventRow {
  event_id: string;
  stream_id: string;
  stream_revision: string;
  transaction_id: string;
  global_position: string;
  event_type: string;
  data: string;
  metadata: string;
}

/**
 * Events held back by a transaction still open are read again after a pause that starts at 1 ms
 * and doubles up to 50 ms: most such transactions end within a few milliseconds.
 */
const HELD_BACK_FIRST_PAUSE_MS = 1;
const nextHeldBackPause = (pauseMs: number): number => Math.min(pauseMs * 2, 50);

const EVENT_COLUMNS = `event_id, stream_id, stream_revision, transaction_id::text AS transaction_id,
  global_position, event_type, data::text AS data, metadata::text AS metadata`;

export const openPostgresEventStore = async (
  options: PostgresEventStoreOptions,
): Promise<PostgresEventStore> => {
  const { pollIntervalMs = 250, settleTimeoutMs = 3000, copyFromEvents = 1000 } = options;
  const connection = connectToPostgres(options);
  const { pool, schema, quotedSchema: s } = connection;
  try {
    await migrate(pool, schema, schemaSql(s));
  } catch (error) {
    await connection.release();
    throw error;
  }

  const statements = {
    append: preparedStatement(`SELECT * FROM ${s}.append_to_stream($1, $2, $3, $4, $5, $6, $7)`),
    appendMany: preparedStatement(`SELECT * FROM ${s}.append_to_streams($1, $2, $3, $4, $5, $6, $7, $8)`),
    lockStreams: preparedStatement(`SELECT ${s}.lock_streams($1)`),
    appendCopied: preparedStatement(`SELECT * FROM ${s}.append_copied_to_streams($1, $2, $3)`),
    lastRevision: preparedStatement(
      `SELECT max(stream_revision) AS revision FROM ${s}.events WHERE stream_id = $1`,
    ),
    placesOfEvents: preparedStatement(
      `SELECT event_id, stream_id, stream_revision, transaction_id::text AS transaction_id, global_position
       FROM ${s}.events WHERE event_id = ANY($1)`,
    ),
    readStream: preparedStatement(
      `SELECT ${EVENT_COLUMNS} FROM ${s}.events WHERE stream_id = $1 AND stream_revision >= $2
       ORDER BY stream_revision LIMIT $3`,
    ),
    streamExists: preparedStatement(`SELECT 1 FROM ${s}.events WHERE stream_id = $1 LIMIT 1`),
    // One statement, one snapshot: the horizon and the rows are seen at the same instant. The
    // rows held back (all those after the first, in this order) come without their data and
    // metadata, which nobody reads: they are read again once settled, and under a load of
    // captures, about half the rows of each read had been such, each event's data sent and
    // decoded twice. ORDER BY names the table's columns: unqualified, it would sort the output's.
    readAll: preparedStatement(
      `SELECT e.event_id, e.stream_id, e.stream_revision, e.transaction_id::text AS transaction_id,
              e.global_position, e.event_type, e.settled,
              CASE WHEN e.settled THEN e.data::text END AS data,
              CASE WHEN e.settled THEN e.metadata::text END AS metadata
       FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) AS horizon,
       LATERAL (
         SELECT stored.event_id, stored.stream_id, stored.stream_revision, stored.transaction_id,
                stored.global_position, stored.event_type, stored.data, stored.metadata,
                stored.transaction_id < horizon.xmin AS settled
         FROM ${s}.events AS stored
         WHERE (stored.transaction_id, stored.global_position) > ($1::xid8, $2::bigint)
         ORDER BY stored.transaction_id, stored.global_position LIMIT $3
       ) AS e`,
    ),
    head: preparedStatement(
      `SELECT transaction_id::text AS transaction_id, global_position FROM ${s}.events AS stored
       ORDER BY stored.transaction_id DESC, stored.global_position DESC LIMIT 1`,
    ),
  };

  const signal = createAppendSignal({ connectionString: options.connectionString, pool, schema });
  const subscriptions = new Set<Subscription>();

  const lastRevisionOf = async (streamId: string) => {
    const { rows } = await pool.query<{ revision: string | null }>({
      ...statements.lastRevision,
      values: [streamId],
    });
    return rows[0]?.revision == null ? NO_STREAM : Number(rows[0].revision);
  };

  const placesOf = async (events: readonly NewEvent[], queryable: Queryable = pool): Promise<(StoredPlace | undefined)[]> => {
    const { rows } = await queryable.query<Omit<EventRow, 'event_type' | 'data' | 'metadata'>>({
      ...statements.placesOfEvents,
      values: [events.map((event) => event.id)],
    });
    const byId = new Map(rows.map((row) => [row.event_id, row]));
    return events.map((event) => {
      const row = byId.get(event.id);
      return (
        row && {
          streamId: row.stream_id,
          revision: Number(row.stream_revision),
          position: encodePosition(row.transaction_id, row.global_position),
        }
      );
    });
  };

  /** The events after `from` that no transaction still running can precede, and whether some were held back. */
  const readSettledRows = async (from: GlobalPosition | undefined, maxCount: number | undefined) => {
    const [transactionId, sequence] = from === undefined ? ['0', '0'] : parsePosition(from);
    const { rows } = await pool.query<EventRow & { settled: boolean }>({
      ...statements.readAll,
      values: [transactionId, sequence, sqlLimit(maxCount)],
    });
    return rows;
  };
  const settledOf = (rows: ReadonlyArray<EventRow & { settled: boolean }>) => {
    const settled = rows.filter((row) => row.settled);
    return { events: settled.map(toRecordedEvent), heldBack: settled.length < rows.length };
  };
  const readSettled = async (from: GlobalPosition | undefined, maxCount: number | undefined) =>
    settledOf(await readSettledRows(from, maxCount));

  // Read by several subscriptions at once: see `sharedPageReads`. Appends are counted from the
  // first subscription on: listening costs a connection that a store without them does not need.
  const sharedReads = sharedPageReads(readSettledRows);
  let countingAppends = false;
  const countAppends = () => {
    if (countingAppends) return;
    countingAppends = true;
    signal.onAppended(sharedReads.appendHeard);
  };

  /** One append in a transaction of its own: a retry answers its original result, a conflict throws. */
  const appendAlone = async (streamId: string, events: readonly NewEvent[], expectedRevision: ExpectedRevision): Promise<AppendResult> => {
    const values = [
      streamId,
      encodeExpected(expectedRevision),
      ...eventColumns(events),
    ];
    for (let attempt = 1; ; attempt++) {
      try {
        const { rows } = await pool.query<{
          r_appended: boolean;
          r_revision: string;
          r_transaction_id: string;
          r_position: string;
        }>({ ...statements.append, values });
        const outcome = rows[0]!;
        if (outcome.r_appended) {
          signal.appended();
          return {
            nextExpectedRevision: Number(outcome.r_revision),
            position: encodePosition(outcome.r_transaction_id, outcome.r_position),
          };
        }
      } catch (error) {
        // An event id already stored, or a writer that bypassed the stream lock.
        if (!isDatabaseError(error, UNIQUE_VIOLATION)) throw error;
      }
      // Stored places never change, so reading them after the failed attempt is as good as
      // reading them inside it; the revision is read afresh to tell the caller where it is.
      const actualRevision = await lastRevisionOf(streamId);
      const retried = resultOfRetriedAppend(
        streamId,
        expectedRevision,
        await placesOf(events),
        actualRevision,
      );
      if (retried) return retried;
      if (attempt >= MAX_APPEND_ATTEMPTS || !matchesExpectedRevision(expectedRevision, actualRevision)) {
        throw new ConcurrencyConflictError(streamId, expectedRevision, actualRevision);
      }
    }
  };

  /** False once the role was refused what `appendCopied` needs. */
  let copying = true;

  /**
   * Every entry appended in one statement, one transaction; undefined, and nothing written, when
   * an entry's expected revision does not hold or one of its event ids is already stored (a retry).
   */
  const appendAllOrNone = async (appends: readonly StreamAppend[]): Promise<AppendResult[] | undefined> => {
    const events = appends.flatMap((entry) => entry.events);
    if (events.length >= copyFromEvents && copying) {
      const answer = await appendCopied(appends, events);
      if (answer !== COPY_REFUSED) return answer;
    }
    try {
      const { rows } = await pool.query<BulkOutcome>({
        ...statements.appendMany,
        values: [...entriesOf(appends), ...eventColumns(events)],
      });
      const answer = answerOf(rows[0]!);
      if (answer !== undefined) signal.appended();
      return answer;
    } catch (error) {
      if (isDatabaseError(error, UNIQUE_VIOLATION)) return undefined;
      throw error;
    }
  };

  /**
   * `appendAllOrNone` for a big batch (a bulk load's): the events go by COPY into a temporary
   * table, from which append_copied_to_streams inserts them with the same checks. As array
   * parameters, a batch of 4,000 seeded events took the server 41 ms to parse, against 11 ms by
   * COPY, and this thread 14 ms to escape, against 7. The streams' locks are taken first: the
   * temporary table is the transaction's first write, which hands it its transaction id, and that
   * must come after them (see the top of this file).
   */
  const appendCopied = async (appends: readonly StreamAppend[], events: readonly NewEvent[]): Promise<AppendResult[] | undefined | typeof COPY_REFUSED> => {
    const text = eventsAsCopyText(events);
    const [streamIds, expected, counts] = entriesOf(appends);
    const client = await pool.connect();
    let unusable: Error | undefined;
    try {
      await client.query('BEGIN');
      await client.query({ ...statements.lockStreams, values: [streamIds] });
      await client.query(CREATE_EVENTS_TO_APPEND);
      const copy = client.query(copyFrom(`COPY ${EVENTS_TO_APPEND} (ordinal, id, type, data, metadata, recorded_at) FROM STDIN`));
      await pipeline(Readable.from([text]), copy);
      const { rows } = await client.query<BulkOutcome>({ ...statements.appendCopied, values: [streamIds, expected, counts] });
      const answer = answerOf(rows[0]!);
      // Refused, nothing was inserted: the rollback only drops the temporary table.
      await client.query(answer === undefined ? 'ROLLBACK' : 'COMMIT');
      if (answer !== undefined) signal.appended();
      return answer;
    } catch (error) {
      await client.query('ROLLBACK').catch((failed: Error) => (unusable = failed));
      if (isDatabaseError(error, UNIQUE_VIOLATION)) return undefined;
      // A role that may not create temporary tables (a database that revoked TEMPORARY from
      // PUBLIC): its appends go as arrays from now on, which raise any privilege it truly lacks.
      if (isDatabaseError(error, INSUFFICIENT_PRIVILEGE)) {
        copying = false;
        return COPY_REFUSED;
      }
      throw error;
    } finally {
      client.release(unusable);
    }
  };

  /** The entries of a bulk append as the append functions take them: streams, expected revisions, event counts. */
  const entriesOf = (appends: readonly StreamAppend[]): [string[], (number | null)[], number[]] => [
    appends.map((entry) => entry.streamId),
    appends.map((entry) => encodeExpected(entry.expectedRevision)),
    appends.map((entry) => entry.events.length),
  ];

  /** Each entry's result, or undefined when the function refused the batch. */
  const answerOf = (outcome: BulkOutcome): AppendResult[] | undefined => {
    if (outcome.r_refused !== null) return undefined;
    return outcome.r_revisions.map((revision, index) => ({
      nextExpectedRevision: Number(revision),
      position: encodePosition(outcome.r_transaction_id!, outcome.r_positions[index]!),
    }));
  };

  /**
   * Group commit: the `appendToStream` calls made during one turn of the event loop go to
   * PostgreSQL together, one append_to_streams statement in one transaction, instead of a
   * statement and a commit each: under a load of captures each had been the one statement of its
   * request on the way in. Every caller is answered once the shared transaction has committed,
   * exactly as alone. When the batch is refused as a whole (an entry's expected revision does not
   * hold, or it is a retry whose events are stored) or fails, each of its entries is appended on
   * its own, as it would have been without the batch, and answers for itself; so is a stream's
   * second append of the same turn, after its first.
   */
  let queuedAppends: QueuedAppend[] = [];
  const queueAppend = (append: StreamAppend): Promise<AppendResult> =>
    new Promise((resolve, reject) => {
      queuedAppends.push({ ...append, resolve, reject });
      if (queuedAppends.length === 1) {
        setImmediate(() => {
          const batch = queuedAppends;
          queuedAppends = [];
          void appendQueued(batch);
        });
      }
    });
  const answerAlone = ({ streamId, events, expectedRevision, resolve, reject }: QueuedAppend) =>
    appendAlone(streamId, events, expectedRevision).then(resolve, reject);
  const appendQueued = async (batch: readonly QueuedAppend[]): Promise<void> => {
    if (batch.length === 1) return answerAlone(batch[0]!);
    const firstOfStream = new Map<string, QueuedAppend>();
    const later: QueuedAppend[] = [];
    for (const append of batch) {
      if (firstOfStream.has(append.streamId)) later.push(append);
      else firstOfStream.set(append.streamId, append);
    }
    const firsts = [...firstOfStream.values()];
    // Side by side: their streams differ, so they never wait on each other's locks.
    const groups = Array.from({ length: Math.ceil(firsts.length / MAX_GROUP_COMMIT) }, (_, index) =>
      firsts.slice(index * MAX_GROUP_COMMIT, (index + 1) * MAX_GROUP_COMMIT),
    );
    await Promise.all(
      groups.map(async (together) => {
        const results = await appendAllOrNone(together).catch(() => undefined);
        if (results) together.forEach((append, index) => append.resolve(results[index]!));
        else await Promise.all(together.map(answerAlone));
      }),
    );
    for (const append of later) await answerAlone(append);
  };

  /**
   * The rare path of a bulk append that was refused as a whole: each entry in turn, in one
   * transaction, as `appendToStream` would take it (a retried entry answers its original result),
   * and the first entry refused rolls everything back.
   */
  const appendOneByOne = async (appends: readonly StreamAppend[]): Promise<AppendResult[]> => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const results: AppendResult[] = [];
      for (const { streamId, events, expectedRevision } of appends) {
        await client.query('SAVEPOINT entry');
        try {
          const { rows } = await client.query<{ r_appended: boolean; r_revision: string; r_transaction_id: string; r_position: string }>({
            ...statements.append,
            values: [
              streamId,
              encodeExpected(expectedRevision),
              ...eventColumns(events),
            ],
          });
          const outcome = rows[0]!;
          if (outcome.r_appended) {
            results.push({
              nextExpectedRevision: Number(outcome.r_revision),
              position: encodePosition(outcome.r_transaction_id, outcome.r_position),
            });
            continue;
          }
        } catch (error) {
          if (!isDatabaseError(error, UNIQUE_VIOLATION)) throw error;
        }
        await client.query('ROLLBACK TO SAVEPOINT entry');
        const { rows: revisionRows } = await client.query<{ revision: string | null }>({ ...statements.lastRevision, values: [streamId] });
        const actualRevision = revisionRows[0]?.revision == null ? NO_STREAM : Number(revisionRows[0].revision);
        const retried = resultOfRetriedAppend(streamId, expectedRevision, await placesOf(events, client), actualRevision);
        if (!retried) throw new ConcurrencyConflictError(streamId, expectedRevision, actualRevision);
        results.push(retried);
      }
      await client.query('COMMIT');
      signal.appended();
      return results;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  };

  return {
    name: 'postgres',
    appendsToStreamsAtomically: true,
    schema,

    appendToStream(streamId, events, { expectedRevision }): Promise<AppendResult> {
      assertAppendableBatch(streamId, events);
      return queueAppend({ streamId, events, expectedRevision });
    },

    async appendToStreams(appends): Promise<AppendResult[]> {
      if (appends.length === 0) return [];
      for (const { streamId, events } of appends) assertAppendableBatch(streamId, events);
      return (await appendAllOrNone(appends)) ?? appendOneByOne(appends);
    },

    async readStream(streamId, { fromRevision = 0, maxCount } = {}) {
      const { rows } = await pool.query<EventRow>({
        ...statements.readStream,
        values: [streamId, fromRevision, sqlLimit(maxCount)],
      });
      if (rows.length === 0) {
        // Revisions start at 0 with no gap: nothing read from 0 (with room for a row) means no stream.
        if (fromRevision <= 0 && maxCount !== 0) throw streamNotFound(streamId);
        const exists = await pool.query({ ...statements.streamExists, values: [streamId] });
        if (exists.rowCount === 0) throw streamNotFound(streamId);
      }
      return rows.map(toRecordedEvent);
    },

    /**
     * Waits (briefly) for appends committed out of order to settle, so that a caller that
     * appended and then reads finds its events even while other writers are busy.
     */
    async readAll({ fromPosition, maxCount } = {}) {
      const deadline = Date.now() + settleTimeoutMs;
      for (let pauseMs = HELD_BACK_FIRST_PAUSE_MS; ; pauseMs = nextHeldBackPause(pauseMs)) {
        const { events, heldBack } = await readSettled(fromPosition, maxCount);
        if (!heldBack || Date.now() >= deadline) return events;
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    },

    subscribeToAll(subscribeOptions) {
      // No waiting in the read: what is settled is delivered at once. Events held back are read
      // again soon (1 ms, doubling up to 50 ms while they stay held back), like `readAll` does:
      // the transaction holding them back is often no append (a projection's batch, a key
      // stored, a checkpoint), so no notification comes when it ends, and waiting for the next
      // poll kept a capture waiting for its read model about 250 ms (sequential captures on
      // PostgreSQL: one in two answered in 265-275 ms instead of 13-20 ms).
      let wake: (() => void) | undefined;
      let retry: NodeJS.Timeout | undefined;
      let retryMs = HELD_BACK_FIRST_PAUSE_MS;
      countAppends();
      const subscription = subscribeByPaging(
        {
          readAll: async ({ fromPosition, maxCount = SUBSCRIPTION_BATCH_SIZE }) => {
            const { events, heldBack } = settledOf(await sharedReads.read(fromPosition, maxCount));
            clearTimeout(retry);
            if (heldBack) {
              retry = setTimeout(() => wake?.(), retryMs);
              retryMs = nextHeldBackPause(retryMs);
            } else {
              retryMs = HELD_BACK_FIRST_PAUSE_MS;
            }
            return events;
          },
          onAppended: (listener) => {
            wake = listener;
            const unsubscribe = signal.onAppended(listener);
            return () => {
              wake = undefined;
              clearTimeout(retry);
              unsubscribe();
            };
          },
          batchSize: SUBSCRIPTION_BATCH_SIZE,
          pollIntervalMs,
        },
        subscribeOptions,
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
      const { rows } = await pool.query<{ transaction_id: string; global_position: string }>(
        statements.head,
      );
      return rows[0] && encodePosition(rows[0].transaction_id, rows[0].global_position);
    },

    comparePositions: comparePostgresPositions,

    async close() {
      await Promise.all([...subscriptions].map((subscription) => subscription.stop()));
      subscriptions.clear();
      await signal.close();
      await connection.release();
    },
  };
};

const encodePosition = (transactionId: string, sequence: string): GlobalPosition =>
  `${transactionId}:${sequence}`;

const parsePosition = (position: GlobalPosition): [string, string] => {
  const match = /^(\d{1,20}):(\d{1,19})$/.exec(position);
  if (match === null) throw new RangeError(`Not a PostgreSQL position: ${position}`);
  return [match[1]!, match[2]!];
};

/**
 * Positions in the log's order: by transaction id, then by sequence, each compared as a number
 * from its digits (without a regular expression or a BigInt each time: the runner compares every
 * waiter and every event of a batch with the checkpoints, thousands of times a second under load).
 * Throws on anything `parsePosition` refuses.
 */
export const comparePostgresPositions = (a: GlobalPosition, b: GlobalPosition): number => {
  const aColon = colonOfPosition(a);
  const bColon = colonOfPosition(b);
  return compareDigits(a, 0, aColon, b, 0, bColon) || compareDigits(a, aColon + 1, a.length, b, bColon + 1, b.length);
};

/** Where the colon of a well-formed position is (`parsePosition`'s form: 1-20 digits, a colon, 1-19 digits). */
const colonOfPosition = (position: GlobalPosition): number => {
  const colon = position.indexOf(':');
  const sequenceDigits = position.length - colon - 1;
  let wellFormed = colon >= 1 && colon <= 20 && sequenceDigits >= 1 && sequenceDigits <= 19;
  for (let index = 0; wellFormed && index < position.length; index++) {
    const code = position.charCodeAt(index);
    wellFormed = index === colon || (code >= 48 && code <= 57);
  }
  if (!wellFormed) throw new RangeError(`Not a PostgreSQL position: ${position}`);
  return colon;
};

/** The whole numbers written by a[aStart, aEnd) and b[bStart, bEnd), compared (leading zeros count for nothing). */
const compareDigits = (a: string, aStart: number, aEnd: number, b: string, bStart: number, bEnd: number): number => {
  while (aStart < aEnd - 1 && a.charCodeAt(aStart) === 48) aStart++;
  while (bStart < bEnd - 1 && b.charCodeAt(bStart) === 48) bStart++;
  if (aEnd - aStart !== bEnd - bStart) return aEnd - aStart < bEnd - bStart ? -1 : 1;
  for (; aStart < aEnd; aStart++, bStart++) {
    const difference = a.charCodeAt(aStart) - b.charCodeAt(bStart);
    if (difference !== 0) return difference < 0 ? -1 : 1;
  }
  return 0;
};

/** PostgreSQL reads LIMIT NULL as no limit. */
const sqlLimit = (maxCount: number | undefined) =>
  maxCount === undefined || maxCount === Infinity ? null : maxCount;

const toRecordedEvent = (row: EventRow): RecordedEvent => ({
  id: row.event_id,
  streamId: row.stream_id,
  revision: Number(row.stream_revision),
  position: encodePosition(row.transaction_id, row.global_position),
  type: row.event_type,
  data: JSON.parse(row.data) as unknown,
  metadata: JSON.parse(row.metadata) as RecordedEvent['metadata'],
});
