/**
 * The rows the SQLite store's last commits inserted, held in memory for its live subscriptions.
 *
 * After each group commit, a live subscription (the projection runner's) read the rows just
 * written back from the file: 3.3 % of an API's main thread under `npm run bench`'s captures
 * (`node --cpu-prof`), for rows this process had in hand as it sent them to the writer. A
 * subscription now takes them from here when the rows right after its position are held, and
 * reads the file otherwise (far behind, or after rows of another process).
 *
 * A row is held only once its commit is durable, with the very text the writer inserted, so what
 * a subscription is given is what reading the file would give. Only rows this commit inserted are
 * held: an append answered as a retry is not (its rows are the first append's, and may differ).
 * Rows are handed out only as a run without a gap: a position missing is read from the file,
 * where another process may have written it.
 */
import type { StreamWrite, WrittenEntry } from './sqliteAppends';

/** An event's row in the log, as the store reads it. */
export interface EventRow {
  global_position: number;
  event_id: string;
  stream_id: string;
  stream_revision: number;
  event_type: string;
  data: string;
  metadata: string;
}

export interface RecentCommits {
  /** Holds the rows `results` say the commit of `streams` inserted (one result per stream written). */
  committed(streams: readonly StreamWrite[], results: readonly WrittenEntry[]): void;
  /**
   * The rows from the one just after `position`, as long as none is missing, at most `maxCount`;
   * undefined when the row just after `position` is not held.
   */
  after(position: number, maxCount: number): EventRow[] | undefined;
}

/** Holds the last `capacity` rows; an append of more events than that (a seed's batch) is not held. */
export const recentCommits = (capacity: number): RecentCommits => {
  const rows = new Map<number, EventRow>();
  // Positions in the order held, which is the order of the commits: the oldest is let go first.
  const held: number[] = [];
  let oldest = 0;

  const hold = (row: EventRow) => {
    if (rows.has(row.global_position)) return;
    rows.set(row.global_position, row);
    held.push(row.global_position);
    while (held.length - oldest > capacity) rows.delete(held[oldest++]!);
    // Dropped from the front in one go now and then, not one shift at a time.
    if (oldest >= capacity) {
      held.splice(0, oldest);
      oldest = 0;
    }
  };

  return {
    committed(streams, results) {
      let count = 0;
      for (const { events } of streams) count += events.length;
      if (count > capacity) return;
      streams.forEach(({ streamId, events }, index) => {
        const result = results[index];
        const first = result?.firstInserted;
        if (result === undefined || first === undefined) return;
        // One run of positions, as one connection's inserts in one transaction are numbered.
        if (Number(result.position) - first !== events.length - 1) return;
        const firstRevision = result.nextExpectedRevision - events.length + 1;
        events.forEach((event, offset) =>
          hold({
            global_position: first + offset,
            event_id: event.id,
            stream_id: streamId,
            stream_revision: firstRevision + offset,
            event_type: event.type,
            data: event.data,
            metadata: event.metadata,
          }),
        );
      });
    },

    after(position, maxCount) {
      let next = rows.get(position + 1);
      if (next === undefined) return undefined;
      const run: EventRow[] = [];
      while (next !== undefined && run.length < maxCount) {
        run.push(next);
        next = rows.get(next.global_position + 1);
      }
      return run;
    },
  };
};
