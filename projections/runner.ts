/**
 * Feeds the read models from the event log. Each batch of events is applied and the
 * checkpoints moved in one transaction, so after a crash every projection resumes exactly
 * after the last event it committed: nothing is applied twice, nothing is skipped.
 *
 * One bad event stops one projection, not the runner: a projection that fails on an event is
 * set aside (the failure is stored with its checkpoint, in a transaction of its own), the batch
 * is applied again without it, and the others go on. The set-aside projection keeps everything
 * before that event and stops there; it is retried at the next start (or rebuilt). Errors of the
 * database itself are no event's fault: those that pass by themselves (`isStoreUnavailable`: a
 * busy SQLite file, a connection PostgreSQL ended) are waited out and the batch applied again (or,
 * for a read of the log, the log followed again from the checkpoints); the others (a full disk)
 * still stop the runner, as every error did before.
 *
 * Catching up reads the log in pages (one transaction per page, which is what makes a replay
 * fast); once caught up the runner follows a live subscription, one burst per transaction.
 * Where each projection stands, and the table that keeps it, is the business of checkpoints.ts.
 */
import type { EventStore, GlobalPosition, RecordedEvent, Subscription } from '../src/core/eventStore';
import { copyStaged, stageInBulk, type Staged } from './bulkRebuild';
import { ProjectionCheckpoints, type ProjectionFailure } from './checkpoints';
import { EVERY_EVENT_TYPE, EventNotApplied, type Projection } from './projection';
import type { SqlDatabase } from './sqlDatabase';
import { FIRST_PAUSE_AFTER_UNAVAILABLE_MS, isInfrastructureError, isStoreUnavailable, nextPauseAfterUnavailable } from '../src/core/storeErrors';

export interface ProjectionRunnerOptions {
  store: EventStore;
  db: SqlDatabase;
  projections: Projection[];
  /** Where a failing projection is reported. */
  logger?: Pick<Console, 'error'>;
  /** Events per transaction while catching up. */
  batchSize?: number;
  /** Told each time a projection is set aside, once its failure is stored. */
  onSetAside?(failure: ProjectionFailure): void;
  /**
   * Whether the runner shares its thread with requests (the API, the default): its rebuilds in
   * bulk then copy in turns of the event loop (`BulkRebuildOptions.inTurns`), so that the API goes
   * on answering, `/livez` included. False for a command alone on its thread (`npm run replay`,
   * `npm run verify`), whose copy is then faster: 17.8 and 19.4 s against 21.0 and 21.7 s for the
   * insights history's million events.
   */
  sharesThreadWithRequests?: boolean;
  /**
   * Stages projections from the log on another thread (src/composition/stagingThread.ts), for the
   * rebuilds in bulk of a log of `stagingThreadFromEvents` events or more: see `stageForRebuild`.
   * Without it, every rebuild stages on the runner's thread.
   */
  stagingThread?: StageAlongside;
  /** The shortest log staged on `stagingThread` (`STAGING_THREAD_FROM_EVENTS` by default). */
  stagingThreadFromEvents?: number;
  /**
   * Copies a rebuild beside old tables on another thread (src/composition/stagingThread.ts), for
   * a runner that shares its thread with requests, when the log was long enough to be staged on
   * `stagingThread`: see `rebuildBeside`. Without it, that copy runs here, in turns.
   */
  copyThread?: CopyBeside;
  /**
   * Told of the events a rebuild on this thread stages in SQL from a SQLite log's table, which no
   * read of the store counts (`StageOptions.onStagedInSql`): `npm run replay`'s progress line.
   */
  onStagedInSql?(events: number): void;
}

/** A set-aside projection that has not processed a position, and where it stands. */
export interface StoppedProjection {
  failure: ProjectionFailure;
  /** Its checkpoint: the last position it processed, before the event it failed on. */
  checkpoint: GlobalPosition | undefined;
}

export class ProjectionFailedError extends Error {
  override readonly name = 'ProjectionFailedError';
  constructor(
    readonly projection: string,
    readonly event: Pick<RecordedEvent, 'id' | 'type' | 'streamId' | 'position'>,
    cause: unknown,
  ) {
    super(
      `Projection ${projection} failed on event ${event.id} (${event.type} in ${event.streamId} at ${event.position}): ${messageOf(cause)}`,
      { cause },
    );
  }
}

export class ReadModelTimeoutError extends Error {
  override readonly name = 'ReadModelTimeoutError';
  constructor(
    readonly position: GlobalPosition,
    readonly timeoutMs: number,
  ) {
    super(`The read models did not reach position ${position} within ${timeoutMs} ms`);
  }
}

export class ProjectionRunnerStoppedError extends Error {
  override readonly name = 'ProjectionRunnerStoppedError';
  constructor(cause?: unknown) {
    super(
      cause === undefined
        ? 'The projection runner is stopped'
        : `The projection runner stopped after an error: ${messageOf(cause)}`,
      { cause },
    );
  }
}

const DEFAULT_BATCH_SIZE = 500;
/** Events per page read while a rebuild replays the log into its staging database. */
export const REBUILD_PAGE_SIZE = 5000;
/**
 * A shorter log is staged on the runner's thread: a thread takes 60 to 100 ms to start from the
 * build (its modules loaded again; longer under tsx, as in the tests), while 20,000 events take
 * about a second to stage.
 */
export const STAGING_THREAD_FROM_EVENTS = 20_000;

interface PositionWaiter {
  position: GlobalPosition;
  settle(error?: unknown): void;
}

