/**
 * An event store held in memory, for unit tests. It keeps data and metadata as JSON text, as a
 * database would, so a test cannot pass thanks to a shared object that storage would not keep
 * (a Date, an undefined field, a mutation after the append).
 */
import {
  ConcurrencyConflictError,
  NO_STREAM,
  streamNotFound,
  matchesExpectedRevision,
  type EventStore,
  type AppendResult,
  type ExpectedRevision,
  type GlobalPosition,
  type NewEvent,
  type RecordedEvent,
  type Subscription,
} from '../core/eventStore';
import { assertAppendableBatch, resultOfRetriedAppend, toJsonText } from './appendChecks';
import { subscribeByPaging } from './catchUpSubscription';

interface StoredEvent {
  id: string;
  streamId: string;
  revision: number;
  /** 1-based index in `log`. */
  sequence: number;
  type: string;
  data: string;
  metadata: string;
}

const SUBSCRIPTION_BATCH_SIZE = 500;

export const createInMemoryEventStore = (): EventStore => {
  const log: StoredEvent[] = [];
  const streams = new Map<string, StoredEvent[]>();
  const eventsById = new Map<string, StoredEvent>();
  const appendListeners = new Set<() => void>();
  const subscriptions = new Set<Subscription>();

  const lastRevisionOf = (streamId: string) => {
    const stream = streams.get(streamId);
    return stream === undefined ? NO_STREAM : stream.length - 1;
  };

  const readAllNow = (fromPosition: GlobalPosition | undefined, maxCount = Infinity) => {
    const from = fromPosition === undefined ? 0 : parsePosition(fromPosition);
    return log.slice(from, from + maxCount).map(toRecordedEvent);
  };

  const appendNow = (streamId: string, events: readonly NewEvent[], expectedRevision: ExpectedRevision): AppendResult => {
    assertAppendableBatch(streamId, events);
    const actualRevision = lastRevisionOf(streamId);
    const retried = resultOfRetriedAppend(
      streamId,
      expectedRevision,
      events.map((event) => {
        const stored = eventsById.get(event.id);
        return stored && { ...stored, position: String(stored.sequence) };
      }),
      actualRevision,
    );
    if (retried) return retried;
    if (!matchesExpectedRevision(expectedRevision, actualRevision)) {
      throw new ConcurrencyConflictError(streamId, expectedRevision, actualRevision);
    }
    // Serialise the whole batch before storing any of it, so a bad event stores nothing.
    const firstRevision = actualRevision === NO_STREAM ? 0 : actualRevision + 1;
    const stored = events.map(
      (event, index): StoredEvent => ({
        id: event.id,
        streamId,
        revision: firstRevision + index,
        sequence: log.length + 1 + index,
        type: event.type,
        data: toJsonText(event.data, 'data'),
        metadata: toJsonText(event.metadata, 'metadata'),
      }),
    );
    const stream = streams.get(streamId) ?? [];
    for (const event of stored) {
      log.push(event);
      stream.push(event);
      eventsById.set(event.id, event);
    }
    streams.set(streamId, stream);
    const last = stored[stored.length - 1]!;
    return { nextExpectedRevision: last.revision, position: String(last.sequence) };
  };

  const store: EventStore = {
    name: 'in-memory',
    appendsToStreamsAtomically: true,

    async appendToStream(streamId, events, { expectedRevision }) {
      const result = appendNow(streamId, events, expectedRevision);
      for (const listener of appendListeners) listener();
      return result;
    },

    async appendToStreams(appends) {
      const logLength = log.length;
      let results: AppendResult[];
      try {
        results = appends.map(({ streamId, events, expectedRevision }) => appendNow(streamId, events, expectedRevision));
      } catch (error) {
        // All or nothing, as a database transaction: take back what the entries before stored.
        for (const event of log.splice(logLength)) {
          const stream = streams.get(event.streamId)!;
          stream.pop();
          if (stream.length === 0) streams.delete(event.streamId);
          eventsById.delete(event.id);
        }
        throw error;
      }
      if (results.length > 0) for (const listener of appendListeners) listener();
      return results;
    },

    async readStream(streamId, { fromRevision = 0, maxCount = Infinity } = {}) {
      const stream = streams.get(streamId);
      if (stream === undefined) throw streamNotFound(streamId);
      return stream.slice(fromRevision, fromRevision + maxCount).map(toRecordedEvent);
    },

    async readAll({ fromPosition, maxCount } = {}) {
      return readAllNow(fromPosition, maxCount);
    },

    subscribeToAll(options) {
      const subscription = subscribeByPaging(
        {
          readAll: async ({ fromPosition, maxCount }) => readAllNow(fromPosition, maxCount),
          onAppended(listener) {
            appendListeners.add(listener);
            return () => appendListeners.delete(listener);
          },
          batchSize: SUBSCRIPTION_BATCH_SIZE,
        },
        options,
      );
      subscriptions.add(subscription);
      return {
        async stop() {
          subscriptions.delete(subscription);
          await subscription.stop();
        },
      };
    },

    async headPosition() {
      return log.length === 0 ? undefined : String(log.length);
    },

    comparePositions: (a, b) => parsePosition(a) - parsePosition(b),

    async close() {
      await Promise.all([...subscriptions].map((subscription) => subscription.stop()));
      subscriptions.clear();
    },
  };
  return store;
};

const parsePosition = (position: GlobalPosition): number => {
  if (!/^\d+$/.test(position)) throw new RangeError(`Not an in-memory position: ${position}`);
  return Number(position);
};

const toRecordedEvent = (event: StoredEvent): RecordedEvent => ({
  id: event.id,
  streamId: event.streamId,
  revision: event.revision,
  position: String(event.sequence),
  type: event.type,
  data: JSON.parse(event.data) as unknown,
  metadata: JSON.parse(event.metadata) as RecordedEvent['metadata'],
});
