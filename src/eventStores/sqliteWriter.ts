/**
 * Where the SQLite event store's group commits run.
 *
 * better-sqlite3 is synchronous: a commit holds its thread for the inserts, the savepoints and the
 * fsync that makes it durable. On the main thread that was a fifth of an API's time under a load
 * of captures (`node --cpu-prof` of `npm run bench -- --only captureLead`), time in which no
 * request was parsed, no answer sent, no read model written. So a store on a file writes on a
 * thread of its own, with its own connection (`sqliteWriterThread.ts`), and the main thread only
 * hands it each batch and takes its answers. A database in memory belongs to its connection: it
 * is written on the calling thread, by the same code (`createAppendWriter`).
 *
 * What the caller is told does not change: an append is answered once its commit is durable, and
 * its failure is the error it was (a conflict, SQLite's error with its code). Only one batch is
 * out at a time: the appends asked meanwhile wait for the next, which they share.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { startThreadModule, threadRequests } from '../core/threadRequests';
import { createAppendWriter, fromWriteFailure, type AppendWrite, type WriteOutcome } from './sqliteAppends';

export interface AppendWriter {
  /** Each append's outcome, once the batch's transaction has committed (or failed). */
  write(batch: readonly AppendWrite[]): Promise<WriteOutcome[]>;
  /** Once every batch handed over is answered; the writing connection is closed. */
  close(): Promise<void>;
}

/** The error a refused append is answered with. */
export const errorOf = (outcome: Extract<WriteOutcome, { ok: false }>): Error => fromWriteFailure(outcome.failure, Database.SqliteError);

/** Writes on the calling thread, on `db`: for a database in memory, which no other connection can open, and a bulk load (see `SqliteEventStore.bulkLoad`). */
export const writeOnThisThread = (db: Database.Database): AppendWriter => {
  const write = createAppendWriter(db);
  return {
    write: async (batch) => write(batch),
    close: async () => undefined,
  };
};

export interface WriterThreadData {
  filename: string;
  synchronous: 'FULL' | 'NORMAL';
  busyTimeoutMs: number;
  /** better-sqlite3's path, as the main thread resolves it. */
  driver: string;
}

export type WriterThreadMessage =
  | { kind: 'write'; id: number; batch: readonly AppendWrite[] }
  | { kind: 'close' };

/** The thread's module, as this one is loaded: TypeScript (tsx, the tests) or JavaScript (tsc's output, the bundle). */
const ENTRY = path.join(__dirname, `sqliteWriterThread${path.extname(__filename)}`);

/**
 * Writes on a thread of its own, with its own connection to `filename` (which must exist, its
 * schema made). The thread starts at the first write, and is unreferenced while no batch is out,
 * so an idle store holds no process up.
 */
export const writeOnAThread = (options: Omit<WriterThreadData, 'driver'>): AppendWriter => {
  let stopped: Promise<void> | undefined;
  const requests = threadRequests<{ id: number; outcomes: WriteOutcome[] }>({
    name: "The event store's writer thread",
    start: () => {
      if (stopped) throw new Error('The event store is closed');
      return startThreadModule(ENTRY, { ...options, driver: require.resolve('better-sqlite3') } satisfies WriterThreadData);
    },
    // A batch out when the thread dies may or may not have committed: its appends fail, and a
    // retry with the same event ids is answered as the first (see `resultOfRetriedAppend`).
    settle: ({ outcomes }) => ({ value: outcomes }),
  });

  return {
    write: (batch) => requests.ask((id) => ({ kind: 'write', id, batch }) satisfies WriterThreadMessage),
    close() {
      // Every batch sent is answered before the thread closes its connection.
      stopped ??= requests.closeWith({ kind: 'close' } satisfies WriterThreadMessage);
      return stopped;
    },
  };
};
