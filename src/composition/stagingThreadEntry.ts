/**
 * The staging thread's side of stagingThread.ts: opens the log, stages the projections it is given
 * from it (as it is written, when it is), and hands the staging database over to the thread that
 * started it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openEventLog } from './eventLog';
import { readModelProjections } from './application';
import { copyStaged, stageInBulk } from '../../projections/bulkRebuild';
import { ProjectionCheckpoints } from '../../projections/checkpoints';
import { openSqliteDatabase, openStagingDatabase } from '../../projections/sqlDatabase';
import { countingStore, storeUpTo } from '../../projections/tools/storeViews';
import { REBUILD_PAGE_SIZE, projectionHandles } from '../../projections/runner';
import {
  STOP,
  WRITING_ENDED,
  type CopyThreadAnswer,
  type CopyThreadData,
  type ReadMessage,
  type StagingThreadAnswer,
  type StagingThreadData,
} from './stagingThread';

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
    const tellRead = (read: number) => parentPort!.postMessage({ read } satisfies ReadMessage);
    const staged = await stageInBulk({
      store: data.reportsReads ? countingStore(asFarAsAsked, tellRead) : asFarAsAsked,
      onStagedInSql: data.reportsReads ? tellRead : undefined,
      projections,
      handles: projectionHandles,
      pageSize: REBUILD_PAGE_SIZE,
      isActive: () => !stopped,
      writingEnded: data.followsWriting ? () => writingEnded : undefined,
      // Following the log as it is written, the stage waits for each batch: time to keep the indexes
      // for a SQLite read database to take as they are (a replay's stage has no time to spare: kept
      // there, the replay of the insights history took 52.5 and 70.6 s against 51.3 and 59.3;
      // PostgreSQL builds its own). So does a rebuild beside a serving API's old tables, whose
      // copy the writes wait out, and not its stage (`ProjectionRunner.rebuildBeside`).
      indexesAsStaged: (data.followsWriting || data.indexesAsStaged === true) && data.log.readStore.kind === 'sqlite',
    });
    return { staged: staged && { ...staged.staging.handOver(), through: staged.through, eventTypes: staged.eventTypes } };
  } finally {
    await store.close();
  }
};

/**
 * A rebuild beside old tables copied on this thread's own connection to the read database (see
 * `copyBesideOnAnotherThread`): its tables replaced and its checkpoints restarted and moved in one
 * transaction, as the runner's `rebuildBeside` does on its own thread.
 */
const copyBeside = async ({ copy }: CopyThreadData): Promise<CopyThreadAnswer> => {
  const projections = readModelProjections().filter((projection) => copy.projections.includes(projection.name));
  if (projections.length !== copy.projections.length) throw new Error(`Not every one of ${copy.projections.join(', ')} is a read model of the application`);
  const db = openSqliteDatabase(copy.readFile);
  const staging = openStagingDatabase(copy.staging);
  try {
    // The API's checkpoint thread copies the WAL back once the switch-over is done.
    await db.exec('PRAGMA wal_autocheckpoint = 0');
    // Restarted, each checkpoint is moved from no position: no failure is kept, none compared.
    const checkpoints = new ProjectionCheckpoints(db, { comparePositions: () => 0 }, projections);
    await copyStaged({
      db,
      projections,
      staging,
      through: copy.through,
      eventTypes: [],
      replaceTables: true,
      leavesTheWal: true,
      moveCheckpoints: (tx, through) => checkpoints.restartAt(tx, projections, through, copy.now),
    });
    return { copied: true };
  } finally {
    // Closed, not removed: the thread that handed it over removes it.
    staging.handOver();
    await db.close();
  }
};

const work: Promise<StagingThreadAnswer | CopyThreadAnswer> =
  'copy' in (workerData as object) ? copyBeside(workerData as CopyThreadData) : stage(workerData as StagingThreadData);

work.then(
  (answer) => {
    parentPort!.postMessage(answer);
    parentPort!.close();
  },
  (error: unknown) => {
    parentPort!.postMessage({ failed: error instanceof Error ? (error.stack ?? error.message) : String(error) } satisfies StagingThreadAnswer);
    parentPort!.close();
  },
);
