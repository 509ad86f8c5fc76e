/**
 * The composition root: which store, which read database, which projections. Everything a
 * request needs hangs off one `Application`, so tests can open as many as they like.
 */
import { accountsProjection } from '../../projections/accounts/accountsReadModel';
import { auditEventsProjection } from '../../projections/audit/auditEventsReadModel';
import { contactsProjection } from '../../projections/contacts/contactsReadModel';
import { kpiFactsProjection } from '../../projections/kpis/kpiFactsProjection';
import { ReadModels } from '../../projections/leadership/readModels';
import { leadListsProjection } from '../../projections/leadLists/leadListsProjection';
import { leadsProjection } from '../../projections/leads/leadsProjection';
import { opportunitiesProjection } from '../../projections/opportunities/opportunitiesProjection';
import { pipelineHistoryProjection } from '../../projections/pipelineHistory/pipelineHistoryReadModel';
import type { Projection } from '../../projections/projection';
import { purgeRemovedSearchText } from '../../projections/searchIndex';
import type { ReadStoreConfig } from '../../projections/sqlDatabase';
import { openSqliteDatabase, type SqlDatabase } from '../../projections/sqlDatabase';
import { openSqliteReportReader } from '../../projections/sqliteReportReader';
import { openSqliteDatabaseOnAThread } from '../../projections/sqliteOnAThread';
import { vacuumOnAThread } from '../../projections/sqliteCheckpointThread';
import { type ReportCache, cachingReports, uncachedReports } from '../../projections/reportCache';
import { changesSeenWhileLeading, readModelChangesOf, readModelChangesOfSchema } from '../../projections/readModelChanges';
import type { Decider } from '../core/decider';
import { BUSY_TIMEOUT_MS, inTurnToWrite } from '../eventStores/sqliteWriteTurns';
import type { AccountState } from '../domain/accounts/account';
import { createAccountDecider, type AccountCommand } from '../domain/accounts/decide';
import type { AccountEvent } from '../domain/accounts/events';
import type { ContactState } from '../domain/contacts/contact';
import { createContactDecider, type ContactCommand } from '../domain/contacts/decide';
import type { ContactEvent } from '../domain/contacts/events';
import { createLeadDecider, type LeadCommand } from '../domain/leads/decide';
import type { LeadEvent, LeadState } from '../domain/leads/lead';
import { createOpportunityDecider, type OpportunityCommand } from '../domain/opportunities/decide';
import type { OpportunityEvent } from '../domain/opportunities/events';
import type { OpportunityState } from '../domain/opportunities/opportunity';
import type { Pipeline } from '../domain/opportunities/pipeline';
import type { ReasonCatalogs } from '../domain/reasons';
import type { ScoringRules } from '../domain/scoring/rules';
import { keyShredder } from '../personalData/keyShredder';
import type { KeyStore } from '../personalData/keyStore';
import type { BulkLoadTuning, EventStore } from '../core/eventStore';
import type { SqliteEventStore } from '../eventStores/sqlite';
import { openEventLog } from './eventLog';
import { ConversionCompleter } from '../useCases/conversionCompleter';
import { LeadScorer } from '../useCases/leadScorer';
import { ScoringJobRunner, ScoringJobs } from '../useCases/scoringJobs';
import { refuseReusedRulesVersion } from '../useCases/scoringRulesStore';
import { copyBesideOnAnotherThread, stageOnAnotherThread } from './stagingThread';
import type { CrmConfig } from './config';

export type ApplicationOptions = Pick<
  CrmConfig,
  'catalogs' | 'pipeline' | 'eventStore' | 'readStore' | 'backdateLimitDays' | 'scoringRules' | 'dataKey'
> & {
  /**
   * Whether this process scores leads after each fact (the lead scorer), when it leads the
   * projections; default true. A tool that writes many leads and then stops (`npm run import`)
   * leaves it to the server: the scorer there picks up from its checkpoint, so each fact is still
   * scored exactly once, and the tool's writes are not slowed by scores it would stop halfway.
   */
  leadScoring?: boolean;
};

