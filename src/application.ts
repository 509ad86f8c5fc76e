/**
 * The composition root: which store, which read database, which projections. Everything a
 * request needs hangs off one `Application`, so tests can open as many as they like.
 */
import path from 'node:path';
import { loadReasonCatalogs, type ReasonCatalogs } from './catalogs/reasons';
import type { Decider } from './core/decider';
import type { EventStore } from './core/eventStore';
import { openSqliteEventStore } from './eventStores/sqlite';
import { createLeadDecider, type LeadCommand } from './leads/decide';
import type { LeadEvent, LeadState } from './leads/lead';
import { leadsProjection } from '../projections/leads/leadsReadModel';
import { ProjectionRunner } from '../projections/runner';
import { openSqliteDatabase, type SqlDatabase } from '../projections/sqlDatabase';

export interface ApplicationOptions {
  /** Where the embedded store keeps its file (`crm.sqlite`). */
  dataDir: string;
  /** A JSON file replacing the default reason catalogs. */
  reasonsFile?: string;
}

export interface Application {
  store: EventStore;
  /** Read models, for queries. The projection runner writes through its own connection. */
  readDb: SqlDatabase;
  runner: ProjectionRunner;
  catalogs: ReasonCatalogs;
  leadDecider: Decider<LeadState, LeadCommand, LeadEvent>;
  close(): Promise<void>;
}

export const DATABASE_FILE = 'crm.sqlite';

export const openApplication = async (options: ApplicationOptions): Promise<Application> => {
  const catalogs = loadReasonCatalogs(options.reasonsFile);
  const filename = path.join(options.dataDir, DATABASE_FILE);
  const store = openSqliteEventStore({ filename });
  const projectionDb = openSqliteDatabase(filename);
  const readDb = openSqliteDatabase(filename);
  const runner = new ProjectionRunner({ store, db: projectionDb, projections: [leadsProjection] });
  await runner.start();

  return {
    store,
    readDb,
    runner,
    catalogs,
    leadDecider: createLeadDecider({ disqualificationReasons: catalogs.disqualificationReasons }),
    async close() {
      await runner.stop();
      await Promise.all([projectionDb.close(), readDb.close()]);
      await store.close();
    },
  };
};