export class ProjectionRunner {
  private readonly store: EventStore;
  private readonly db: SqlDatabase;
  private readonly projections: readonly Projection[];
  private readonly logger: Pick<Console, 'error'>;
  private readonly batchSize: number;
  private readonly handledTypes: ReadonlyMap<string, ReadonlySet<string>>;
  private readonly checkpoints: ProjectionCheckpoints;
  private readonly waiters = new Set<PositionWaiter>();
  private readonly caughtUpSignal = deferred();
  private lifecycle: Promise<unknown> = Promise.resolve();
  private following: Promise<void> = Promise.resolve();
  /** Live batches, committed one after the other. */
  private liveWork: Promise<void> = Promise.resolve();
  private subscription: Subscription | undefined;
  /** How long the runner waits before it follows the log again after a read that found it unavailable. */
  private readPauseMs = FIRST_PAUSE_AFTER_UNAVAILABLE_MS;
  /** Ends the wait before following the log again at once (`pause`). */
  private endReadPause: (() => void) | undefined;
  private started = false;
  private stopped = false;
  /** False tells the catch-up loop to stop after its current batch. */
  private active = false;
  private caughtUp = false;
  private failure: unknown;
  /** Projections whose `applyBatch` failed on the batch being applied: they apply it again event by event. */
  private readonly oneByOne = new Set<string>();
  /** The projections set aside since start, by name. */
  private readonly setAside = new Map<string, { failure: ProjectionFailure; error: ProjectionFailedError }>();
  private readonly onSetAside: ((failure: ProjectionFailure) => void) | undefined;
  private readonly sharesThreadWithRequests: boolean;
  private readonly stagingThread: StageAlongside | undefined;
  private readonly stagingThreadFromEvents: number;
  private readonly onStagedInSql: ((events: number) => void) | undefined;
  private readonly copyThread: CopyBeside | undefined;
  /** Resolved by `stop`: tells a staging thread to give up. */
  private readonly stopSignal = deferred();
  /** Reset and not caught up yet: the next catch-up rebuilds those it can in bulk. */
  private readonly freshlyReset = new Set<string>();
  /** The set-aside projections this runner resumed at start, to retry them (for logs). */
  private readonly resumed: ProjectionFailure[] = [];
  /**
   * Outdated at start (a new version deployed), rebuilt in bulk beside their old tables, which
   * go on serving until the new rows replace them in one transaction: until then they take no
   * event and no write waits for them.
   */
  private readonly besides = new Set<string>();
  /** The rebuild beside the old tables, while it runs. */
  private besideWork: Promise<void> = Promise.resolve();

  constructor(options: ProjectionRunnerOptions) {
    this.store = options.store;
    this.db = options.db;
    this.projections = options.projections;
    this.logger = options.logger ?? console;
    this.batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    this.onSetAside = options.onSetAside;
    this.sharesThreadWithRequests = options.sharesThreadWithRequests ?? true;
    this.stagingThread = options.stagingThread;
    this.stagingThreadFromEvents = options.stagingThreadFromEvents ?? STAGING_THREAD_FROM_EVENTS;
    this.onStagedInSql = options.onStagedInSql;
    this.copyThread = options.copyThread;
    const names = this.projections.map((p) => p.name);
    const duplicate = names.find((name, index) => names.indexOf(name) !== index);
    // Two projections with one name would share, and corrupt, one checkpoint.
    if (duplicate !== undefined) throw new Error(`Two projections are named ${duplicate}`);
    this.handledTypes = new Map(this.projections.map((p) => [p.name, new Set(p.canHandle)]));
    this.checkpoints = new ProjectionCheckpoints(this.db, this.store, this.projections);
  }

  /** The error that stopped the runner, if one did (not a projection set aside: see `failures`). */
  get lastError(): unknown {
    return this.failure;
  }

  /** The projections set aside, each stopped before the event it failed on. */
  get failures(): ProjectionFailure[] {
    return [...this.setAside.values()].map(({ failure }) => failure);
  }

  /** The projections that were set aside when this runner started, and that it retries. */
  get retried(): ProjectionFailure[] {
    return [...this.resumed];
  }

  /** Where each projection stands: the last position it processed (undefined: nothing yet). For metrics. */
  positions(): Array<{ name: string; position: GlobalPosition | undefined }> {
    return this.projections.map(({ name }) => ({ name, position: this.checkpoints.checkpointOf(name) }));
  }

  /** Prepares the tables and rebuilds outdated projections, then catches up in the background. */
  start(): Promise<void> {
    return this.serialised(async () => {
      if (this.started) throw new Error('A projection runner starts once; create a new one');
      this.started = true;
      const { current, outdated, replaced } = await this.checkpoints.load();
      for (const { projection, position, failure } of current) {
        await projection.setup(this.db);
        // A projection set aside before is retried from its checkpoint.
        this.checkpoints.resume(projection.name, position, failure);
        if (failure !== undefined) this.resumed.push(failure);
      }
      // A new version of a projection that rebuilds in bulk is built beside the rows of the old
      // one, which serve meanwhile; any other outdated projection starts again from nothing.
      const beside = replaced.filter((projection) => projection.rebuildsInBulk === true);
      await this.resetProjections(outdated.filter((projection) => !beside.includes(projection)));
      for (const projection of beside) this.besides.add(projection.name);
      this.follow();
      if (beside.length > 0) this.besideWork = this.rebuildBeside(beside).catch((error: unknown) => this.fail(error));
    });
  }

