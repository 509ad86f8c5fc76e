/**
 * A bulk rebuild opens personal data only in the events a projection that reads it takes
 * (`Projection.readsPersonalData`): each projection that says it reads none stages the same rows
 * from a real sealed log (a seeded application's, with an erasure in it) as from the same log
 * with every event opened. A projection that does read personal data would not: the leads', given
 * their events sealed, stage other rows, which this comparison sees.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readModelProjections } from '../src/composition/application';
import { openEventLog } from '../src/composition/eventLog';
import { NO_STREAM, sqliteFileOf, type EventStore, type ReadAllOptions, type SqliteLogFile } from '../src/core/eventStore';
import { newId } from '../src/core/ids';
import { createLeadListDecider, type LeadListCommand } from '../src/domain/leadLists/decide';
import { leadListStreamId } from '../src/domain/leadLists/events';
import { erasePersonalData } from '../src/useCases/personalData/erasure';
import { openTestApplication, seed, type TestApplication } from '../test/support/seededApplication';
import { stageInBulk } from './bulkRebuild';
import type { Projection } from './projection';
import { projectionHandles } from './runner';

/**
 * The log as the store reads it, each read opening personal data as `opens` says, whatever the
 * stage asks; read event by event, never in SQL (`Projection.stageFromSqliteLog`).
 */
const opening = (store: EventStore, opens: ReadAllOptions['opensPersonalDataOf']): EventStore & SqliteLogFile => ({
  ...store,
  sqliteFile: undefined,
  readAll: (options) => store.readAll({ fromPosition: options?.fromPosition, maxCount: options?.maxCount, opensPersonalDataOf: opens }),
});

/** Every staged table of the projection, its rows in order. */
const stagedRows = async (store: EventStore, projection: Projection): Promise<Record<string, unknown[]>> => {
  const staged = await stageInBulk({ store, projections: [projection], handles: projectionHandles, pageSize: 500, isActive: () => true });
  try {
    const tables: Record<string, unknown[]> = {};
    for (const table of staged!.staging.tables()) tables[table.name] = [...table.rows()];
    return tables;
  } finally {
    staged!.staging.close();
  }
};

describe('a bulk rebuild from a sealed log', () => {
  let opened: TestApplication;
  let store: Awaited<ReturnType<typeof openEventLog>>;

  beforeAll(async () => {
    opened = await openTestApplication();
    const { app } = opened;
    await seed(app, { leads: 60, seed: 4 });
    // A list of some of the leads, which the generator makes none of: its events, as decided.
    const leadIds = (await app.readDb.all<{ id: string }>('SELECT id FROM read_leads ORDER BY id LIMIT 5')).map((row) => row.id);
    const listId = newId();
    const decider = createLeadListDecider();
    const commands: LeadListCommand[] = [
      { type: 'CreateLeadList', data: { listId, name: 'Feria de Valencia', kind: 'STATIC', leadIds: leadIds.slice(0, 3) } },
      { type: 'AddLeadsToList', data: { listId, leadIds: leadIds.slice(3) } },
    ];
    let state = decider.initialState();
    const listEvents = commands.flatMap((command) => {
      const decided = decider.decide(command, state);
      state = decided.reduce(decider.evolve, state);
      return decided;
    });
    const at = new Date().toISOString();
    const metadata = { actor: 'marta', recordedAt: at, occurredAt: at, correlationId: newId(), causationId: newId(), schemaVersion: 1 };
    const listed = await app.store.appendToStream(leadListStreamId(listId), listEvents.map((event) => ({ ...event, id: newId(), metadata })), {
      expectedRevision: NO_STREAM,
    });
    await app.readModels.waitForPosition(listed.position, 30_000);
    // An erasure in the log: the events after it read their person's fields as erased.
    const converted = await app.readDb.get<{ id: string }>("SELECT id FROM read_leads WHERE status = 'CONVERTED' ORDER BY id LIMIT 1");
    const erased = await erasePersonalData(
      { store: app.store, sealedStore: app.personalData.sealedStore },
      { subjectId: converted!.id, reason: 'The person asked us to', origin: 'REQUEST' },
      { actor: 'dpo', now: new Date(), commandId: newId(), commandType: 'ErasePersonalData', correlationId: newId() },
    );
    await app.readModels.waitForPosition(erased.position!, 30_000);
    await opened.close();
    store = await openEventLog(opened.config);
  }, 120_000);
  afterAll(async () => {
    await store.close();
    await opened.dispose();
  });

  /** Every event type of the log. */
  let everyType: string[] = [];
  beforeAll(async () => {
    everyType = [...new Set((await store.sealed.readAll()).map((event) => event.type))];
  });

  const readingNone = readModelProjections().filter((projection) => projection.readsPersonalData === false);

  it('is asked by the projections that read no personal data', () => {
    expect(everyType).toEqual(expect.arrayContaining(['LeadCaptured', 'OpportunityLost', 'QuoteAdded', 'LeadsAddedToList', 'PersonalDataErased']));
    expect(readingNone.map((projection) => projection.name).sort()).toEqual(['accounts', 'audit-events', 'kpi-facts', 'leadLists', 'pipeline-history']);
  });

  it.each(readingNone.map((projection) => [projection.name, projection] as const))(
    'stages %s alike with its events sealed and with every event opened',
    async (_name, projection) => {
      const everyEventOpened = await stagedRows(opening(store, undefined), projection);
      // What the stage asks of each read: to open the personal data of none of the events.
      const opensAny: boolean[] = [];
      const asking: EventStore & SqliteLogFile = {
        ...store,
        sqliteFile: undefined,
        readAll: (options) => {
          opensAny.push(everyType.some((type) => options?.opensPersonalDataOf?.(type) ?? true));
          return store.readAll(options);
        },
      };
      const asStaged = await stagedRows(asking, projection);
      expect(Object.values(everyEventOpened).some((rows) => rows.length > 0)).toBe(true);
      expect(asStaged).toEqual(everyEventOpened);
      expect(opensAny.length).toBeGreaterThan(0);
      expect(opensAny).not.toContain(true);
    },
    60_000,
  );

  it('stages audit-events in SQL from the SQLite log, reading no event, as it stages it event by event', async () => {
    const audit = readModelProjections().find((projection) => projection.name === 'audit-events')!;
    expect(sqliteFileOf(store)).toBeDefined();
    let reads = 0;
    const counting: EventStore = {
      ...store,
      readAll: (options) => {
        reads += 1;
        return store.readAll(options);
      },
    };
    const inSql = await stagedRows(counting, audit);
    expect(reads).toBe(0);
    const eventByEvent = await stagedRows(opening(store, undefined), audit);
    expect(inSql.audit_events!.length).toBe((await store.sealed.readAll()).length);
    expect(inSql).toEqual(eventByEvent);
  }, 60_000);

  it("would see a projection that reads personal data staged from sealed events: the leads' rows differ", async () => {
    const leads = readModelProjections().find((projection) => projection.name === 'leads')!;
    expect(leads.readsPersonalData).toBeUndefined();
    // Only the erasures opened (the store always opens those): every lead's person stays sealed.
    const sealed = await stagedRows(opening(store, () => false), leads);
    const opened = await stagedRows(store, leads);
    expect(sealed.read_leads).toHaveLength(opened.read_leads!.length);
    expect(sealed.read_leads).not.toEqual(opened.read_leads);
  }, 60_000);
});
