/**
 * Read models staged on a second thread: a seed's while the first thread generates the log, and
 * the rebuilds in bulk of a long log (`ProjectionRunner`'s staging thread: an API's, which goes on
 * answering meanwhile, and `npm run replay`'s, which stages on both threads).
 *
 * On the bulk path the read models rest during the generation, and are rebuilt from the log after
 * it (`ProjectionRunner.rebuildAfter`): on one thread, the two took turns, and the rebuild was
 * nearly half of a seed. Here a worker thread opens the log on its own connections and replays it
 * into a staging database as the batches land (`stageInBulk`, following the log until told the
 * writing has ended); the runner then only copies the staged tables over, and catches up on the
 * rest. The rows are those a rebuild after the load writes: the same projections, the same code.
 *
 * Anything that goes wrong on the thread leaves the rebuild to the runner, as without it.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { EventLogOptions } from './eventLog';
import { openStagingDatabase, type HandedOverStaging } from '../../projections/sqlDatabase';
import type { Projection } from '../../projections/projection';
import type { CopyBeside, StageAlongside } from '../../projections/runner';
import { readModelChangesOf } from '../../projections/readModelChanges';
import { BUSY_TIMEOUT_MS, inTurnToWrite } from '../eventStores/sqliteWriteTurns';
import type { GlobalPosition } from '../core/eventStore';
import { threadExecArgv } from '../core/threadRequests';

/** What the thread is given. */
export interface StagingThreadData {
  log: EventLogOptions;
  projections: string[];
  /** Whether the log is still being written: the stage then follows it until told it has ended. */
  followsWriting: boolean;
  /** The log as it was when this was its last event (see `StageAlongside`). */
  upTo?: GlobalPosition;
  /** Whether the thread tells of each page of events it reads (`ReadMessage`) before it answers. */
  reportsReads: boolean;
  /** Whether the stage keeps the indexes as the rows go in, when the log is not being written too. */
  indexesAsStaged?: boolean;
}

/** What the thread tells of a page of events it read, when asked to (`reportsReads`). */
export interface ReadMessage {
  read: number;
}

/** What the thread answers: the staging database handed over, or nothing staged (an empty log). */
export type StagingThreadAnswer = { staged: (HandedOverStaging & { through: GlobalPosition; eventTypes: string[] }) | undefined } | { failed: string };

/** The message that tells the thread the log is written: the stage ends at its end. */
export const WRITING_ENDED = 'writing ended';
/** The message that tells the thread to give up: it answers that nothing was staged. */
export const STOP = 'stop';

/**
 * The thread's module, as this one is loaded: TypeScript through tsx (`npm run seed`, the
 * benches, the tests), or JavaScript as tsc emits it.
 */
const ENTRY = path.join(__dirname, `stagingThreadEntry${path.extname(__filename)}`);

// A worker does not inherit a loader given to the process by a test runner (vitest): the thread
// registers tsx itself when the entry is TypeScript, both its loaders: the modules are CommonJS,
// and load some of theirs with import() (pg, EventStoreDB's client).
const BOOT = `
const { entry } = require('node:worker_threads').workerData;
if (!entry.endsWith('.ts')) require(entry);
else {
  require('tsx/cjs/api').register();
  import('tsx/esm/api').then((tsx) => {
    tsx.register();
    require(entry);
  });
}
`;

/**
 * Stages on a worker thread, from the log that `log` opens. Only for stores another connection
 * can read while this one writes: files and servers, not memory.
 */
export const stageOnAnotherThread =
  (log: EventLogOptions): StageAlongside =>
  (projections, { writingEnded, stopped, upTo, onRead, indexesAsStaged }) => {
    // A database in memory is the connection's own: another thread would open an empty one.
    if ([log.eventStore, log.readStore].some((store) => store.kind === 'sqlite' && store.filename === ':memory:')) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      // Only what opens the log: the rest of a configuration need not be something a thread can be sent.
      const opening: EventLogOptions = { eventStore: log.eventStore, readStore: log.readStore, dataKey: { key: log.dataKey.key } };
      const data: StagingThreadData & { entry: string } = {
        entry: ENTRY,
        log: opening,
        projections: projections.map((projection) => projection.name),
        followsWriting: writingEnded !== undefined,
        upTo,
        reportsReads: onRead !== undefined,
        indexesAsStaged,
      };
      const worker = new Worker(BOOT, { eval: true, execArgv: threadExecArgv(), workerData: data });
      void writingEnded?.then(() => worker.postMessage(WRITING_ENDED));
      void stopped?.then(() => worker.postMessage(STOP));
      const answered = (message: StagingThreadAnswer | ReadMessage) => {
        if ('read' in message) return onRead?.(message.read);
        worker.off('message', answered);
        if ('failed' in message) reject(new Error(`Staging the read models on another thread failed: ${message.failed}`));
        else resolve(message.staged && { staging: openStagingDatabase(message.staged), through: message.staged.through, eventTypes: message.staged.eventTypes });
      };
      worker.on('message', answered);
      worker.once('error', reject);
      // After an answer, this changes nothing.
      worker.once('exit', (code) => reject(new Error(`The staging thread ended (${code}) without an answer`)));
    });
  };

/** What the thread is given to copy a rebuild beside a serving API's old tables (see `CopyBeside`). */
export interface CopyThreadData {
  copy: {
    /** The SQLite read database's file. */
    readFile: string;
    staging: HandedOverStaging;
    projections: string[];
    through: GlobalPosition;
    /** When the checkpoints say they were moved. */
    now: string;
  };
}

/** What the thread answers once it has copied, or why it could not. */
export type CopyThreadAnswer = { copied: true } | { failed: string };

/**
 * Copies a rebuild beside a serving API's old tables on a one-shot thread (the staging thread's
 * module), into the SQLite file `readFile`, for the application's own projections (`known`).
 * The thread holds this process's write turn of the file while it copies: the event store's
 * appends and the other writers wait for it without holding this thread, which goes on answering
 * (reads see the old rows until the commit). Once committed, the reports cached from the file
 * are told that every table changed.
 */
export const copyBesideOnAnotherThread = (readFile: string, known: readonly Projection[]): CopyBeside => ({
  // The thread loads the application's projections: a version of one that is not theirs (a test's) stays here.
  accepts: (projections) =>
    readFile !== ':memory:' && projections.every((projection) => known.some(({ name, version }) => name === projection.name && version === projection.version)),
  copy: async (projections, staged, now) => {
    const data: CopyThreadData & { entry: string } = {
      entry: ENTRY,
      copy: { readFile, staging: staged.staging.handOver(), projections: projections.map((projection) => projection.name), through: staged.through, now },
    };
    await inTurnToWrite(readFile, BUSY_TIMEOUT_MS, () => copyOnTheThread(data), { long: true });
    readModelChangesOf(readFile).committed('every table');
  },
});

const copyOnTheThread = (data: CopyThreadData & { entry: string }): Promise<void> =>
  new Promise((resolve, reject) => {
    const worker = new Worker(BOOT, { eval: true, execArgv: threadExecArgv(), workerData: data });
    worker.once('message', (answer: CopyThreadAnswer) => {
      if ('failed' in answer) reject(new Error(`Copying the rebuilt read models on another thread failed: ${answer.failed}`));
      else resolve();
    });
    worker.once('error', reject);
    // After an answer, this changes nothing.
    worker.once('exit', (code) => reject(new Error(`The copy thread ended (${code}) without an answer`)));
  });
