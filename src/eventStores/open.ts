/**
 * Opens the event store a configuration names. Each adapter lives in its own file; this is the
 * one place that knows them all, so adding a store means one adapter file and one case here.
 */
import type { EventStore } from '../core/eventStore';
import { openSqliteEventStore } from './sqlite';

export type EventStoreConfig =
  /** `synchronous` NORMAL is for bulk loads that can be rerun (`npm run seed`): see sqlite.ts. */
  | { kind: 'sqlite'; filename: string; synchronous?: 'FULL' | 'NORMAL' }
  | { kind: 'postgres'; connectionString: string; schema?: string }
  | { kind: 'eventstoredb'; connectionString: string };

export const openEventStore = async (config: EventStoreConfig): Promise<EventStore> => {
  switch (config.kind) {
    case 'sqlite':
      return openSqliteEventStore({ filename: config.filename, synchronous: config.synchronous });
    case 'postgres': {
      // Loaded only when used, like EventStoreDB's below: pg costs about 90 ms of every start on SQLite.
      const { openPostgresEventStore } = await import('./postgres');
      return openPostgresEventStore({ connectionString: config.connectionString, schema: config.schema });
    }
    case 'eventstoredb': {
      // Loaded only when used: the gRPC client costs about 0.2 s of every start on the other stores.
      const { openEventStoreDbEventStore } = await import('./eventStoreDb');
      return openEventStoreDbEventStore({ connectionString: config.connectionString });
    }
  }
};
