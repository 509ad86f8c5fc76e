/**
 * The checkpoints of the projections in the read database: which version each projection was
 * built with and the position it has committed, next to what the runner has processed. Kept
 * apart from the runner, which follows the log, so that the bookkeeping table and the guard
 * against a second runner live in one place.
 *
 * A projection that failed on an event is set aside: the `failure` column of its row says on
 * which event, with which error, since when (JSON, see `ProjectionFailure`). Its checkpoint stays
 * before that event, so nothing is skipped; the column is cleared in the transaction that moves
 * the checkpoint past the event (after a fix, at the next start) or that resets the projection.
 * Every instance sharing the read database reads it there (`readCheckpointRows`).
 */
import type { EventStore, GlobalPosition } from '../src/core/eventStore';
import type { Projection } from './projection';
import type { SqlDatabase } from './sqlDatabase';

const CREATE_CHECKPOINTS_TABLE = `
  CREATE TABLE IF NOT EXISTS projection_checkpoints (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    position TEXT,
    updated_at TEXT NOT NULL,
    failure TEXT
  )`;

/** Why a projection is set aside: the event it failed on, and how. */
export interface ProjectionFailure {
  name: string;
  eventId: string;
  eventType: string;
  streamId: string;
  /** The failed event's position: the projection's checkpoint stays before it. */
  position: GlobalPosition;
  /** The error's message. */
  error: string;
  /** When the projection first failed on this event (ISO-8601); retries keep it. */
  since: string;
  /** When it last failed on it: each start retries. */
  lastAttemptAt: string;
  /** How many times it failed on it (1, then one more per retry). */
  attempts: number;
}

/** What a failure holds before it is stored. */
export type FailedEvent = Pick<ProjectionFailure, 'name' | 'eventId' | 'eventType' | 'streamId' | 'position' | 'error'>;

/** A row of the checkpoint table, as any instance reads it. */
export interface CheckpointRow {
  name: string;
  version: number;
  position: GlobalPosition | null;
  failure: ProjectionFailure | undefined;
}

/** What `load` found: the projections whose stored version is current, and the others. */
export interface LoadedCheckpoints {
  current: { projection: Projection; position: GlobalPosition | undefined; failure: ProjectionFailure | undefined }[];
  outdated: Projection[];
  /** Of the outdated, those stored under another version: their tables hold that version's rows. */
  replaced: Projection[];
}

const NONE: ReadonlySet<string> = new Set();

/** Error messages are kept to this many characters. */
const MAX_ERROR_LENGTH = 2000;

/**
 * Reads every checkpoint with its failure, in one statement (so one snapshot). A table created
 * before the `failure` column existed, and not yet migrated by a runner, reads as no failures.
 */
export const readCheckpointRows = async (db: SqlDatabase): Promise<CheckpointRow[]> => {
  let rows: Array<{ name: string; version: number; position: string | null; failure?: string | null }>;
  try {
    rows = await db.all('SELECT name, version, position, failure FROM projection_checkpoints');
  } catch (error) {
    if (!(await hasCheckpointTable(db)) || (await hasFailureColumn(db))) throw error;
    rows = await db.all('SELECT name, version, position FROM projection_checkpoints');
  }
  return rows.map((row) => ({
    name: row.name,
    version: Number(row.version),
    position: row.position,
    failure: parseFailure(row.name, row.failure),
  }));
};

const hasCheckpointTable = (db: SqlDatabase) =>
  db.all('SELECT name FROM projection_checkpoints WHERE 1 = 0').then(
    () => true,
    () => false,
  );

const hasFailureColumn = (db: SqlDatabase) =>
  db.all('SELECT failure FROM projection_checkpoints WHERE 1 = 0').then(
    () => true,
    () => false,
  );

const parseFailure = (name: string, text: string | null | undefined): ProjectionFailure | undefined => {
  if (text == null) return undefined;
  try {
    const stored = JSON.parse(text) as Omit<ProjectionFailure, 'name'>;
    return { ...stored, name };
  } catch {
    // Unreadable, yet there: still a failure.
    const now = new Date(0).toISOString();
    return { name, eventId: '', eventType: '', streamId: '', position: '', error: text, since: now, lastAttemptAt: now, attempts: 1 };
  }
};

const storedFailure = ({ name: _name, ...failure }: ProjectionFailure): string => JSON.stringify(failure);