  /** The projections being rebuilt beside their old tables (see `start`). */
  get rebuildingBeside(): string[] {
    return [...this.besides];
  }

  /** Resolves once the projections outdated at start are rebuilt and serve their new rows (or were left to the usual replay). */
  whenRebuiltBeside(): Promise<void> {
    return this.besideWork;
  }

  /**
   * Resets one projection (or all) and replays the log into it; resolves once caught up, or
   * rejects with the error of a rebuilt projection that was set aside again.
   */
  rebuild(name?: string): Promise<void> {
    return this.serialised(async () => {
      if (!this.started || this.stopped) throw new Error('Only a running projection runner rebuilds');
      const selected = this.projections.filter((p) => name === undefined || p.name === name);
      if (selected.length === 0) throw new Error(`There is no projection named ${name}`);
      await this.pause();
      this.failure = undefined;
      await this.resetProjections(selected);
      // Reset now: a rebuild beside them, if one runs, is left to be abandoned.
      for (const projection of selected) this.besides.delete(projection.name);
      for (const projection of selected) this.setAside.delete(projection.name);
      this.follow();
      await this.following;
      if (this.failure !== undefined) throw this.failure;
      const failed = selected.map((projection) => this.setAside.get(projection.name)).find((entry) => entry !== undefined);
      if (failed !== undefined) throw failed.error;
    });
  }

  /**
   * Runs `work` (a bulk load into the log, as the seed's) with the runner paused, then resets
   * every projection and rebuilds them from the log in bulk, and follows on: one bulk rebuild
   * instead of applying the load event by event while it is written. With `stageAlongside`, the
   * projections that rebuild in bulk are staged while `work` writes, and only copied in after it.
   * Resolves with what `work` returned once the rebuild has started, or the staged tables are
   * copied in (wait for a position as usual).
   */
  rebuildAfter<T>(work: () => Promise<T>, stageAlongside?: StageAlongside): Promise<T> {
    return this.serialised(async () => {
      if (!this.started || this.stopped) throw new Error('Only a running projection runner rebuilds');
      await this.pause();
      const candidates = this.projections.filter((projection) => projection.rebuildsInBulk === true);
      let endWriting = () => {};
      const writingEnded = new Promise<void>((resolve) => (endWriting = resolve));
      // Failing, it leaves the rebuild to the catch-up, as without it.
      const staging = stageAlongside?.(candidates, { writingEnded, stopped: this.stopSignal.promise }).catch((error: unknown) => {
        this.logger.error(`Staging the read models alongside the load failed; rebuilding them after it: ${messageOf(error)}`);
        return undefined;
      });
      try {
        return await work();
      } finally {
        endWriting();
        const staged = await staging;
        try {
          this.failure = undefined;
          await this.resetProjections(this.projections);
          this.setAside.clear();
          this.besides.clear();
          if (staged !== undefined) await this.copyStagedAlongside(candidates, staged);
        } finally {
          staged?.staging.close();
        }
        this.follow();
      }
    });
  }

  /**
   * The tables staged alongside `rebuildAfter`'s work copied into the projections just reset,
   * which the catch-up then takes on from where the stage ended. If the copy fails, they are
   * left reset: the catch-up rebuilds them in bulk as usual.
   */
  private async copyStagedAlongside(candidates: readonly Projection[], staged: Staged): Promise<void> {
    const mover = this.bulkCheckpointMover(
      candidates,
      this.projections.filter((projection) => !candidates.includes(projection)),
    );
    try {
      const through = await copyStaged({ db: this.db, projections: candidates, ...staged, moveCheckpoints: mover.move });
      if (through === undefined) return;
    } catch (error) {
      this.logger.error(`Copying the read models staged alongside the load failed; rebuilding them from the log: ${messageOf(error)}`);
      return;
    }
    for (const projection of candidates) this.freshlyReset.delete(projection.name);
    mover.moved();
  }

  /**
   * Moves the checkpoints of projections rebuilt in bulk inside the copy's transaction, then, once
   * it committed, in memory. `resetBeside` are projections just reset that were not rebuilt: one
   * that takes none of the events replayed (the key shredder, on a log without erasures) has
   * nothing to apply up to where the rebuild ended, and its checkpoint moves there with the
   * others'. Otherwise the catch-up would read the whole log again for it: 20 s of a
   * million-event seed.
   */
  private bulkCheckpointMover(rebuilt: readonly Projection[], resetBeside: readonly Projection[] = []) {
    let moves: Array<readonly [string, GlobalPosition]> = [];
    return {
      move: async (tx: SqlDatabase, position: GlobalPosition, eventTypes: readonly string[]) => {
        const now = new Date().toISOString();
        const untouched = resetBeside.filter((projection) => !eventTypes.some((type) => handles(this.handledTypes.get(projection.name)!, type)));
        moves = [...rebuilt, ...untouched].map((projection) => [projection.name, position] as const);
        await this.checkpoints.moveAll(tx, moves, now);
      },
      moved: () => {
        this.checkpoints.stored(moves);
        this.checkpoints.processed(moves);
        this.settleReachedWaiters();
      },
    };
  }

  async stop(): Promise<void> {
    // Set before queueing, so that a catch-up or rebuild in progress winds down at its next batch.
    this.stopped = true;
    this.active = false;
    this.stopSignal.resolve();
    await this.serialised(() => this.pause());
    await this.besideWork;
    this.settleAllWaiters(new ProjectionRunnerStoppedError());
  }

  /** True once the runner has reached the end of the log at least once since it started. */
  isCaughtUp(): boolean {
    return this.caughtUp;
  }

