/**
 * Views of an event store for the projection tools: one that counts what the runner reads (for
 * a progress bar), one that ends at a given position (to rebuild read models exactly as far as
 * the live ones have got), and a count of the events in the log.
 */
import { sqliteFileOf, type EventStore, type GlobalPosition, type ReadAllOptions, type RecordedEvent, type SqliteLogFile } from '../../src/core/eventStore';

const COUNTING_PAGE = 5000;

/** The number of events up to `until` (inclusive), or in the whole log. */
export const countEvents = async (store: EventStore, until?: GlobalPosition): Promise<number> => {
  const view = until === undefined ? store : storeUpTo(store, until);
  let count = 0;
  let position: GlobalPosition | undefined;
  for (;;) {
    const page = await view.readAll({ fromPosition: position, maxCount: COUNTING_PAGE });
    count += page.length;
    if (page.length < COUNTING_PAGE) return count;
    position = page[page.length - 1]!.position;
  }
};

/**
 * Reads the whole log in pages of `pageSize`, as a rebuild does, and keeps nothing: the cost of
 * reading and parsing the events alone, the bound a rebuild's speed is measured against. Given
 * the store underneath the personal-data layer, the events stay sealed (no decryption counted).
 */
export const readWholeLog = async (store: EventStore, pageSize: number): Promise<{ events: number; elapsedMs: number }> => {
  const started = performance.now();
  let events = 0;
  let position: GlobalPosition | undefined;
  for (;;) {
    const page = await store.readAll({ fromPosition: position, maxCount: pageSize });
    events += page.length;
    if (page.length < pageSize) return { events, elapsedMs: performance.now() - started };
    position = page[page.length - 1]!.position;
  }
};

/** Delegates everything, and reports each page `readAll` hands out. */
export const countingStore = (store: EventStore, onRead: (events: number) => void): EventStore =>
  delegate(store, {
    async readAll(options?: ReadAllOptions) {
      const page = await store.readAll(options);
      onRead(page.length);
      return page;
    },
  });

/**
 * The log as it was when `position` was its last event (nothing at all when undefined), frozen:
 * a subscription reports it is caught up at once and never delivers anything later.
 */
export const storeUpTo = (store: EventStore, position: GlobalPosition | undefined): EventStore =>
  delegate(store, {
    async readAll(options?: ReadAllOptions): Promise<RecordedEvent[]> {
      if (position === undefined) return [];
      const from = options?.fromPosition;
      if (from !== undefined && store.comparePositions(from, position) >= 0) return [];
      const page = await store.readAll(options);
      const end = page.findIndex((event) => store.comparePositions(event.position, position) > 0);
      return end === -1 ? page : page.slice(0, end);
    },
    subscribeToAll(options) {
      const timer = setImmediate(() => options.onCaughtUp?.(options.fromPosition));
      return { stop: async () => clearImmediate(timer) };
    },
    async headPosition() {
      return position;
    },
  });

/** A store whose methods are the given ones, the others passed on (adapters may be classes). */
const delegate = (store: EventStore, overrides: Partial<EventStore>): EventStore & SqliteLogFile => ({
  name: store.name,
  appendsToStreamsAtomically: store.appendsToStreamsAtomically,
  // Read in SQL through the view's `headPosition()`: as far as the view shows the log.
  sqliteFile: sqliteFileOf(store),
  appendToStream: (streamId, events, options) => store.appendToStream(streamId, events, options),
  appendToStreams: (appends) => store.appendToStreams(appends),
  readStream: (streamId, options) => store.readStream(streamId, options),
  readAll: (options) => store.readAll(options),
  subscribeToAll: (options) => store.subscribeToAll(options),
  headPosition: () => store.headPosition(),
  comparePositions: (a, b) => store.comparePositions(a, b),
  close: () => store.close(),
  ...overrides,
});
