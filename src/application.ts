/**
 * The composition root: which store, which read database, which projections. Everything a
 * request needs hangs off one `Application`, so tests can open as many as they like.
 */
import path from 'node:path';
import type { AccountState } from './accounts/account';
import { createAccountDecider, type AccountCommand } from './accounts/decide';
import type { AccountEvent } from './accounts/events';
import { loadReasonCatalogs, type ReasonCatalogs } from './catalogs/reasons';
import type { ContactState } from './contacts/contact';
import { createContactDecider, type ContactCommand } from './contacts/decide';
import type { ContactEvent } from './contacts/events';
import type { Decider } from './core/decider';
import type { EventStore } from './core/eventStore';
import { openSqliteEventStore } from './eventStores/sqlite';
import { createOpportunityDecider, type OpportunityCommand } from './opportunities/decide';
import type { OpportunityEvent } from './opportunities/events';
import type { OpportunityState } from './opportunities/opportunity';
import { loadPipeline, type Pipeline } from './opportunities/pipeline';
import { ConversionCompleter } from './leads/conversionCompleter';
import { createLeadDecider, type LeadCommand } from './leads/decide';
import type { LeadEvent, LeadState } from './leads/lead';
import { accountsProjection } from '../projections/accounts/accountsReadModel';
import { contactsProjection } from '../projections/contacts/contactsReadModel';
import { leadsProjection } from '../projections/leads/leadsReadModel';
import { opportunitiesProjection } from '../projections/opportunities/opportunitiesReadModel';
import { ProjectionRunner } from '../projections/runner';
import { openSqliteDatabase, type SqlDatabase } from '../projections/sqlDatabase';

export interface ApplicationOptions {
  /** Where the embedded store keeps its file (`crm.sqlite`). */
  dataDir: string;
  /** A JSON file replacing the default reason catalogs. */
  reasonsFile?: string;
  /** A JSON file replacing the default pipeline stages. */
  pipelineFile?: string;
}

export interface Application {
  store: EventStore;
  /** Read models, for queries. The projection runner writes through its own connection. */
  readDb: SqlDatabase;
  runner: ProjectionRunner;
  catalogs: ReasonCatalogs;
  leadDecider: Decider<LeadState, LeadCommand, LeadEvent>;
  pipeline: Pipeline;
  opportunityDecider: Decider<OpportunityState, OpportunityCommand, OpportunityEvent>;
  accountDecider: Decider<AccountState, AccountCommand, AccountEvent>;
  contactDecider: Decider<ContactState, ContactCommand, ContactEvent>;
  close(): Promise<void>;
}

export const DATABASE_FILE = 'crm.sqlite';

export const openApplication = async (options: ApplicationOptions): Promise<Application> => {
  const catalogs = loadReasonCatalogs(options.reasonsFile);
  const pipeline = loadPipeline(options.pipelineFile);
  const filename = path.join(options.dataDir, DATABASE_FILE);
  const store = openSqliteEventStore({ filename });
  const projectionDb = openSqliteDatabase(filename);
  const readDb = openSqliteDatabase(filename);
  const runner = new ProjectionRunner({ store, db: projectionDb, projections: [leadsProjection, opportunitiesProjection, accountsProjection, contactsProjection] });
  await runner.start();
  // Finishes any conversion a crash interrupted between its steps, then follows new ones.
  const completer = new ConversionCompleter(store, projectionDb);
  await completer.start();

  return {
    store,
    readDb,
    runner,
    catalogs,
    leadDecider: createLeadDecider({ disqualificationReasons: catalogs.disqualificationReasons }),
    pipeline,
    opportunityDecider: createOpportunityDecider({ pipeline, lossReasons: catalogs.lossReasons }),
    accountDecider: createAccountDecider(),
    contactDecider: createContactDecider(),
    async close() {
      await completer.stop();
      await runner.stop();
      await Promise.all([projectionDb.close(), readDb.close()]);
      await store.close();
    },
  };
};
