/**
 * A SQLite read database whose statements run on a thread of their own: the projection runner's
 * connection in an API (`openApplication`).
 *
 * better-sqlite3 is synchronous: on the main thread, every statement, BEGIN and COMMIT of the
 * projections held the thread that parses requests and sends answers. Under a load of captures
 * (issue 11, goal 1) that thread was the bottleneck, and a fifth of it went to the read models' SQL
 * and their commits, while the machine's other core was a third idle. Here the main thread only
 * hands the statements over (`sqliteOnAThreadEntry.ts` runs them, through the same code as
 * `openSqliteDatabase`) and takes the answers.
 *
 * What a caller sees does not change: the same port, the same errors (SQLite's, with their codes),
 * statements in the order called, one transaction at a time, changes counted once committed
 * (readModelChanges.ts), and this process's writers of the file taking turns (sqliteWriteTurns.ts).
 * Two things make it cheap:
 * - a transaction that holds writes (`TransactionOptions.holdWrites`: the runner's batches) sends
 *   its writes with the next statement that answers something, or with the COMMIT, as
 *   PostgreSQL's does: a batch of captures is one message, BEGIN to COMMIT;
 * - the file's write turn is taken when the transaction's first message goes, not when it opens,
 *   so the projections' own work (JavaScript, on the main thread) keeps no append of the event
 *   store waiting, and given up once its COMMIT is sent (below); BEGIN IMMEDIATE goes with that
 *   first message.
 *
 * Only for a file: a database in memory is its connection's own, and another thread would open
 * an empty one.
 */
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { startThreadModule, threadRequests } from '../src/core/threadRequests';
import { BUSY_TIMEOUT_MS, inTurnToWrite } from '../src/eventStores/sqliteWriteTurns';
import { readModelChangesOf } from './readModelChanges';
import { checkpointOnAThread } from './sqliteCheckpointThread';
import { UnexpectedChangesError, type ExpectedChanges, type ReadOptions, type SqlDatabase, type SqlValue, type TransactionOptions } from './sqlDatabase';

/** What the thread is started with. */
export interface ThreadData {
  filename: string;
  /** better-sqlite3's path, as the main thread resolves it. */
  driver: string;
}

type Rows = ReadonlyArray<readonly SqlValue[]>;

/** A statement, or a step of a transaction, as the thread runs it. */
export type ThreadOp =
  | { op: 'run' | 'all' | 'get'; sql: string; params: readonly SqlValue[] }
  | { op: 'write'; sql: string; params: readonly SqlValue[]; expected?: ExpectedChanges }
  | { op: 'exec'; sql: string }
  | { op: 'insertRows'; table: string; columns: readonly string[]; rows: Rows }
  | { op: 'writeRows'; table: string; columns: readonly string[]; rows: Rows; tail?: string }
  | { op: 'writeNumberedRows'; table: string; column: string; columns: readonly string[]; rows: Rows }
  | { op: 'updateRows'; table: string; key: string; columns: readonly string[]; rows: Rows; expected?: ExpectedChanges }
  /** Opens the transaction of this depth: 1 is BEGIN IMMEDIATE, deeper ones savepoints. */
  | { op: 'begin' | 'commit' | 'rollback'; depth: number }
  | { op: 'attach'; file: string; alias: string }
  | { op: 'detach'; alias: string }
  /** Reads, and sets when `pages` is given, the connection's automatic checkpoint threshold. */
  | { op: 'autocheckpoint'; pages?: number };

export type ThreadMessage = { kind: 'ops'; id: number; ops: readonly ThreadOp[] } | { kind: 'close' };

/** The outcome of a message's last op, or the error of the op that failed (the rest not run); and the tables committed meanwhile. */
export interface ThreadAnswer {
  id: number;
  result?: unknown;
  error?: { message: string; name: string; code?: string; sqlite: boolean };
  committed: Array<string[] | 'every table'>;
}

/** The thread's module, as this one is loaded: TypeScript (tsx, the tests) or JavaScript (tsc's output, the bundle). */
const ENTRY = path.join(__dirname, `sqliteOnAThreadEntry${path.extname(__filename)}`);

/** The error the thread described, as the connection on this thread would have thrown it. */
const errorOf = ({ message, name, code, sqlite }: NonNullable<ThreadAnswer['error']>): Error => {
  if (sqlite && code !== undefined) return new Database.SqliteError(message, code);
  if (name === 'UnexpectedChangesError') return new UnexpectedChangesError(message);
  const error = new Error(message);
  error.name = name;
  if (code !== undefined) Object.assign(error, { code });
  return error;
};

