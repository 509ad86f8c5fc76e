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
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
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

let compiledEntry: string | undefined;
/**
 * A worker thread does not inherit the loader that runs this TypeScript (tsx, vitest): the entry
 * is compiled here, once per process, into one CommonJS text the thread runs. Registering tsx in
 * the thread instead took about 330 ms a thread; this takes about 90 ms once, then 60 ms a thread.
 */
const entrySource = (): string => {
  if (compiledEntry === undefined) {
    // esbuild is a development dependency, as tsx is: only a TypeScript entry comes here.
    const esbuild = require('esbuild') as typeof import('esbuild');
    compiledEntry = esbuild.buildSync({
      entryPoints: [ENTRY],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      write: false,
      logLevel: 'error',
    }).outputFiles[0]!.text;
  }
  return compiledEntry;
};

/**
 * Writes on a thread of its own, with its own connection to `filename` (which must exist, its
 * schema made). The thread starts at the first write, and is unreferenced while no batch is out,
 * so an idle store holds no process up.
 */
export const writeOnAThread = (options: Omit<WriterThreadData, 'driver'>): AppendWriter => {
  let worker: Worker | undefined;
  let stopped: Promise<void> | undefined;
  let nextId = 0;
  const waiting = new Map<number, { resolve(outcomes: WriteOutcome[]): void; reject(error: unknown): void }>();

  const failAll = (error: unknown) => {
    worker = undefined;
    for (const waiter of waiting.values()) waiter.reject(error);
    waiting.clear();
  };
  const start = (): Worker => {
    if (worker) return worker;
    if (stopped) throw new Error('The event store is closed');
    const data: WriterThreadData = { ...options, driver: require.resolve('better-sqlite3') };
    const typescript = ENTRY.endsWith('.ts');
    const started = new Worker(typescript ? entrySource() : ENTRY, { eval: typescript, execArgv: [], workerData: data });
    started.on('message', ({ id, outcomes }: { id: number; outcomes: WriteOutcome[] }) => {
      const waiter = waiting.get(id);
      waiting.delete(id);
      if (waiting.size === 0) started.unref();
      waiter?.resolve(outcomes);
    });
    // A batch out when the thread dies may or may not have committed: its appends fail, and a
    // retry with the same event ids is answered as the first (see `resultOfRetriedAppend`).
    started.on('error', failAll);
    started.on('exit', (code) => {
      if (worker === started) failAll(new Error(`The event store's writer thread stopped (exit code ${code})`));
    });
    started.unref();
    worker = started;
    return started;
  };

  return {
    write(batch) {
      const thread = start();
      const id = nextId++;
      return new Promise((resolve, reject) => {
        // Held alive while a batch is out: whoever awaits it may have nothing else keeping the process up.
        if (waiting.size === 0) thread.ref();
        waiting.set(id, { resolve, reject });
        thread.postMessage({ kind: 'write', id, batch } satisfies WriterThreadMessage);
      });
    },
    close() {
      stopped ??= (async () => {
        const running = worker;
        if (!running) return;
        // Messages are taken in order: every batch sent is answered before the thread closes its connection.
        const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
        running.ref();
        running.postMessage({ kind: 'close' } satisfies WriterThreadMessage);
        await exited;
      })();
      return stopped;
    },
  };
};
