/**
 * A rebuild replays the reset projections into a staging SQLite database and copies their
 * tables over (bulkRebuild.ts). On either read store it must end with the rows the live
 * projections wrote, strings PostgreSQL stores escaped and integers past 2^53 included; and a
 * projection failing on an event must be set aside at that event exactly as without bulk.
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { readModelProjections } from '../src/composition/application';
import { NO_STREAM, type EventStore, type ReadAllOptions } from '../src/core/eventStore';
import { newId } from '../src/core/ids';
import { LEAD_EVENT_TYPES, type LeadEvent } from '../src/domain/leads/lead';
import type { OpportunityEvent } from '../src/domain/opportunities/events';
import { personalDataStreamId } from '../src/domain/personalData';
import { openPostgresEventStore } from '../src/eventStores/postgres';
import { openSqliteEventStore } from '../src/eventStores/sqlite';
import { appendAll, appendLeadEvent, generateLeadHistory, temporaryDirectory } from '../test/support/leadEvents';
import { rowsAsText } from '../test/support/inMemoryFolds';
import { aSchemaName, dropSchemas, TEST_DATABASE_URL } from '../test/support/postgres';
import { ROLLUP_TABLES } from './kpis/kpiRollups';
import { leadsProjection } from './leads/leadsProjection';
import { openPostgresDatabase } from './postgresDatabase';
import type { Projection } from './projection';
import { ProjectionRunner, projectionHandles } from './runner';
import { copyStaged, rebuildInBulk, stageInBulk } from './bulkRebuild';
import { stageAuditTrailFromSqliteLog } from './audit/auditEventsReadModel';
import { openSqliteDatabase, type SqlDatabase } from './sqlDatabase';
import { storeUpTo } from './tools/storeViews';

const READ_MODEL_TABLES = [
  'read_leads',
  'read_opportunities',
  'read_opportunity_quotes',
  'read_opportunity_activities',
  'read_opportunity_stage_history',
  'read_pipeline_history',
  'read_accounts',
  'read_account_wins',
  'read_contacts',
  'read_contact_lead_cycles',
  'read_contact_lead_recycles',
  'read_contact_accounts',
  'kpi_lead_cycles',
  'kpi_opportunities',
  'kpi_stage_stays',
  'kpi_lead_cycles_replaced',
  'kpi_opportunities_replaced',
  'kpi_stage_stays_replaced',
  ...ROLLUP_TABLES,
  'audit_events',
];

interface Side {
  store: EventStore;
  db: SqlDatabase;
  /** The read database's indexes, by name, with their definitions. */
  indexes(): Promise<unknown[]>;
  close(): Promise<void>;
}

const sides: Array<[string, () => Promise<Side>]> = [
  [
    'SQLite',
    async () => {
      const directory = temporaryDirectory();
      const store = openSqliteEventStore({ filename: directory.file('crm.db'), pollIntervalMs: 20 });
      const db = openSqliteDatabase(directory.file('crm.db'));
      return {
        store,
        db,
        indexes: () => db.all("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name"),
        close: async () => {
          await db.close();
          await store.close();
          directory.remove();
        },
      };
    },
  ],
  [
    'PostgreSQL',
    async () => {
      const schema = aSchemaName('bulk');
      const store = await openPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema, pollIntervalMs: 20 });
      const db = await openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema });
      return {
        store,
        db,
        indexes: () => db.all('SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = ? ORDER BY indexname', [schema]),
        close: async () => {
          await db.close();
          await store.close();
          await dropSchemas(schema);
        },
      };
    },
  ],
];

/** Every row of every read model table, in an order that depends on nothing but the values (`rowsAsText`). */
const snapshot = async (db: SqlDatabase) => {
  const tables: Record<string, string[]> = {};
  for (const table of READ_MODEL_TABLES) tables[table] = await rowsAsText(db, table);
  return tables;
};

/** Reports each `readAll` it is asked for, so that a test can tell the bulk path ran. */
const watchedReads = (store: EventStore, reads: ReadAllOptions[]): EventStore =>
  Object.assign(Object.create(store) as EventStore, {
    readAll: (options?: ReadAllOptions) => {
      reads.push({ ...options });
      return store.readAll(options);
    },
    subscribeToAll: store.subscribeToAll.bind(store),
    appendToStream: store.appendToStream.bind(store),
    readStream: store.readStream.bind(store),
    headPosition: store.headPosition.bind(store),
    comparePositions: store.comparePositions.bind(store),
  });

const NUL = '\u0000';

