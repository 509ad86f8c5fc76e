/**
 * The read side of one instance. Exactly one instance among those sharing a read database runs
 * the projections and the background processes (the leader, holding a lease); the others are
 * followers that serve queries from the same tables and learn from the committed checkpoints
 * when a write of theirs has been projected. A follower takes over when the leader's lease ends.
 * Without a lease (a SQLite read store belongs to one process) the instance always leads.
 *
 * A projection the runner has set aside (it failed on an event) is not waited for: a write
 * answers once the other projections have it, unless its answer needs the stopped read model,
 * and then it fails with READ_MODEL_STOPPED (`ReadModelStoppedError`: the write IS recorded).
 * Every instance reports set-aside projections in `health()`; a follower reads them from the
 * checkpoint table the leader writes them to.
 */
import type { EventStore, GlobalPosition } from '../../src/core/eventStore';
import { readCheckpointRows, type ProjectionFailure } from '../checkpoints';
import { EVERY_EVENT_TYPE, type Projection } from '../projection';
import type { ReadModelPositions } from '../readModelPositions';
import { ProjectionRunner, ProjectionRunnerStoppedError, type CopyBeside, type StageAlongside, type StoppedProjection } from '../runner';
import type { SqlDatabase } from '../sqlDatabase';
import { AdvisoryLockLease } from './advisoryLockLease';
import { CommandEvents } from './commandEvents';
import { ReadModelStoppedError } from './readModelStoppedError';
import { SharedCheckpoints } from './sharedCheckpoints';

export type ProjectionRole = 'leader' | 'follower';

/** Work that must run on one instance only, next to the projections. */
export interface BackgroundProcess {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface ReadModelsOptions {
  store: EventStore;
  /** The connection the projections write through. */
  projectionDb: SqlDatabase;
  /** The connection queries read through; a follower watches the checkpoints there. */
  readDb: SqlDatabase;
  projections: Projection[];
  /**
   * Called each time this instance becomes the leader (processes are not restartable), with the
   * projections' connection and these read models (to wait until they include a write).
   */
  backgroundProcesses?: (db: SqlDatabase, readModels: ReadModelPositions) => BackgroundProcess[];
  /** Compete for the lead with other instances on this PostgreSQL database. */
  lease?: { connectionString: string; name: string; retryIntervalMs?: number };
  logger?: Pick<Console, 'log' | 'error'>;
  /** Where the runner stages the rebuilds in bulk of a long log (see `ProjectionRunnerOptions`). */
  stagingThread?: StageAlongside;
  /** Copies a rebuild beside old tables on another thread (see `ProjectionRunnerOptions.copyThread`). */
  copyThread?: CopyBeside;
}

/**
 * How long a mutation's answer waits for the read models to include its write. A timeout answers
 * an error for a write that did succeed, so this errs on the long side: 5 s was exceeded on
 * PostgreSQL under a full test run once every capture also gets its automatic score.
 */
const DEFAULT_TIMEOUT_MS = 15_000;

export interface WaitOptions {
  /**
   * The projections the caller's answer reads. A write whose answer reads a stopped one fails
   * with `ReadModelStoppedError`; others stopped are not waited for. Without it, the stopped
   * projections that handle the write's events by name (not by `*`) are the ones that count.
   */
  readModels?: readonly string[];
}

/** What /readyz tells. */
export interface ReadModelsHealth {
  role: ProjectionRole;
  /** True when caught up since start, nothing is known broken, and no projection is set aside. */
  ready: boolean;
  status: 'ready' | 'catching up' | 'degraded';
  failedProjections: ProjectionFailure[];
  /**
   * New versions being built beside the old rows (the leader's): their old rows serve, and writes
   * do not wait for them, until the new ones replace them.
   */
  rebuildingProjections: string[];
}

/** Where one projection stands (for metrics): the last position it processed, and its failure. */
export interface ProjectionProgress {
  name: string;
  /** Undefined: nothing processed yet. */
  position: GlobalPosition | undefined;
  failure: ProjectionFailure | undefined;
}

interface Leadership {
  runner: ProjectionRunner;
  processes: BackgroundProcess[];
}

export class ReadModels implements ReadModelPositions {
  private readonly watcher: SharedCheckpoints;
  private readonly commandEvents: CommandEvents;
  private readonly projectionsByName: ReadonlyMap<string, Projection>;
  /** What the follower last read of the set-aside projections. */
  private sharedFailures: readonly ProjectionFailure[] = [];
  private readonly lease: AdvisoryLockLease | undefined;
  /** Where messages go; `useLogger` may change it after opening. */
  private sink: Pick<Console, 'log' | 'error'>;
  /** What the runner and the lease are given: it forwards to the sink of the moment. */
  private readonly logger: Pick<Console, 'log' | 'error'> = {
    log: (...args: unknown[]) => this.sink.log(...args),
    error: (...args: unknown[]) => this.sink.error(...args),
  };
  private leadership: Leadership | undefined;
  /** How many times this instance has taken the lead. */
  private terms = 0;
  /** Set once the read models have reached the end of the log as it was when we started. */
  private caughtUpOnce = false;
  private opened = false;
  private closed = false;

