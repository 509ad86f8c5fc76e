/**
 * Feeds the read models from the event log. Each batch of events is applied and the
 * checkpoints moved in one transaction, so after a crash every projection resumes exactly
 * after the last event it committed: nothing is applied twice, nothing is skipped.
 *
 * Catching up reads the log in pages (one transaction per page, which is what makes a replay
 * fast); once caught up the runner follows a live subscription, one burst per transaction.
 * Where each projection stands, and the table that keeps it, is the business of checkpoints.ts.
 */
import type { EventStore, GlobalPosition, RecordedEvent, Subscription } from '../src/core/eventStore';
import { ProjectionCheckpoints } from './checkpoints';
import { EVERY_EVENT_TYPE, type Projection } from './projection';
import type { SqlDatabase } from './sqlDatabase';

export interface ProjectionRunnerOptions {
  store: EventStore;
  db: SqlDatabase;
  projections: Projection[];
  /** Where a failing projection is reported. */
  logger?: Pick<Console, 'error'>;
  /** Events per transaction while catching up. */
  batchSize?: number;
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
  private started = false;
  private stopped = false;
  /** False tells the catch-up loop to stop after its current batch. */
  private active = false;
  private caughtUp = false;
  private failure: unknown;

  constructor(options: ProjectionRunnerOptions) {
    this.store = options.store;
    this.db = options.db;
    this.projections = options.projections;
    this.logger = options.logger ?? console;
    this.batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    const names = this.projections.map((p) => p.name);
    const duplicate = names.find((name, index) => names.indexOf(name) !== index);
    // Two projections with one name would share, and corrupt, one checkpoint.
    if (duplicate !== undefined) throw new Error(`Two projections are named ${duplicate}`);
    this.handledTypes = new Map(this.projections.map((p) => [p.name, new Set(p.canHandle)]));
    this.checkpoints = new ProjectionCheckpoints(this.db, this.store, this.projections);
  }

  /** The error that stopped the runner, if one did. */
  get lastError(): unknown {
    return this.failure;
  }

  /** Prepares the tables and rebuilds outdated projections, then catches up in the background. */
  start(): Promise<void> {
    return this.serialised(async () => {
      if (this.started) throw new Error('A projection runner starts once; create a new one');
      this.started = true;
      const { current, outdated } = await this.checkpoints.load();
      for (const { projection, position } of current) {
        await projection.setup(this.db);
        this.checkpoints.resume(projection.name, position);
      }
      await this.resetProjections(outdated);
      this.follow();
    });
  }

  /** Resets one projection (or all) and replays the log into it; resolves once caught up. */
  rebuild(name?: string): Promise<void> {
    return this.serialised(async () => {
      if (!this.started || this.stopped) throw new Error('Only a running projection runner rebuilds');
      const selected = this.projections.filter((p) => name === undefined || p.name === name);
      if (selected.length === 0) throw new Error(`There is no projection named ${name}`);
      await this.pause();
      this.failure = undefined;
      await this.resetProjections(selected);
      this.follow();
      await this.following;
      if (this.failure !== undefined) throw this.failure;
    });
  }

  async stop(): Promise<void> {
    // Set before queueing, so that a catch-up or rebuild in progress winds down at its next batch.
    this.stopped = true;
    this.active = false;
    await this.serialised(() => this.pause());
    this.settleAllWaiters(new ProjectionRunnerStoppedError());
  }

  /** True once the runner has reached the end of the log at least once since it started. */
  isCaughtUp(): boolean {
    return this.caughtUp;
  }

  /** Rejects if the runner fails first. */
  whenCaughtUp(): Promise<void> {
    return this.caughtUpSignal.promise;
  }

  /**
   * Resolves once every projection has committed `position`: a mutation awaits this before
   * answering so that the client reads its own write.
   */
  async waitForPosition(position: GlobalPosition, timeoutMs = 5000): Promise<void> {
    if (this.checkpoints.hasProcessed(position)) return;
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
  }

  private follow(): void {
    if (this.stopped) return;
    this.active = true;
    this.following = this.catchUp()
      .then((position) => {
        if (this.active) this.subscribeFrom(position);
      })
      .catch((error: unknown) => this.fail(error));
  }

  private async catchUp(): Promise<GlobalPosition | undefined> {
    let position = this.checkpoints.lowestCheckpoint();
    while (this.active) {
      const events = await this.store.readAll({ fromPosition: position, maxCount: this.batchSize });
      if (events.length > 0) {
        await this.applyBatch(events);
        position = events[events.length - 1]!.position;
      }
      if (events.length < this.batchSize) break;
    }
    return position;
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
      onError: (error) => this.fail(error),
    });
    this.subscription = subscription;
  }

  private async pause(): Promise<void> {
    this.active = false;
    await this.following;
    const subscription = this.subscription;
    this.subscription = undefined;
    await subscription?.stop();
    await this.liveWork;
  }

  private async applyBatch(events: readonly RecordedEvent[]): Promise<void> {
    const last = events[events.length - 1]!.position;
    const work = this.projections
      .filter((projection) => this.checkpoints.isAfterCheckpoint(projection, last))
      .map((projection) => ({
        projection,
        events: events.filter(
          (event) =>
            handles(this.handledTypes.get(projection.name)!, event.type) &&
            this.checkpoints.isAfterCheckpoint(projection, event.position),
        ),
      }));
    // Events nobody handles need no write: after a crash they are read again and ignored again.
    if (work.some((item) => item.events.length > 0)) {
      await this.db.transaction(async (tx) => {
        const now = new Date().toISOString();
        for (const { projection, events: toApply } of work) {
          for (const event of toApply) await applyOne(projection, tx, event);
          await this.checkpoints.move(tx, projection.name, last, now);
        }
      });
      this.checkpoints.stored(work.map(({ projection }) => projection.name), last);
    }
    this.checkpoints.processed(work.map(({ projection }) => projection.name), last);
    this.settleReachedWaiters();
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
  }

  private fail(error: unknown): void {
    this.failure = error;
    this.active = false;
    this.logger.error(`Projection runner stopped: ${messageOf(error)}`, error);
    this.caughtUpSignal.reject(error);
    this.settleAllWaiters(new ProjectionRunnerStoppedError(error));
  }

  private settleReachedWaiters(): void {
    for (const waiter of this.waiters) {
      try {
        if (this.checkpoints.hasProcessed(waiter.position)) waiter.settle();
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

const applyOne = async (projection: Projection, tx: SqlDatabase, event: RecordedEvent): Promise<void> => {
  try {
    await projection.apply(tx, event);
  } catch (error) {
    throw new ProjectionFailedError(projection.name, event, error);
  }
};

const handles = (types: ReadonlySet<string>, type: string): boolean => types.has(type) || types.has(EVERY_EVENT_TYPE);

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