const appendOpportunity = (store: EventStore, event: OpportunityEvent, revision: number, occurredAt: string) =>
  store.appendToStream(
    `opportunity-${event.data.opportunityId}`,
    [
      {
        id: newId(),
        type: event.type,
        data: event.data,
        metadata: { actor: 'user-alice', recordedAt: occurredAt, occurredAt, correlationId: 'c', causationId: 'c', schemaVersion: 1 },
      },
    ],
    { expectedRevision: revision === 0 ? NO_STREAM : revision - 1 },
  );

describe.each(sides)('a rebuild in bulk on %s', (_name, open) => {
  let side: Side | undefined;
  afterEach(async () => {
    await side?.close();
    side = undefined;
  });

  it('ends with the rows the live projections wrote, escaped strings (NUL, tabs, line breaks, backslashes) and integers past 2^53 included', async () => {
    side = await open();
    const reads: ReadAllOptions[] = [];
    const runner = new ProjectionRunner({ store: watchedReads(side.store, reads), db: side.db, projections: readModelProjections() });
    try {
      await runner.start();
      await runner.whenCaughtUp();
      await appendAll(side.store, generateLeadHistory({ seed: 17, leadCount: 150, eventCount: 1_200 }));
      const captured: LeadEvent = {
        type: 'LeadCaptured',
        data: { leadId: 'lead-nul', source: 'OTHER', campaign: `a${NUL}b\uFFFF\tc\\N\n\\.\r\\`, person: { lastName: `Pu${NUL}ig`, email: 'nul@example.com' } },
      };
      await appendLeadEvent(side.store, captured, { occurredAt: '2025-01-02T10:00:00.000Z' });
      const huge = { amount: '987654321987654321.25', currency: 'EUR' };
      await appendOpportunity(
        side.store,
        { type: 'OpportunityOpened', data: { opportunityId: 'big', accountId: 'acc', name: 'Big', amount: huge, stage: 'QUALIFICATION', probability: 10 } },
        0,
        '2025-01-03T10:00:00.000Z',
      );
      await appendOpportunity(
        side.store,
        { type: 'OpportunityStageChanged', data: { opportunityId: 'big', fromStage: 'QUALIFICATION', toStage: 'PROPOSAL', probability: 50 } } as OpportunityEvent,
        1,
        '2025-01-04T10:00:00.000Z',
      );
      expect(await runner.waitForPosition((await side.store.headPosition())!)).toEqual([]);
      const live = await snapshot(side.db);
      expect(live.read_leads!.length).toBeGreaterThan(10);
      expect(live.read_pipeline_history!.some((row) => row.includes('987654321987654321'))).toBe(true);
      expect(live.kpi_lead_cycles_replaced!.length).toBeGreaterThan(10);
      expect(live.kpi_stage_stays_replaced!.length).toBeGreaterThan(0);

      const indexes = await side.indexes();
      expect(indexes.length).toBeGreaterThan(10);
      const stagingFiles = fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith('crm-rebuild-')).length;
      await side.db.run("UPDATE read_leads SET status = 'DAMAGED'");
      reads.length = 0;
      await runner.rebuild();

      // The log was read from its first event once, in pages of a bulk rebuild (a small first
      // page, each next one twice as large): the bulk rebuild was kept, not dropped for the usual replay.
      expect(reads.filter((read) => read.fromPosition === undefined).map((read) => read.maxCount)).toEqual([500]);
      expect(reads.slice(0, 2).map((read) => read.maxCount)).toEqual([500, 1000]);
      expect(runner.failures).toEqual([]);
      expect(await snapshot(side.db)).toEqual(live);
      // Each table's indexes dropped for the copy are back, in the read database itself.
      expect(await side.indexes()).toEqual(indexes);
      // The staging database's file went with it.
      expect(fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith('crm-rebuild-')).length).toBeLessThanOrEqual(stagingFiles);
    } finally {
      await runner.stop();
    }
  });

  it('builds a new version of projections beside their old rows and switches to it, with the same rows as a replay from zero', async () => {
    side = await open();
    const live = new ProjectionRunner({ store: side.store, db: side.db, projections: readModelProjections() });
    await live.start();
    await appendAll(side.store, generateLeadHistory({ seed: 31, leadCount: 40, eventCount: 300 }));
    expect(await live.waitForPosition((await side.store.headPosition())!)).toEqual([]);
    const expected = await snapshot(side.db);
    await live.stop();
    await side.db.run("UPDATE read_opportunities SET name = 'OLD VERSION'");
    await side.db.run("UPDATE read_leads SET status = 'OLD VERSION'");

    // The new version of kpi-facts has a table the old one did not.
    await side.db.exec(`DROP TABLE ${ROLLUP_TABLES.at(-1)}`);

    const bumped = new Set(['opportunities', 'leads', 'kpi-facts']);
    const projections = readModelProjections().map((projection) =>
      bumped.has(projection.name) ? { ...projection, version: projection.version + 1 } : projection,
    );
    const reads: ReadAllOptions[] = [];
    const runner = new ProjectionRunner({ store: watchedReads(side.store, reads), db: side.db, projections });
    try {
      await runner.start();
      expect(runner.rebuildingBeside.sort()).toEqual([...bumped].sort());
      await runner.whenRebuiltBeside();
      expect(runner.failures).toEqual([]);
      // Built beside in bulk, not given up for a replay the usual way: the log was read from its start once.
      expect(reads.filter((read) => read.fromPosition === undefined)).toHaveLength(1);
      expect(runner.rebuildingBeside).toEqual([]);
      expect(await snapshot(side.db)).toEqual(expected);
    } finally {
      await runner.stop();
    }
  });

  it('erases in a rebuild what a live erasure erased, from a log whose events still carry the data', async () => {
    side = await open();
    const history = generateLeadHistory({ seed: 29, leadCount: 8, eventCount: 50 });
    const runner = new ProjectionRunner({ store: side.store, db: side.db, projections: readModelProjections() });
    try {
      await runner.start();
      await runner.whenCaughtUp();
      await appendAll(side.store, history);
      const erased = [...new Set(history.map(({ event }) => event.data.leadId))].slice(0, 2);
      await side.store.appendToStream(
        personalDataStreamId(erased[0]!),
        [
          {
            id: newId(),
            type: 'PersonalDataErased',
            data: { subjectId: erased[0]!, leadIds: erased, contactIds: [], keyIds: [], origin: 'REQUEST', reason: 'asked' },
            metadata: { actor: 'user-dpo', recordedAt: '2026-01-01T00:00:00.000Z', occurredAt: '2026-01-01T00:00:00.000Z', correlationId: 'e', causationId: 'e', schemaVersion: 1 },
          },
        ],
        { expectedRevision: NO_STREAM },
      );
      // After the erasure, a lead event that carries no personal data.
      await appendLeadEvent(side.store, { type: 'LeadAssigned', data: { leadId: erased[1]!, ownerId: 'user-bob' } } as LeadEvent, {
        occurredAt: '2026-01-02T00:00:00.000Z',
      });
      expect(await runner.waitForPosition((await side.store.headPosition())!)).toEqual([]);
      const live = await snapshot(side.db);
      const erasedRows = await side.db.all<{ person: string | null; personal_data_erased: number }>(
        `SELECT person, personal_data_erased FROM read_leads WHERE id IN (?, ?)`,
        erased,
      );
      expect(erasedRows.map((row) => [row.person, Number(row.personal_data_erased)])).toEqual([
        [null, 1],
        [null, 1],
      ]);

      await runner.rebuild();
      expect(runner.failures).toEqual([]);
      expect(await snapshot(side.db)).toEqual(live);
    } finally {
      await runner.stop();
    }
  });

  it('builds a deferred UNIQUE index at the copy, where a duplicate fails the copy and nothing is copied', async () => {
    side = await open();
    const history = generateLeadHistory({ seed: 29, leadCount: 6, eventCount: 40 });
    await appendAll(side.store, history);
    const again = history.find(({ event }) => event.type !== 'LeadCaptured')!;
    let duplicateTaken = false;
    /** One row per lead; with `twice`, a second row for the lead of a later event, which its UNIQUE index refuses. */
    const firsts = (twice: boolean): Projection => ({
      name: 'firsts',
      version: 1,
      rebuildsInBulk: true,
      canHandle: LEAD_EVENT_TYPES,
      deferredUniqueIndexes: ['firsts_once'],
      setup: (db) => db.exec('CREATE TABLE IF NOT EXISTS firsts (lead_id TEXT NOT NULL); CREATE UNIQUE INDEX IF NOT EXISTS firsts_once ON firsts (lead_id)'),
      reset: (db) => db.exec('DROP TABLE IF EXISTS firsts'),
      apply: async (tx, event) => {
        const leadId = (event.data as { leadId: string }).leadId;
        if (event.type === 'LeadCaptured') await tx.run('INSERT INTO firsts (lead_id) VALUES (?)', [leadId]);
        if (twice && event.id === again.id) {
          await tx.run('INSERT INTO firsts (lead_id) VALUES (?)', [leadId]);
          duplicateTaken = true;
        }
      },
    });
    const rebuild = async (projection: Projection) => {
      await projection.reset(side!.db);
      await projection.setup(side!.db);
      const moved: string[] = [];
      const outcome = rebuildInBulk({
        store: side!.store,
        db: side!.db,
        projections: [projection],
        handles: (_projection, type) => (LEAD_EVENT_TYPES as readonly string[]).includes(type),
        pageSize: 8,
        isActive: () => true,
        moveCheckpoints: async (_tx, position) => void moved.push(String(position)),
      });
      return { outcome, moved };
    };
    const leads = new Set(history.map(({ event }) => event.data.leadId));

    const clean = await rebuild(firsts(false));
    await expect(clean.outcome).resolves.toBeDefined();
    expect(clean.moved).toHaveLength(1);
    expect(await side.db.all('SELECT lead_id FROM firsts')).toHaveLength(leads.size);
    // The index is back in the read database, and refuses a duplicate there as it always did.
    await expect(side.db.run('INSERT INTO firsts (lead_id) VALUES (?)', [[...leads][0]!])).rejects.toThrow(/unique|duplicate/i);

    const duplicated = await rebuild(firsts(true));
    // The staging database took the duplicate (its index deferred); the copy refused it.
    await expect(duplicated.outcome).rejects.toThrow(/unique|duplicate/i);
    expect(duplicateTaken).toBe(true);
    expect(duplicated.moved).toEqual([]);
    expect(await side.db.all('SELECT lead_id FROM firsts')).toEqual([]);
  });

  it('copies each value into the column of its name where the read database has its columns in another order', async () => {
    side = await open();
    const history = generateLeadHistory({ seed: 31, leadCount: 12, eventCount: 60 });
    await appendAll(side.store, history);
    // The table as an older version made it and later changed it (ALTER TABLE … ADD COLUMN
    // appends): the same columns as the staged one, in another order.
    await side.db.exec('CREATE TABLE sources (campaign TEXT, lead_id TEXT PRIMARY KEY, source TEXT NOT NULL)');
    const sources: Projection = {
      name: 'sources',
      version: 1,
      rebuildsInBulk: true,
      canHandle: ['LeadCaptured'],
      setup: (db) => db.exec('CREATE TABLE IF NOT EXISTS sources (lead_id TEXT PRIMARY KEY, source TEXT NOT NULL, campaign TEXT)'),
      reset: (db) => db.exec('DELETE FROM sources'),
      apply: async (tx, event) => {
        const { leadId, source, campaign } = event.data as { leadId: string; source: string; campaign?: string };
        await tx.run('INSERT INTO sources (lead_id, source, campaign) VALUES (?, ?, ?)', [leadId, source, campaign ?? null]);
      },
    };
    const rebuilt = rebuildInBulk({
      store: side.store,
      db: side.db,
      projections: [sources],
      handles: (_projection, type) => type === 'LeadCaptured',
      pageSize: 8,
      isActive: () => true,
      moveCheckpoints: async () => undefined,
    });
    await expect(rebuilt).resolves.toBeDefined();
    const captured = history.flatMap(({ event }) => (event.type === 'LeadCaptured' ? [event.data] : []));
    const byLead = (a: { lead_id: string }, b: { lead_id: string }) => a.lead_id.localeCompare(b.lead_id);
    expect(captured.length).toBe(12);
    expect((await side.db.all<{ lead_id: string }>('SELECT lead_id, source, campaign FROM sources')).sort(byLead)).toEqual(
      captured.map(({ leadId, source, campaign }) => ({ lead_id: leadId, source, campaign: campaign ?? null })).sort(byLead),
    );
  });

  it('sets a projection that fails on an event aside at that event, and rebuilds the others', async () => {
    side = await open();
    const history = generateLeadHistory({ seed: 23, leadCount: 6, eventCount: 40 });
    const poison = history[17]!;
    const ledger: Projection = {
      name: 'ledger',
      version: 1,
      rebuildsInBulk: true,
      canHandle: LEAD_EVENT_TYPES,
      setup: (db) => db.exec('CREATE TABLE IF NOT EXISTS ledger (event_id TEXT PRIMARY KEY)'),
      reset: (db) => db.exec('DROP TABLE IF EXISTS ledger'),
      apply: async (tx, event) => {
        await tx.run('INSERT INTO ledger (event_id) VALUES (?)', [event.id]);
        if (event.id === poison.id) throw new Error('this event breaks the projection');
      },
    };
    await appendAll(side.store, history);
    const runner = new ProjectionRunner({ store: side.store, db: side.db, projections: [leadsProjection, ledger], logger: { error: () => undefined } });
    try {
      // Neither projection has run here: the start rebuilds both.
      await runner.start();
      await runner.whenCaughtUp();
      expect(runner.lastError).toBeUndefined();
      expect(runner.failures).toMatchObject([{ name: 'ledger', eventId: poison.id, error: 'this event breaks the projection' }]);
      const ledgerIds = (await side.db.all<{ event_id: string }>('SELECT event_id FROM ledger')).map((row) => row.event_id);
      expect(ledgerIds.sort()).toEqual(history.slice(0, 17).map(({ id }) => id).sort());
      const leadIds = new Set(history.map(({ event }) => event.data.leadId));
      expect(await side.db.all('SELECT id FROM read_leads')).toHaveLength(leadIds.size);
    } finally {
      await runner.stop();
    }
  });
});