  private constructor(private readonly options: ReadModelsOptions) {
    this.sink = options.logger ?? console;
    this.projectionsByName = new Map(options.projections.map((projection) => [projection.name, projection]));
    this.commandEvents = new CommandEvents(options.store);
    this.watcher = new SharedCheckpoints({
      db: options.readDb,
      store: options.store,
      projectionNames: options.projections.map((projection) => projection.name),
      projectionVersions: new Map(options.projections.map((projection) => [projection.name, projection.version])),
      onFailures: (failures) => {
        if (this.leadership === undefined) this.noteFailures((this.sharedFailures = failures));
      },
    });
    this.lease =
      options.lease &&
      new AdvisoryLockLease({
        ...options.lease,
        logger: this.logger,
        onAcquired: () => this.lead(),
        onLost: () => this.follow(),
      });
  }

  /** Resolves once this instance knows its role (and, as leader, has started its runner). */
  static async open(options: ReadModelsOptions): Promise<ReadModels> {
    const readModels = new ReadModels(options);
    if (readModels.lease === undefined) {
      await readModels.lead();
    } else {
      await readModels.lease.start();
      if (!readModels.lease.isHeld) readModels.watchUntilCaughtUp();
    }
    readModels.opened = true;
    return readModels;
  }

  get role(): ProjectionRole {
    return this.leadership ? 'leader' : 'follower';
  }

  /**
   * Which lead this instance holds, a new number each time it takes it; undefined while it
   * follows. Between two terms another instance may have written the read models.
   */
  get term(): number | undefined {
    return this.leadership ? this.terms : undefined;
  }

  /** Sends the messages of the read models, their runner and their lease to `logger` from now on. */
  useLogger(logger: Pick<Console, 'log' | 'error'>): void {
    this.sink = logger;
  }

  /** The projections that were set aside when this instance's runner started, and are being retried. */
  get retriedProjections(): ProjectionFailure[] {
    return this.leadership?.runner.retried ?? [];
  }

  /**
   * Where each projection stands, for metrics: the leader's runner's own positions, or on a
   * follower what the shared checkpoint table says.
   */
  async progress(): Promise<ProjectionProgress[]> {
    const leadership = this.leadership;
    if (leadership !== undefined) {
      const failures = new Map(leadership.runner.failures.map((failure) => [failure.name, failure]));
      return leadership.runner.positions().map(({ name, position }) => ({ name, position, failure: failures.get(name) }));
    }
    const rows = new Map((await readCheckpointRows(this.options.readDb)).map((row) => [row.name, row]));
    return this.options.projections.map(({ name }) => ({
      name,
      position: rows.get(name)?.position ?? undefined,
      failure: rows.get(name)?.failure,
    }));
  }

  /** What the leader's runner failed on, or why this instance cannot reach the lease. */
  get lastError(): unknown {
    return this.leadership ? this.leadership.runner.lastError : this.lease?.lastError;
  }

