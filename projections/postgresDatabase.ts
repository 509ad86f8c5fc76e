/**
 * The SqlDatabase port on PostgreSQL, so the read models the projections keep in SQLite can live
 * in a database that several API processes share. The projections' SQL runs unchanged: `?`
 * placeholders become `$1..$n`, unqualified table names resolve in the configured schema,
 * integers come back as numbers, as they do from SQLite, and strings holding U+0000 (which a
 * PostgreSQL `text` cannot) are stored escaped and read back as they were (`encodeText`).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import {
  connectToPostgres,
  escapeCopyText,
  migrate,
  preparedStatement,
  type PostgresConnection,
  type PostgresConnectionOptions,
} from '../src/eventStores/postgresConnection';
import { readModelChangesOfSchema, tableWrittenBy } from './readModelChanges';
import { checkChanges, type ExpectedChanges, type ReadOptions, type SqlDatabase, type SqlValue } from './sqlDatabase';

export type PostgresDatabaseOptions = PostgresConnectionOptions;

/**
 * Rewrites each `?` outside string literals, quoted identifiers, dollar quotes and comments as
 * `$1`, `$2`... in order. Never write PostgreSQL's `?` operators (jsonb `?`, `?|`, `?&`) in SQL
 * meant for this port; their function forms (`jsonb_exists`...) are safe.
 */
export const toNumberedParameters = (sql: string): string => {
  let text = '';
  let parameters = 0;
  let index = 0;
  while (index < sql.length) {
    const end = endOfLiteralOrComment(sql, index);
    if (end !== undefined) {
      text += sql.slice(index, end);
      index = end;
    } else if (sql[index] === '?') {
      text += `$${++parameters}`;
      index++;
    } else {
      text += sql[index];
      index++;
    }
  }
  return text;
};

/** Where the literal or comment starting at `start` ends, or undefined when none starts there. */
const endOfLiteralOrComment = (sql: string, start: number): number | undefined => {
  const char = sql[start];
  const next = sql[start + 1];
  if (char === "'") {
    // E'...' strings take backslash escapes; standard strings only double the quote.
    const escapes = /[eE]/.test(sql[start - 1] ?? '') && !/[\w$]/.test(sql[start - 2] ?? '');
    return endOfQuoted(sql, start, "'", escapes);
  }
  if (char === '"') return endOfQuoted(sql, start, '"', false);
  if (char === '-' && next === '-') {
    const newline = sql.indexOf('\n', start);
    return newline === -1 ? sql.length : newline + 1;
  }
  if (char === '/' && next === '*') return endOfBlockComment(sql, start);
  if (char === '$' && !/[\w$]/.test(sql[start - 1] ?? '')) {
    const tag = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(start))?.[0];
    if (tag === undefined) return undefined;
    const close = sql.indexOf(tag, start + tag.length);
    return close === -1 ? sql.length : close + tag.length;
  }
  return undefined;
};

const endOfQuoted = (sql: string, start: number, quote: string, backslashEscapes: boolean): number => {
  let index = start + 1;
  while (index < sql.length) {
    if (backslashEscapes && sql[index] === '\\') index += 2;
    else if (sql[index] === quote && sql[index + 1] === quote) index += 2;
    else if (sql[index] === quote) return index + 1;
    else index++;
  }
  return sql.length;
};

/** PostgreSQL's block comments nest. */
const endOfBlockComment = (sql: string, start: number): number => {
  let depth = 0;
  let index = start;
  while (index < sql.length) {
    if (sql.startsWith('/*', index)) {
      depth++;
      index += 2;
    } else if (sql.startsWith('*/', index)) {
      depth--;
      index += 2;
      if (depth === 0) return index;
    } else {
      index++;
    }
  }
  return sql.length;
};

/**
 * PostgreSQL text cannot hold U+0000, which an event may carry (JSON escapes it, so the event
 * store keeps it). Every string parameter goes through `encodeText` and every text result
 * through `decodeText`: a string without U+0000 and without U+FFFF (a Unicode noncharacter,
 * the escape) is stored as it is, so equality, LIKE and ordering of such strings are unchanged;
 * in the others U+0000 becomes U+FFFF '0' and U+FFFF becomes U+FFFF U+FFFF. Equality and LIKE
 * (with the pattern encoded the same way) still hold for them; `_` matches half of an escaped
 * character, and they may sort otherwise than on SQLite.
 */
