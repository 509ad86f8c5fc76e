/**
 * The event log as everything above it uses it: the configured store, with personal data sealed
 * on the way in and opened on the way out (`src/personalData/`). The keys live in the read
 * database, on a connection of their own that commits durably (a key lost after its events were
 * written would lose that person's data for good).
 */
import type { ReadStoreConfig } from '../../projections/sqlDatabase';
import { openSqliteDatabase } from '../../projections/sqlDatabase';
import type { EventStore } from '../core/eventStore';
import { openEventStore, type EventStoreConfig } from '../eventStores/open';
import { KeyStore } from '../personalData/keyStore';
import type { ResolvedMasterKey } from '../personalData/masterKey';
import { protectEventStore, type ProtectedEventStore } from '../personalData/protectedEventStore';

export interface EventLogOptions {
  eventStore: EventStoreConfig;
  readStore: ReadStoreConfig;
  dataKey: Pick<ResolvedMasterKey, 'key'>;
}

/** pg is loaded only when a PostgreSQL store is used: about 90 ms of every start on SQLite. */
const openPostgresReadStore = async (readStore: Extract<ReadStoreConfig, { kind: 'postgres' }>) => {
  const { openPostgresDatabase } = await import('../../projections/postgresDatabase');
  return openPostgresDatabase({ connectionString: readStore.connectionString, schema: readStore.schema });
};

/**
 * `sharesWalWith`: the SQLite file of the event store, when the keys live in the same file. Then
 * a key needs no fsync of its own: it is committed before any event sealed under it, to the same
 * WAL, and the event's commit (synchronous FULL) syncs the WAL up to and including the key. A key
 * store anywhere else syncs each batch of keys itself.
 */
export const openKeyStore = async (
  readStore: ReadStoreConfig,
  dataKey: Pick<ResolvedMasterKey, 'key'>,
  sharesWalWith?: string,
): Promise<KeyStore> => {
  const db =
    readStore.kind === 'postgres'
      ? await openPostgresReadStore(readStore)
      : openSqliteDatabase(readStore.filename, { synchronous: sharesWalWith === readStore.filename ? 'NORMAL' : 'FULL' });
  try {
    return await KeyStore.open(db, dataKey.key);
  } catch (error) {
    await db.close();
    throw error;
  }
};

/** Wraps an opened store; closing the result closes both the store and the key store's connection. */
export const protectWithKeys = (store: EventStore, keyStore: KeyStore): ProtectedEventStore => {
  const protectedStore = protectEventStore(store, keyStore);
  return {
    ...protectedStore,
    async close() {
      await protectedStore.close(); // the store underneath, and the thread that opens sealed values
      await keyStore.db.close();
    },
  };
};

export const openEventLog = async (options: EventLogOptions): Promise<ProtectedEventStore> => {
  const store = await openEventStore(options.eventStore);
  try {
    const sameFile = options.eventStore.kind === 'sqlite' ? options.eventStore.filename : undefined;
    return protectWithKeys(store, await openKeyStore(options.readStore, options.dataKey, sameFile));
  } catch (error) {
    await store.close();
    throw error;
  }
};
