/**
 * Requests to a worker thread that answers each by its id: the SQLite event store's writer thread,
 * the report thread and the projections' thread. The thread starts at the first request, is
 * referenced only while a request is out (an idle one holds no process up), and when it stops,
 * every request out fails. Also how every thread of ours is started: its module
 * (`startThreadModule`) and its node options (`threadExecArgv`).
 */
import { Worker } from 'node:worker_threads';

const compiledEntries = new Map<string, string>();

/**
 * Starts the thread whose module is `entry`: as it is when it is JavaScript (tsc's output, the
 * bundle), or, when it is TypeScript (tsx, vitest), compiled here once per process into one
 * CommonJS text the thread runs: a worker does not inherit the loader that runs this TypeScript.
 * Registering tsx in the thread instead took about 330 ms a thread; this takes about 90 ms once,
 * then 60 ms a thread. `requiredByPath` are modules left out of that text and required by the
 * path given (a native driver, which the text has no place to resolve from).
 */
export const startThreadModule = (entry: string, workerData: unknown, requiredByPath: Readonly<Record<string, string>> = {}): Worker => {
  if (!entry.endsWith('.ts')) return new Worker(entry, { execArgv: threadExecArgv(), workerData });
  let source = compiledEntries.get(entry);
  if (source === undefined) {
    // esbuild is a development dependency, as tsx is: only a TypeScript entry comes here.
    const esbuild = require('esbuild') as typeof import('esbuild');
    source = esbuild.buildSync({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      external: Object.keys(requiredByPath),
      write: false,
      logLevel: 'error',
    }).outputFiles[0]!.text;
    for (const [name, at] of Object.entries(requiredByPath)) source = source.replaceAll(`require(${JSON.stringify(name)})`, `require(${JSON.stringify(at)})`);
    compiledEntries.set(entry, source);
  }
  return new Worker(source, { eval: true, execArgv: threadExecArgv(), workerData });
};

const PROFILE_FLAGS = ['--cpu-prof', '--cpu-prof-dir', '--cpu-prof-interval'];

/**
 * The node options a thread started by this process gets: of the process's own, only those that
 * profile it (`--cpu-prof`, `--cpu-prof-dir`, `--cpu-prof-interval`), so that `node --cpu-prof`
 * writes a profile for each thread too, the rebuild's second core included. No other: under tsx
 * the process's options load its loader, which a thread does not need (see `startThreadModule`).
 */
export const threadExecArgv = (execArgv: readonly string[] = process.execArgv): string[] => {
  const kept: string[] = [];
  for (let index = 0; index < execArgv.length; index++) {
    const arg = execArgv[index]!;
    const [name] = arg.split('=', 1);
    if (!PROFILE_FLAGS.includes(name!)) continue;
    kept.push(arg);
    // `--cpu-prof-dir /tmp/p`: the value is the next argument.
    if (name !== '--cpu-prof' && !arg.includes('=') && index + 1 < execArgv.length) kept.push(execArgv[++index]!);
  }
  return kept;
};

export interface ThreadRequests {
  /** The thread, started if it is not running. */
  thread(): Worker;
  /** The thread if it is running; starts none. */
  running(): Worker | undefined;
  /** Posts `message(id)`; settles as `settle` says of the answer of that id. */
  ask<T>(message: (id: number) => unknown): Promise<T>;
  /** Fails every request out with `error` and forgets the thread (whoever calls it stops it). */
  failAll(error: unknown): void;
  /**
   * Posts `message`, which tells the thread to end, and resolves once it has exited. Messages are
   * taken in order: every request sent before is answered first. Nothing when no thread runs.
   */
  closeWith(message: unknown): Promise<void>;
}

export const threadRequests = <Answer extends { id: number }>(options: {
  /** Starts the thread (may throw: a store closed). */
  start(): Worker;
  /** Names the thread in the error of the requests out when it stops: "The report thread". */
  name: string;
  /** What the request of `answer.id` settles with; called for every answer, the request's or not. */
  settle(answer: Answer): { value: unknown } | { error: unknown };
}): ThreadRequests => {
  let worker: Worker | undefined;
  let nextId = 0;
  const waiting = new Map<number, { resolve(result: unknown): void; reject(error: unknown): void }>();

  const failAll = (error: unknown) => {
    worker = undefined;
    for (const waiter of waiting.values()) waiter.reject(error);
    waiting.clear();
  };
  const thread = (): Worker => {
    if (worker) return worker;
    const started = options.start();
    started.on('message', (answer: Answer) => {
      const outcome = options.settle(answer);
      const waiter = waiting.get(answer.id);
      waiting.delete(answer.id);
      if (waiting.size === 0) started.unref();
      if (!waiter) return;
      if ('error' in outcome) waiter.reject(outcome.error);
      else waiter.resolve(outcome.value);
    });
    started.on('error', failAll);
    started.on('exit', (code) => {
      if (worker === started) failAll(new Error(`${options.name} stopped (exit code ${code})`));
    });
    started.unref();
    worker = started;
    return started;
  };
  return {
    thread,
    running: () => worker,
    ask: <T>(message: (id: number) => unknown) => {
      const running = thread();
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        // Held alive while a request is out: whoever awaits it may have nothing else keeping the process up.
        if (waiting.size === 0) running.ref();
        waiting.set(id, { resolve: resolve as (result: unknown) => void, reject });
        running.postMessage(message(id));
      });
    },
    failAll,
    closeWith: async (message) => {
      const running = worker;
      if (!running) return;
      const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
      running.ref();
      running.postMessage(message);
      await exited;
    },
  };
};