  /** Rejects if the runner fails first. */
  whenCaughtUp(): Promise<void> {
    // A projection rebuilt beside its old tables has caught up once it serves its new rows.
    return this.caughtUpSignal.promise.then(() => this.besideWork);
  }

  /**
   * Resolves once every projection that is not set aside has committed `position`: a mutation
   * awaits this before answering so that the client reads its own write. Resolves with the
   * set-aside projections that have not (the caller decides whether its answer needs them).
   */
  async waitForPosition(position: GlobalPosition, timeoutMs = 5000): Promise<StoppedProjection[]> {
    if (this.checkpoints.hasProcessed(position, this.setAsideNames())) return this.stoppedShortOf(position);
    if (this.failure !== undefined) throw new ProjectionRunnerStoppedError(this.failure);
    if (this.stopped) throw new ProjectionRunnerStoppedError();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => waiter.settle(new ReadModelTimeoutError(position, timeoutMs)), timeoutMs);
      const waiter: PositionWaiter = {
        position,
        settle: (error) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          if (error === undefined) resolve();
          else reject(error);
        },
      };
      this.waiters.add(waiter);
    });
    return this.stoppedShortOf(position);
  }

  /** The projections not waited for and not read for: set aside, or being rebuilt beside their old tables. */
  private setAsideNames(): ReadonlySet<string> {
    return new Set([...this.setAside.keys(), ...this.besides]);
  }

  /**
   * Rebuilds the projections in bulk from the log as it is now, without touching their tables,
   * then, with live following paused, replaces their rows and moves their checkpoints (new
   * version, the position rebuilt through) in one transaction, and follows on: the catch-up that
   * resumes takes them from there to the end of the log. If the bulk rebuild fails, they are
   * reset and replayed the usual way, which sets a failing one aside at its event.
   */
  private async rebuildBeside(projections: readonly Projection[]): Promise<void> {
    const stillBeside = () => projections.every((projection) => this.besides.has(projection.name));
    const rejoin = () => {
      for (const projection of projections) this.besides.delete(projection.name);
      this.follow();
    };
    let rebuilt = false;
    try {
      let movedThrough: GlobalPosition | undefined;
      // Within the runner's turn, so that nothing else (a rebuild asked for, a stop) comes
      // between the commit and the checkpoints this runner keeps in memory.
      const switchOver = (copy: () => Promise<void>) =>
        this.serialised(async () => {
          if (this.stopped || !stillBeside()) return false;
          await this.pause();
          try {
            await copy();
          } catch (error) {
            this.follow();
            throw error;
          }
          const moves = projections.map((projection) => [projection.name, movedThrough!] as const);
          this.checkpoints.restarted(projections);
          this.checkpoints.stored(moves);
          this.checkpoints.processed(moves);
          rejoin();
          return true;
        });
      // One part (no split): the switch-over replaces every table in one transaction.
      const thread = this.sharesThreadWithRequests && this.copyThread?.accepts(projections) ? this.copyThread : undefined;
      // Staged with their indexes, the tables are copied whole with them (SQLite's transfer), and
      // the copy, which the writes wait out, is shorter by the index sorts; the stage, which they
      // do not wait for, takes longer.
      const stageOptions = { split: false, indexesAsStaged: thread !== undefined };
      rebuilt = await this.stageForRebuild(projections, () => !this.stopped && stillBeside(), stageOptions, async (staged) => {
        if (thread !== undefined && staged.stagedOnAThread) {
          // The copy's statements (index sorts of seconds, the commit) held this thread, and the
          // requests it serves, where the other thread holds only the file's write turn.
          const onThread = () =>
            switchOver(async () => {
              await thread.copy(projections, staged, new Date().toISOString());
              movedThrough = staged.through;
              // Copied: its file goes now, not after the checkpoint of the WAL the copy filled
              // (seconds), during which a process stopped at once left it behind.
              staged.staging.close();
            });
          return this.db.checkpointingElsewhere ? this.db.checkpointingElsewhere(onThread) : onThread();
        }
        return (
          (await copyStaged({
            ...staged,
            db: this.db,
            replaceTables: true,
            inTurns: this.sharesThreadWithRequests,
            moveCheckpoints: async (tx, through) => {
              await this.checkpoints.restartAt(tx, projections, through, new Date().toISOString());
              movedThrough = through;
            },
            switchOver,
          })) !== undefined
        );
      });
    } catch (error) {
      this.logger.error(`Rebuilding ${projections.map((p) => p.name).join(', ')} beside the old tables failed; replaying them the usual way: ${messageOf(error)}`);
    }
    if (!rebuilt) {
      await this.serialised(async () => {
        if (this.stopped || !stillBeside()) return;
        // An empty log, or a failure: reset and replayed as any outdated projection.
        await this.pause();
        await this.resetProjections(projections);
        rejoin();
      });
    }
    // Until the catch-up that takes them to the end of the log is done (a failure there stops the runner, as any).
    await this.following;
  }

  private stoppedShortOf(position: GlobalPosition): StoppedProjection[] {
    return this.projections.flatMap((projection) => {
      const entry = this.setAside.get(projection.name);
      if (entry === undefined || !this.checkpoints.isAfterCheckpoint(projection, position)) return [];
      return [{ failure: entry.failure, checkpoint: this.checkpoints.checkpointOf(projection.name) }];
    });
  }

  private follow(): void {
    if (this.stopped) return;
    this.active = true;
    this.following = this.catchUp()
      .then((position) => {
        if (!this.active) return;
        this.readPauseMs = FIRST_PAUSE_AFTER_UNAVAILABLE_MS;
        this.subscribeFrom(position);
      })
      .catch((error: unknown) => this.readFailed(error));
  }

  /**
   * Reading the log failed: the catch-up's read, or the live subscription's (`subscription`). An
   * event store unavailable for a moment (`isStoreUnavailable`: PostgreSQL restarting, or ending
   * the connection a read waited on) is waited out: after a pause (100 ms, doubling up to 5 s
   * while reads keep failing) the runner follows the log again from its checkpoints, which skip
   * what was applied already. Any other error stops the runner, as before. Resolves once the
   * runner follows again (or is paused meanwhile).
   */
  private async readFailed(error: unknown, subscription?: Subscription): Promise<void> {
    // A subscription already replaced or stopped (a pause) reports nothing that matters now.
    if (subscription !== undefined && this.subscription !== subscription) return;
    if (!isStoreUnavailable(error)) return this.fail(error);
    if (!this.active) return;
    this.subscription = undefined;
    const pauseMs = this.readPauseMs;
    this.readPauseMs = nextPauseAfterUnavailable(pauseMs);
    this.logger.error(`Projection runner: the event log is unavailable (${messageOf(error)}); following it again in ${pauseMs} ms`);
    await this.liveWork;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, pauseMs);
      this.endReadPause = done;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
    this.endReadPause = undefined;
    if (!this.active || this.stopped) return;
    this.follow();
    await this.following;
  }

  private async catchUp(): Promise<GlobalPosition | undefined> {
    await this.rebuildFreshlyResetInBulk();
    let position = this.checkpoints.lowestCheckpoint(this.setAsideNames());
    while (this.active) {
      const events = await this.store.readAll({ fromPosition: position, maxCount: this.batchSize });
      if (events.length > 0) {
        await this.applyBatch(events);
        position = events[events.length - 1]!.position;
      }
      if (events.length < this.batchSize) break;
    }
    if (this.active) await this.storeUnstoredCheckpoints();
    return position;
  }

  /**
   * A batch in which no projection has an event to apply writes no checkpoint. A projection
   * caught up alone over a long log it has nothing to take from (the key shredder, which takes
   * only erasures, after a reset; or beside projections rebuilt in bulk, which have nothing left
   * to apply) would end the catch-up with its stored checkpoint far behind what it processed: every
   * start would read the whole log again for it (881,570 events, 24 s before the server was
   * ready), and followers, which read the stored checkpoints, would wait for it. Store them.
   */
  private async storeUnstoredCheckpoints(): Promise<void> {
    const moves = this.checkpoints.unstored().filter(([name]) => !this.setAside.has(name));
    if (moves.length === 0) return;
    await this.db.transaction(async (tx) => {
      const now = new Date().toISOString();
      await this.checkpoints.moveAll(tx, moves, now);
    });
    this.checkpoints.stored(moves);
  }

  /**
   * The projections just reset that can be rebuilt in bulk (see bulkRebuild.ts) are, up to the
   * end of the log as it is now; the catch-up that follows takes them on from there with the
   * others. If one of them fails on an event, nothing of the bulk rebuild is kept and they all
   * replay the usual way, which sets the failing one aside at its event as always.
   */
  private async rebuildFreshlyResetInBulk(): Promise<void> {
    const candidates = this.projections.filter(
      (projection) => projection.rebuildsInBulk === true && this.freshlyReset.has(projection.name),
    );
    const resetBeside = this.projections.filter((projection) => projection.rebuildsInBulk !== true && this.freshlyReset.has(projection.name));
    this.freshlyReset.clear();
    if (candidates.length === 0) return;
    let first = true;
    // Split between both threads, unless the runner shares its thread with requests it serves
    // already: before its first catch-up (a new read store at start) an API is not ready and
    // serves nothing but /livez, which the stage's turns leave answering.
    const split = !this.sharesThreadWithRequests || !this.caughtUp;
    try {
      // Each part copied as soon as it is staged (the other may still be staging), in a
      // transaction of its own that moves its projections' checkpoints (the first part's also
      // those of the projections reset beside them).
      await this.stageForRebuild(candidates, () => this.active, { split }, async (staged, { concurrently }) => {
        const mover = this.bulkCheckpointMover(staged.projections, first ? resetBeside : []);
        first = false;
        const through = await copyStaged({ ...staged, db: this.db, moveCheckpoints: mover.move, inTurns: this.sharesThreadWithRequests, concurrently });
        if (through === undefined) return false;
        mover.moved();
        return true;
      });
    } catch {
      // Not logged: the usual replay that follows meets the same failure and reports it, with its
      // event. A part copied before it keeps its rows; the others were left reset.
    }
  }

  /**
   * `projections` (which rebuild in bulk) staged from the log as it is now, for `isActive` (false:
   * abandoned), each part handed to `copy` as soon as it is staged, and its staging database
   * closed after: on SQLite, which has one writer, after the part before it is copied; on
   * PostgreSQL at once, the other part's copy perhaps still running (`concurrently`). On the
   * runner's thread, or, given a staging thread and a log of at least `stagingThreadFromEvents`
   * events, on that thread: all of them, unless `split`, which stages them on both threads,
   * parted by their `rebuildWeight` (`npm run replay`, alone on its thread: the machine's second
   * core; the part here is copied while the thread stages on). An API that serves requests stages
   * on the other thread alone: its own goes on answering them instead of taking turns with the
   * stage. A staging thread that fails or cannot read this log (a database in memory) leaves its
   * part to this thread.
   *
   * Resolves true when every part was staged and copied (`copy` resolved true for each); false
   * when not (an empty log, abandoned, or `copy` declined a part: the parts not copied yet are
   * not). Rejects when a projection fails on an event or a copy fails; a part copied before
   * keeps its rows.
   */
  private async stageForRebuild(
    projections: readonly Projection[],
    isActive: () => boolean,
    { split, indexesAsStaged = false }: { split: boolean; indexesAsStaged?: boolean },
    copy: (staged: StagedProjections, options: { concurrently: boolean }) => Promise<boolean>,
  ): Promise<boolean> {
    // Set when a part fails or is declined: the other gives up too.
    const given = { up: false, signal: deferred() };
    const giveUp = () => {
      given.up = true;
      given.signal.resolve();
    };
    const here = async (part: readonly Projection[], firstPage?: { events: RecordedEvent[]; last: boolean }): Promise<StagedProjections | undefined> => {
      const staged = await stageInBulk({
        store: this.store,
        projections: part,
        handles: (projection, type) => handles(this.handledTypes.get(projection.name)!, type),
        pageSize: REBUILD_PAGE_SIZE,
        isActive: () => isActive() && !given.up,
        firstPage,
        onStagedInSql: this.onStagedInSql,
      });
      return staged && { ...staged, projections: part };
    };
    // The copies are PostgreSQL's work (COPY, index builds, ANALYZE) more than this thread's, each
    // part on a connection of its own: the first part's copy went on while the other part was
    // still staging, and the other's then waited for it to end. Copied at the same time, `npm run
    // replay` of the insights history (1,004,970 events) on PostgreSQL took 42.9, 42.4 and 45.4 s
    // against 48.2, 47.8 and 49.1 one after the other (alternated with the tree before).
    const concurrently = this.db.dialect === 'postgres';
    let copying: Promise<boolean> = Promise.resolve(true);
    /** Copies a part (on SQLite after the one before it, if that one was copied); closes it either way. */
    const copyInTurn = (staged: StagedProjections | undefined): Promise<boolean> => {
      // A copy that failed fails its own part; the parts after it are only closed.
      const copied = (concurrently ? Promise.resolve(true) : copying.catch(() => false)).then(async (before) => {
        if (staged === undefined) return false;
        try {
          return before && !given.up && (await copy(staged, { concurrently }));
        } finally {
          staged.staging.close();
        }
      });
      if (!concurrently) copying = copied;
      return copied;
    };
    const inTurnOrGiveUp = (part: Promise<StagedProjections | undefined>): Promise<boolean> =>
      part.then(copyInTurn).then(
        (copied) => {
          if (!copied) giveUp();
          return copied;
        },
        (error: unknown) => {
          giveUp();
          throw error;
        },
      );

    const thread = this.stagingThread;
    if (thread === undefined || projections.length === 0) return inTurnOrGiveUp(here(projections));
    // Whether the log is long enough for a thread, read as the stage here would start.
    const threshold = Math.max(1, this.stagingThreadFromEvents);
    const events = await this.store.readAll({ maxCount: threshold });
    const firstPage = { events, last: events.length < threshold };
    if (firstPage.last) return inTurnOrGiveUp(events.length === 0 ? Promise.resolve(undefined) : here(projections, firstPage));

    const [onThread, onThisThread] = split ? partByWeight(projections) : [projections, []];
    const names = onThread.map((projection) => projection.name).join(', ');
    const elsewhere = thread(onThread, { stopped: Promise.race([this.stopSignal.promise, given.signal.promise]), indexesAsStaged })
      .catch((error: unknown) => {
        this.logger.error(`Staging ${names} on another thread failed; staging them on this one: ${messageOf(error)}`);
        return undefined;
      })
      .then(async (staged) => {
        if (staged !== undefined) return { ...staged, projections: onThread, stagedOnAThread: true };
        // The first page read already serves this stage, unless the part here is staged from it.
        return isActive() && !given.up ? here(onThread, onThisThread.length === 0 ? firstPage : undefined) : undefined;
      });
    const parts = [elsewhere, ...(onThisThread.length > 0 ? [here(onThisThread, firstPage)] : [])].map(inTurnOrGiveUp);
    const outcomes = await Promise.allSettled(parts);
    const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    return outcomes.every((outcome) => outcome.status === 'fulfilled' && outcome.value);
  }

  /**
   * Live events that arrive together are applied in one transaction: under load one commit
   * serves many mutations, instead of one commit each. A burst is flushed on the next
   * macrotask, or at once when it reaches the batch size (which also holds the subscription
   * back until it is committed).
   */
  private subscribeFrom(position: GlobalPosition | undefined): void {
    let pending: RecordedEvent[] = [];
    const flush = async () => {
      const batch = pending;
      pending = [];
      if (batch.length > 0 && this.subscription === subscription && this.failure === undefined) {
        await this.applyBatch(batch);
      }
    };
    const subscription = this.store.subscribeToAll({
      fromPosition: position,
      onEvent: (event) => {
        pending.push(event);
        if (pending.length === 1) {
          this.liveWork = this.liveWork
            .then(nextMacrotask)
            .then(flush)
            .catch((error: unknown) => this.fail(error));
        }
        return pending.length >= this.batchSize ? this.liveWork : undefined;
      },
      onCaughtUp: () => {
        void this.liveWork.then(() => {
          this.caughtUp = true;
          this.caughtUpSignal.resolve();
        });
      },
      onError: (error) => {
        // Awaited by a pause, as the catch-up is.
        this.following = this.readFailed(error, subscription);
      },
    });
    this.subscription = subscription;
  }

  private async pause(): Promise<void> {
    this.active = false;
    this.endReadPause?.();
    await this.following;
    const subscription = this.subscription;
    this.subscription = undefined;
    await subscription?.stop();
    await this.liveWork;
  }

  /**
   * Applies a batch; a projection failing on one of its events is set aside and the batch is
   * applied again, from the start, without that event and what follows it for that projection.
   */
  private async applyBatch(events: readonly RecordedEvent[]): Promise<void> {
    let pauseMs = FIRST_PAUSE_AFTER_UNAVAILABLE_MS;
    let attempts = 0;
    // The batch's writes held for the next round trip (`TransactionOptions.holdWrites`), but not
    // once it failed so: applied again, each statement's error is its own.
    let holdWrites = true;
    try {
      for (;;) {
        try {
          await this.commitBatch(events, holdWrites);
          break;
        } catch (error) {
          // The read database busy or unreachable for a moment (another process holding the SQLite
          // file's write lock past the busy timeout, PostgreSQL restarting): nothing of the batch was
          // committed, so it is applied again once the database answers, rather than the runner
          // stopping until the process restarts.
          const cause = error instanceof BatchNotApplied || error instanceof ProjectionFailedError ? error.cause : error;
          if (isStoreUnavailable(cause) && this.active) {
            this.logger.error(`Projection runner: the read database is unavailable (${messageOf(error)}); the batch is applied again in ${pauseMs} ms`);
            await new Promise((resolve) => setTimeout(resolve, pauseMs));
            pauseMs = nextPauseAfterUnavailable(pauseMs);
            continue;
          }
          // A held write fails with the statement that carried it, which may be another
          // projection's: applied again with every statement sent as it comes, the error names
          // the projection and the event at fault.
          if (holdWrites) {
            holdWrites = false;
            continue;
          }
          attempts += 1;
          if (error instanceof BatchNotApplied) {
            if (isInfrastructureError(error.cause)) throw error.cause;
            // Applied again event by event, which names the event at fault, if any.
            this.oneByOne.add(error.projection);
            continue;
          }
          if (!(error instanceof ProjectionFailedError) || isInfrastructureError(error.cause)) throw error;
          // Each attempt sets one more projection aside (or the same one at an earlier event).
          if (attempts > 2 * this.projections.length + 1) throw error;
          await this.setProjectionAside(error);
        }
      }
    } finally {
      this.oneByOne.clear();
    }
    this.settleReachedWaiters();
  }

  /**
   * A projection's events of one batch: in one `applyBatch` call when it has one and there is
   * more than one event (see `Projection.applyBatch`), else one `apply` each.
   */
  private async applyEvents(projection: Projection, tx: SqlDatabase, events: readonly RecordedEvent[]): Promise<void> {
    if (projection.applyBatch === undefined || events.length < 2 || this.oneByOne.has(projection.name)) {
      for (const event of events) await applyOne(projection, tx, event);
      return;
    }
    try {
      await projection.applyBatch(tx, events);
    } catch (error) {
      if (error instanceof EventNotApplied) throw new ProjectionFailedError(projection.name, error.event, error.cause);
      throw new BatchNotApplied(projection.name, error);
    }
  }

  private async commitBatch(events: readonly RecordedEvent[], holdWrites: boolean): Promise<void> {
    const work = this.projections.flatMap((projection) => {
      if (this.besides.has(projection.name)) return [];
      // A set-aside projection takes the events before the one it failed on, and stops there.
      const limit = this.setAside.get(projection.name)?.failure.position;
      const reachable =
        limit === undefined ? events : events.filter((event) => this.store.comparePositions(event.position, limit) < 0);
      const through = reachable[reachable.length - 1]?.position;
      if (through === undefined || !this.checkpoints.isAfterCheckpoint(projection, through)) return [];
      const handled = this.handledTypes.get(projection.name)!;
      return [
        {
          projection,
          through,
          events: reachable.filter(
            (event) => handles(handled, event.type) && this.checkpoints.isAfterCheckpoint(projection, event.position),
          ),
        },
      ];
    });
    const moves = work.map(({ projection, through }) => [projection.name, through] as const);
    // Events nobody handles need no write: after a crash they are read again and ignored again.
    if (work.some((item) => item.events.length > 0)) {
      await this.db.transaction(
        async (tx) => {
          const now = new Date().toISOString();
          for (const { projection, events: toApply } of work) await this.applyEvents(projection, tx, toApply);
          await this.checkpoints.moveAll(tx, moves, now);
        },
        { holdWrites },
      );
      this.checkpoints.stored(moves);
    }
    this.checkpoints.processed(moves);
  }

  /** Stores the failure (its own transaction), then leaves the projection out from that event on. */
  private async setProjectionAside(error: ProjectionFailedError): Promise<void> {
    const { event } = error;
    let failure: ProjectionFailure;
    try {
      failure = await this.checkpoints.setAside(
        {
          name: error.projection,
          eventId: event.id,
          eventType: event.type,
          streamId: event.streamId,
          position: event.position,
          error: messageOf(error.cause),
        },
        new Date().toISOString(),
      );
    } catch (storing) {
      this.logger.error(`Projection ${error.projection}: its failure could not be stored: ${messageOf(storing)}`);
      throw error;
    }
    this.setAside.set(error.projection, { failure, error });
    this.logger.error(
      `Projection ${error.projection} set aside (the others go on; it is retried at the next start): ${error.message}`,
      error,
    );
    this.onSetAside?.(failure);
  }

  private async resetProjections(projections: readonly Projection[]): Promise<void> {
    if (projections.length === 0) return;
    await this.db.transaction(async (tx) => {
      const now = new Date().toISOString();
      for (const projection of projections) {
        await projection.reset(tx);
        await projection.setup(tx);
        await this.checkpoints.restart(tx, projection, now);
      }
    });
    this.checkpoints.restarted(projections);
    for (const projection of projections) this.freshlyReset.add(projection.name);
  }

  private fail(error: unknown): void {
    this.failure = error;
    this.active = false;
    this.logger.error(`Projection runner stopped: ${messageOf(error)}`, error);
    this.caughtUpSignal.reject(error);
    this.settleAllWaiters(new ProjectionRunnerStoppedError(error));
  }

  private settleReachedWaiters(): void {
    if (this.waiters.size === 0) return;
    const processed = this.checkpoints.processedTest(this.setAsideNames());
    for (const waiter of this.waiters) {
      try {
        if (processed(waiter.position)) waiter.settle();
      } catch (error) {
        // A position this store cannot parse must fail its waiter, not the runner.
        waiter.settle(error);
      }
    }
  }

  private settleAllWaiters(error: unknown): void {
    for (const waiter of this.waiters) waiter.settle(error);
  }

  private serialised<T>(task: () => Promise<T>): Promise<T> {
    const run = this.lifecycle.then(task);
    this.lifecycle = run.catch(() => undefined);
    return run;
  }
}