export class ProjectionCheckpoints {
  /** Committed positions; undefined means nothing applied yet. */
  private readonly checkpoints = new Map<string, GlobalPosition | undefined>();
  /**
   * What the checkpoint table holds, which lags `checkpoints` after batches that had nothing to
   * write: the guard against a second runner compares with this, not with what was processed.
   */
  private readonly storedCheckpoints = new Map<string, GlobalPosition | undefined>();
  /** The failures the table holds, cleared by the move that passes their event. */
  private readonly storedFailures = new Map<string, ProjectionFailure>();

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
    await this.addFailureColumn();
    const stored = new Map((await readCheckpointRows(this.db)).map((row) => [row.name, row]));
    const loaded: LoadedCheckpoints = { current: [], outdated: [], replaced: [] };
    for (const projection of this.projections) {
      const checkpoint = stored.get(projection.name);
      if (checkpoint?.version !== projection.version) {
        loaded.outdated.push(projection);
        if (checkpoint !== undefined) loaded.replaced.push(projection);
        continue;
      }
      loaded.current.push({ projection, position: checkpoint.position ?? undefined, failure: checkpoint.failure });
    }
    return loaded;
  }

  /** A table created before failures were kept gets their column. */
  private async addFailureColumn(): Promise<void> {
    if (await hasFailureColumn(this.db)) return;
    try {
      await this.db.exec('ALTER TABLE projection_checkpoints ADD COLUMN failure TEXT');
    } catch (error) {
      // Another process may have added it meanwhile.
      if (!(await hasFailureColumn(this.db))) throw error;
    }
  }

  /**
   * Takes up a checkpoint as stored, for a projection that is not rebuilt. A stored failure is
   * not taken up as one: the projection is retried from its checkpoint, and the failure stays
   * in the table until the projection gets past its event, or fails on it again.
   */
  resume(name: string, position: GlobalPosition | undefined, failure?: ProjectionFailure): void {
    this.checkpoints.set(name, position);
    this.storedCheckpoints.set(name, position);
    if (failure === undefined) this.storedFailures.delete(name);
    else this.storedFailures.set(name, failure);
  }

  /** Stores, within the transaction that resets the projection, its version, no position, no failure. */
  async restart(tx: SqlDatabase, projection: Projection, now: string): Promise<void> {
    await tx.run(
      `INSERT INTO projection_checkpoints (name, version, position, updated_at, failure) VALUES (?, ?, NULL, ?, NULL)
       ON CONFLICT (name) DO UPDATE SET version = excluded.version, position = NULL, updated_at = excluded.updated_at,
         failure = NULL`,
      [projection.name, projection.version, now],
    );
  }

  /**
   * Stores, within the transaction that replaces their tables with rows rebuilt through
   * `position`, each projection's version and that position (a rebuild beside old tables).
   */
  async restartAt(tx: SqlDatabase, projections: readonly Projection[], position: GlobalPosition, now: string): Promise<void> {
    for (const projection of projections) {
      await this.restart(tx, projection, now);
      await this.move(tx, projection.name, position, now);
    }
  }

  /** Once the reset is committed: the projections start from nothing applied. */
  restarted(projections: readonly Projection[]): void {
    for (const projection of projections) {
      this.checkpoints.set(projection.name, undefined);
      this.storedCheckpoints.set(projection.name, undefined);
      this.storedFailures.delete(projection.name);
    }
  }

  /**
   * Stores, in a transaction of its own, that a projection failed on an event. Failing again on
   * the same event (a retry) keeps `since` and counts the attempt. Returns what is stored.
   */
  async setAside(failed: FailedEvent, now: string): Promise<ProjectionFailure> {
    const previous = this.storedFailures.get(failed.name);
    const again = previous !== undefined && previous.eventId === failed.eventId;
    const failure: ProjectionFailure = {
      ...failed,
      error: failed.error.length > MAX_ERROR_LENGTH ? `${failed.error.slice(0, MAX_ERROR_LENGTH)}…` : failed.error,
      since: again ? previous.since : now,
      lastAttemptAt: now,
      attempts: again ? previous.attempts + 1 : 1,
    };
    const { changes } = await this.db.transaction((tx) =>
      tx.run('UPDATE projection_checkpoints SET failure = ? WHERE name = ?', [storedFailure(failure), failed.name]),
    );
    if (changes !== 1) throw new Error(`There is no checkpoint of projection ${failed.name} to set it aside`);
    this.storedFailures.set(failed.name, failure);
    return failure;
  }

  /**
   * Moves the checkpoint only from where this runner left it. Should a second runner ever work
   * on the same read database (an instance that lost its lease and has not noticed yet), one of
   * the two transactions finds the checkpoint moved and rolls back instead of applying twice.
   */
  async move(tx: SqlDatabase, name: string, position: GlobalPosition, now: string): Promise<void> {
    const previous = this.storedCheckpoints.get(name) ?? null;
    const failure = this.storedFailures.get(name);
    // Past the event it failed on: the projection is no longer set aside.
    const passed = failure !== undefined && this.passes(position, failure);
    const { changes } = await tx.run(
      `UPDATE projection_checkpoints SET position = ?, updated_at = ?${passed ? ', failure = NULL' : ''}
       WHERE name = ? AND (position = ? OR (position IS NULL AND CAST(? AS TEXT) IS NULL))`,
      [position, now, name, previous, previous],
    );
    if (changes !== 1) throw new Error(`The checkpoint of projection ${name} was moved by another runner`);
  }

  /**
   * As `move`, for every projection of a batch, in as few statements as there are distinct pairs
   * of (where it was, where it goes): in a batch they nearly all go from one position to one
   * position, and a capture on PostgreSQL made two batches of nine projections, so eighteen
   * statements, one round trip each, where two do. A checkpoint that leaves its failure behind
   * (rare) is moved alone, as `move` does.
   */
  async moveAll(tx: SqlDatabase, moves: ReadonlyArray<readonly [name: string, position: GlobalPosition]>, now: string): Promise<void> {
    const groups = new Map<string, { position: GlobalPosition; previous: GlobalPosition | null; names: string[] }>();
    for (const [name, position] of moves) {
      const failure = this.storedFailures.get(name);
      if (failure !== undefined && this.passes(position, failure)) {
        await this.move(tx, name, position, now);
        continue;
      }
      const previous = this.storedCheckpoints.get(name) ?? null;
      const key = JSON.stringify([position, previous]);
      const group = groups.get(key) ?? { position, previous, names: [] };
      group.names.push(name);
      groups.set(key, group);
    }
    for (const { position, previous, names } of groups.values()) {
      // Checked where the statement runs: in a batch that holds writes, nothing waits for its answer.
      await tx.write(
        `UPDATE projection_checkpoints SET position = ?, updated_at = ?
         WHERE name IN (${names.map(() => '?').join(', ')}) AND (position = ? OR (position IS NULL AND CAST(? AS TEXT) IS NULL))`,
        [position, now, ...names, previous, previous],
        {
          changes: names.length,
          otherwise: `The checkpoint of projection${names.length > 1 ? 's' : ''} ${names.join(', ')} was moved by another runner`,
        },
      );
    }
  }

  /** Once the transaction that moved their checkpoints is committed. */
  stored(moves: ReadonlyArray<readonly [name: string, position: GlobalPosition]>): void {
    for (const [name, position] of moves) {
      this.storedCheckpoints.set(name, position);
      const failure = this.storedFailures.get(name);
      if (failure !== undefined && this.passes(position, failure)) this.storedFailures.delete(name);
    }
  }

  /** Once a batch is through, whether or not it had anything to write. */
  processed(moves: ReadonlyArray<readonly [name: string, position: GlobalPosition]>): void {
    for (const [name, position] of moves) this.checkpoints.set(name, position);
  }

  /** The processed positions the table does not hold yet (see `storedCheckpoints`). */
  unstored(): Array<readonly [name: string, position: GlobalPosition]> {
    return [...this.checkpoints].flatMap(([name, position]) =>
      position !== undefined && position !== this.storedCheckpoints.get(name) ? [[name, position] as const] : [],
    );
  }

  /** Every projection but those named in `except` has processed `position`. */
  hasProcessed(position: GlobalPosition, except: ReadonlySet<string> = NONE): boolean {
    return this.processedTest(except)(position);
  }

  /**
   * `hasProcessed`, for as many positions as need it (every waiter, after each batch): the lowest
   * checkpoint of the projections not excepted is found once, and each position compared with it alone.
   */
  processedTest(except: ReadonlySet<string> = NONE): (position: GlobalPosition) => boolean {
    let lowest: GlobalPosition | undefined;
    for (const projection of this.projections) {
      if (except.has(projection.name)) continue;
      const checkpoint = this.checkpoints.get(projection.name);
      if (checkpoint === undefined) return () => false;
      if (lowest === undefined || this.store.comparePositions(checkpoint, lowest) < 0) lowest = checkpoint;
    }
    const through = lowest;
    return through === undefined ? () => true : (position) => this.store.comparePositions(position, through) <= 0;
  }

  isAfterCheckpoint(projection: Projection, position: GlobalPosition): boolean {
    const checkpoint = this.checkpoints.get(projection.name);
    return checkpoint === undefined || this.store.comparePositions(position, checkpoint) > 0;
  }

  /** What the projection has processed; undefined means nothing yet. */
  checkpointOf(name: string): GlobalPosition | undefined {
    return this.checkpoints.get(name);
  }

  /**
   * Where reading must resume so that the projection furthest behind misses nothing; those named
   * in `except` (set aside) are not waited for, unless nothing else is left.
   */
  lowestCheckpoint(except: ReadonlySet<string> = NONE): GlobalPosition | undefined {
    const considered = this.projections.filter((projection) => !except.has(projection.name));
    let lowest: GlobalPosition | undefined;
    for (const projection of considered.length > 0 ? considered : this.projections) {
      const checkpoint = this.checkpoints.get(projection.name);
      if (checkpoint === undefined) return undefined;
      if (lowest === undefined || this.store.comparePositions(checkpoint, lowest) < 0) lowest = checkpoint;
    }
    return lowest;
  }

  private passes(position: GlobalPosition, failure: ProjectionFailure): boolean {
    try {
      return this.store.comparePositions(position, failure.position) >= 0;
    } catch {
      // A failure of unreadable position (another store?) goes with the first move.
      return true;
    }
  }
}