describe('a rebuild in bulk on PostgreSQL', () => {
  it('leaves the tables it filled analyzed, and vacuumed after its commit', async () => {
    const side = await sides.find(([name]) => name.includes('PostgreSQL'))![1]();
    const runner = new ProjectionRunner({ store: side.store, db: side.db, projections: readModelProjections() });
    try {
      await runner.start();
      await runner.whenCaughtUp();
      await appendAll(side.store, generateLeadHistory({ seed: 5, leadCount: 60, eventCount: 400 }));
      expect(await runner.waitForPosition((await side.store.headPosition())!)).toEqual([]);
      await runner.rebuild();
      const analyzed = await side.db.all<{ tablename: string }>(
        "SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = current_schema() AND tablename IN ('read_leads', 'read_leads_search_text', 'kpi_lead_cycles', 'audit_events') ORDER BY tablename",
      );
      // The search texts too, which no COPY wrote: filled beside the leads' copy.
      expect(analyzed.map((row) => row.tablename)).toEqual(['audit_events', 'kpi_lead_cycles', 'read_leads', 'read_leads_search_text']);
      // And vacuumed after the commit: every page of them marked visible to all, which index-only scans need.
      const visibility = await side.db.all<{ name: string; pages: number; visible: number }>(
        `SELECT relname AS name, relpages AS pages, relallvisible AS visible FROM pg_class
         WHERE relnamespace = current_schema()::regnamespace AND relname IN ('read_leads', 'read_leads_search_text', 'kpi_lead_cycles', 'audit_events')
         ORDER BY relname`,
      );
      expect(visibility.map(({ name, pages, visible }) => ({ name, allVisible: Number(pages) > 0 && Number(visible) === Number(pages) }))).toEqual(
        ['audit_events', 'kpi_lead_cycles', 'read_leads', 'read_leads_search_text'].map((name) => ({ name, allVisible: true })),
      );
    } finally {
      await runner.stop();
      await side.close();
    }
  });
});

