/**
 * The checkpoints of the projections in the read database: which version each projection was
 * built with and the position it has committed, next to what the runner has processed. Kept
 * apart from the runner, which follows the log, so that the bookkeeping table and the guard
 * against a second runner live in one place.
 */
import type { EventStore, GlobalPosition } from '../src/core/eventStore';
import type { Projection } from './projection';
import type { SqlDatabase } from './sqlDatabase';

const CREATE_CHECKPOINTS_TABLE = `
  CREATE TABLE IF NOT EXISTS projection_checkpoints (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    position TEXT,
    updated_at TEXT NOT NULL
  )`;

/** What `load` found: the projections whose stored version is current, and the others. */
export interface LoadedCheckpoints {
  current: { projection: Projection; position: GlobalPosition | undefined }[];
  outdated: Projection[];
}

export class ProjectionCheckpoints {
  /** Committed positions; undefined means nothing applied yet. */
  private readonly checkpoints = new Map<string, GlobalPosition | undefined>();
  /**
   * What the checkpoint table holds, which lags `checkpoints` after batches that had nothing to
   * write: the guard against a second runner compares with this, not with what was processed.
   */
  private readonly storedCheckpoints = new Map<string, GlobalPosition | undefined>();

  constructor(
    private readonly db: SqlDatabase,
    private readonly store: Pick<EventStore, 'comparePositions'>,
    private readonly projections: readonly Projection[],
  ) {}

  /**
   * Creates the checkpoint table if need be and reads it: a projection whose stored version is
   * not its own is outdated and must be rebuilt. Remembers nothing yet; see `resume`.
   */
  async load(): Promise<LoadedCheckpoints> {
    await this.db.exec(CREATE_CHECKPOINTS_TABLE);
    const stored = new Map(
      (
        await this.db.all<{ name: string; version: number; position: string | null }>(
          'SELECT name, version, position FROM projection_checkpoints',
        )
      ).map((row) => [row.name, row]),
    );
    const loaded: LoadedCheckpoints = { current: [], outdated: [] };
    for (const projection of this.projections) {
      const checkpoint = stored.get(projection.name);
      if (checkpoint?.version !== projection.version) {
        loaded.outdated.push(projection);
        continue;
      }
      loaded.current.push({ projection, position: checkpoint.position ?? undefined });
    }
    return loaded;
  }

  /** Takes up a checkpoint as stored, for a projection that is not rebuilt. */
  resume(name: string, position: GlobalPosition | undefined): void {
    this.checkpoints.set(name, position);
    this.storedCheckpoints.set(name, position);
  }

  /** Stores, within the transaction that resets the projection, its version and no position. */
  async restart(tx: SqlDatabase, projection: Projection, now: string): Promise<void> {
    await tx.run(
      `INSERT INTO projection_checkpoints (name, version, position, updated_at) VALUES (?, ?, NULL, ?)
       ON CONFLICT (name) DO UPDATE SET version = excluded.version, position = NULL, updated_at = excluded.updated_at`,
      [projection.name, projection.version, now],
    );
  }

  /** Once the reset is committed: the projections start from nothing applied. */
  restarted(projections: readonly Projection[]): void {
    for (const projection of projections) {
      this.checkpoints.set(projection.name, undefined);
      this.storedCheckpoints.set(projection.name, undefined);
    }
  }

  /**
   * Moves the checkpoint only from where this runner left it. Should a second runner ever work
   * on the same read database (an instance that lost its lease and has not noticed yet), one of
   * the two transactions finds the checkpoint moved and rolls back instead of applying twice.
   */
  async move(tx: SqlDatabase, name: string, position: GlobalPosition, now: string): Promise<void> {
    const previous = this.storedCheckpoints.get(name) ?? null;
    const { changes } = await tx.run(
      `UPDATE projection_checkpoints SET position = ?, updated_at = ?
       WHERE name = ? AND (position = ? OR (position IS NULL AND CAST(? AS TEXT) IS NULL))`,
      [position, now, name, previous, previous],
    );
    if (changes !== 1) throw new Error(`The checkpoint of projection ${name} was moved by another runner`);
  }

  /** Once the transaction that moved their checkpoints is committed. */
  stored(names: readonly string[], position: GlobalPosition): void {
    for (const name of names) this.storedCheckpoints.set(name, position);
  }

  /** Once a batch is through, whether or not it had anything to write. */
  processed(names: readonly string[], position: GlobalPosition): void {
    for (const name of names) this.checkpoints.set(name, position);
  }

  hasProcessed(position: GlobalPosition): boolean {
    return this.projections.every((projection) => {
      const checkpoint = this.checkpoints.get(projection.name);
      return checkpoint !== undefined && this.store.comparePositions(position, checkpoint) <= 0;
    });
  }

  isAfterCheckpoint(projection: Projection, position: GlobalPosition): boolean {
    const checkpoint = this.checkpoints.get(projection.name);
    return checkpoint === undefined || this.store.comparePositions(position, checkpoint) > 0;
  }

  /** Where reading must resume so that the projection furthest behind misses nothing. */
  lowestCheckpoint(): GlobalPosition | undefined {
    let lowest: GlobalPosition | undefined;
    for (const projection of this.projections) {
      const checkpoint = this.checkpoints.get(projection.name);
      if (checkpoint === undefined) return undefined;
      if (lowest === undefined || this.store.comparePositions(checkpoint, lowest) < 0) lowest = checkpoint;
    }
    return lowest;
  }
}
