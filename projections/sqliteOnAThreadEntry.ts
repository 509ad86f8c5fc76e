/**
 * The thread of a read database opened by `openSqliteDatabaseOnAThread` (sqliteOnAThread.ts): its
 * own connection to the file, on which it runs the statements it is sent, in order, through the
 * same port code as a connection on the main thread (`sqlDatabaseOn`), and answers each message
 * with the outcome of its last statement and the tables committed meanwhile.
 *
 * A transaction spans messages: `begin` opens it (BEGIN IMMEDIATE, or a savepoint inside one)
 * and the statements that follow run in it until `commit` or `rollback` of the same depth.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type BetterSqlite3 from 'better-sqlite3';
import { openReadModelConnection, sqlDatabaseOn, type SqlDatabase } from './sqlDatabase';
import type { ChangedTables } from './readModelChanges';
import type { ThreadAnswer, ThreadData, ThreadMessage, ThreadOp } from './sqliteOnAThread';

const data = workerData as ThreadData;
const connection = openReadModelConnection(data.filename);
/** The tables each commit of this thread changed, since the last answer: the main thread counts them (readModelChanges.ts). */
let committed: Array<string[] | 'every table'> = [];
const db = sqlDatabaseOn(connection, {
  committed: (tables: ChangedTables) => {
    committed.push(tables === 'every table' ? tables : [...tables]);
  },
});

/** A transaction open on this thread: the scope its statements run in, and how to end it. */
interface Open {
  tx: SqlDatabase;
  end(commit: boolean): void;
  ended: Promise<unknown>;
}
/** Open transactions, the innermost last; its depth is the array's length. */
const open: Open[] = [];
const ROLLED_BACK = Symbol('rolled back');

const begin = async (): Promise<void> => {
  const outer = open[open.length - 1]?.tx ?? db;
  let end!: (commit: boolean) => void;
  const decided = new Promise<boolean>((resolve) => (end = resolve));
  let entered!: (tx: SqlDatabase) => void;
  const inside = new Promise<SqlDatabase>((resolve) => (entered = resolve));
  const ended = outer.transaction(async (tx) => {
    entered(tx);
    if (!(await decided)) throw ROLLED_BACK;
  });
  // BEGIN itself may fail (SQLITE_BUSY once the busy timeout ran out): then no scope was entered.
  const failedToBegin = ended.then(() => Promise.reject(new Error('A transaction ended before it began')));
  failedToBegin.catch(() => undefined);
  const tx = await Promise.race([inside, failedToBegin]);
  open.push({ tx, end, ended });
};

const end = async (depth: number, commit: boolean): Promise<void> => {
  // A transaction whose BEGIN failed, or that SQLite already rolled back with its scope: nothing to end.
  if (open.length < depth) return;
  const { end: decide, ended } = open.pop()!;
  decide(commit);
  await ended.catch((error: unknown) => {
    if (error !== ROLLED_BACK) throw error;
  });
};

const run = (op: ThreadOp): Promise<unknown> => {
  const scope = open[open.length - 1]?.tx ?? db;
  switch (op.op) {
    case 'run':
      return scope.run(op.sql, op.params);
    case 'write':
      return scope.write(op.sql, op.params, op.expected);
    case 'all':
      return scope.all(op.sql, op.params);
    case 'get':
      return scope.get(op.sql, op.params);
    case 'exec':
      return scope.exec(op.sql);
    case 'insertRows':
      return scope.insertRows(op.table, op.columns, op.rows);
    case 'writeRows':
      return scope.writeRows(op.table, op.columns, op.rows, op.tail);
    case 'writeNumberedRows':
      return scope.writeNumberedRows(op.table, op.column, op.columns, op.rows);
    case 'updateRows':
      return scope.updateRows(op.table, op.key, op.columns, op.rows, op.expected);
    case 'begin':
      return begin();
    case 'commit':
      return end(op.depth, true);
    case 'rollback':
      return end(op.depth, false);
    case 'attach':
      connection.prepare(`ATTACH DATABASE ? AS "${op.alias.replace(/"/g, '""')}"`).run(op.file);
      return Promise.resolve();
    case 'detach':
      connection.exec(`DETACH DATABASE "${op.alias.replace(/"/g, '""')}"`);
      // Whatever was copied from the attached file: any report may have changed.
      committed.push('every table');
      return Promise.resolve();
    case 'autocheckpoint':
      if (op.pages !== undefined) connection.pragma(`wal_autocheckpoint = ${op.pages}`);
      return Promise.resolve(connection.pragma('wal_autocheckpoint', { simple: true }));
  }
};

const errorOf = (error: unknown): ThreadAnswer['error'] => {
  const { message, name, code } = (error ?? {}) as { message?: unknown; name?: unknown; code?: unknown };
  return {
    message: typeof message === 'string' ? message : String(error),
    name: typeof name === 'string' ? name : 'Error',
    ...(typeof code === 'string' ? { code } : {}),
    sqlite: error instanceof (require(data.driver) as typeof BetterSqlite3).SqliteError,
  };
};

/** Each message in turn: a transaction's statements must never interleave with the next message's. */
let queue: Promise<void> = Promise.resolve();
parentPort!.on('message', (message: ThreadMessage) => {
  queue = queue.then(async () => {
    if (message.kind === 'close') {
      if (connection.open) connection.close();
      parentPort!.close();
      return;
    }
    let answer: ThreadAnswer;
    try {
      let result: unknown;
      // The rest of a message is not run once a statement failed: the caller ends the transaction.
      for (const op of message.ops) result = await run(op);
      answer = { id: message.id, result, committed };
    } catch (error) {
      answer = { id: message.id, error: errorOf(error), committed };
    }
    committed = [];
    parentPort!.postMessage(answer);
  });
});
