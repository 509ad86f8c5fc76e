/**
 * Turns at a SQLite file's write lock, among the connections of this process.
 *
 * SQLite lets one connection write a file at a time; another that wants to waits in its busy
 * handler, which sleeps the thread in steps of 1 to 100 ms. By default the event store and the
 * read models share one file, and the event store commits on a thread of its own
 * (sqliteWriter.ts): a read-model transaction begun on the main thread during one of its commits
 * held the main thread asleep, with every request behind it. Under a load of captures, beginning
 * those transactions took 17.5% of the main thread's time, against 9.8% before the writer thread.
 *
 * So the connections of one process that write a file take turns here first, and wait for their
 * turn without holding their thread. Connections of other processes still meet SQLite's busy
 * handler, as before.
 */
import path from 'node:path';

interface Turns {
  held: boolean;
  /** The turn held is a long one (`WriteTurnOptions.long`): those waiting wait on past their timeout. */
  long: boolean;
  waiting: Waiter[];
}

interface Waiter {
  given(): void;
  /** Counts the timeout again from now. */
  rearm(): void;
}

export interface WriteTurnOptions {
  /**
   * A turn known to be long, that ends by itself (a rebuild's copy into the read database, in one
   * transaction: seconds to tens of seconds): the other writers of this process wait for it
   * however long it takes, instead of failing after their timeout with SQLITE_BUSY. The turn's
   * work must not wait for another turn of the same file: it would wait for itself forever.
   */
  long?: boolean;
}

const byFile = new Map<string, Turns>();

/**
 * How long every connection here waits for a file's write lock (SQLite's `busy_timeout`), and for
 * its turn: long enough to outwait another connection's write, short enough to surface a stuck
 * writer.
 */
export const BUSY_TIMEOUT_MS = 5000;

/** A turn not given within the wait SQLite's busy handler would allow: refused as SQLite refuses. */
export class WriteTurnTimeoutError extends Error {
  override readonly name = 'WriteTurnTimeoutError';
  readonly code = 'SQLITE_BUSY';
  constructor(filename: string, timeoutMs: number) {
    super(`database is locked: no turn to write ${filename} within ${timeoutMs} ms`);
  }
}

/**
 * Runs `work` once no other connection of this process writes `filename` (':memory:' is its
 * connection's own: no turn), and gives the turn to the next one when it settles. First come,
 * first served. A turn not given within `timeoutMs` fails, as SQLite's busy timeout does, so that
 * a caller waiting for itself gets an error and not a hang; behind a long turn (`options.long`),
 * the timeout counts from its end.
 */
export const inTurnToWrite = async <T>(
  filename: string,
  timeoutMs: number,
  work: () => Promise<T>,
  { long = false }: WriteTurnOptions = {},
): Promise<T> => {
  if (filename === ':memory:') return work();
  const key = path.resolve(filename);
  let turns = byFile.get(key);
  if (turns === undefined) {
    turns = { held: false, long: false, waiting: [] };
    byFile.set(key, turns);
  }
  const mine = turns;
  if (mine.held) {
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        given: () => {
          clearTimeout(timer);
          resolve();
        },
        rearm: () => {
          clearTimeout(timer);
          timer = setTimeout(expire, timeoutMs);
        },
      };
      const expire = () => {
        // Behind a long turn, waited for on: the timeout counts again once it ends.
        if (mine.long) return waiter.rearm();
        mine.waiting.splice(mine.waiting.indexOf(waiter), 1);
        reject(new WriteTurnTimeoutError(filename, timeoutMs));
      };
      let timer = setTimeout(expire, timeoutMs);
      mine.waiting.push(waiter);
    });
  }
  mine.held = true;
  mine.long = long;
  try {
    return await work();
  } finally {
    if (mine.long) {
      mine.long = false;
      for (const waiter of mine.waiting) waiter.rearm();
    }
    const next = mine.waiting.shift();
    if (next) next.given();
    else {
      mine.held = false;
      byFile.delete(key);
    }
  }
};
