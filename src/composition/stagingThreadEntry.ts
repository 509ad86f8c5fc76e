/**
 * The staging thread's side of stagingThread.ts: opens the log, stages the projections it is given
 * from it (as it is written, when it is), and hands the staging database over to the thread that
 * started it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openEventLog } from './eventLog';
import { readModelProjections } from './application';
import { stageInBulk } from '../../projections/bulkRebuild';
import { countingStore, storeUpTo } from '../../projections/tools/storeViews';
import { REBUILD_PAGE_SIZE, projectionHandles } from '../../projections/runner';
import { STOP, WRITING_ENDED, type ReadMessage, type StagingThreadAnswer, type StagingThreadData } from './stagingThread';

const stage = async (data: StagingThreadData): Promise<StagingThreadAnswer> => {
  // A Buffer crosses to a thread as a plain Uint8Array.
  const log = { ...data.log, dataKey: { key: Buffer.from(data.log.dataKey.key) } };
  const store = await openEventLog(log);
  try {
    let writingEnded = !data.followsWriting;
    let stopped = false;
    parentPort!.on('message', (message) => {
      if (message === WRITING_ENDED) writingEnded = true;
      if (message === STOP) stopped = true;
    });
    const projections = readModelProjections().filter((projection) => data.projections.includes(projection.name));
    // A projection the application does not list (a test's own) is left to the thread that asked.
    const unknown = data.projections.filter((name) => !projections.some((projection) => projection.name === name));
    if (unknown.length > 0) throw new Error(`No read model of the application is named ${unknown.join(', ')}`);
    // The log as far as the stage may read it, each page told of when asked.
    const asFarAsAsked = data.upTo === undefined ? store : storeUpTo(store, data.upTo);
    const staged = await stageInBulk({
      store: data.reportsReads ? countingStore(asFarAsAsked, (read) => parentPort!.postMessage({ read } satisfies ReadMessage)) : asFarAsAsked,
      projections,
      handles: projectionHandles,
      pageSize: REBUILD_PAGE_SIZE,
      isActive: () => !stopped,
      writingEnded: data.followsWriting ? () => writingEnded : undefined,
      // Following the log as it is written, the stage waits for each batch: time to keep the indexes
      // for a SQLite read database to take as they are (a replay's stage has no time to spare: kept
      // there, the replay of the insights history took 52.5 and 70.6 s against 51.3 and 59.3;
      // PostgreSQL builds its own).
      indexesAsStaged: data.followsWriting && data.log.readStore.kind === 'sqlite',
    });
    return { staged: staged && { ...staged.staging.handOver(), through: staged.through, eventTypes: staged.eventTypes } };
  } finally {
    await store.close();
  }
};

stage(workerData as StagingThreadData).then(
  (answer) => {
    parentPort!.postMessage(answer);
    parentPort!.close();
  },
  (error: unknown) => {
    parentPort!.postMessage({ failed: error instanceof Error ? (error.stack ?? error.message) : String(error) } satisfies StagingThreadAnswer);
    parentPort!.close();
  },
);
