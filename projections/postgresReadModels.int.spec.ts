/**
 * The read models on PostgreSQL: the same projections, fed from the PostgreSQL event store by
 * appends that commit concurrently, must give the rows SQLite gives, rebuild to the same rows,
 * answer the same queries, and move their checkpoints only together with their rows.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { accountStreamId, type AccountEvent } from '../src/domain/accounts/events';
import { contactStreamId, type ContactEvent } from '../src/domain/contacts/events';
import { ANY, type EventStore } from '../src/core/eventStore';
import { deterministicId } from '../src/core/ids';
import { openPostgresEventStore } from '../src/eventStores/postgres';
import { openSqliteEventStore } from '../src/eventStores/sqlite';
import { LEAD_EVENT_TYPES, leadStreamId } from '../src/domain/leads/lead';
import { opportunityStreamId, type OpportunityEvent } from '../src/domain/opportunities/events';
import { Pipeline } from '../src/domain/opportunities/pipeline';
import { TEST_DATABASE_URL, aSchemaName, dropSchemas } from '../test/support/postgres';
import { accountsProjection, findAccountDuplicates, findAccounts } from './accounts/accountsReadModel';
import { contactLeadCycles, contactsProjection, findContacts } from './contacts/contactsReadModel';
import { leadsProjection } from './leads/leadsProjection';
import { findLeads } from './leads/leadsQueries';
import { opportunitiesProjection } from './opportunities/opportunitiesProjection';
import { findOpportunities, pipelineSummary } from './opportunities/opportunitiesQueries';
import { openPostgresDatabase } from './postgresDatabase';
import type { Projection } from './projection';
import { ProjectionRunner } from './runner';
import { openSqliteDatabase, type SqlDatabase } from './sqlDatabase';
import { generateLeadHistory, temporaryDirectory } from '../test/support/leadEvents';

const PROJECTIONS = [leadsProjection, accountsProjection, contactsProjection, opportunitiesProjection];

const TABLES: Record<string, string[]> = {
  read_leads: ['id'],
  read_accounts: ['id'],
  read_account_wins: ['opportunity_id'],
  read_contacts: ['id'],
  read_contact_lead_cycles: ['contact_id', 'lead_id', 'cycle'],
  read_contact_lead_recycles: ['lead_id', 'cycle'],
  read_contact_accounts: ['account_id', 'contact_id'],
  read_opportunities: ['id'],
  read_opportunity_quotes: ['opportunity_id', 'id'],
  read_opportunity_activities: ['opportunity_id', 'id'],
  read_opportunity_stage_history: ['opportunity_id', 'seq'],
};

interface Recorded {
  streamId: string;
  event: { type: string; data: unknown };
  occurredAt: string;
  id: string;
}

const leadHistory = generateLeadHistory({ seed: 21, leadCount: 30, eventCount: 150 });
const leadIds = [...new Set(leadHistory.map(({ event }) => event.data.leadId))];

/** Accounts, contacts and opportunities through every event type their projections handle. */
const businessHistory = (): Recorded[] => {
  const history: Recorded[] = [];
  let clock = Date.parse('2024-04-01T08:00:00.000Z');
  const record = (streamId: string, event: AccountEvent | ContactEvent | OpportunityEvent) => {
    clock += 37 * 60_000;
    history.push({
      streamId,
      event,
      occurredAt: new Date(clock).toISOString(),
      id: deterministicId('postgres-read-models', history.length),
    });
  };
  const names = ['Café Crème GmbH', 'Ångström AB', 'Botiga Puig', 'Nordlys AS', 'acme', 'Société Générale'];
  for (let i = 0; i < 12; i++) {
    const accountId = `acc-${i}`;
    const account = accountStreamId(accountId);
    record(account, {
      type: 'AccountOpened',
      data: {
        accountId,
        kind: i % 3 === 0 ? 'GROUPING' : 'COMPANY',
        name: `${names[i % names.length]} ${i}`,
        website: i % 2 === 0 ? `https://www.company${i % 5}.example/shop` : undefined,
        ownerId: `user-${i % 3}`,
      },
    });
    if (i % 2 === 0) record(account, { type: 'AccountUpdated', data: { accountId, phone: `+34 600 00 ${i}`, industry: 'Retail' } });

    const contactId = `con-${i}`;
    const contact = contactStreamId(contactId);
    record(contact, {
      type: 'ContactCreated',
      data: {
        contactId,
        firstName: ['Zoë', 'José', 'Ola'][i % 3],
        lastName: `${names[(i + 2) % names.length]}`,
        email: `Person.${i}@Company${i % 4}.example`,
        accountId,
        fromLeadId: leadIds[i],
        fromLeadCycle: 1,
      },
    });
    if (i % 3 === 1) record(contact, { type: 'ContactUpdated', data: { contactId, jobTitle: 'Buyer' } });
    if (i % 4 === 2) record(contact, { type: 'ContactMovedToAccount', data: { contactId, accountId: 'acc-0', previousAccountId: accountId } });
    if (i % 5 === 3) record(contact, { type: 'ContactDeactivated', data: { contactId, reason: 'left the company' } });
    if (i % 10 === 3) record(contact, { type: 'ContactReactivated', data: { contactId } });
    if (i % 2 === 1) record(contact, { type: 'ContactLinkedToLead', data: { contactId, leadId: leadIds[i + 12]!, cycle: 1 } });
    // A lead opened for the contact, whichever of its recycles (leads 16 and 28 are recycled) and
    // its conversion (lead 23 is linked above too) come first.
    const engaged = ({ 2: 16, 5: 28, 11: 23 } as Record<number, number>)[i];
    if (engaged !== undefined) record(contact, { type: 'ContactEngaged', data: { contactId, leadId: leadIds[engaged]!, source: 'SOCIAL_MEDIA' } });

    const opportunityId = `opp-${i}`;
    const opportunity = opportunityStreamId(opportunityId);
    const amount = { amount: `${1000 + i * 250}.50`, currency: i % 5 === 0 ? 'USD' : 'EUR' };
    record(opportunity, {
      type: 'OpportunityOpened',
      data: { opportunityId, accountId, contactId, name: `Deal ${i}`, amount, expectedCloseDate: `2024-06-${10 + i}`, stage: 'QUALIFICATION', probability: 10 },
    });
    record(opportunity, { type: 'OpportunityStageChanged', data: { opportunityId, fromStage: 'QUALIFICATION', toStage: 'PROPOSAL', probability: 40 + i } });
    record(opportunity, { type: 'QuoteAdded', data: { opportunityId, quoteId: `q-${i}`, amount, validUntil: '2024-07-01' } });
    record(opportunity, { type: 'QuoteStatusChanged', data: { opportunityId, quoteId: `q-${i}`, from: 'DRAFT', to: 'SENT' } });
    record(opportunity, {
      type: 'ActivityScheduled',
      data: { opportunityId, activityId: `a-${i}`, kind: 'CALL', subject: 'Follow up?', dueAt: '2024-06-01T10:00:00+02:00' },
    });
    if (i % 2 === 0) record(opportunity, { type: 'ActivityCompleted', data: { opportunityId, activityId: `a-${i}`, notes: 'done' } });
    if (i % 4 === 0) record(opportunity, { type: 'ActivityReopened', data: { opportunityId, activityId: `a-${i}` } });
    if (i % 3 === 0) record(opportunity, { type: 'OpportunityDetailsUpdated', data: { opportunityId, amount: { amount: '999.99', currency: 'EUR' }, probability: 55 } });
    if (i % 4 === 0 || i % 4 === 2) {
      record(opportunity, { type: 'OpportunityWon', data: { opportunityId, accountId, amount, stage: 'PROPOSAL', notes: 'signed' } });
    }
    if (i % 4 === 1) {
      record(opportunity, { type: 'OpportunityLost', data: { opportunityId, accountId, reason: 'PRICE', competitor: 'Initech', stage: 'PROPOSAL' } });
    }
    if (i % 4 === 2) {
      record(opportunity, { type: 'OpportunityReopened', data: { opportunityId, accountId, reason: 'budget cut', previousStatus: 'WON', stage: 'PROPOSAL' } });
    }
  }
  return history;
};