export interface Application {
  /** The event log, personal data sealed on the way in and opened on the way out. */
  store: EventStore;
  /** The store adapter's tuning for a bulk load (the seed's), where it has one: SQLite's. */
  bulkLoad?: BulkLoadTuning;
  /** The keys of people's data, and the log as stored (sealed), for erasure and access reports. */
  personalData: {
    keyStore: KeyStore;
    sealedStore: EventStore;
    /**
     * Once the read models have passed an erasure (or a batch of them): leaves no old copy of the
     * erased rows and destroyed keys in the database's free space (see `compactAfterErasure`).
     */
    afterErasure(): Promise<void>;
  };
  /** Read models, for queries. The projection runner writes through its own connection. */
  readDb: SqlDatabase;
  /**
   * Read models, for the queries that read many rows (the KPI reports, searches). On a SQLite file
   * they run on a thread of their own (`openSqliteReportReader`), so that a large report does not
   * hold up captures and answers; on PostgreSQL this is `readDb` (its queries never block).
   */
  reportDb: SqlDatabase;
  /**
   * The KPI sections, pipeline reports and lead searches' counts, read from `reportDb`: answered
   * again from memory while none of the tables they read has changed, on a SQLite file, or on
   * PostgreSQL while this instance leads (projections/reportCache.ts).
   */
  reports: ReportCache;
  /** Says when the read models include a write; runs the projections if this instance leads. */
  readModels: ReadModels;
  catalogs: ReasonCatalogs;
  leadDecider: Decider<LeadState, LeadCommand, LeadEvent>;
  pipeline: Pipeline;
  opportunityDecider: Decider<OpportunityState, OpportunityCommand, OpportunityEvent>;
  accountDecider: Decider<AccountState, AccountCommand, AccountEvent>;
  contactDecider: Decider<ContactState, ContactCommand, ContactEvent>;
  backdateLimitDays: number;
  scoringRules: ScoringRules;
  /** The conversion completer while this instance leads: the data generator pauses it. */
  conversionCompleter(): ConversionCompleter | undefined;
  /** The lead scorer while this instance leads: the data generator pauses it; tests wait for it. */
  leadScorer(): LeadScorer | undefined;
  /** Re-scoring jobs: any instance starts one and reads them; the one leading runs them. */
  scoringJobs: ScoringJobs;
  close(): Promise<void>;
}

/** Every read model, in the order the runner applies them; replay and verify use the same list. */
export const readModelProjections = (): Projection[] => [
  leadsProjection,
  opportunitiesProjection,
  pipelineHistoryProjection,
  accountsProjection,
  contactsProjection,
  kpiFactsProjection,
  auditEventsProjection,
  leadListsProjection,
];

export const openApplication = async (options: ApplicationOptions): Promise<Application> => {
  const { catalogs, pipeline, readStore } = options;
  const store = await openEventLog(options);
  await refuseReusedRulesVersion(store, options.scoringRules).catch(async (error: unknown) => {
    await store.close();
    throw error;
  });
  const onSqliteFile = readStore.kind === 'sqlite' && readStore.filename !== ':memory:';
  const readDb = await openReadDatabase(readStore);
  // On a SQLite file the projections' statements and commits run on a thread of their own, off
  // the thread that serves requests (projections/sqliteOnAThread.ts).
  const projectionDb = onSqliteFile ? openSqliteDatabaseOnAThread(readStore.filename) : await openReadDatabase(readStore);
  const reportDb = onSqliteFile ? openSqliteReportReader(readStore.filename) : readDb;
  // Reports are answered again from memory while nothing they read has changed, as far as this
  // process can see: on PostgreSQL, while this instance leads and its runner alone writes them.
  let readModels: ReadModels | undefined;
  const reports = onSqliteFile
    ? cachingReports(reportDb, readModelChangesOf(readStore.filename))
    : readStore.kind === 'postgres'
      ? cachingReports(
          reportDb,
          changesSeenWhileLeading(readModelChangesOfSchema(readStore.connectionString, readStore.schema), () => readModels?.term),
        )
      : uncachedReports(reportDb);
  let conversionCompleter: ConversionCompleter | undefined;
  let leadScorer: LeadScorer | undefined;
  let scoringJobRunner: ScoringJobRunner | undefined;
  const rules = options.scoringRules;
  readModels = await ReadModels.open({
    store,
    projectionDb,
    readDb,
    // The key shredder destroys the keys each erasure names, with the checkpoint (it is no read model).
    projections: [...readModelProjections(), keyShredder],
    backgroundProcesses: (db, positions) => [
      // Finishes any conversion a crash interrupted between its steps, then follows new ones.
      (conversionCompleter = new ConversionCompleter(store, db)),
      // Scores a lead again after each fact its rules read.
      ...(options.leadScoring === false ? [] : [(leadScorer = new LeadScorer({ store, db, rules }))]),
      // Runs the re-scoring jobs any instance started, and takes up those a dead process left.
      (scoringJobRunner = new ScoringJobRunner({ store, db, rules, readModels: positions })),
    ],
    // A rebuild in bulk of a long log (a projection's new version) is staged on a thread of its
    // own: this one goes on answering requests meanwhile. (Before the first catch-up, on a new
    // read store, both threads stage: see `ProjectionRunner.stageForRebuild`.)
    stagingThread: stageOnAnotherThread(options),
    // And, on SQLite, copied on one: the copy's index sorts and commit held this thread seconds.
    copyThread: readStore.kind === 'postgres' ? undefined : copyBesideOnAnotherThread(readStore.filename, readModelProjections()),
    // Instances sharing a PostgreSQL read store take turns; a SQLite file has one process.
    lease:
      readStore.kind === 'postgres'
        ? { connectionString: readStore.connectionString, name: `crm-projections:${readStore.schema}` }
        : undefined,
  });

  return {
    store,
    ...('bulkLoad' in store.sealed ? { bulkLoad: (store.sealed as SqliteEventStore).bulkLoad } : {}),
    personalData: {
      keyStore: store.keyStore,
      sealedStore: store.sealed,
      afterErasure: () => compactAfterErasure(readStore, readDb),
    },
    readDb,
    reportDb,
    reports,
    readModels,
    catalogs,
    leadDecider: createLeadDecider({ disqualificationReasons: catalogs.disqualificationReasons }),
    pipeline,
    opportunityDecider: createOpportunityDecider({ pipeline, lossReasons: catalogs.lossReasons }),
    accountDecider: createAccountDecider(),
    contactDecider: createContactDecider(),
    backdateLimitDays: options.backdateLimitDays,
    scoringRules: options.scoringRules,
    conversionCompleter: () => conversionCompleter,
    leadScorer: () => leadScorer,
    scoringJobs: new ScoringJobs(readDb, () => scoringJobRunner?.wake()),
    async close() {
      await readModels.close();
      await Promise.all([projectionDb.close(), readDb.close(), reportDb === readDb ? undefined : reportDb.close()]);
      await store.close();
    },
  };
};