  /**
   * The read models have caught up with the log since start, nothing is known broken, and no
   * projection is set aside (as far as this instance last saw; `health()` looks again).
   */
  isReady(): boolean {
    return this.caughtUp() && this.lastError === undefined && this.knownFailures().length === 0;
  }

  /** Readiness, with the set-aside projections: the leader's own, or what the shared table says. */
  async health(): Promise<ReadModelsHealth> {
    const role = this.role;
    let failedProjections: ProjectionFailure[];
    let unreadable = false;
    if (this.leadership !== undefined) {
      failedProjections = this.leadership.runner.failures;
    } else {
      try {
        failedProjections = await this.watcher.failures();
      } catch {
        // Cannot read the shared table: not ready, and nothing new to tell about failures.
        failedProjections = [...this.sharedFailures];
        unreadable = true;
      }
    }
    const caughtUp = this.caughtUp() && this.lastError === undefined && !unreadable;
    const status = failedProjections.length > 0 ? 'degraded' : caughtUp ? 'ready' : 'catching up';
    const rebuildingProjections = this.leadership?.runner.rebuildingBeside ?? [];
    return { role, ready: status === 'ready', status, failedProjections, rebuildingProjections };
  }

  /**
   * Resolves once every projection that is not set aside has committed `position`. Rejects with
   * `ReadModelStoppedError` when a set-aside projection that has not is one the answer needs
   * (see `WaitOptions`): the write is recorded, but reading it back will not show it.
   */
  async waitForPosition(
    position: GlobalPosition,
    timeoutMs = DEFAULT_TIMEOUT_MS,
    options: WaitOptions = {},
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const stopped = await this.waitForHealthy(position, timeoutMs);
    if (stopped.length === 0) return;
    const needed = options.readModels
      ? stopped.filter(({ failure }) => options.readModels!.includes(failure.name)).map(({ failure }) => failure)
      : await this.concernedBy(position, stopped, deadline);
    if (needed.length > 0) throw new ReadModelStoppedError(position, needed);
  }

  /**
   * Runs a bulk load into the log (`work`), then rebuilds the read models from the log in bulk
   * (see `ProjectionRunner.rebuildAfter`), staged on another thread meanwhile with
   * `stageAlongside`. An instance that does not lead leaves that to the leader, which follows
   * the load as it comes.
   */
  rebuildAfter<T>(work: () => Promise<T>, stageAlongside?: StageAlongside): Promise<T> {
    return this.leadership ? this.leadership.runner.rebuildAfter(work, stageAlongside) : work();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.lease) await this.lease.stop();
    else await this.follow();
    await this.watcher.stop();
  }

  private async waitForHealthy(position: GlobalPosition, timeoutMs: number): Promise<StoppedProjection[]> {
    const leadership = this.leadership;
    if (leadership === undefined) return this.watcher.waitForPosition(position, timeoutMs);
    const started = Date.now();
    try {
      return await leadership.runner.waitForPosition(position, timeoutMs);
    } catch (error) {
      const handedOver =
        error instanceof ProjectionRunnerStoppedError &&
        leadership.runner.lastError === undefined &&
        this.leadership !== leadership &&
        !this.closed;
      // The lead moved while we waited: the next leader's checkpoints will tell.
      if (!handedOver) throw error;
      return this.watcher.waitForPosition(position, Math.max(0, timeoutMs - (Date.now() - started)));
    }
  }

