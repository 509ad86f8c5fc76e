/**
 * The leads' search index (projections/searchIndex.ts): a search finds through it exactly the
 * leads a scan of their text finds, however the index is filled (event by event, by a bulk
 * rebuild, beside a new version's rebuild, or at the start of a read model made before it), on
 * SQLite (FTS5) and on PostgreSQL (a narrow table of the texts, pg_trgm); on SQLite an erasure's purge leaves nothing of a
 * rewritten text in its pages.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventStore } from '../../src/core/eventStore';
import { searchKey } from '../../src/core/normalize';
import { openSqliteEventStore } from '../../src/eventStores/sqlite';
import type { LeadCaptured, LeadPerson } from '../../src/domain/leads/lead';
import { leadSearchText } from '../../src/domain/leads/search';
import { appendLeadEvent, temporaryDirectory } from '../../test/support/leadEvents';
import { aSchemaName, dropSchemas, TEST_DATABASE_URL } from '../../test/support/postgres';
import { openPostgresDatabase } from '../postgresDatabase';
import { readModelChangesOf, readModelChangesOfSchema, type ReadModelChanges } from '../readModelChanges';
import { cachingReports } from '../reportCache';
import { purgeRemovedSearchText } from '../searchIndex';
import { ProjectionRunner } from '../runner';
import { openSqliteDatabase, type SqlDatabase } from '../sqlDatabase';
import { LEAD_SEARCH } from './leadSearch';
import { leadsProjection } from './leadsProjection';
import { findLeads, type LeadFilter } from './leadsQueries';

interface Captured {
  id: string;
  person: LeadPerson;
  company: string;
  capturedAt: string;
  status: string;
}

const LAST_NAMES = ['García', 'Núñez', "O'Brien", 'Li', 'Müller', 'Sánchez-Vega', 'Ibáñez', 'de la Fuente'];
const FIRST_NAMES = ['María', 'José', 'Ana', 'Łukasz', 'Zoë', 'Jean-Luc'];
// "Acme" goes to more leads than a page of a search sorts from the index (400): those pages scan.
const COMPANIES = ['Acme', 'Acme', 'Acme', 'Acme', 'Acme', 'Acme', 'Acme', 'Puig "Hermanos"', '100%_Natural', 'Grupo Ñandú'];

const SEARCHES = [
  'gar', 'garcia', 'GARCÍA', 'núñez', 'nunez', 'acme', 'ac', 'a', 'zo', "o'b", 'puig "h', '"', '100%_', '%_n', 'ñandu',
  'maria garcia', 'ana li', 'jose@', '@example', 'mu', 'muller', 'lukasz', 'de la', 'zzz', 'e.test', 'la fuente\nmaria',
];

const schemas: string[] = [];
afterAll(() => dropSchemas(...schemas));

/** A read database, and the changes its commits are counted in (what a report cache follows). */
const READ_STORES = {
  SQLite: (directory: ReturnType<typeof temporaryDirectory>) =>
    Promise.resolve({ db: openSqliteDatabase(directory.file('read.db')), changes: readModelChangesOf(directory.file('read.db')) }),
  PostgreSQL: async (): Promise<{ db: SqlDatabase; changes: ReadModelChanges }> => {
    const schema = aSchemaName('lead_search');
    schemas.push(schema);
    return {
      db: await openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema }),
      changes: readModelChangesOfSchema(TEST_DATABASE_URL, schema),
    };
  },
};