/** The tables an erasure rewrites rows of: their dead copies are what compaction clears. */
const ERASED_TABLES = [
  'personal_data_keys',
  'read_leads',
  // PostgreSQL only: the leads' search texts beside them (projections/searchIndex.ts).
  'read_leads_search_text',
  'read_contacts',
  'read_opportunities',
  'read_opportunity_quotes',
  'read_opportunity_activities',
];

/**
 * SQLite leaves old rows in freed space; even `secure_delete` (which costs every write) left 13 of
 * 1,000 erased rows in pages rebuilt when rows shrank (measured on a scratch file). VACUUM
 * rewrites the file, and the truncating checkpoint empties the WAL, so nothing of an erased person
 * is left in either. PostgreSQL keeps old row versions until VACUUM: it is run on the tables an
 * erasure touches (VACUUM FULL on the small key table, so the destroyed key's old version goes at
 * once); its WAL and base backups keep them until they are recycled (README, "Personal data").
 */
export const compactAfterErasure = async (readStore: ReadStoreConfig, db: SqlDatabase): Promise<void> => {
  if (readStore.kind === 'sqlite') {
    // The search indexes still hold the erased texts' trigrams, marked deleted: rebuilt from the
    // rows as they are now, their old pages are free pages, which VACUUM then leaves out.
    await purgeRemovedSearchText(db);
    if (readStore.filename === ':memory:') {
      await db.exec('VACUUM');
      return;
    }
    // The whole file rewritten on a thread of its own (24 s for the 2 GB of the insights history
    // of issue 11, which this thread spent asleep in VACUUM, /healthz unanswered), holding the
    // file's write turn: this process's other writers wait for it however long it takes (a long
    // turn), without holding their thread, and readers read on meanwhile (WAL).
    await inTurnToWrite(readStore.filename, BUSY_TIMEOUT_MS, () => vacuumOnAThread(readStore.filename, BUSY_TIMEOUT_MS), { long: true });
    return;
  }
  for (const table of ERASED_TABLES) {
    await db.exec(`VACUUM ${table === 'personal_data_keys' ? 'FULL ' : ''}${table}`);
  }
};

export const openReadDatabase = async (config: ReadStoreConfig): Promise<SqlDatabase> => {
  if (config.kind !== 'postgres') return openSqliteDatabase(config.filename);
  // Loaded only when used: pg costs about 90 ms of every start on SQLite (see eventStores/open.ts).
  const { openPostgresDatabase } = await import('../../projections/postgresDatabase');
  return openPostgresDatabase({ connectionString: config.connectionString, schema: config.schema });
};