  /**
   * The stopped projections that should have taken in the write at `position`: those that handle
   * one of its events by name. A projection of every event (`*`, an index such as the audit
   * trail) is never what a write's answer reads, so it does not fail the write. When the
   * write's events cannot be read back in time, every stopped projection handling some type by
   * name counts: the answer says the read model is stopped rather than risk a stale one.
   */
  private async concernedBy(
    position: GlobalPosition,
    stopped: readonly StoppedProjection[],
    deadline: number,
  ): Promise<ProjectionFailure[]> {
    const candidates = stopped.filter(({ failure }) => namedTypes(this.projectionsByName.get(failure.name)).size > 0);
    if (candidates.length === 0) return [];
    this.commandEvents.arm();
    const before = lowest(candidates.map(({ checkpoint }) => checkpoint), this.options.store);
    const events = await this.commandEvents.eventsOfWriteAt(position, before, deadline).catch(() => undefined);
    return candidates
      .filter(({ failure }) => {
        const types = namedTypes(this.projectionsByName.get(failure.name));
        return events === undefined || events.some((event) => types.has(event.type));
      })
      .map(({ failure }) => failure);
  }

  private caughtUp(): boolean {
    return this.caughtUpOnce || (this.leadership?.runner.isCaughtUp() ?? false);
  }

  private knownFailures(): readonly ProjectionFailure[] {
    return this.leadership ? this.leadership.runner.failures : this.sharedFailures;
  }

  /** Follows the log while something is set aside, so that writes are told apart at once. */
  private noteFailures(failures: readonly ProjectionFailure[]): void {
    if (failures.length > 0) this.commandEvents.arm();
    else this.commandEvents.disarm();
  }

  private async lead(): Promise<void> {
    const { store, projectionDb, projections } = this.options;
    const runner = new ProjectionRunner({
      store,
      db: projectionDb,
      projections,
      logger: this.logger,
      stagingThread: this.options.stagingThread,
      copyThread: this.options.copyThread,
      onSetAside: () => this.noteFailures(runner.failures),
    });
    const processes = this.options.backgroundProcesses?.(projectionDb, this) ?? [];
    const started: BackgroundProcess[] = [];
    try {
      for (const worker of [runner, ...processes]) {
        await worker.start();
        started.push(worker);
      }
    } catch (error) {
      await Promise.all(started.map((worker) => worker.stop().catch(() => undefined)));
      throw error;
    }
    this.terms += 1;
    this.leadership = { runner, processes };
    if (this.opened) {
      this.logger.log('Projections: this instance took the lease and now runs them');
      for (const { name, since, attempts } of runner.retried) {
        this.logger.log(`Projection ${name}: set aside since ${since} (${attempts} attempt(s)), retried from its checkpoint`);
      }
    }
  }

  private async follow(): Promise<void> {
    const leadership = this.leadership;
    if (leadership === undefined) return;
    this.leadership = undefined;
    if (leadership.runner.isCaughtUp()) this.caughtUpOnce = true;
    for (const worker of [...leadership.processes].reverse()) await worker.stop();
    await leadership.runner.stop();
    if (this.closed) return;
    this.logger.log('Projections: this instance lost the lease and now follows');
    this.watchUntilCaughtUp();
  }

  /** A follower is ready once the leader has projected everything stored when it started. */
  private watchUntilCaughtUp(): void {
    if (this.caughtUpOnce) return;
    const watch = async (): Promise<void> => {
      const head = await this.options.store.headPosition();
      if (head !== undefined) await this.watcher.whenReached(head);
      this.caughtUpOnce = true;
    };
    const retry = (error: unknown) => {
      if (this.closed || error instanceof ProjectionRunnerStoppedError) return;
      this.logger.error(`Read models: cannot tell whether they have caught up: ${String(error)}`);
      setTimeout(() => void watch().catch(retry), 1000).unref();
    };
    void watch().catch(retry);
  }
}

/** The event types a projection names (`*` left out). */
const namedTypes = (projection: Projection | undefined): ReadonlySet<string> =>
  new Set((projection?.canHandle ?? []).filter((type) => type !== EVERY_EVENT_TYPE));

/** The lowest position; undefined (the start of the log) if any is. */
const lowest = (
  positions: ReadonlyArray<GlobalPosition | undefined>,
  store: Pick<EventStore, 'comparePositions'>,
): GlobalPosition | undefined => {
  let result: GlobalPosition | undefined;
  for (const position of positions) {
    if (position === undefined) return undefined;
    if (result === undefined || store.comparePositions(position, result) < 0) result = position;
  }
  return result;
};
