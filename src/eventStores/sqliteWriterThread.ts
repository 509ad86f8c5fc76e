/**
 * The SQLite event store's writer thread (see `openSqliteEventStore`): its own connection to the
 * file, on which it runs each batch of appends it is sent, commit and fsync included, and answers
 * each append's outcome.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type BetterSqlite3 from 'better-sqlite3';
import { createAppendWriter } from './sqliteAppends';
import type { WriterThreadData, WriterThreadMessage } from './sqliteWriter';

const data = workerData as WriterThreadData;
// The driver by the path the main thread resolved: the thread may have been started from source
// text, with no module of its own to resolve from.
const Database = require(data.driver) as typeof BetterSqlite3;
const db = new Database(data.filename, { fileMustExist: true });
db.pragma(`busy_timeout = ${data.busyTimeoutMs}`);
db.pragma(`synchronous = ${data.synchronous}`);
const write = createAppendWriter(db);

parentPort!.on('message', (message: WriterThreadMessage) => {
  switch (message.kind) {
    case 'write':
      parentPort!.postMessage({ id: message.id, outcomes: write(message.batch) });
      break;
    case 'close':
      db.close();
      parentPort!.close();
      break;
  }
});