/** Writes that answer nothing, which a transaction holding writes sends with its next message. */
const answersNothing = (op: ThreadOp): boolean =>
  op.op === 'write' ||
  op.op === 'insertRows' ||
  op.op === 'writeNumberedRows' ||
  (op.op === 'updateRows' && op.expected !== undefined) ||
  (op.op === 'writeRows' && !/\bRETURNING\b/i.test(op.tail ?? ''));

/** What `answersNothing` ops resolve with: `write` and the rest answer undefined, `writeRows` no rows. */
const nothingFor = (op: ThreadOp): unknown => (op.op === 'writeRows' || op.op === 'updateRows' ? [] : undefined);

export const openSqliteDatabaseOnAThread = (filename: string): SqlDatabase => {
  if (filename === ':memory:') throw new Error('A database in memory cannot be opened on another thread');
  const changes = readModelChangesOf(filename);
  let closed: Promise<void> | undefined;
  const requests = threadRequests<ThreadAnswer>({
    name: "The read database's thread",
    start: () => {
      if (closed) throw new Error('The read database is closed');
      const driver = require.resolve('better-sqlite3');
      return startThreadModule(ENTRY, { filename, driver } satisfies ThreadData, { 'better-sqlite3': driver });
    },
    settle: (answer) => {
      // Counted before anyone hears of the commit: a report asked after it must not be answered from before it.
      for (const tables of answer.committed) changes.committed(tables === 'every table' ? tables : new Set(tables));
      return answer.error !== undefined ? { error: errorOf(answer.error) } : { value: answer.result };
    },
  });
  const start = requests.thread;
  /** Sends ops to run in order; answers the last one's outcome. */
  const send = (ops: readonly ThreadOp[]): Promise<unknown> => requests.ask((id) => ({ kind: 'ops', id, ops }) satisfies ThreadMessage);

  // One caller at a time, as on a connection of this thread (see `sqlDatabaseOn`): two
  // transactions never interleave, and a plain read never sees another's uncommitted rows.
  let tail: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(task: () => Promise<T>): Promise<T> => {
    const run = tail.then(task);
    tail = run.catch(() => undefined);
    return run;
  };
  const inTurn = <T>(work: () => Promise<T>, options?: TransactionOptions): Promise<T> =>
    inTurnToWrite(filename, BUSY_TIMEOUT_MS, work, options);

  /** The port over `call`, which runs one op (and whatever was held before it). */
  const portOver = (call: (op: ThreadOp) => Promise<unknown>, transaction: SqlDatabase['transaction']): SqlDatabase => ({
    dialect: 'sqlite',
    run: (sql, params = []) => call({ op: 'run', sql, params }) as Promise<{ changes: number }>,
    write: (sql, params = [], expected) => call({ op: 'write', sql, params, ...(expected === undefined ? {} : { expected }) }) as Promise<void>,
    all: <T>(sql: string, params: readonly SqlValue[] = [], _options?: ReadOptions) => call({ op: 'all', sql, params }) as Promise<T[]>,
    get: <T>(sql: string, params: readonly SqlValue[] = []) => call({ op: 'get', sql, params }) as Promise<T | undefined>,
    exec: (sql) => call({ op: 'exec', sql }) as Promise<void>,
    insertRows: (table, columns, rows) => call({ op: 'insertRows', table, columns, rows: [...rows] }) as Promise<void>,
    writeRows: <T>(table: string, columns: readonly string[], rows: Rows, tail?: string) =>
      call({ op: 'writeRows', table, columns, rows, ...(tail === undefined ? {} : { tail }) }) as Promise<T[]>,
    writeNumberedRows: (table, column, columns, rows) => call({ op: 'writeNumberedRows', table, column, columns, rows }) as Promise<void>,
    updateRows: (table, key, columns, rows, expected) =>
      call({ op: 'updateRows', table, key, columns, rows, ...(expected === undefined ? {} : { expected }) }) as Promise<string[]>,
    transaction,
    close: () => Promise.reject(new Error('Close the database, not one of its transactions')),
  });

  /**
   * A transaction's ops: `pending` are those not sent yet (its BEGIN first); `holding` whether its
   * writes that answer nothing wait there for the next message. Its first message takes the file's
   * write turn (`takeTurn`).
   */
  interface Open {
    pending: ThreadOp[];
    holding: boolean;
    /** Asked for by the first message; every message awaits it, so that they go in the order called. */
    turn?: Promise<void>;
    /** The thread its first message went to: were it to stop, its transaction is gone with it. */
    thread?: Worker;
    takeTurn(): Promise<void>;
  }
  const flushWith = async (open: Open, op: ThreadOp | undefined, posted?: () => void): Promise<unknown> => {
    const ops = open.pending.splice(0);
    if (op !== undefined) ops.push(op);
    if (ops.length === 0) return undefined;
    // Calls of one transaction may overlap (`Promise.all` of two reads): one turn for all of them.
    open.turn ??= open.takeTurn();
    await open.turn;
    // A thread that stopped rolled the transaction back: what follows must not run on a new one, outside it.
    const thread = start();
    if ((open.thread ??= thread) !== thread) throw new Error("The read database's thread stopped during a transaction");
    const answer = send(ops);
    posted?.();
    return answer;
  };
  const scopeOf = (open: Open, depth: number): SqlDatabase =>
    portOver(
      (op) => {
        if (open.holding && answersNothing(op)) {
          open.pending.push(op);
          return Promise.resolve(nothingFor(op));
        }
        return flushWith(open, op);
      },
      // A savepoint: its writes are sent before it begins, so that a rollback to it drops only its own.
      async (fn) => {
        await flushWith(open, { op: 'begin', depth: depth + 1 });
        let result;
        try {
          result = await fn(scopeOf(open, depth + 1));
        } catch (error) {
          open.pending.length = 0;
          await flushWith(open, { op: 'rollback', depth: depth + 1 }).catch(() => undefined);
          throw error;
        }
        await flushWith(open, { op: 'commit', depth: depth + 1 });
        return result;
      },
    );

  const root = portOver(
    (op) => {
      if (op.op === 'all' || op.op === 'get') return exclusive(() => send([op]));
      return exclusive(() => inTurn(() => send([op])));
    },
    (fn, options) =>
      exclusive(async () => {
        // The turn is taken at the first message, and given back once the COMMIT is sent (below),
        // or once the transaction has ended otherwise.
        let turnTaken: (() => void) | undefined;
        let turnEnded!: () => void;
        const turnOver = new Promise<void>((resolve) => (turnEnded = resolve));
        let turnHeld: Promise<unknown> | undefined;
        const open: Open = {
          pending: [{ op: 'begin', depth: 1 }],
          holding: options?.holdWrites === true,
          takeTurn: () =>
            new Promise<void>((resolve, reject) => {
              turnTaken = resolve;
              turnHeld = inTurn(() => {
                turnTaken?.();
                return turnOver;
              }, options).catch(reject);
            }),
        };
        try {
          let result;
          try {
            result = await fn(scopeOf(open, 1));
          } catch (error) {
            open.pending.length = 0;
            // The error is the transaction's; a rollback that fails too (the thread gone) adds nothing to it.
            if (open.turn !== undefined) await send([{ op: 'rollback', depth: 1 }]).catch(() => undefined);
            throw error;
          }
          try {
            // The turn is given up once the COMMIT is on its way, not once it is answered: the
            // thread ends the transaction without this one, so a writer that goes next waits for
            // it in SQLite's busy handler for a moment (a millisecond), where its answer would
            // first wait for this thread's turn to read it (tens of milliseconds under load). Not
            // so for a long transaction (a rebuild's copy), whose COMMIT may take seconds: the
            // others wait for its end in their turn, which has no timeout behind a long one.
            await flushWith(open, { op: 'commit', depth: 1 }, options?.long ? undefined : turnEnded);
          } catch (error) {
            // SQLite rolls back by itself after some failures; the thread ends what is still open.
            await send([{ op: 'rollback', depth: 1 }]).catch(() => undefined);
            throw error;
          }
          return result;
        } finally {
          turnEnded();
          await turnHeld;
        }
      }),
  );

  return {
    ...root,
    // ATTACH and DETACH cannot run inside a transaction: they go through the queue between them.
    withAttached: async (file, alias, fn) => {
      await exclusive(() => send([{ op: 'attach', file, alias }]));
      try {
        return await fn();
      } finally {
        await exclusive(() => send([{ op: 'detach', alias }]));
      }
    },
    checkpointingElsewhere: (() => {
      let checkpointsElsewhere = 0;
      let automaticPages = 0;
      return async <T>(fn: () => Promise<T>): Promise<T> => {
        if (checkpointsElsewhere++ === 0) {
          automaticPages = (await exclusive(() => send([{ op: 'autocheckpoint' }]))) as number;
          await exclusive(() => send([{ op: 'autocheckpoint', pages: 0 }]));
        }
        try {
          return await fn();
        } finally {
          await checkpointOnAThread(filename).catch(() => undefined);
          if (--checkpointsElsewhere === 0 && !closed) await exclusive(() => send([{ op: 'autocheckpoint', pages: automaticPages }]));
        }
      };
    })(),
    close: () =>
      exclusive(async () => {
        // Every message sent is answered before the thread closes its connection.
        closed ??= requests.closeWith({ kind: 'close' } satisfies ThreadMessage);
        return closed;
      }),
  };
};