/** A projection's `applyBatch` failed on no event it named: the runner applies the batch again event by event. */
class BatchNotApplied extends Error {
  constructor(
    readonly projection: string,
    override readonly cause: unknown,
  ) {
    super(`Projection ${projection} could not apply a batch at once: ${messageOf(cause)}`, { cause });
  }
}

const applyOne = async (projection: Projection, tx: SqlDatabase, event: RecordedEvent): Promise<void> => {
  try {
    await projection.apply(tx, event);
  } catch (error) {
    throw new ProjectionFailedError(projection.name, event, error);
  }
};

const handles = (types: ReadonlySet<string>, type: string): boolean => types.has(type) || types.has(EVERY_EVENT_TYPE);

/** Whether a projection takes events of this type. */
export const projectionHandles = (projection: Projection, type: string): boolean => projection.canHandle.includes(type) || projection.canHandle.includes(EVERY_EVENT_TYPE);

/**
 * Stages the projections given (those that rebuild in bulk) from the log on another thread
 * (src/composition/stagingThread.ts): see `stageInBulk`. With `writingEnded`, while
 * `rebuildAfter`'s work writes it, until that resolves; without, the log as it is now, or, with
 * `upTo`, as it was when that was its last event (`npm run verify` rebuilds up to the live
 * checkpoints). Resolves with what it staged, or undefined when it could not (a log in memory,
 * which another thread cannot read) or was told to stop (`stopped`). `onRead` hears of each page
 * of events the stage reads, as it reads it (`npm run replay`'s progress).
 */