describe('a rebuild in bulk on PostgreSQL: the leads\' search texts', () => {
  it('fills the search texts of every lead copied, and leaves the trigger and the index that keep them in step as they were', async () => {
    const side = await sides.find(([name]) => name.includes('PostgreSQL'))![1]();
    const runner = new ProjectionRunner({ store: side.store, db: side.db, projections: readModelProjections() });
    const texts = () => side.db.all<{ id: string; search_text: string }>('SELECT id, search_text FROM read_leads_search_text ORDER BY id');
    const leadsTexts = () => side.db.all<{ id: string; search_text: string }>('SELECT id, search_text FROM read_leads ORDER BY id');
    const keptInStep = () =>
      side.db.all<{ name: string; enabled: string }>(
        `SELECT tgname AS name, CAST(tgenabled AS TEXT) AS enabled FROM pg_trigger
         WHERE tgrelid = to_regclass('read_leads') AND NOT tgisinternal ORDER BY tgname`,
      );
    const index = () => side.db.get<{ sql: string | null }>("SELECT pg_get_indexdef(to_regclass('read_leads_search_text_by_trigrams')) AS sql");
    try {
      await runner.start();
      await runner.whenCaughtUp();
      await appendAll(side.store, generateLeadHistory({ seed: 8, leadCount: 40, eventCount: 300 }));
      expect(await runner.waitForPosition((await side.store.headPosition())!)).toEqual([]);
      const [triggersBefore, indexBefore] = [await keptInStep(), await index()];
      expect(triggersBefore.map(({ enabled }) => enabled)).toEqual(['O', 'O', 'O']);

      await runner.rebuild();

      const leads = await leadsTexts();
      expect(leads.length).toBeGreaterThan(0);
      expect(await texts()).toEqual(leads);
      expect(await keptInStep()).toEqual(triggersBefore);
      expect(await index()).toEqual(indexBefore);
      // The trigger is on again: a lead captured after the rebuild has its text at once.
      await appendAll(side.store, generateLeadHistory({ seed: 9, leadCount: 3, eventCount: 6 }));
      expect(await runner.waitForPosition((await side.store.headPosition())!)).toEqual([]);
      const more = await leadsTexts();
      expect(more.length).toBeGreaterThan(leads.length);
      expect(await texts()).toEqual(more);
    } finally {
      await runner.stop();
      await side.close();
    }
  });
});

