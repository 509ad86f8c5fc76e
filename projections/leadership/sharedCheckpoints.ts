/**
 * How an instance that does not run the projections (a follower) learns from the shared read
 * database that a write of its own has been projected: it polls `projection_checkpoints`, and
 * only while someone waits. A projection the leader has set aside (its `failure` column) is not
 * waited for; the wait reports it instead, with where it stopped. Nor is one whose row holds
 * another version than this instance's (being rebuilt beside its old rows).
 */
import type { EventStore, GlobalPosition } from '../../src/core/eventStore';
import { readCheckpointRows, type CheckpointRow, type ProjectionFailure } from '../checkpoints';
import { ProjectionRunnerStoppedError, ReadModelTimeoutError, type StoppedProjection } from '../runner';
import type { SqlDatabase } from '../sqlDatabase';

export interface SharedCheckpointsOptions {
  db: SqlDatabase;
  store: Pick<EventStore, 'comparePositions'>;
  /** The projections of this instance; rows of others (another version) are ignored. */
  projectionNames: readonly string[];
  /**
   * Their versions. A row of another version is not waited for: the leader is building this
   * version beside the old rows (see `ProjectionRunner.start`), or still runs the old one.
   */
  projectionVersions?: ReadonlyMap<string, number>;
  /** How often the checkpoints are read while someone waits. */
  pollIntervalMs?: number;
  /** Told the failures each time the table is read. */
  onFailures?(failures: readonly ProjectionFailure[]): void;
}

interface Waiter {
  position: GlobalPosition;
  settle(error: unknown, stopped?: StoppedProjection[]): void;
}

const DEFAULT_TIMEOUT_MS = 5000;

export class SharedCheckpoints {
  private readonly waiters = new Set<Waiter>();
  private readonly names: ReadonlySet<string>;
  private polling: Promise<void> | undefined;
  private stopped = false;
  /** The error of the last read of the table, cleared by the next one that succeeds. */
  lastError: unknown;

  constructor(private readonly options: SharedCheckpointsOptions) {
    this.names = new Set(options.projectionNames);
  }

  /**
   * Resolves once every projection that is not set aside has committed `position`, with the
   * set-aside ones that have not.
   */
  waitForPosition(position: GlobalPosition, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<StoppedProjection[]> {
    return this.wait(position, timeoutMs);
  }

  /** Like `waitForPosition`, without a time limit: readiness waits as long as it takes. */
  async whenReached(position: GlobalPosition): Promise<void> {
    await this.wait(position, undefined);
  }

  /** The failures of this instance's projections, as the table holds them now. */
  async failures(): Promise<ProjectionFailure[]> {
    const rows = await this.read();
    return rows.flatMap((row) => (row.failure === undefined ? [] : [row.failure]));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const waiter of this.waiters) waiter.settle(new ProjectionRunnerStoppedError());
    await this.polling;
  }

  private wait(position: GlobalPosition, timeoutMs: number | undefined): Promise<StoppedProjection[]> {
    if (this.stopped) return Promise.reject(new ProjectionRunnerStoppedError());
    return new Promise<StoppedProjection[]>((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => waiter.settle(new ReadModelTimeoutError(position, timeoutMs)), timeoutMs);
      const waiter: Waiter = {
        position,
        settle: (error, stopped = []) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          if (error === undefined) resolve(stopped);
          else reject(error);
        },
      };
      this.waiters.add(waiter);
      this.polling ??= this.poll().finally(() => (this.polling = undefined));
    });
  }

  private async poll(): Promise<void> {
    const interval = this.options.pollIntervalMs ?? 20;
    while (this.waiters.size > 0 && !this.stopped) {
      let rows: CheckpointRow[] | undefined;
      try {
        rows = await this.read();
      } catch {
        // Also before the first runner ever created the table: the waiters keep waiting.
      }
      if (rows !== undefined) {
        for (const waiter of this.waiters) {
          try {
            const stopped = this.reached(rows, waiter.position);
            if (stopped !== undefined) waiter.settle(undefined, stopped);
          } catch (error) {
            // A position this store cannot parse fails its own waiter, not the others.
            waiter.settle(error);
          }
        }
      }
      if (this.waiters.size > 0) await new Promise((resolve) => setTimeout(resolve, interval));
    }
  }

  private async read(): Promise<CheckpointRow[]> {
    try {
      const rows = (await readCheckpointRows(this.options.db)).filter((row) => this.names.has(row.name));
      this.lastError = undefined;
      this.options.onFailures?.(rows.flatMap((row) => (row.failure === undefined ? [] : [row.failure])));
      return rows;
    } catch (error) {
      this.lastError = error;
      throw error;
    }
  }

  /** Undefined while a projection that is not set aside has yet to reach `position`. */
  private reached(rows: readonly CheckpointRow[], position: GlobalPosition): StoppedProjection[] | undefined {
    const byName = new Map(rows.map((row) => [row.name, row]));
    const stopped: StoppedProjection[] = [];
    const { store } = this.options;
    for (const name of this.names) {
      const row = byName.get(name);
      const done = row?.position != null && store.comparePositions(position, row.position) <= 0;
      if (done) continue;
      const version = this.options.projectionVersions?.get(name);
      if (row !== undefined && version !== undefined && row.version !== version) continue;
      if (row?.failure === undefined) return undefined;
      stopped.push({ failure: row.failure, checkpoint: row.position ?? undefined });
    }
    return stopped;
  }
}
