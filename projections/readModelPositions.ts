/**
 * How a mutation learns that the read models include its events, so that it answers only then.
 * The instance running the projections knows it from its own runner; the other instances
 * sharing the read database watch the checkpoints the runner commits with the rows.
 */
import type { EventStore, GlobalPosition } from '../src/core/eventStore';
import { ProjectionRunnerStoppedError, ReadModelTimeoutError } from './runner';
import type { SqlDatabase } from './sqlDatabase';

export interface ReadModelPositions {
  /** Resolves once every projection has committed `position`. */
  waitForPosition(position: GlobalPosition, timeoutMs?: number): Promise<void>;
}

export interface CheckpointWatcherOptions {
  db: SqlDatabase;
  store: Pick<EventStore, 'comparePositions'>;
  /** The projections a position must have reached. */
  projectionNames: readonly string[];
  /** How often the checkpoints are read while someone waits. */
  pollIntervalMs?: number;
}

interface Waiter {
  position: GlobalPosition;
  settle(error?: unknown): void;
}

const DEFAULT_TIMEOUT_MS = 5000;

/** Polls `projection_checkpoints` while, and only while, a caller waits. */
export class CheckpointWatcher implements ReadModelPositions {
  private readonly waiters = new Set<Waiter>();
  private polling: Promise<void> | undefined;
  private stopped = false;
  /** The error of the last read of the checkpoints, cleared by the next one that succeeds. */
  lastError: unknown;

  constructor(private readonly options: CheckpointWatcherOptions) {}

  waitForPosition(position: GlobalPosition, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    return this.wait(position, timeoutMs);
  }

  /** Like `waitForPosition`, without a time limit: readiness waits as long as it takes. */
  whenReached(position: GlobalPosition): Promise<void> {
    return this.wait(position, undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const waiter of this.waiters) waiter.settle(new ProjectionRunnerStoppedError());
    await this.polling;
  }

  private wait(position: GlobalPosition, timeoutMs: number | undefined): Promise<void> {
    if (this.stopped) return Promise.reject(new ProjectionRunnerStoppedError());
    return new Promise<void>((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => waiter.settle(new ReadModelTimeoutError(position, timeoutMs)), timeoutMs);
      const waiter: Waiter = {
        position,
        settle: (error) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          if (error === undefined) resolve();
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
      const reached = await this.readCheckpoints();
      if (reached !== undefined) {
        for (const waiter of this.waiters) {
          try {
            if (reached(waiter.position)) waiter.settle();
          } catch (error) {
            // A position this store cannot parse fails its own waiter, not the others.
            waiter.settle(error);
          }
        }
      }
      if (this.waiters.size > 0) await new Promise((resolve) => setTimeout(resolve, interval));
    }
  }

  /** A test for "every projection has committed this position", or undefined if unreadable. */
  private async readCheckpoints(): Promise<((position: GlobalPosition) => boolean) | undefined> {
    let rows: Array<{ name: string; position: string | null }>;
    try {
      rows = await this.options.db.all('SELECT name, position FROM projection_checkpoints');
      this.lastError = undefined;
    } catch (error) {
      // Also before the first runner ever created the table: the waiters keep waiting.
      this.lastError = error;
      return undefined;
    }
    const checkpoints = new Map(rows.map((row) => [row.name, row.position]));
    const { store } = this.options;
    return (position) =>
      this.options.projectionNames.every((name) => {
        const checkpoint = checkpoints.get(name);
        return checkpoint != null && store.comparePositions(position, checkpoint) <= 0;
      });
  }
}
