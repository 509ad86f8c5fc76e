/**
 * The event-store port with its appends counted and timed: the adapters stay as they are, and
 * whatever appends through this wrapper (the requests' command handling) is measured.
 */
import { ConcurrencyConflictError, sqliteFileOf, type EventStore, type SqliteLogFile } from '../core/eventStore';
import type { CrmMetrics } from './metrics';

export const observeEventStore = (store: EventStore, metrics: CrmMetrics): EventStore & SqliteLogFile => {
  const labels = { store: store.name };
  return {
    name: store.name,
    appendsToStreamsAtomically: store.appendsToStreamsAtomically,
    sqliteFile: sqliteFileOf(store),
    async appendToStream(streamId, events, options) {
      const stopTimer = metrics.appendDuration.startTimer(labels);
      try {
        const result = await store.appendToStream(streamId, events, options);
        metrics.appends.inc({ ...labels, result: 'ok' });
        metrics.appendedEvents.inc(labels, events.length);
        return result;
      } catch (error) {
        metrics.appends.inc({ ...labels, result: error instanceof ConcurrencyConflictError ? 'conflict' : 'error' });
        throw error;
      } finally {
        stopTimer();
      }
    },
    async appendToStreams(appends) {
      const stopTimer = metrics.appendDuration.startTimer(labels);
      try {
        const results = await store.appendToStreams(appends);
        metrics.appends.inc({ ...labels, result: 'ok' }, appends.length);
        metrics.appendedEvents.inc(labels, appends.reduce((sum, entry) => sum + entry.events.length, 0));
        return results;
      } catch (error) {
        metrics.appends.inc({ ...labels, result: error instanceof ConcurrencyConflictError ? 'conflict' : 'error' });
        throw error;
      } finally {
        stopTimer();
      }
    },
    readStream: (streamId, options) => store.readStream(streamId, options),
    readAll: (options) => store.readAll(options),
    subscribeToAll: (options) => store.subscribeToAll(options),
    headPosition: () => store.headPosition(),
    comparePositions: (a, b) => store.comparePositions(a, b),
    close: () => store.close(),
  };
};