describe.each(Object.keys(READ_STORES) as Array<keyof typeof READ_STORES>)('leads search index (%s)', (kind) => {
  let directory: ReturnType<typeof temporaryDirectory>;
  let store: EventStore;
  let db: SqlDatabase;
  let changes: ReadModelChanges;
  let runner: ProjectionRunner;
  const leads: Captured[] = [];

  beforeEach(async () => {
    directory = temporaryDirectory();
    store = openSqliteEventStore({ filename: directory.file('events.db') });
    ({ db, changes } = await READ_STORES[kind](directory));
    runner = new ProjectionRunner({ store, db, projections: [leadsProjection] });
    await runner.start();
    leads.length = 0;
    let position = '';
    for (let n = 0; n < 600; n++) {
      const id = `lead-${String(n).padStart(4, '0')}`;
      const person = {
        firstName: FIRST_NAMES[n % FIRST_NAMES.length]!,
        lastName: LAST_NAMES[(n * 7) % LAST_NAMES.length]!,
        email: `${id}@example.test`,
      };
      const company = COMPANIES[(n * 3) % COMPANIES.length]!;
      const capturedAt = new Date(Date.UTC(2025, 0, 1) + n * 3_600_000).toISOString();
      const event: LeadCaptured = { type: 'LeadCaptured', data: { leadId: id, source: 'WEB_FORM', person, company: { name: company } } };
      position = (await appendLeadEvent(store, event, { occurredAt: capturedAt })).position;
      leads.push({ id, person, company, capturedAt, status: 'NEW' });
      if (n % 5 === 0) {
        position = (await appendLeadEvent(store, { type: 'LeadContactLogged', data: { leadId: id, channel: 'CALL', outcome: 'REACHED' } }, { occurredAt: capturedAt })).position;
        leads.at(-1)!.status = 'CONTACTED';
      }
    }
    await runner.waitForPosition(position);
  });

  afterEach(async () => {
    await runner.stop();
    await db.close();
    await store.close();
    directory.remove();
  });

  /** What a search must find: the leads whose folded text holds the folded search, newest first. */
  const expected = (search: string, filter: { status?: string } = {}) =>
    leads
      .filter((lead) => leadSearchText(lead.person, { name: lead.company }).includes(searchKey(search)))
      .filter((lead) => filter.status === undefined || lead.status === filter.status)
      .sort((a, b) => (a.capturedAt === b.capturedAt ? b.id.localeCompare(a.id) : b.capturedAt.localeCompare(a.capturedAt)))
      .map((lead) => lead.id);

  /** PostgreSQL: the trigram indexes of the schema (the search texts' alone: none on the wide rows, which every write would pay). */
  const trigramIndexes = (on: SqlDatabase) =>
    on.all<{ tablename: string; indexname: string; indexdef: string }>(
      "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexdef LIKE '%gin_trgm_ops%' ORDER BY indexname",
    );

  /** PostgreSQL: the narrow table of search texts holds exactly each lead's id and text. */
  const expectSearchTextsAsTheLeads = async (on: SqlDatabase) => {
    const leadsTexts = await on.all('SELECT id, search_text FROM read_leads ORDER BY id');
    expect(leadsTexts.length).toBeGreaterThan(0);
    expect(await on.all('SELECT id, search_text FROM read_leads_search_text ORDER BY id')).toEqual(leadsTexts);
  };

  const found = async (on: SqlDatabase, filter: LeadFilter, first: number) => {
    const page = await findLeads(on, { filter, first });
    return { total: page.totalCount, ids: page.nodes.map((lead) => lead.id) };
  };

  /** Every search, alone and with a status, counted and paged (a full page and a short one). */
  const expectEverySearchAsScanned = async (on: SqlDatabase) => {
    for (const search of SEARCHES) {
      for (const status of [undefined, 'CONTACTED'] as const) {
        const want = expected(search, { status });
        for (const first of [1000, 20]) {
          expect({ search, status, first, ...(await found(on, { search, status }, first)) }).toEqual({
            search,
            status,
            first,
            total: want.length,
            ids: want.slice(0, first),
          });
        }
      }
    }
  };

  it('finds exactly the leads a scan of their text finds, counted and paged, with few matches and many', async () => {
    // The data set covers both kinds of page: few matches (sorted from the index) and many (scanned).
    expect(expected('garcia').length).toBeGreaterThan(0);
    expect(expected('garcia').length).toBeLessThan(400);
    expect(expected('acme').length).toBeGreaterThan(400);
    await expectEverySearchAsScanned(db);
    // Counted from the index alone, which holds every lead: not a fallback to the scan.
    expect(await LEAD_SEARCH.count(db, 'acme')).toBe(expected('acme').length);
    if (kind === 'SQLite') {
      expect(await LEAD_SEARCH.count(db, 'ac')).toBeUndefined();
    } else {
      expect(await LEAD_SEARCH.count(db, 'ac')).toBe(expected('ac').length);
      expect(await trigramIndexes(db)).toEqual([
        { tablename: 'read_leads_search_text', indexname: 'read_leads_search_text_by_trigrams', indexdef: expect.stringMatching(/USING gin \(search_text public\.gin_trgm_ops\)/) },
      ]);
      await expectSearchTextsAsTheLeads(db);
    }
  });

  it('follows a lead whose name changes: the old name finds it no more, the new one does', async () => {
    const lead = leads.find((candidate) => candidate.person.lastName === 'García')!;
    const before = expected('garcia').length;
    const { position } = await appendLeadEvent(store, {
      type: 'LeadDetailsUpdated',
      data: { leadId: lead.id, person: { ...lead.person, lastName: 'Quixtable' } },
    });
    await runner.waitForPosition(position);
    lead.person = { ...lead.person, lastName: 'Quixtable' };
    expect(expected('garcia')).toHaveLength(before - 1);
    expect(await found(db, { search: 'quixtab' }, 20)).toEqual({ total: 1, ids: [lead.id] });
    expect((await found(db, { search: 'garcia' }, 1000)).ids).toEqual(expected('garcia'));
    // A fact that leaves the text as it was leaves the index as it was.
    const contacted = await appendLeadEvent(store, { type: 'LeadContactLogged', data: { leadId: lead.id, channel: 'CALL', outcome: 'REACHED' } });
    await runner.waitForPosition(contacted.position);
    expect(await found(db, { search: 'quixtab' }, 20)).toEqual({ total: 1, ids: [lead.id] });
    if (kind === 'PostgreSQL') {
      await expectSearchTextsAsTheLeads(db);
      // Whatever writes the rows, even by hand: a deleted lead is searched no more.
      await db.run('DELETE FROM read_leads WHERE id = ?', [lead.id]);
      expect(await found(db, { search: 'quixtab' }, 20)).toEqual({ total: 0, ids: [] });
      await expectSearchTextsAsTheLeads(db);
    }
  });

  it("remembers a search's count and its pages, and any other page, until the leads change, however they change", async () => {
    const counts = cachingReports(db, changes);
    const asked = async (filter: LeadFilter) => {
      const page = await findLeads(db, { filter, first: 3, counts });
      return { total: page.totalCount, ids: page.nodes.map((lead) => lead.id) };
    };
    /** What a fresh read of the leads as they are now gives. */
    const truth = (search: string | undefined, status?: string) => {
      const ids = search === undefined ? expected('', { status }) : expected(search, { status });
      return { total: ids.length, ids: ids.slice(0, 3) };
    };
    // A search is its count, kept once computed, and its page, kept once asked again: then both
    // are answered from memory.
    for (let ask = 0; ask < 3; ask++) expect(await asked({ search: 'garcia' })).toEqual(truth('garcia'));
    expect(counts.stats()).toMatchObject({ hits: 3, misses: 3 });
    // A page without a search (its count in the same statement) likewise; another page is another report.
    for (let ask = 0; ask < 3; ask++) expect(await asked({ status: 'CONTACTED' })).toEqual(truth(undefined, 'CONTACTED'));
    expect(counts.stats()).toMatchObject({ hits: 4, misses: 5 });
    const second = await findLeads(db, { filter: { status: 'CONTACTED' }, first: 3, after: (await findLeads(db, { filter: { status: 'CONTACTED' }, first: 3, counts })).endCursor, counts });
    expect(second.nodes.map((lead) => lead.id)).toEqual(expected('', { status: 'CONTACTED' }).slice(3, 6));
    expect(counts.stats()).toMatchObject({ hits: 5, misses: 6 });

    // A rename is seen at once by the search (the count read the search index alone, which
    // only triggers on the leads write) and by every page.
    const lead = leads.find((candidate) => candidate.person.lastName === 'García' && candidate.status === 'CONTACTED')!;
    const renamed = await appendLeadEvent(store, {
      type: 'LeadDetailsUpdated',
      data: { leadId: lead.id, person: { ...lead.person, lastName: 'Quixtable' } },
    });
    lead.person = { ...lead.person, lastName: 'Quixtable' };
    await runner.waitForPosition(renamed.position);
    expect(await asked({ search: 'garcia' })).toEqual(truth('garcia'));
    expect(await asked({ search: 'quixtable' })).toEqual({ total: 1, ids: [lead.id] });
    expect(counts.stats()).toMatchObject({ hits: 5, misses: 10 });
    // The search asked before was kept again as soon as computed anew.
    expect(await asked({ search: 'garcia' })).toEqual(truth('garcia'));
    expect(counts.stats()).toMatchObject({ hits: 7, misses: 10 });
    // A lead contacted leaves the page of new leads and joins that of the contacted ones.
    const first = await asked({ status: 'NEW' });
    const contacted = await appendLeadEvent(store, { type: 'LeadContactLogged', data: { leadId: first.ids[0]!, channel: 'CALL', outcome: 'REACHED' } });
    leads.find((candidate) => candidate.id === first.ids[0])!.status = 'CONTACTED';
    await runner.waitForPosition(contacted.position);
    expect(await asked({ status: 'NEW' })).toEqual(truth(undefined, 'NEW'));
    expect((await asked({ status: 'NEW' })).ids).not.toContain(first.ids[0]);
    expect(await asked({ status: 'CONTACTED' })).toEqual(truth(undefined, 'CONTACTED'));

    // A capture: the newest lead heads the search's first page.
    const capturedAt = '2030-01-01T00:00:00.000Z';
    const person = { firstName: 'Ana', lastName: 'Garcia', email: 'lead-new@example.test' };
    const captured = await appendLeadEvent(store, {
      type: 'LeadCaptured',
      data: { leadId: 'lead-new', source: 'WEB_FORM', person },
    }, { occurredAt: capturedAt });
    leads.push({ id: 'lead-new', person, company: '', capturedAt, status: 'NEW' });
    await runner.waitForPosition(captured.position);
    expect(await asked({ search: 'garcia' })).toEqual(truth('garcia'));
    expect((await asked({ search: 'garcia' })).ids[0]).toBe('lead-new');
  });

  it('is filled by a bulk rebuild, and by the start of a read model made before it', async () => {
    await runner.rebuild('leads');
    await runner.whenCaughtUp();
    await expectEverySearchAsScanned(db);

    // A read model from before the index: its rows, no index. The next start builds it from them.
    await runner.stop();
    if (kind === 'SQLite') {
      await db.exec(`DROP TABLE read_leads_search;
        DROP TRIGGER read_leads_search_on_insert; DROP TRIGGER read_leads_search_on_update; DROP TRIGGER read_leads_search_on_delete;`);
      expect(await db.get("SELECT 1 FROM sqlite_master WHERE type = 'trigger'")).toBeUndefined();
    } else {
      // As this index first was on PostgreSQL: a GIN index of trigrams on the leads' own rows.
      await db.exec(`DROP FUNCTION read_leads_search_text_follow() CASCADE; DROP TABLE read_leads_search_text;
        CREATE INDEX read_leads_by_search_trigrams ON read_leads USING gin (search_text public.gin_trgm_ops);`);
    }
    runner = new ProjectionRunner({ store, db, projections: [leadsProjection] });
    await runner.start();
    await runner.whenCaughtUp();
    await expectEverySearchAsScanned(db);
    if (kind === 'PostgreSQL') {
      expect((await trigramIndexes(db)).map((index) => index.indexname)).toEqual(['read_leads_search_text_by_trigrams']);
      await expectSearchTextsAsTheLeads(db);
      // Filled from the rows and analyzed: the planner knows the table's size and texts.
      expect(await db.get("SELECT 1 FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'read_leads_search_text'")).toBeDefined();
    }
    const { position } = await appendLeadEvent(store, {
      type: 'LeadCaptured',
      data: { leadId: 'lead-new', source: 'WEB_FORM', person: { lastName: 'Quixtable' } },
    });
    await runner.waitForPosition(position);
    expect(await found(db, { search: 'quixtab' }, 20)).toEqual({ total: 1, ids: ['lead-new'] });
  });

  it('is filled by a rebuild alone on its thread (a replay), and follows the leads captured after it', async () => {
    await runner.stop();
    // As `npm run replay` runs it: the copy in one statement per table, no turns to take.
    runner = new ProjectionRunner({ store, db, projections: [leadsProjection], sharesThreadWithRequests: false });
    await runner.start();
    await runner.rebuild('leads');
    await runner.whenCaughtUp();
    await expectEverySearchAsScanned(db);
    const { position } = await appendLeadEvent(store, {
      type: 'LeadCaptured',
      data: { leadId: 'lead-new', source: 'WEB_FORM', person: { lastName: 'Quixtable' } },
    });
    await runner.waitForPosition(position);
    expect(await found(db, { search: 'quixtab' }, 20)).toEqual({ total: 1, ids: ['lead-new'] });
  });

  it('is rebuilt when a new version of the projection is deployed', async () => {
    await runner.stop();
    runner = new ProjectionRunner({ store, db, projections: [{ ...leadsProjection, version: leadsProjection.version + 1 }] });
    await runner.start();
    await runner.whenCaughtUp();
    await expectEverySearchAsScanned(db);
  });

  // FTS5's pages: PostgreSQL's index is cleaned by the VACUUM an erasure runs there.
  if (kind === 'SQLite') {
    it('keeps nothing of a rewritten text in its pages once purged, as an erasure purges it', async () => {
      // Letters no other lead's text has: their trigrams stand whole in the index's pages.
      const { position } = await appendLeadEvent(store, {
        type: 'LeadCaptured',
        data: { leadId: 'lead-erased', source: 'WEB_FORM', person: { lastName: 'Wyxqzvk' } },
      });
      await runner.waitForPosition(position);
      const pagesHold = async (text: string) =>
        (await db.all<{ block: Buffer }>('SELECT block FROM read_leads_search_data')).some((row) => Buffer.from(row.block).includes(Buffer.from(text)));
      expect(await pagesHold('wyx')).toBe(true);
      // As an erasure rewrites the row (leadsProjection's REWRITE_LEAD).
      await db.run("UPDATE read_leads SET search_text = '' WHERE id = 'lead-erased'");
      expect(await found(db, { search: 'wyxqz' }, 20)).toEqual({ total: 0, ids: [] });
      // Marked deleted, still there:
      expect(await pagesHold('wyx')).toBe(true);
      await purgeRemovedSearchText(db);
      expect(await pagesHold('wyx')).toBe(false);
      await expectEverySearchAsScanned(db);
    });
  }
});
