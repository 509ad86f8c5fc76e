/**
 * Which events a write appended, known only by the position of its last event (what a mutation
 * waits for): read back from the log. Needed only while a projection is set aside, to tell
 * whether the write is one that the stopped read model should have taken in.
 *
 * The events of one command are appended together, on one stream, with the command's id as
 * their causation id, so they are the run of events ending at that position with the same
 * stream and causation. Once armed (when a projection is first seen set aside) the log is
 * followed from its head at that time, in a window of recent events; a write older than that
 * is looked for by a bounded scan from a position known to precede it.
 */
import type { EventStore, GlobalPosition, RecordedEvent } from '../../src/core/eventStore';

export interface LoggedEvent {
  position: GlobalPosition;
  type: string;
  streamId: string;
  causationId: string;
}

export interface CommandEventsOptions {
  /** Recent events kept once armed. */
  windowSize?: number;
  /** Events read at most by a scan for a write older than the window. */
  maxScan?: number;
  pageSize?: number;
}

type LogReader = Pick<EventStore, 'readAll' | 'headPosition' | 'comparePositions'>;

export class CommandEvents {
  private readonly windowSize: number;
  private readonly maxScan: number;
  private readonly pageSize: number;
  /** Set once armed: the log is followed after `from` (undefined: from its start). */
  private armed: { from: GlobalPosition | undefined } | undefined;
  private arming: Promise<void> | undefined;
  private cursor: GlobalPosition | undefined;
  private window: LoggedEvent[] = [];
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: LogReader,
    options: CommandEventsOptions = {},
  ) {
    this.windowSize = options.windowSize ?? 10_000;
    this.maxScan = options.maxScan ?? 20_000;
    this.pageSize = options.pageSize ?? 500;
  }

  get isArmed(): boolean {
    return this.armed !== undefined || this.arming !== undefined;
  }

  /** Starts following the log from its head, once; the writes that follow are then found at once. */
  arm(): void {
    if (this.isArmed) return;
    this.arming = this.store
      .headPosition()
      .then(
        (head) => {
          this.armed = { from: head };
          this.cursor = head;
          this.window = [];
        },
        () => undefined,
      )
      .finally(() => (this.arming = undefined));
  }

  /** Forgets the window: nothing is set aside any more. */
  disarm(): void {
    if (this.arming !== undefined) return;
    this.armed = undefined;
    this.cursor = undefined;
    this.window = [];
  }

  /**
   * The events of the write whose last event is at `position`, oldest first; undefined when they
   * cannot be found by `deadline` (a time in ms). `before`, exclusive, precedes the write
   * (undefined: the start of the log).
   */
  eventsOfWriteAt(
    position: GlobalPosition,
    before: GlobalPosition | undefined,
    deadline: number,
  ): Promise<LoggedEvent[] | undefined> {
    const run = this.queue.then(async () => {
      await this.arming;
      const armed = this.armed;
      if (armed !== undefined && (armed.from === undefined || this.store.comparePositions(position, armed.from) > 0)) {
        await this.advanceTo(position, deadline);
        const found = runEndingAt(this.window, position, this.store);
        if (found !== undefined) return found;
      }
      return this.scan(before, position, deadline);
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async advanceTo(position: GlobalPosition, deadline: number): Promise<void> {
    while (Date.now() < deadline && (this.cursor === undefined || this.store.comparePositions(this.cursor, position) < 0)) {
      const page = await this.store.readAll({ fromPosition: this.cursor, maxCount: this.pageSize });
      if (page.length === 0) return;
      this.window.push(...page.map(logged));
      if (this.window.length > this.windowSize) this.window.splice(0, this.window.length - this.windowSize);
      this.cursor = page[page.length - 1]!.position;
    }
  }

  private async scan(
    before: GlobalPosition | undefined,
    position: GlobalPosition,
    deadline: number,
  ): Promise<LoggedEvent[] | undefined> {
    let cursor = before;
    let tail: LoggedEvent[] = [];
    for (let read = 0; read < this.maxScan && Date.now() < deadline; ) {
      const page = await this.store.readAll({ fromPosition: cursor, maxCount: this.pageSize });
      if (page.length === 0) return undefined;
      read += page.length;
      tail = [...tail.slice(-this.pageSize), ...page.map(logged)];
      const found = runEndingAt(tail, position, this.store);
      if (found !== undefined) return found;
      cursor = page[page.length - 1]!.position;
      if (this.store.comparePositions(cursor, position) > 0) return undefined;
    }
    return undefined;
  }
}

const logged = (event: RecordedEvent): LoggedEvent => ({
  position: event.position,
  type: event.type,
  streamId: event.streamId,
  causationId: event.metadata.causationId,
});

/** The event at `position` and the ones just before it of the same stream and command. */
const runEndingAt = (
  events: readonly LoggedEvent[],
  position: GlobalPosition,
  store: Pick<EventStore, 'comparePositions'>,
): LoggedEvent[] | undefined => {
  let end = events.length - 1;
  while (end >= 0 && store.comparePositions(events[end]!.position, position) > 0) end--;
  if (end < 0 || store.comparePositions(events[end]!.position, position) !== 0) return undefined;
  const last = events[end]!;
  let start = end;
  while (start > 0 && events[start - 1]!.streamId === last.streamId && events[start - 1]!.causationId === last.causationId) {
    start--;
  }
  return events.slice(start, end + 1);
};
