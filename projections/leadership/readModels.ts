/**
 * The read side of one instance. Exactly one instance among those sharing a read database runs
 * the projections and the background processes (the leader, holding a lease); the others are
 * followers that serve queries from the same tables and learn from the committed checkpoints
 * when a write of theirs has been projected. A follower takes over when the leader's lease ends.
 * Without a lease (a SQLite read store belongs to one process) the instance always leads.
 */
import type { EventStore, GlobalPosition } from '../../src/core/eventStore';
import type { Projection } from '../projection';
import { CheckpointWatcher, type ReadModelPositions } from '../readModelPositions';
import { ProjectionRunner, ProjectionRunnerStoppedError } from '../runner';
import type { SqlDatabase } from '../sqlDatabase';
import { AdvisoryLockLease } from './advisoryLockLease';

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
  /** Called each time this instance becomes the leader (processes are not restartable). */
  backgroundProcesses?: (db: SqlDatabase) => BackgroundProcess[];
  /** Compete for the lead with other instances on this PostgreSQL database. */
  lease?: { connectionString: string; name: string; retryIntervalMs?: number };
  logger?: Pick<Console, 'log' | 'error'>;
}

const DEFAULT_TIMEOUT_MS = 5000;

interface Leadership {
  runner: ProjectionRunner;
  processes: BackgroundProcess[];
}

export class ReadModels implements ReadModelPositions {
  private readonly watcher: CheckpointWatcher;
  private readonly lease: AdvisoryLockLease | undefined;
  private readonly logger: Pick<Console, 'log' | 'error'>;
  private leadership: Leadership | undefined;
  /** Set once the read models have reached the end of the log as it was when we started. */
  private caughtUpOnce = false;
  private opened = false;
  private closed = false;

  private constructor(private readonly options: ReadModelsOptions) {
    this.logger = options.logger ?? console;
    this.watcher = new CheckpointWatcher({
      db: options.readDb,
      store: options.store,
      projectionNames: options.projections.map((projection) => projection.name),
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

  /** What the leader's runner failed on, or why this instance cannot reach the lease. */
  get lastError(): unknown {
    return this.leadership ? this.leadership.runner.lastError : this.lease?.lastError;
  }

  /** The read models have caught up with the log since start, and nothing is known broken. */
  isReady(): boolean {
    const caughtUp = this.caughtUpOnce || (this.leadership?.runner.isCaughtUp() ?? false);
    return caughtUp && this.lastError === undefined;
  }

  async waitForPosition(position: GlobalPosition, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    const leadership = this.leadership;
    if (leadership === undefined) return this.watcher.waitForPosition(position, timeoutMs);
    const started = Date.now();
    try {
      await leadership.runner.waitForPosition(position, timeoutMs);
    } catch (error) {
      const handedOver =
        error instanceof ProjectionRunnerStoppedError &&
        leadership.runner.lastError === undefined &&
        this.leadership !== leadership &&
        !this.closed;
      // The lead moved while we waited: the next leader's checkpoints will tell.
      if (!handedOver) throw error;
      await this.watcher.waitForPosition(position, Math.max(0, timeoutMs - (Date.now() - started)));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.lease) await this.lease.stop();
    else await this.follow();
    await this.watcher.stop();
  }

  private async lead(): Promise<void> {
    const { store, projectionDb, projections } = this.options;
    const runner = new ProjectionRunner({ store, db: projectionDb, projections, logger: this.logger });
    const processes = this.options.backgroundProcesses?.(projectionDb) ?? [];
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
    this.leadership = { runner, processes };
    if (this.opened) this.logger.log('Projections: this instance took the lease and now runs them');
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
