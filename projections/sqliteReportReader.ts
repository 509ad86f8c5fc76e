/**
 * Report queries on a SQLite read database, run on a thread of their own. better-sqlite3 is
 * synchronous: a KPI report over a large history (hundreds of milliseconds of SQL on a million
 * events) would otherwise hold the main thread, and every capture, every answer and the
 * projections behind it would wait. On this thread, with its own read-only connection, the
 * main thread goes on meanwhile, on the machine's other core.
 *
 * Only reads: `all` and `get`, of text, numbers and null (the rows come back as JSON: no BLOB
 * column is read by a report). Each statement sees what was committed when it started, as on any
 * other connection of the file (WAL), so a report asked after a mutation answered sees it.
 * Statements are run one after the other, in the order asked. The thread starts on the first
 * query and stays until `close`, unreferenced while idle, so an idle reader holds no process up.
 *
 * The thread runs plain CommonJS given as text, as `src/personalData/openerThread.ts` does, and
 * loads better-sqlite3 from the path this module resolves.
 */
import { Worker } from 'node:worker_threads';
import { threadExecArgv, threadRequests } from '../src/core/threadRequests';
import { BUSY_TIMEOUT_MS } from '../src/eventStores/sqliteWriteTurns';
import { rowBuilderOf, type SqlDatabase, type SqlValue } from './sqlDatabase';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.filename, { readonly: true, fileMustExist: true });
db.pragma('busy_timeout = ' + workerData.busyTimeoutMs);
db.pragma('cache_size = -' + workerData.cacheKib);
const statements = new Map();
parentPort.on('message', ({ id, method, sql, params }) => {
  try {
    let statement = statements.get(sql);
    if (statement === undefined) {
      statement = db.prepare(sql);
      if (statements.size >= 500) statements.delete(statements.keys().next().value);
      statements.set(sql, statement);
    }
    // Rows as arrays, the column names once: less to build here and to copy to the main thread.
    const columns = statement.columns().map((column) => column.name);
    statement.raw(true);
    const result = method === 'get' ? statement.get(...params) : statement.all(...params);
    if (method === 'all' && result.length > workerData.chunkRows) {
      // A long answer in parts, each parsed on the main thread in a turn of its own.
      const chunks = [];
      for (let at = 0; at < result.length; at += workerData.chunkRows) chunks.push(JSON.stringify(result.slice(at, at + workerData.chunkRows)));
      parentPort.postMessage({ id, columns, chunks });
    } else {
      parentPort.postMessage({ id, columns, json: result === undefined ? undefined : JSON.stringify(result), one: method === 'get' });
    }
  } catch (error) {
    parentPort.postMessage({ id, error: { message: String(error && error.message || error), code: error && error.code } });
  }
});
`;

/**
 * The report connection's page cache. SQLite's default, 2 MiB, holds a sliver of the fact tables
 * of a large history, and a report over all of it reads most pages back from the file cache: the
 * lead funnel's SQL over 114,000 lead cycles took 190 ms with it, 112 ms with 32 MiB, 94 ms with
 * 64 MiB. 32 MiB: with 64, the API under the insights bench's load peaked at 297 MiB resident,
 * against a budget of 300 (issue 11).
 */
const REPORT_CACHE_KIB = 32 * 1024;

/** A read on the report thread failed: SQLite's message and code, as the main thread's connection would have thrown them. */
export class ReportQueryError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'ReportQueryError';
  }
}

/**
 * The most rows an answer is parsed in at once on the main thread; a longer one comes in parts of
 * this many, a turn of the event loop between each. Parsed in one go, the 37,175 KPI fact versions
 * of a quarter on the insights history (what `kpiRestatements` reads) held the main thread for
 * 70 to 100 ms: about 2.5 us a row of 19 columns, so a part is some 10 ms.
 */
export const ANSWER_CHUNK_ROWS = 4_000;

type Rows = { id: number; columns: string[] } & ({ json: string | undefined; one: boolean } | { chunks: string[] });
type Answer = { id: number; error: { message: string; code?: string } } | Rows;

/** The answer as better-sqlite3 gives it on the main thread: an object per row, keyed by column. */
const rowsOf = (answer: Exclude<Rows, { chunks: string[] }>): unknown => {
  if (answer.json === undefined) return undefined;
  const toRow = rowBuilderOf(answer.columns);
  const parsed = JSON.parse(answer.json) as unknown[];
  return answer.one ? toRow(parsed) : (parsed as unknown[][]).map(toRow);
};

/** A long answer's rows, its parts parsed one by one with a turn of the event loop after each. */
export const rowsOfParts = async (columns: string[], chunks: readonly string[]): Promise<unknown[]> => {
  const toRow = rowBuilderOf(columns);
  const rows: unknown[] = [];
  for (const chunk of chunks) {
    for (const values of JSON.parse(chunk) as unknown[][]) rows.push(toRow(values));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return rows;
};

export const openSqliteReportReader = (filename: string, { chunkRows = ANSWER_CHUNK_ROWS }: { chunkRows?: number } = {}): SqlDatabase => {
  // Answers are given in the order asked: while a long answer is parsed part by part, the answers
  // after it wait for it.
  let parsing = 0;
  let parsed: Promise<unknown> = Promise.resolve();
  const inOrder = (answer: Rows): unknown => {
    const parse = () => ('chunks' in answer ? rowsOfParts(answer.columns, answer.chunks) : rowsOf(answer));
    if (parsing === 0 && !('chunks' in answer)) return parse();
    parsing += 1;
    const rows = parsed.then(parse);
    parsed = rows.then(
      () => (parsing -= 1),
      () => (parsing -= 1),
    );
    return rows;
  };
  const requests = threadRequests<Answer>({
    name: 'The report thread',
    start: () =>
      new Worker(WORKER_SOURCE, {
        eval: true,
        // No loaders: the thread runs plain CommonJS (see openerThread.ts); profiled with the process.
        execArgv: threadExecArgv(),
        workerData: { filename, driver: require.resolve('better-sqlite3'), cacheKib: REPORT_CACHE_KIB, busyTimeoutMs: BUSY_TIMEOUT_MS, chunkRows },
      }),
    settle: (answer) => ('error' in answer ? { error: new ReportQueryError(answer.error.message, answer.error.code) } : { value: inOrder(answer) }),
  });
  const ask = <T>(method: 'all' | 'get', sql: string, params: readonly SqlValue[]): Promise<T> =>
    requests.ask<T>((id) => ({ id, method, sql, params }));

  const readOnly = (): never => {
    throw new Error('The report reader only reads (all, get): write through the read models');
  };

  return {
    dialect: 'sqlite',
    all: <T>(sql: string, params: readonly SqlValue[] = []) => ask<T[]>('all', sql, params),
    get: <T>(sql: string, params: readonly SqlValue[] = []) => ask<T | undefined>('get', sql, params),
    run: async () => readOnly(),
    write: async () => readOnly(),
    exec: async () => readOnly(),
    insertRows: async () => readOnly(),
    writeRows: async () => readOnly(),
    writeNumberedRows: async () => readOnly(),
    updateRows: async () => readOnly(),
    transaction: async () => readOnly(),
    async close() {
      const running = requests.running();
      requests.failAll(new Error('The report reader was closed'));
      if (running) await running.terminate();
    },
  };
};