const fullHistory: Recorded[] = [
  ...leadHistory.map(({ event, occurredAt, id }) => ({ streamId: leadStreamId(event.data.leadId), event, occurredAt, id })),
  ...businessHistory(),
];

const append = (store: EventStore, { streamId, event, occurredAt, id }: Recorded) =>
  store.appendToStream(
    streamId,
    [
      {
        id,
        type: event.type,
        data: event.data,
        metadata: {
          actor: 'user-alice',
          recordedAt: occurredAt,
          occurredAt,
          correlationId: id,
          causationId: id,
          schemaVersion: 1,
          commandType: event.type,
        },
      },
    ],
    { expectedRevision: ANY },
  );

/** Every stream appended by a writer of its own, all at once: commits overtake each other. */
const appendConcurrently = async (store: EventStore, history: readonly Recorded[]) => {
  const byStream = new Map<string, Recorded[]>();
  for (const recorded of history) byStream.set(recorded.streamId, [...(byStream.get(recorded.streamId) ?? []), recorded]);
  await Promise.all(
    [...byStream.values()].map(async (stream) => {
      for (const recorded of stream) await append(store, recorded);
    }),
  );
};

const snapshot = async (db: SqlDatabase) => {
  const tables: Record<string, Record<string, unknown>[]> = {};
  for (const [table, key] of Object.entries(TABLES)) {
    const rows = await db.all<Record<string, unknown>>(`SELECT * FROM ${table}`);
    const keyOf = (row: Record<string, unknown>) => JSON.stringify(key.map((column) => row[column]));
    tables[table] = rows.sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
  }
  return tables;
};

