/**
 * A checkpoint of a SQLite file's WAL (its pages copied back into the file) run on a thread of its
 * own, with a connection of its own, so that the thread which wrote them goes on meanwhile; and,
 * the same way, an erasure's VACUUM (`vacuumOnAThread`, below).
 *
 * Why: after a rebuild's copy beside a serving API (see `SqlDatabase.checkpointingElsewhere`) the
 * WAL holds every page the copy wrote, hundreds of megabytes on the insights history of issue 11,
 * and copying them back took 2.5 to 3 s of the API's own thread in the commit (SQLite's automatic
 * checkpoint), with not even `/healthz` answered meanwhile.
 *
 * First PASSIVE, which copies what it can without waiting for anyone and without keeping any
 * writer out; then TRUNCATE, to empty the WAL file, which has next to nothing left to copy by then
 * but keeps new writers out while it runs, so it does not wait: busy (a report reading an older
 * snapshot, a writer at work), it gives up, and the next write starts the WAL over at its
 * beginning as after any complete checkpoint. The thread runs plain CommonJS given as text, as the
 * report thread does (sqliteReportReader.ts), and ends when done.
 */
import { Worker } from 'node:worker_threads';
import { threadExecArgv } from '../src/core/threadRequests';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.filename, { fileMustExist: true });
try {
  db.pragma('busy_timeout = 0');
  const [passive] = db.pragma('wal_checkpoint(PASSIVE)');
  let truncated = false;
  try {
    const [truncate] = db.pragma('wal_checkpoint(TRUNCATE)');
    truncated = truncate.busy === 0;
  } catch {}
  parentPort.postMessage({ pages: passive.log, copied: passive.checkpointed, truncated });
} finally {
  db.close();
}
`;

export interface CheckpointDone {
  /** Pages in the WAL when it began, and how many of them PASSIVE copied into the file. */
  pages: number;
  copied: number;
  /** Whether the WAL file was emptied too. */
  truncated: boolean;
}

export const checkpointOnAThread = (filename: string): Promise<CheckpointDone> => onAThread<CheckpointDone>(WORKER_SOURCE, filename, {});

/**
 * VACUUM on a thread of its own, then a truncating checkpoint, each waiting up to `busyTimeoutMs`
 * for other connections, as the same statements on the caller's connection would. The caller
 * holds the file's write turn meanwhile (see `compactAfterErasure`): on the insights history of
 * issue 11 (a file of 2 GB) VACUUM took 24.2 s and the checkpoint 0.9 s, which the API's own
 * thread spent asleep, not answering even `/healthz`. Resolves once both are done; rejects with
 * VACUUM's error (SQLite's code kept).
 */
export const vacuumOnAThread = (filename: string, busyTimeoutMs: number): Promise<{ truncated: boolean }> =>
  onAThread<{ truncated: boolean } | { failed: { message: string; code: string | undefined } }>(VACUUM_SOURCE, filename, { busyTimeoutMs }).then((done) => {
    if (!('failed' in done)) return done;
    throw Object.assign(new Error(done.failed.message), { code: done.failed.code });
  });

const VACUUM_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.filename, { fileMustExist: true });
try {
  db.pragma('busy_timeout = ' + workerData.busyTimeoutMs);
  db.exec('VACUUM');
  const [truncate] = db.pragma('wal_checkpoint(TRUNCATE)');
  parentPort.postMessage({ truncated: truncate.busy === 0 });
} catch (error) {
  parentPort.postMessage({ failed: { message: String(error && error.message), code: error && error.code } });
} finally {
  db.close();
}
`;

/** Runs `source` (plain CommonJS) on a one-shot thread, given the file and the driver, and resolves with the one message it posts. */
const onAThread = <T>(source: string, filename: string, data: Record<string, unknown>): Promise<T> =>
  new Promise((resolve, reject) => {
    const worker = new Worker(source, {
      eval: true,
      // No loaders: the thread runs plain CommonJS (see openerThread.ts); profiled with the process.
      execArgv: threadExecArgv(),
      workerData: { ...data, filename, driver: require.resolve('better-sqlite3') },
    });
    let done: { message: T } | undefined;
    worker.once('message', (message: T) => (done = { message }));
    worker.once('error', reject);
    worker.once('exit', (code) => (done ? resolve(done.message) : reject(new Error(`The SQLite thread stopped (exit code ${code})`))));
  });
