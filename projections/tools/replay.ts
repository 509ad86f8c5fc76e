/**
 * Rebuilds one projection, or all of them, from the first event, through the same runner the
 * application uses, and reports progress as it goes. Run it while no server runs the
 * projections on the same read database: two runners there refuse each other's checkpoints.
 */
import type { EventStore } from '../../src/core/eventStore';
import type { Projection } from '../projection';
import { ProjectionRunner, type StageAlongside } from '../runner';
import type { SqlDatabase } from '../sqlDatabase';
import { countEvents, countingStore } from './storeViews';

export interface ReplayProgress {
  /** Events read from the log so far (by the part further on, when it is staged on two threads). */
  done: number;
  /** Events in the log when the replay started. */
  total: number;
  elapsedMs: number;
}

export interface ReplayOptions {
  store: EventStore;
  db: SqlDatabase;
  /** Every projection of the application: the runner keeps those not replayed up to date too. */
  projections: Projection[];
  /** The one projection to rebuild; all when absent. */
  only?: string;
  /** The number of events in the log, when the caller has counted them already. */
  total?: number;
  onProgress?(progress: ReplayProgress): void;
  /** Where the projections are staged too (see `ProjectionRunnerOptions`): the second core. */
  stagingThread?: StageAlongside;
  /** The shortest log staged on `stagingThread` (see `ProjectionRunnerOptions`). */
  stagingThreadFromEvents?: number;
  /** Where the runner says what went wrong and what it does instead (a staging thread that failed); console by default. */
  logger?: Pick<Console, 'error'>;
}

export interface ReplayResult {
  projections: string[];
  events: number;
  elapsedMs: number;
}

export class UnknownProjectionError extends Error {
  override readonly name = 'UnknownProjectionError';
  constructor(
    readonly wanted: string,
    readonly known: readonly string[],
  ) {
    super(`There is no projection named ${wanted}; the projections are ${known.join(', ')}`);
  }
}

export const replayProjections = async (options: ReplayOptions): Promise<ReplayResult> => {
  const { store, db, projections, only, onProgress } = options;
  const names = projections.map((projection) => projection.name);
  if (only !== undefined && !names.includes(only)) throw new UnknownProjectionError(only, names);

  const total = options.total ?? (await countEvents(store));
  let counting = false;
  // The events read on this thread, and on the staging thread. A rebuild staged on both reads
  // the log on each (its progress is the part further on); one staged on the other thread alone
  // reads here only the first page, which tells it the log is long. When the other thread fails,
  // this one stages its part too, reading the log a second time: the log's events are still all
  // there is to rebuild from, and the rate is theirs (read twice, they were counted twice: the
  // printed rate, and issue 11's ratio with it, came out twice what it was).
  const read = { here: 0, elsewhere: 0 };
  const done = () => Math.min(total, Math.max(read.here, read.elsewhere));
  let started = Date.now();
  const counted = (where: keyof typeof read) => (events: number) => {
    if (!counting) return;
    read[where] += events;
    onProgress?.({ done: done(), total, elapsedMs: Date.now() - started });
  };
  const thread = options.stagingThread;
  const runner = new ProjectionRunner({
    store: countingStore(store, counted('here')),
    db,
    projections,
    // Alone on its thread: the copy of its rebuild goes one statement per table, the fastest.
    sharesThreadWithRequests: false,
    logger: options.logger,
    stagingThread: thread && ((part, stage) => thread(part, { ...stage, onRead: counted('elsewhere') })),
    stagingThreadFromEvents: options.stagingThreadFromEvents,
    onStagedInSql: counted('here'),
  });
  await runner.start();
  try {
    // Whatever was behind catches up first, so that the replay alone is counted and timed.
    await runner.whenCaughtUp();
    counting = true;
    started = Date.now();
    await runner.rebuild(only);
    // Rebuilt from every event of the log, read here, on the staging thread, or staged in SQL from
    // the log's table (`Projection.stageFromSqliteLog`), counted as staged.
    return { projections: only === undefined ? names : [only], events: Math.max(done(), total), elapsedMs: Date.now() - started };
  } finally {
    await runner.stop();
  }
};