/** What a client sees through the query functions, pages and all. */
const queriesOf = async (db: SqlDatabase) => {
  const walk = async <T>(page: (after?: string) => Promise<{ nodes: T[]; endCursor?: string; hasNextPage: boolean; totalCount: number }>) => {
    const nodes: T[] = [];
    let after: string | undefined;
    let totalCount = 0;
    for (;;) {
      const result = await page(after);
      nodes.push(...result.nodes);
      totalCount = result.totalCount;
      if (!result.hasNextPage) return { nodes, totalCount };
      after = result.endCursor;
    }
  };
  const pipeline = new Pipeline([
    { code: 'QUALIFICATION', label: 'Qualification', probability: 10, order: 1 },
    { code: 'PROPOSAL', label: 'Proposal', probability: 40, order: 2 },
  ]);
  return {
    leads: await walk((after) => findLeads(db, { first: 7, after })),
    leadsSearched: await walk((after) => findLeads(db, { first: 3, after, filter: { search: 'MÜLL' } })),
    // A filtered page asks its count in the same statement; past its last lead it asks it alone.
    leadsFiltered: await walk((after) => findLeads(db, { first: 2, after, filter: { source: 'WEB_FORM' } })),
    leadsPastTheEnd: await findLeads(db, {
      first: 2,
      filter: { source: 'WEB_FORM' },
      after: (await findLeads(db, { first: 1_000, filter: { source: 'WEB_FORM' } })).endCursor,
    }),
    accounts: await walk((after) => findAccounts(db, { first: 4, after, filter: { search: 'cafe' } })),
    customers: await walk((after) => findAccounts(db, { first: 4, after, filter: { status: 'CUSTOMER' } })),
    customersPastTheEnd: await findAccounts(db, {
      first: 4,
      filter: { status: 'CUSTOMER' },
      after: (await findAccounts(db, { first: 1_000, filter: { status: 'CUSTOMER' } })).endCursor,
    }),
    duplicates: await findAccountDuplicates(db, { name: 'CAFÉ CRÈME GMBH 0', email: 'someone@company2.example' }),
    contacts: await walk((after) => findContacts(db, { first: 5, after, filter: { active: true } })),
    cycles: await Promise.all(['con-1', 'con-2', 'con-3', 'con-5', 'con-8', 'con-11'].map((id) => contactLeadCycles(db, id))),
    opportunities: await walk((after) => findOpportunities(db, { first: 5, after, filter: { expectedCloseFrom: '2024-06-12' } })),
    pipeline: await pipelineSummary(db, pipeline, {}),
  };
};

