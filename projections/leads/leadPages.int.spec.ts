/**
 * Where a page of leads is read on a SQLite file (`findLeads` with the report cache, as the API
 * asks it): on the main thread's connection only when an index of the leads gives the page's rows
 * in its order; any other page (a campaign, a source, a search, by score with a condition) on the
 * report reader's thread, since it may pass over most of the leads to fill itself. Either way the
 * page and its count are those one statement on the main connection gives, and no count is read
 * on the main connection.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventStore } from '../../src/core/eventStore';
import { openSqliteEventStore } from '../../src/eventStores/sqlite';
import { countedReads } from '../../test/support/countedReads';
import { appendLeadEvent, temporaryDirectory } from '../../test/support/leadEvents';
import { readModelChangesOf } from '../readModelChanges';
import { cachingReports } from '../reportCache';
import { ProjectionRunner } from '../runner';
import { openSqliteDatabase, type SqlDatabase } from '../sqlDatabase';
import { openSqliteReportReader } from '../sqliteReportReader';
import { leadsProjection } from './leadsProjection';
import { findLeads, type LeadFilter, type LeadOrder } from './leadsQueries';

const OWNERS = ['ana', 'pau', 'marta'];
const CAMPAIGNS = ['spring', 'summer', 'rare-one'];

describe('pages of leads on SQLite, by where an index serves them', () => {
  let directory: ReturnType<typeof temporaryDirectory>;
  let store: EventStore;
  let main: SqlDatabase;
  let reader: SqlDatabase;
  let runner: ProjectionRunner;

  beforeEach(async () => {
    directory = temporaryDirectory();
    store = openSqliteEventStore({ filename: directory.file('events.db') });
    main = openSqliteDatabase(directory.file('read.db'));
    runner = new ProjectionRunner({ store, db: main, projections: [leadsProjection] });
    await runner.start();
    let position = '';
    for (let n = 0; n < 120; n++) {
      const leadId = `lead-${String(n).padStart(3, '0')}`;
      const occurredAt = new Date(Date.UTC(2026, 0, 1) + n * 3_600_000).toISOString();
      position = (
        await appendLeadEvent(
          store,
          {
            type: 'LeadCaptured',
            data: {
              leadId,
              source: n % 2 === 0 ? 'WEB_FORM' : 'TRADE_FAIR',
              campaign: n === 7 ? 'rare-one' : CAMPAIGNS[n % 2],
              ownerId: OWNERS[n % OWNERS.length],
              person: { firstName: 'Ana', lastName: n % 10 === 0 ? 'García' : 'Puig', email: `${leadId}@example.test` },
            },
          },
          { occurredAt },
        )
      ).position;
      if (n % 4 === 0) {
        position = (await appendLeadEvent(store, { type: 'LeadContactLogged', data: { leadId, channel: 'CALL', outcome: 'REACHED' } }, { occurredAt })).position;
      }
    }
    await runner.waitForPosition(position);
    reader = openSqliteReportReader(directory.file('read.db'));
  });

  afterEach(async () => {
    await reader.close();
    await runner.stop();
    await main.close();
    await store.close();
    directory.remove();
  });

  const pageStatements = (statements: string[]) => statements.filter((sql) => sql.includes('LIMIT')).length;

  it.each<[string, 'main' | 'reader', LeadFilter, LeadOrder]>([
    ['every lead, newest first', 'main', {}, 'NEWEST'],
    ['a status', 'main', { status: 'CONTACTED' }, 'NEWEST'],
    ['an owner', 'main', { ownerId: 'pau' }, 'NEWEST'],
    ['a status and an owner', 'main', { status: 'NEW', ownerId: 'ana' }, 'NEWEST'],
    ['every lead by score', 'main', {}, 'SCORE'],
    ['an empty search', 'main', { search: '  ' }, 'NEWEST'],
    ['a campaign', 'reader', { campaign: 'rare-one' }, 'NEWEST'],
    ['a source and a status', 'reader', { source: 'TRADE_FAIR', status: 'NEW' }, 'NEWEST'],
    ['a search', 'reader', { search: 'garcia' }, 'NEWEST'],
    ['a status by score', 'reader', { status: 'NEW' }, 'SCORE'],
  ])('%s: read on the %s connection, the same page and count as one statement', async (_name, expectedOn, filter, orderBy) => {
    const onMain = countedReads(main, { andGets: true });
    const onReader = countedReads(reader, { andGets: true });
    const counts = cachingReports(onReader.handle, readModelChangesOf(directory.file('read.db')));
    const asked = await findLeads(onMain.handle, { filter, orderBy, first: 5, counts });
    const inOne = await findLeads(main, { filter, orderBy, first: 5 });
    expect(asked).toEqual(inOne);
    expect(asked.totalCount).toBeGreaterThan(0);
    expect({ main: pageStatements(onMain.statements), reader: pageStatements(onReader.statements) }).toEqual(
      expectedOn === 'main' ? { main: 1, reader: 0 } : { main: 0, reader: 1 },
    );
    // A count never holds the main connection.
    expect(onMain.statements.filter((sql) => sql.includes('COUNT'))).toEqual([]);
  });
});