describe('a rebuild in bulk on a SQLite file', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });
  /** One file for the events and the read models, as the API keeps them, with `leadCount` leads' history projected. */
  const projectedFile = async (seed: number, leadCount: number) => {
    const directory = temporaryDirectory();
    const file = directory.file('crm.db');
    const store = openSqliteEventStore({ filename: file, pollIntervalMs: 20 });
    const db = openSqliteDatabase(file);
    const runner = new ProjectionRunner({ store, db, projections: readModelProjections() });
    close = async () => {
      await runner.stop();
      await db.close();
      await store.close();
      directory.remove();
    };
    await appendAll(store, generateLeadHistory({ seed, leadCount, eventCount: leadCount * 8 }));
    await runner.start();
    await runner.whenCaughtUp();
    expect(await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM read_leads')).toEqual({ n: leadCount });
    return { file, store, db, runner };
  };

  it('leaves the copied rows in the database file, not in the WAL for the next write to move', async () => {
    const { file, db, runner } = await projectedFile(5, 300);
    // The rebuild wrote about 1,500 pages (every table, then its indexes): none is left in the WAL.
    await runner.rebuild();
    await runner.whenCaughtUp();
    expect(fs.statSync(`${file}-wal`).size / (4096 + 24)).toBeLessThan(10);
    expect(await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM read_leads')).toEqual({ n: 300 });
  });

  it('copies tables staged with their indexes (a seed\'s stage) into the same rows and indexes the live projections left, which answer queries', async () => {
    const { file, store, db, runner } = await projectedFile(7, 200);
    const indexes = () => db.all("SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name");
    const triggers = () => db.all<{ tbl_name: string; name: string; sql: string }>("SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name");
    // What the leads' search index finds for trigrams of their texts, counted once through the
    // index and once by a scan: the copy fills the index itself, after the rows.
    const searches = async () => {
      const texts = await db.all<{ text: string }>(
        'SELECT DISTINCT substr(search_text, 1, 3) AS text FROM read_leads WHERE length(search_text) >= 3 UNION SELECT DISTINCT substr(search_text, 5, 3) FROM read_leads WHERE length(search_text) >= 7 ORDER BY 1',
      );
      const counts: Record<string, [number, number]> = {};
      for (const { text } of texts) {
        const phrase = `"${text.replace(/"/g, '""')}"`;
        const indexed = await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM read_leads_search WHERE read_leads_search MATCH ?', [phrase]);
        const scanned = await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM read_leads WHERE instr(search_text, ?) > 0', [text]);
        counts[text] = [indexed!.n, scanned!.n];
      }
      return counts;
    };
    const live = { rows: await snapshot(db), indexes: await indexes(), triggers: await triggers(), searches: await searches() };
    expect(live.triggers.map((trigger) => trigger.name)).toContain('read_leads_search_on_insert');
    expect(Object.keys(live.searches).length).toBeGreaterThan(10);
    await runner.stop();
    const projections = readModelProjections().filter((projection) => projection.rebuildsInBulk);
    for (const projection of projections) {
      await projection.reset(db);
      await projection.setup(db);
    }
    const staged = await stageInBulk({ store, projections, handles: projectionHandles, pageSize: 50, isActive: () => true, indexesAsStaged: true });
    expect(staged).toBeDefined();
    try {
      // The deferred indexes were kept in the staging database as its rows went in.
      const auditIndexes = staged!.staging.tables().find((table) => table.name === 'audit_events')!.indexes.map((index) => index.name);
      expect(await staged!.staging.db.all("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events' AND sql IS NOT NULL ORDER BY name")).toEqual(
        auditIndexes.sort().map((name) => ({ name })),
      );
      // The leads' too: their copy takes the search index's triggers off, so the table moves whole.
      const leadIndexes = await db.all("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'read_leads' AND sql IS NOT NULL ORDER BY name");
      expect(leadIndexes.length).toBeGreaterThan(3);
      expect(await staged!.staging.db.all("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'read_leads' AND sql IS NOT NULL ORDER BY name")).toEqual(leadIndexes);
      await copyStaged({ db, projections, ...staged!, moveCheckpoints: async () => undefined });
    } finally {
      staged!.staging.close();
    }

    expect({ rows: await snapshot(db), indexes: await indexes(), triggers: await triggers(), searches: await searches() }).toEqual(live);
    expect(await db.get('PRAGMA integrity_check')).toEqual({ integrity_check: 'ok' });
    // The trail's query by actor: its index, read in seq order (the rowid each entry ends with), no sort.
    const plan = await db.all<{ detail: string }>("EXPLAIN QUERY PLAN SELECT seq, stream_id, revision FROM audit_events WHERE actor = 'user-alice' ORDER BY seq");
    expect(plan.map(({ detail }) => detail).join('; ')).toMatch(/USING (COVERING )?INDEX audit_events_by_actor/);
    expect(plan.map(({ detail }) => detail).join('; ')).not.toMatch(/TEMP B-TREE/);
    const reader = new Database(file, { readonly: true });
    try {
      const byActor = reader.prepare('SELECT COUNT(*) AS n FROM audit_events INDEXED BY audit_events_by_actor WHERE actor IS NOT NULL').get();
      expect(byActor).toEqual(reader.prepare('SELECT COUNT(*) AS n FROM audit_events NOT INDEXED WHERE actor IS NOT NULL').get());
    } finally {
      reader.close();
    }
  });

  it('is kept when a reader holding an older snapshot keeps the checkpoint from finishing', async () => {
    const { file, db, runner } = await projectedFile(6, 100);
    const reader = new Database(file, { readonly: true });
    try {
      // A read transaction left open on another connection: the truncating checkpoint waits for it
      // (busy_timeout), then gives up, with the copy already committed.
      reader.exec('BEGIN');
      reader.prepare('SELECT COUNT(*) FROM read_leads').get();
      await runner.rebuild();
      await runner.whenCaughtUp();
      expect(runner.failures).toEqual([]);
      expect(fs.statSync(`${file}-wal`).size).toBeGreaterThan(0);
      expect(await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM read_leads')).toEqual({ n: 100 });
    } finally {
      if (reader.inTransaction) reader.exec('COMMIT');
      reader.close();
    }
  });
});

describe('the audit trail of a bulk rebuild from a SQLite log, made in SQL', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it('holds the rows `apply` writes: stream ids with no dash, several or one first, and times in other forms than the trail keeps', async () => {
    const directory = temporaryDirectory();
    const store = openSqliteEventStore({ filename: directory.file('crm.db'), pollIntervalMs: 20 });
    const live = openSqliteDatabase(':memory:');
    close = async () => {
      await live.close();
      await store.close();
      directory.remove();
    };
    const canonical = '2025-01-06T09:30:00.000Z';
    const appended: Array<[streamId: string, recordedAt: unknown, occurredAt: unknown]> = [
      ['lead-1', canonical, canonical],
      ['nodash', canonical, '2025-01-06T11:30:00+02:00'],
      ['lead-ñ-2-3', '2025-01-06T09:30:00Z', canonical],
      ['-leading', canonical, '2024-02-29T23:59:59.999Z'],
      ['çødé-ünï', Date.UTC(2025, 0, 6, 9, 30), '2025-01-06T09:30:00.5Z'],
    ];
    const revisions = new Map<string, number>();
    for (const [streamId, recordedAt, occurredAt] of appended) {
      const revision = revisions.get(streamId) ?? -1;
      revisions.set(streamId, revision + 1);
      const metadata = { actor: 'usuária "ñ"', recordedAt, occurredAt, correlationId: `c\\${streamId}`, causationId: 'c', schemaVersion: 1 };
      await store.appendToStream(streamId, [{ id: newId(), type: 'SomethingHappened', data: {}, metadata: metadata as never }], {
        expectedRevision: revision === -1 ? NO_STREAM : revision,
      });
    }
    // More such times than the SQL stage makes again in a page (1,000), in one append.
    const offsetTimes = Array.from({ length: 1_001 }, (_, index) => {
      const at = `2025-02-0${1 + (index % 9)}T10:00:00.${String(index % 1000).padStart(3, '0')}+01:00`;
      const metadata = { actor: 'imported', recordedAt: at, occurredAt: at, correlationId: 'c', causationId: 'c', schemaVersion: 1 };
      return { id: newId(), type: 'SomethingHappened', data: {}, metadata };
    });
    await store.appendToStream('imported-1', offsetTimes, { expectedRevision: NO_STREAM });
    const leapSecond = { actor: 'a', recordedAt: canonical, occurredAt: '2025-12-31T23:59:60.000Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 };
    await store.appendToStream('lead-1', [{ id: newId(), type: 'SomethingHappened', data: {}, metadata: leapSecond }], { expectedRevision: 0 });
    const audit = readModelProjections().find((projection) => projection.name === 'audit-events')!;
    await audit.setup(live);
    const events = await store.readAll();
    const failures: string[] = [];
    await live.transaction(async (tx) => {
      for (const event of events) await audit.apply(tx, event).catch((error: Error) => failures.push(`${event.streamId}: ${error.message}`));
    });
    // The leap second is no time JavaScript reads: `apply` fails on it, and so must the stage.
    expect(failures).toEqual(['lead-1: Invalid time value']);
    await expect(stageInBulk({ store, projections: [audit], handles: projectionHandles, pageSize: 500, isActive: () => true })).rejects.toThrow('Invalid time value');

    // Without the leap second, the same rows as `apply` wrote.
    const upToIt = storeUpTo(store, events.at(-2)!.position);
    const staged = await stageInBulk({ store: upToIt, projections: [audit], handles: projectionHandles, pageSize: 500, isActive: () => true });
    try {
      // The staging database reads integers as BigInt.
      const inSql = [...staged!.staging.tables().find((table) => table.name === 'audit_events')!.rows()].map((row) =>
        row.map((value) => (typeof value === 'bigint' ? Number(value) : value)),
      );
      const written = await live.all<Record<string, unknown>>('SELECT * FROM audit_events ORDER BY seq');
      expect(written.map((row) => row.occurred_at)).toContain('2025-01-06T09:30:00.000Z');
      expect(written.map((row) => row.stream_category).slice(0, 5)).toEqual(['lead', 'nodash', 'lead', '', 'çødé']);
      expect(written.at(-1)).toMatchObject({ stream_id: 'imported-1', revision: 1_000, recorded_at: '2025-02-02T09:00:00.000Z' });
      expect(inSql).toEqual(written.map((row) => Object.values(row)));
    } finally {
      staged?.staging.close();
    }
  });

  it('stages the trail a slice of the log at a time, numbered on across slices, and tells of each slice', async () => {
    const directory = temporaryDirectory();
    const store = openSqliteEventStore({ filename: directory.file('crm.db'), pollIntervalMs: 20 });
    const [whole, sliced] = [openSqliteDatabase(':memory:'), openSqliteDatabase(':memory:')];
    close = async () => {
      await whole.close();
      await sliced.close();
      await store.close();
      directory.remove();
    };
    const at = '2025-01-06T09:30:00.000Z';
    for (let lead = 1; lead <= 10; lead++) {
      const events = [1, 2].map((step) => ({
        id: newId(),
        type: 'SomethingHappened',
        data: {},
        metadata: { actor: `user-${step}`, recordedAt: at, occurredAt: at, correlationId: `c-${lead}`, causationId: 'c', schemaVersion: 1 },
      }));
      await store.appendToStream(`lead-${lead}`, events, { expectedRevision: NO_STREAM });
    }
    const positions = (await store.readAll()).map((event) => Number(event.position));
    // Through the 18th event of 20: what a stage of the log as it was then holds.
    const through = positions[17]!;
    const audit = readModelProjections().find((projection) => projection.name === 'audit-events')!;
    const told: number[] = [];
    for (const [db, perStatement] of [[whole, 1_000], [sliced, 7]] as const) {
      await audit.setup(db);
      await db.exec(`ATTACH DATABASE '${directory.file('crm.db')}' AS log`);
      await stageAuditTrailFromSqliteLog(db, { schema: 'log', through, onStaged: db === sliced ? (events) => told.push(events) : undefined }, perStatement);
    }
    expect(told).toEqual([7, 7, 4]);
    const rows = (db: SqlDatabase) => db.all<Record<string, unknown>>('SELECT * FROM audit_events ORDER BY seq');
    expect((await rows(sliced)).map((row) => row.seq)).toEqual(Array.from({ length: 18 }, (_, index) => index + 1));
    expect(await rows(sliced)).toEqual(await rows(whole));
    expect((await rows(sliced)).at(-1)).toMatchObject({ stream_id: 'lead-9', revision: 1, actor: 'user-2' });
  });
});