const schemas: string[] = [];
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => dropSchemas(...schemas));

const openPostgresSide = async (projections: Projection[], options: { batchSize?: number; schema?: string } = {}) => {
  const schema = options.schema ?? aSchemaName('read_models');
  if (!schemas.includes(schema)) schemas.push(schema);
  const store = await openPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema, pollIntervalMs: 50 });
  const db = await openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema });
  const runner = new ProjectionRunner({ store, db, projections, batchSize: options.batchSize, logger: { error: () => undefined } });
  const shutDown = async () => {
    await runner.stop();
    await db.close();
    await store.close();
  };
  cleanups.push(shutDown);
  return { schema, store, db, runner, shutDown };
};

describe('read models on PostgreSQL', () => {
  it('project concurrent appends live as SQLite projects them in order, and rebuild to the same rows', async () => {
    const postgres = await openPostgresSide(PROJECTIONS, { batchSize: 64 });
    await postgres.runner.start();
    await postgres.runner.whenCaughtUp();

    await appendConcurrently(postgres.store, fullHistory);
    await postgres.runner.waitForPosition((await postgres.store.headPosition())!, 15_000);
    const live = await snapshot(postgres.db);

    const directory = temporaryDirectory();
    const sqliteStore = openSqliteEventStore({ filename: directory.file('crm.db') });
    const sqliteDb = openSqliteDatabase(directory.file('crm.db'));
    const sqliteRunner = new ProjectionRunner({ store: sqliteStore, db: sqliteDb, projections: PROJECTIONS });
    cleanups.push(async () => {
      await sqliteRunner.stop();
      await sqliteDb.close();
      await sqliteStore.close();
      directory.remove();
    });
    for (const recorded of fullHistory) await append(sqliteStore, recorded);
    await sqliteRunner.start();
    await sqliteRunner.whenCaughtUp();

    expect(live.read_leads).toHaveLength(leadIds.length);
    expect(live.read_opportunity_stage_history!.length).toBeGreaterThan(12);
    expect(live).toEqual(await snapshot(sqliteDb));
    const answers = await queriesOf(postgres.db);
    expect(answers.leads.totalCount).toBe(leadIds.length);
    for (const list of [answers.leadsSearched, answers.accounts, answers.customers, answers.contacts, answers.opportunities]) {
      expect(list.nodes.length).toBeGreaterThan(0);
    }
    expect(answers.cycles.flat().some((cycle) => cycle.engaged && cycle.cycle > 1)).toBe(true);
    expect(answers.leadsFiltered.nodes.length).toBeGreaterThan(2);
    expect(answers.leadsFiltered.nodes.length).toBeLessThan(leadIds.length);
    expect(answers.leadsFiltered.totalCount).toBe(answers.leadsFiltered.nodes.length);
    expect(answers.leadsPastTheEnd).toMatchObject({ nodes: [], totalCount: answers.leadsFiltered.totalCount, hasNextPage: false });
    expect(answers.customersPastTheEnd).toMatchObject({ nodes: [], totalCount: answers.customers.totalCount, hasNextPage: false });
    expect(answers).toEqual(await queriesOf(sqliteDb));

    // Damaged, so that a rebuild which replayed nothing could not pass.
    await postgres.db.run("DELETE FROM read_leads WHERE status = 'NEW'");
    await postgres.db.run("UPDATE read_accounts SET status = 'DAMAGED'");
    await postgres.db.run('DELETE FROM read_opportunity_quotes');
    await postgres.runner.rebuild();

    expect(await snapshot(postgres.db)).toEqual(live);
  });

  it('sets aside a projection that fails, keeping it exactly before the event, while the others go on', async () => {
    const history = fullHistory.slice(0, 60);
    const poison = history[25]!;
    const ledger = (failOn?: string): Projection => ({
      name: 'ledger',
      version: 1,
      canHandle: LEAD_EVENT_TYPES,
      setup: (db) => db.exec('CREATE TABLE IF NOT EXISTS ledger (event_id TEXT PRIMARY KEY)'),
      reset: (db) => db.exec('DROP TABLE IF EXISTS ledger'),
      apply: async (tx, event) => {
        await tx.run('INSERT INTO ledger (event_id) VALUES (?)', [event.id]);
        // After its own row of the same event: it must vanish.
        if (event.id === failOn) throw new Error('this event breaks the projection');
      },
    });
    const broken = await openPostgresSide([leadsProjection, ledger(poison.id)], { batchSize: 10 });
    for (const recorded of history) await append(broken.store, recorded);
    const positions = (await broken.store.readAll()).map((event) => event.position);

    await broken.runner.start();
    await broken.runner.whenCaughtUp();
    expect(broken.runner.lastError).toBeUndefined();
    expect(broken.runner.failures).toMatchObject([
      { name: 'ledger', eventId: poison.id, position: positions[25], error: 'this event breaks the projection', attempts: 1 },
    ]);

    // Batches of 10: in the third, events 20 to 29, the ledger kept 20 to 24 and stopped; leads went on.
    const checkpoints = await broken.db.all<{ name: string; position: string; failure: string | null }>(
      'SELECT name, position, failure FROM projection_checkpoints ORDER BY name',
    );
    expect(checkpoints.map(({ name, position }) => ({ name, position }))).toEqual([
      { name: 'leads', position: positions[59] },
      { name: 'ledger', position: positions[24] },
    ]);
    expect(checkpoints[0]!.failure).toBeNull();
    expect(JSON.parse(checkpoints[1]!.failure!)).toMatchObject({ eventId: poison.id, position: positions[25] });
    const ledgerIds = (await broken.db.all<{ event_id: string }>('SELECT event_id FROM ledger')).map((row) => row.event_id);
    expect(ledgerIds.sort()).toEqual(history.slice(0, 25).map(({ id }) => id).sort());
    const leadRevisions = await broken.db.all<{ id: string; revision: number }>('SELECT id, revision FROM read_leads');
    const expectedRevisions = new Map<string, number>();
    for (const { event } of leadHistory.slice(0, 60)) {
      expectedRevisions.set(event.data.leadId, (expectedRevisions.get(event.data.leadId) ?? -1) + 1);
    }
    expect(new Map(leadRevisions.map((row) => [row.id, row.revision]))).toEqual(expectedRevisions);
    await broken.shutDown();
    cleanups.pop();

    const fixed = await openPostgresSide([leadsProjection, ledger()], { batchSize: 10, schema: broken.schema });
    await fixed.runner.start();
    await fixed.runner.whenCaughtUp();

    const replayed = (await fixed.db.all<{ event_id: string }>('SELECT event_id FROM ledger')).map((row) => row.event_id);
    expect(replayed.sort()).toEqual(history.map(({ id }) => id).sort());
    expect(fixed.runner.failures).toEqual([]);
    expect(await fixed.db.all('SELECT name FROM projection_checkpoints WHERE failure IS NOT NULL')).toEqual([]);
  });
});