export type StageAlongside = (
  projections: readonly Projection[],
  options: {
    writingEnded?: Promise<void>;
    stopped?: Promise<void>;
    upTo?: GlobalPosition;
    onRead?(events: number): void;
    /** Keeps the indexes as the rows go in (`StageOptions.indexesAsStaged`), as a stage that follows the writing does. */
    indexesAsStaged?: boolean;
  },
) => Promise<Staged | undefined>;

/** A staging database, and the projections staged in it. */
interface StagedProjections extends Staged {
  projections: readonly Projection[];
  /** Staged on the staging thread: the log was long (`stagingThreadFromEvents`). */
  stagedOnAThread?: boolean;
}

/**
 * Copies a rebuild beside old tables on another thread (src/composition/stagingThread.ts): in one
 * transaction of its own connection, the old tables replaced by the staged ones and the
 * projections' checkpoints restarted at their version and moved to the position staged through,
 * as `copyStaged` with `replaceTables` does here; this process's other writers of the file wait
 * for it (the runner is paused by then). The WAL it fills is left to the caller's checkpoint.
 */
export interface CopyBeside {
  /** Whether the thread can copy these projections (it knows only the application's). */
  accepts(projections: readonly Projection[]): boolean;
  /** Copies, and closes this thread's connection to the staging database (handed over). */
  copy(projections: readonly Projection[], staged: Staged, now: string): Promise<void>;
}

/**
 * The projections in two parts of about the same `rebuildWeight` in all, the heavier first: the
 * heaviest projection to the lighter part, one after the other.
 */
const partByWeight = (projections: readonly Projection[]): [Projection[], Projection[]] => {
  const parts: [Projection[], Projection[]] = [[], []];
  const weights = [0, 0];
  const weightOf = (projection: Projection) => projection.rebuildWeight ?? 1;
  for (const projection of [...projections].sort((a, b) => weightOf(b) - weightOf(a))) {
    const lighter = weights[0]! <= weights[1]! ? 0 : 1;
    parts[lighter].push(projection);
    weights[lighter] += weightOf(projection);
  }
  return weights[0]! >= weights[1]! ? parts : [parts[1], parts[0]];
};

const nextMacrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

const deferred = () => {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Nobody may be waiting when the runner fails; the failure is logged and kept in lastError.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
};