const ESCAPE = '\uFFFF';
const NEEDS_ESCAPING = /[\u0000\uFFFF]/;

export const encodeText = (text: string): string =>
  NEEDS_ESCAPING.test(text) ? text.replace(/[\u0000\uFFFF]/g, (char) => (char === ESCAPE ? ESCAPE + ESCAPE : `${ESCAPE}0`)) : text;

export const decodeText = (text: string): string =>
  text.includes(ESCAPE) ? text.replace(/\uFFFF(\uFFFF|0)?/g, (_escape, next?: string) => (next === '0' ? '\u0000' : ESCAPE)) : text;

const encodeParameters = (params: readonly SqlValue[]): SqlValue[] =>
  params.map((value) => (typeof value === 'string' ? encodeText(value) : value));

/**
 * A value as an SQL literal, for statements sent as text (`HeldWrites`): quoted whatever its type,
 * so that the server types it from where it stands, as it types a parameter; a string encoded as a
 * parameter is (`encodeText`; `encoded`: it is already), its backslashes and quotes escaped in an
 * E'' string, which reads the same whatever standard_conforming_strings says.
 */
const literal = (value: SqlValue, encoded: boolean): string => {
  if (value === null) return 'NULL';
  const text = typeof value === 'string' ? (encoded ? value : encodeText(value)) : String(value);
  return SPECIAL_IN_LITERAL.test(text) ? `E'${text.replace(SPECIALS_IN_LITERAL, (char) => (char === "'" ? "''" : '\\\\'))}'` : `'${text}'`;
};
const SPECIAL_IN_LITERAL = /[\\']/;
const SPECIALS_IN_LITERAL = /[\\']/g;

/** Where the `?` placeholders of each statement text are (as `toNumberedParameters` finds them). */
const placeholdersOf = new Map<string, number[]>();

/** `sql` with each `?` (as `toNumberedParameters` finds them) replaced by its value as a literal. */
export const withLiterals = (sql: string, params: readonly SqlValue[], encoded = false): string => {
  let placeholders = placeholdersOf.get(sql);
  if (placeholders === undefined) {
    placeholders = [];
    for (let index = 0; index < sql.length; ) {
      const end = endOfLiteralOrComment(sql, index);
      if (end !== undefined) index = end;
      else if (sql[index++] === '?') placeholders.push(index - 1);
    }
    if (placeholdersOf.size >= MAX_CACHED_CONVERSIONS) placeholdersOf.clear();
    placeholdersOf.set(sql, placeholders);
  }
  if (placeholders.length !== params.length) throw new RangeError(`The statement has ${placeholders.length} parameters, not ${params.length}: ${sql}`);
  const parts: string[] = [];
  let from = 0;
  placeholders.forEach((at, index) => {
    parts.push(sql.slice(from, at), literal(params[index]!, encoded));
    from = at + 1;
  });
  parts.push(sql.slice(from));
  return parts.join('');
};

/** text, varchar, bpchar, name and unknown (an untyped literal). */
const TEXT_OIDS = new Set([25, 1043, 1042, 19, 705]);

const INT8_OID = 20;
/** pg hands bigint (COUNT, SUM of integers) back as text, for fear of precision; SQLite gives numbers. */
const parseInt8 = (text: string): number | bigint => {
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : BigInt(text);
};
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID
      ? parseInt8
      : TEXT_OIDS.has(oid) && format !== 'binary'
        ? decodeText
        : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

const MAX_CACHED_CONVERSIONS = 1000;
/** Statements kept prepared on one connection, at most: each holds memory in its server process. */
const MAX_PREPARED_PER_CONNECTION = 300;
/**
 * A statement (or script) that may change a table's columns: prepared statements must not outlive
 * it. Maintenance (VACUUM after an erasure, ANALYZE) does not: were it to start a generation, the
 * statements of each one would pile up on the connections until the bound left every new one
 * unprepared.
 */
const CHANGES_SCHEMA = /(^|;)\s*(CREATE|ALTER|DROP|TRUNCATE)\b/i;

interface PreparedText {
  text: string;
  name: string;
  changesSchema: boolean;
  /** The table it writes, 'every table' when its text does not say, or undefined when it only reads. */
  writes: string | 'every table' | undefined;
}

/**
 * A statement that only reads: a SELECT, or a WITH that names no write anywhere in its text (a
 * write's keyword in a literal only makes a read count as a write). Anything else may write.
 */
const readsOnly = (text: string): boolean => /^\s*(?:SELECT|WITH)\b/i.test(text) && !/\b(?:INSERT|UPDATE|DELETE|MERGE)\b/i.test(text);

/**
 * Statements of a transaction whose outcome nobody reads (`SqlDatabase.write`, `writeRows` without
 * a RETURNING), held as text to go with the next statement that answers something, or with the
 * COMMIT: a runner's batch was a round trip per statement, one after the other, each waiting its
 * turn on a busy event loop. `sent`: whether anything (the BEGIN first) went to the server.
 */
interface HeldWrites {
  texts: string[];
  sent: boolean;
}

const RETURNS_ROWS = /\bRETURNING\b/i;

/** The tables a transaction has written so far, told to the changes once it commits. */
type Written = { tables: Set<string> | 'every table' };

const noteWrite = (written: Written, table: string | 'every table'): void => {
  if (written.tables === 'every table') return;
  if (table === 'every table') written.tables = table;
  else written.tables.add(table);
};

/** The names prepared on each connection (the server keeps them until the connection ends). */
const preparedOn = new WeakMap<pg.PoolClient, Set<string>>();

/** SQLSTATE 0A000, as PostgreSQL reports a prepared statement whose table changed its columns. */
const isStalePlan = (error: unknown): boolean =>
  error instanceof pg.DatabaseError && error.code === '0A000' && /cached plan must not change result type/.test(error.message);

const quoteName = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/**
 * A value in COPY's text format: `\N` for null; a string encoded as every parameter is
 * (`encodeText`), then its backslashes, tabs and line breaks escaped; integers in full.
 */
const copyText = (value: SqlValue): string => {
  if (value === null) return '\\N';
  // A number's digits need no escape; most strings need neither encoding nor escape, which one
  // test tells (a rebuild's copy writes millions of values).
  if (typeof value !== 'string') return String(value);
  return CHANGED_IN_COPY_TEXT.test(value) ? escapeCopyText(encodeText(value)) : value;
};

/** Any character `encodeText` or COPY's escapes change. */
const CHANGED_IN_COPY_TEXT = /[\u0000\uFFFF\\\t\n\r]/;

/** A row as the text COPY … FROM STDIN reads: a tab between values, a line per row. */
export const rowAsCopyText = (row: readonly SqlValue[]): string => {
  let text = row.length === 0 ? '' : copyText(row[0]!);
  for (let index = 1; index < row.length; index++) text += `\t${copyText(row[index]!)}`;
  return `${text}\n`;
};

/** Rows of COPY text sent to the server at a time. */
const COPY_ROWS_PER_CHUNK = 1000;

/**
 * The rows as COPY text, a chunk of rows at a time, made as the server takes them in: a stream
 * made from this is read only as fast as the connection drains, so the rows are read and turned
 * into text on this thread while the server parses and stores those before. A rebuild's copy of
 * its staged tables into PostgreSQL made each 5,000 rows' text, then waited for the server to
 * store them, then made the next: on the insights history (1,004,970 events) this thread was idle
 * about half of the copy's 45 s.
 */
function* copyTextChunks(rows: Iterable<readonly SqlValue[]>): Generator<string> {
  let chunk = '';
  let count = 0;
  for (const row of rows) {
    chunk += rowAsCopyText(row);
    if (++count === COPY_ROWS_PER_CHUNK) {
      yield chunk;
      chunk = '';
      count = 0;
    }
  }
  if (count > 0) yield chunk;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
/** String.prototype.toWellFormed, which Node 20 has but TypeScript's ES2022 library does not declare. */
const wellFormed = (text: string): string => text.replace(LONE_SURROGATE, '\uFFFD');

/**
 * A value as JSON: strings encoded as every parameter is (`encodeText`), and a lone surrogate as
 * U+FFFD, as pg's UTF-8 encoding of a parameter makes it (PostgreSQL refuses one escaped in JSON);
 * integers beyond 2^53 as their digits.
 */
const jsonValue = (value: SqlValue): string =>
  value === null
    ? 'null'
    : typeof value === 'string'
      ? JSON.stringify(wellFormed(encodeText(value)))
      : typeof value === 'bigint'
        ? `"${value}"`
        : JSON.stringify(value);

/** Rows as a JSON array of objects keyed by column, as json_populate_recordset reads them. */
export const rowsAsJson = (columns: readonly string[], rows: ReadonlyArray<readonly SqlValue[]>): string => {
  const keys = columns.map((column) => `${JSON.stringify(column)}:`);
  return `[${rows.map((row) => `{${keys.map((key, index) => key + jsonValue(row[index] ?? null)).join(',')}}`).join(',')}]`;
};

export const openPostgresDatabase = async (options: PostgresDatabaseOptions): Promise<SqlDatabase> => {
  const connection = connectToPostgres(options);
  const { pool, schema, quotedSchema } = connection;
  try {
    await migrate(pool, schema, `CREATE SCHEMA IF NOT EXISTS ${quotedSchema}`);
  } catch (error) {
    await connection.release();
    throw error;
  }

  /**
   * Each statement is prepared once per connection and named after its text, its schema and
   * `generation`: the server neither parses it nor plans it again at every use. In three
   * alternating rounds of captureLead on PostgreSQL that gave 390–443 captures/s against 200–318
   * unprepared (`npm run bench -- --only captureLeadPostgres`).
   *
   * A prepared `SELECT *` keeps the columns its table had: once the table is made again with
   * others (a new projection version rebuilt beside the old one and switched in), using it fails
   * with "cached plan must not change result type". So any DDL this handle runs
   * (`CHANGES_SCHEMA`) starts a new generation, under which every statement is prepared afresh;
   * a stale plan met anyway (another process changed a table) starts one too, and a statement
   * outside a transaction is then run again, once. Inside a transaction the error aborts it, as
   * any error does.
   */
  let generation = 0;
  // What this process commits to the schema, for the caches of reports read from it (reportCache.ts).
  const changes = readModelChangesOfSchema(options.connectionString, schema);
  /** A statement outside a transaction counts once it is done; inside one, once it commits. */
  const wrote = (written: Written | undefined, tables: string | 'every table') => {
    if (written !== undefined) noteWrite(written, tables);
    else changes.committed(tables === 'every table' ? tables : new Set([tables]));
  };
  const statements = new Map<string, PreparedText>();
  const statementFor = (sql: string): PreparedText => {
    let statement = statements.get(sql);
    if (statement === undefined) {
      if (statements.size >= MAX_CACHED_CONVERSIONS) statements.clear();
      const text = toNumberedParameters(sql);
      statement = {
        ...preparedStatement(text, { prefix: 'rm', scope: `${schema}\0${generation}` }),
        changesSchema: CHANGES_SCHEMA.test(text),
        writes: readsOnly(text) ? undefined : tableWrittenBy(text),
      };
      statements.set(sql, statement);
    }
    return statement;
  };
  const newGeneration = () => {
    generation++;
    statements.clear();
  };
  const query = async (
    client: pg.PoolClient,
    written: Written | undefined,
    sql: string,
    params: readonly SqlValue[],
    again = false,
    /** The parameters are encoded already (`rowsAsJson`). */
    encoded = false,
    held?: HeldWrites,
  ): Promise<pg.QueryResult> => {
    if (held !== undefined && held.texts.length > 0) return queryAfterHeld(client, written, sql, params, encoded, held);
    const { text, name, changesSchema, writes } = statementFor(sql);
    let prepared = preparedOn.get(client);
    if (prepared === undefined) preparedOn.set(client, (prepared = new Set()));
    // Beyond the bound (statements built with a varying number of values), unprepared.
    const named = prepared.has(name) || prepared.size < MAX_PREPARED_PER_CONNECTION;
    try {
      const result = await client.query({ text, ...(named ? { name } : {}), values: encoded ? [...params] : encodeParameters(params), types });
      if (named) prepared.add(name);
      if (changesSchema) newGeneration();
      if (writes !== undefined) wrote(written, writes);
      return result;
    } catch (error) {
      if (!isStalePlan(error)) throw error;
      newGeneration();
      if (written !== undefined || again) throw error;
      return query(client, written, sql, params, true, encoded);
    }
  };

  /**
   * The held writes, then `sql`, in one round trip: one simple query of several statements, each
   * with its values written in (`withLiterals`), of which the last one's result is `sql`'s. An
   * error of any of them is the error of this call, and aborts the transaction.
   */
  const queryAfterHeld = async (
    client: pg.PoolClient,
    written: Written | undefined,
    sql: string,
    params: readonly SqlValue[],
    encoded: boolean,
    held: HeldWrites,
  ): Promise<pg.QueryResult> => {
    const text = `${held.texts.join(';\n')};\n${withLiterals(sql, params, encoded)}`;
    held.texts = [];
    held.sent = true;
    const results = (await client.query({ text, types })) as pg.QueryResult | pg.QueryResult[];
    const { changesSchema, writes } = statementFor(sql);
    if (changesSchema) newGeneration();
    if (writes !== undefined) wrote(written, writes);
    return Array.isArray(results) ? results[results.length - 1]! : results;
  };

  /** Sends what is held, alone: before a statement that cannot go with it (COPY, a savepoint). */
  const sendHeld = async (client: pg.PoolClient, held: HeldWrites | undefined): Promise<void> => {
    if (held === undefined || held.texts.length === 0) return;
    const text = held.texts.join(';\n');
    held.texts = [];
    held.sent = true;
    await client.query(text);
  };

  /**
   * `written`: the transaction's tables, or undefined outside one (`depth` 0). `held`: the writes
   * held for the next round trip, in a transaction that holds them (`TransactionOptions.holdWrites`).
   */
  const on = (client: pg.PoolClient, depth: number, written?: Written, held?: HeldWrites): SqlDatabase => ({
    dialect: 'postgres',
    run: async (sql, params = []) => ({ changes: (await query(client, written, sql, params, false, false, held)).rowCount ?? 0 }),
    write: async (sql, params = [], expected) => {
      // A write whose count is checked cannot be held: the count comes back with its own answer.
      if (expected !== undefined) {
        checkChanges((await query(client, written, sql, params, false, false, held)).rowCount ?? 0, expected);
        return;
      }
      if (held === undefined) {
        await query(client, written, sql, params);
        return;
      }
      held.texts.push(withLiterals(sql, params));
      const { writes } = statementFor(sql);
      if (writes !== undefined) wrote(written, writes);
    },
    all: async <T>(sql: string, params: readonly SqlValue[] = []) => (await query(client, written, sql, params, false, false, held)).rows as T[],
    get: async <T>(sql: string, params: readonly SqlValue[] = []) =>
      (await query(client, written, sql, params, false, false, held)).rows[0] as T | undefined,
    exec: async (sql) => {
      await sendHeld(client, held);
      await client.query(sql);
      if (CHANGES_SCHEMA.test(sql)) newGeneration();
      wrote(written, 'every table');
    },
    // COPY, PostgreSQL's bulk load: the rows go as one text stream, parsed by the server in the
    // columns' own types, with no statement per row. Against one INSERT per 5,000 rows given as a
    // JSON parameter, a bulk rebuild of 3,000 leads ran 1.17x as fast (bench/replayBeforeAfter.sh).
    insertRows: async (table, columns, rows) => {
      await sendHeld(client, held);
      const copy = client.query(copyFrom(`COPY ${quoteName(table)} (${columns.map(quoteName).join(', ')}) FROM STDIN`));
      await pipeline(Readable.from(copyTextChunks(rows)), copy);
      wrote(written, table.toLowerCase());
    },
    // One statement for any number of rows: each statement of a runner's batch is a round trip,
    // and the rows' values one JSON text, which the server maps onto the table's own column types.
    // Without a RETURNING it answers nothing, and is held like a `write` where writes are held.
    writeRows: async <T>(table: string, columns: readonly string[], rows: ReadonlyArray<readonly SqlValue[]>, tail = '') => {
      if (rows.length === 0) return [];
      const list = columns.join(', ');
      const sql = `INSERT INTO ${table} (${list}) SELECT ${list} FROM json_populate_recordset(NULL::${table}, ?::json) ${tail}`;
      if (held !== undefined && !RETURNS_ROWS.test(tail)) {
        held.texts.push(withLiterals(sql, [rowsAsJson(columns, rows)], true));
        wrote(written, table.toLowerCase());
        return [];
      }
      return (await query(client, written, sql, [rowsAsJson(columns, rows)], false, true, held)).rows as T[];
    },
    // The number found by the statement itself, so that it answers nothing a caller waits for.
    writeNumberedRows: async (table: string, column: string, columns: readonly string[], rows: ReadonlyArray<readonly SqlValue[]>) => {
      if (rows.length === 0) return;
      const sql = `INSERT INTO ${table} (${column}, ${columns.join(', ')})
        SELECT last.number + given.ordinality, ${columns.map((name) => `given.${name}`).join(', ')}
        FROM (SELECT COALESCE(MAX(${column}), 0) AS number FROM ${table}) AS last,
          json_populate_recordset(NULL::${table}, ?::json) WITH ORDINALITY AS given`;
      const values = [rowsAsJson(columns, rows)];
      if (held === undefined) {
        await query(client, written, sql, values, false, true);
        return;
      }
      held.texts.push(withLiterals(sql, values, true));
      wrote(written, table.toLowerCase());
    },
    updateRows: async (table: string, key: string, columns: readonly string[], rows: ReadonlyArray<readonly SqlValue[]>, expected?: ExpectedChanges) => {
      if (rows.length === 0) {
        checkChanges(0, expected);
        return [];
      }
      const sql = `UPDATE ${table} AS target SET ${columns.map((column) => `${column} = source.${column}`).join(', ')}
        FROM json_populate_recordset(NULL::${table}, ?::json) AS source WHERE target.${key} = source.${key} RETURNING target.${key} AS key`;
      const { rows: found } = await query(client, written, sql, [rowsAsJson([key, ...columns], rows)], false, true, held);
      if (expected === undefined) return found.map((row: { key: SqlValue }) => String(row.key));
      // Not held: the count comes back with the statement's own answer.
      checkChanges(found.length, expected);
      return [];
    },
    transaction: async (fn) => {
      const savepoint = `nested_${depth}`;
      await sendHeld(client, held);
      await client.query(`SAVEPOINT ${savepoint}`);
      try {
        // Held no further: a savepoint's statements go as they come, so that its rollback undoes them all.
        const result = await fn(on(client, depth + 1, written));
        await client.query(`RELEASE SAVEPOINT ${savepoint}`);
        return result;
      } catch (error) {
        await client.query(`ROLLBACK TO SAVEPOINT ${savepoint}; RELEASE SAVEPOINT ${savepoint}`);
        throw error;
      }
    },
    close: () => Promise.reject(new Error('Close the database, not one of its transactions')),
  });

  /**
   * Connections of their own for reads that plan once (`ReadOptions.planOnce`), opened at the first
   * such read: a connection's plan choice is a setting of its session, and switching it at each
   * read would cost a round trip. A borrowed pool is not ours to open more of: there, such reads
   * share it and are planned at each use, with the same answers.
   */
  let planOnce: PostgresConnection | undefined;
  const poolFor = (read: ReadOptions | undefined): pg.Pool => {
    if (read?.planOnce !== true || options.pool !== undefined) return pool;
    planOnce ??= connectToPostgres({ connectionString: options.connectionString, schema }, 'once');
    return planOnce.pool;
  };

  const withClient = async <T>(task: (client: pg.PoolClient) => Promise<T>, from: pg.Pool = pool): Promise<T> => {
    const client = await from.connect();
    let unusable: Error | undefined;
    // A connection that breaks while borrowed (its session ended by the server) emits 'error':
    // unheard, that would end the process. The query in flight fails anyway; drop the connection.
    const broken = (error: Error) => (unusable ??= error);
    client.on('error', broken);
    try {
      await useSchema(client, schema, quotedSchema);
      return await task(client);
    } catch (error) {
      if (error instanceof UnusableConnectionError) unusable = error;
      throw error instanceof UnusableConnectionError ? error.cause : error;
    } finally {
      client.removeListener('error', broken);
      // pg drops a connection that broke by itself; one left in an unknown state is dropped here.
      client.release(unusable);
    }
  };

  // Transactions of one handle run one at a time, as on SQLite: a read-modify-write in one of
  // them never interleaves with another's under READ COMMITTED. Plain statements need no turn:
  // each runs on a connection of its own and sees only committed rows. Nor does a transaction
  // that shares no row with the others (`TransactionOptions.concurrently`).
  let tail: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(task: () => Promise<T>): Promise<T> => {
    const run = tail.then(task);
    tail = run.catch(() => undefined);
    return run;
  };

  return {
    dialect: 'postgres',
    run: (sql, params) => withClient((client) => on(client, 0).run(sql, params)),
    write: (sql, params, expected) => withClient((client) => on(client, 0).write(sql, params, expected)),
    all: <T>(sql: string, params?: readonly SqlValue[], options?: ReadOptions) =>
      withClient((client) => on(client, 0).all<T>(sql, params), poolFor(options)),
    get: <T>(sql: string, params?: readonly SqlValue[]) => withClient((client) => on(client, 0).get<T>(sql, params)),
    exec: (sql) => withClient((client) => on(client, 0).exec(sql)),
    insertRows: (table, columns, rows) => withClient((client) => on(client, 0).insertRows(table, columns, rows)),
    writeRows: <T>(table: string, columns: readonly string[], rows: ReadonlyArray<readonly SqlValue[]>, tail?: string) =>
      withClient((client) => on(client, 0).writeRows<T>(table, columns, rows, tail)),
    writeNumberedRows: (table, column, columns, rows) => withClient((client) => on(client, 0).writeNumberedRows(table, column, columns, rows)),
    updateRows: (table, key, columns, rows, expected) => withClient((client) => on(client, 0).updateRows(table, key, columns, rows, expected)),
    transaction: (fn, options) =>
      (options?.concurrently ? <T>(task: () => Promise<T>) => task() : inTurn)(() =>
        withClient(async (client) => {
          // Held, BEGIN goes with the first statement; a transaction that sends nothing sends no BEGIN.
          const held: HeldWrites | undefined = options?.holdWrites ? { texts: ['BEGIN'], sent: false } : undefined;
          if (held === undefined) await client.query('BEGIN');
          const written: Written = { tables: new Set() };
          try {
            const result = await fn(on(client, 1, written, held));
            if (held === undefined) await client.query('COMMIT');
            // Held and never sent, with nothing but the BEGIN: nothing to commit.
            else if (held.sent || held.texts.length > 1) {
              const text = [...held.texts, 'COMMIT'].join(';\n');
              held.sent = true;
              await client.query(text);
            }
            if (written.tables === 'every table' || written.tables.size > 0) changes.committed(written.tables);
            return result;
          } catch (error) {
            if (held !== undefined && !held.sent) throw error;
            await client.query('ROLLBACK').catch(() => {
              throw new UnusableConnectionError(error);
            });
            throw error;
          }
        }),
      ),
    close: () => inTurn(async () => void (await Promise.all([connection.release(), planOnce?.release()]))),
  };
};

class UnusableConnectionError extends Error {
  constructor(override readonly cause: unknown) {
    super('The connection could not roll back');
  }
}

/** The schema each connection last set, so that a borrowed pool shared with other schemas works. */
const schemaOfConnection = new WeakMap<pg.PoolClient, string>();

const useSchema = async (client: pg.PoolClient, schema: string, quotedSchema: string) => {
  if (schemaOfConnection.get(client) === schema) return;
  await client.query(`SET search_path TO ${quotedSchema}`);
  schemaOfConnection.set(client, schema);
};
