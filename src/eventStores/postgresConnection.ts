/**
 * What the PostgreSQL event store and the PostgreSQL read-model database share: quoting the
 * schema, owning (or borrowing) a pool, and migrations that two processes may start at once.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';

export interface PostgresConnectionOptions {
  connectionString: string;
  /** Default `public`. */
  schema?: string;
  /** Borrowed: `close()` leaves it open for its owner. */
  pool?: pg.Pool;
}

/**
 * How an owned pool's connections plan prepared statements: anew at each use, or once per
 * connection, for statements whose every use reads few rows (see the two settings below).
 */
export type PlanChoice = 'at each use' | 'once';

export interface PostgresConnection {
  pool: pg.Pool;
  schema: string;
  /** The schema as an SQL identifier, quoted. */
  quotedSchema: string;
  /** Ends the pool if this connection created it. */
  release(): Promise<void>;
}

/**
 * Every statement is prepared once per connection and kept (see preparedStatement), and
 * PostgreSQL then plans it anew at each execution: once a prepared statement has run five times,
 * PostgreSQL otherwise settles on a generic plan, made for the tables as they were then, and keeps
 * it until the table is analyzed again. A service starts on empty tables: its point reads by key
 * settled on sequential scans, each of which then read the whole table as it grew (the leads'
 * read of a runner's batch on an empty database, 2-4 ms after 1,500 leads and growing; with
 * autovacuum off, or between its analyzes, nothing changes the plan). Planning a point read
 * costs far less than that.
 */
const PLANS_FOR_THE_TABLES_AS_THEY_ARE = 'SET plan_cache_mode = force_custom_plan';

/**
 * A generic plan, made at the first use on a connection and kept: for statements whose parameters
 * always pick few rows, so that one plan fits every value. The KPI sections read from the monthly
 * rollups are such statements (a union of a few hundred rollup cells and at most half a month of
 * facts at either end), and planning one took 0.2 to 0.4 ms at each use against 0.03 to 0.04 to run
 * it: on PostgreSQL, most of the database's time for every KPI section computed each time (issue 11).
 * A statement over a period of any length must not be one: its generic plan read a whole history
 * through the index by time, 60 ms where a plan for its values scanned the table in 13. A plan made
 * while a table was small is made again once the table is analyzed (autovacuum does so as it grows
 * by a tenth), and such connections close after 10 s unused (pg.Pool's idle timeout).
 */
const PLANS_MADE_ONCE = 'SET plan_cache_mode = force_generic_plan';

export const quoteIdentifier = (name: string): string => pg.escapeIdentifier(name);

const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** Text as a value of COPY's text format: its backslashes, tabs and line breaks escaped. */
export const escapeCopyText = (text: string): string =>
  /[\\\t\n\r]/.test(text) ? text.replace(/[\\\t\n\r]/g, (char) => COPY_ESCAPES[char]!) : text;

export const connectToPostgres = (
  { connectionString, schema = 'public', pool }: PostgresConnectionOptions,
  plans: PlanChoice = 'at each use',
): PostgresConnection => {
  const planning = plans === 'once' ? PLANS_MADE_ONCE : PLANS_FOR_THE_TABLES_AS_THEY_ARE;
  const ownPool =
    pool === undefined
      ? new pg.Pool({
          connectionString,
          // Awaited before the new connection is handed out. A server that refused it would cost
          // speed only: the connection is used anyway.
          onConnect: async (client) => void (await client.query(planning).catch(() => undefined)),
        })
      : undefined;
  // An idle client that loses its server emits 'error' on the pool; unhandled, that would
  // crash the process, when the pool simply replaces the client at the next checkout.
  ownPool?.on('error', () => undefined);
  return {
    pool: pool ?? ownPool!,
    schema,
    quotedSchema: quoteIdentifier(schema),
    release: async () => {
      if (ownPool !== undefined && !ownPool.ended) await ownPool.end();
    },
  };
};

/**
 * Runs `sql` (idempotent DDL) in one transaction under a lock keyed by the schema, so that
 * processes starting together (an event store and a read database may share the schema) do not
 * race on `CREATE ... IF NOT EXISTS`, which fails against a concurrent creation of the same
 * object instead of waiting for it.
 */
export const migrate = async (pool: pg.Pool, schema: string, sql: string): Promise<void> => {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`crm migration ${schema}`]);
    await client.query(sql);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
};

/**
 * A named prepared statement: the server parses and plans it once per connection. The name is
 * derived from the text, so two stores on different schemas sharing a pool never collide.
 * `scope`, when given, goes into the name too (the read models name theirs after their schema
 * and a generation that their DDL moves on: see postgresDatabase.ts); `prefix` tells whose it is.
 */
export const preparedStatement = (text: string, { prefix = 'crm', scope = '' } = {}): { name: string; text: string } => ({
  name: `${prefix}_${createHash('sha1').update(scope === '' ? text : `${scope}\0${text}`).digest('hex').slice(0, 24)}`,
  text,
});

/** SQLSTATE of a unique constraint violation. */
export const UNIQUE_VIOLATION = '23505';

/** SQLSTATE of a privilege the role lacks. */
export const INSUFFICIENT_PRIVILEGE = '42501';

export const isDatabaseError = (error: unknown, code: string): error is pg.DatabaseError =>
  error instanceof pg.DatabaseError && error.code === code;
