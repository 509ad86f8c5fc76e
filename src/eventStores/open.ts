/**
 * Opens the event store a configuration names. Each adapter lives in its own file; this is the
 * one place that knows them all, so adding a store means one adapter file and one case here.
 */
import type { EventStore } from '../core/eventStore';
import { openSqliteEventStore } from './sqlite';

export type EventStoreConfig =
  | { kind: 'sqlite'; filename: string }
  | { kind: 'postgres'; connectionString: string; schema?: string }
  | { kind: 'eventstoredb'; connectionString: string };

export const openEventStore = async (config: EventStoreConfig): Promise<EventStore> => {
  switch (config.kind) {
    case 'sqlite':
      return openSqliteEventStore({ filename: config.filename });
    case 'postgres':
    case 'eventstoredb':
      throw new Error(`The ${config.kind} event store adapter is not available yet`);
  }
};
