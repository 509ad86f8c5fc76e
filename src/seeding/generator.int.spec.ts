import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../core/eventStore';
import { openScratchSpace } from '../../projections/tools/scratch';
import { verifyReadModels } from '../../projections/tools/verify';
import { readModelProjections } from '../composition/application';
import { openTestApplication, seed, type TestApplication } from '../../test/support/seededApplication';
import { TEST_DATABASE_URL, aSchemaName, dropSchemas } from '../../test/support/postgres';
import type { GeneratedSummary } from './generator';
import { stageOnAnotherThread } from '../composition/stagingThread';
import type { StageAlongside } from '../../projections/runner';
import { B2C_GROUPINGS, DEFAULT_SALES_TEAM } from './data';
import { ENVELOPE, type Envelope } from '../personalData/envelope';

const allEvents = (opened: TestApplication) => opened.app.store.readAll();

/** Everything of an event but its global position, whose form is the store's own. */
const withoutPosition = ({ position: _position, ...event }: RecordedEvent) => event;

/**
 * Which events are sealed under one key, and which fields: the keys themselves are random, so
 * each is named by the order in which it first appears in the log.
 */
const sealingOf = async (opened: TestApplication) => {
  const names = new Map<string, number>();
  return (await opened.app.personalData.sealedStore.readAll()).map((event) => {
    const envelope = (event.data as Record<string, unknown>)[ENVELOPE] as Envelope | undefined;
    if (!envelope) return null;
    if (!names.has(envelope.keyId)) names.set(envelope.keyId, names.size);
    return { key: names.get(envelope.keyId), fields: envelope.fields ?? [], sealed: envelope.sealed !== undefined };
  });
};

const expectEqualToARebuild = async (opened: TestApplication) => {
  const scratch = await openScratchSpace(opened.config.readStore);
  try {
    const report = await verifyReadModels({ store: opened.app.store, scratch, projections: readModelProjections() });
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  } finally {
    await scratch.close();
  }
};

describe('the seeded generator', () => {
  it('writes the same events, ids and times included, for the same seed on two fresh stores', async () => {
    const first = await openTestApplication();
    const second = await openTestApplication();
    const third = await openTestApplication();
    try {
      await seed(first.app, { leads: 60, seed: 7 });
      await seed(second.app, { leads: 60, seed: 7 });
      await seed(third.app, { leads: 60, seed: 8 });
      const [a, b, c] = await Promise.all([allEvents(first), allEvents(second), allEvents(third)]);
      expect(a.length).toBeGreaterThan(300);
      expect(b).toEqual(a);
      // Another seed tells other stories with other ids (the shared B2C groupings aside).
      const ids = new Set(a.map((event) => event.id));
      expect(c.filter((event) => ids.has(event.id)).map((event) => event.type)).toEqual(
        B2C_GROUPINGS.map(() => 'AccountOpened'),
      );

      // Running the same seed again is recognised command by command: nothing is written twice.
      await seed(first.app, { leads: 60, seed: 7 });
      expect(await allEvents(first)).toEqual(a);
    } finally {
      await Promise.all([first.dispose(), second.dispose(), third.dispose()]);
    }
  }, 120_000);

  // Each application on fresh stores of the kind named: SQLite files, or PostgreSQL schemas.
  const schemas: string[] = [];
  afterAll(() => dropSchemas(...schemas));
  const onPostgres = () => {
    const schema = aSchemaName('seed_paths');
    schemas.push(schema);
    return openTestApplication({
      env: { CRM_EVENT_STORE: 'postgres', CRM_READ_STORE: 'postgres', DATABASE_URL: TEST_DATABASE_URL, CRM_PG_SCHEMA: schema },
    });
  };
  describe.each([
    ['SQLite', () => openTestApplication()],
    ['PostgreSQL', onPostgres],
  ])('on %s, the bulk path', (_store, openFresh) => {
    it('writes the events the command handlers write, sealed alike, and read models equal to them', async () => {
      const bulk = await openFresh();
      const commands = await openFresh();
      try {
        // Small batches, so that streams, keys and conversions cross batch boundaries.
        const bulkSummary = await seed(bulk.app, { leads: 150, seed: 21, path: 'bulk', batchEvents: 97 });
        const commandsSummary = await seed(commands.app, { leads: 150, seed: 21, path: 'commands' });
        expect(bulkSummary.path).toBe('bulk');
        expect({ ...bulkSummary, path: 'commands', lastPosition: undefined }).toEqual({ ...commandsSummary, lastPosition: undefined });

        const [bulkEvents, commandEvents] = await Promise.all([allEvents(bulk), allEvents(commands)]);
        expect(bulkEvents.length).toBeGreaterThan(1000);
        expect(bulkEvents.map(withoutPosition)).toEqual(commandEvents.map(withoutPosition));
        expect(await sealingOf(bulk)).toEqual(await sealingOf(commands));
        expect((await sealingOf(bulk)).filter((sealed) => sealed?.sealed).length).toBeGreaterThan(150);

        const rows = (opened: TestApplication) =>
          opened.app.readDb.all('SELECT id, status, owner_id, cycle, revision FROM read_leads ORDER BY id');
        expect(await rows(bulk)).toEqual(await rows(commands));
      } finally {
        await Promise.all([bulk.dispose(), commands.dispose()]);
      }
    }, 180_000);

    it('staged on another thread as the log is written, leaves the read models a rebuild after it leaves', async () => {
      const alongside = await openFresh();
      const after = await openFresh();
      try {
        const stage = stageOnAnotherThread(alongside.config);
        let stagedThrough: string | undefined;
        let writtenWhenStarted: string | undefined;
        let stageFailure: unknown;
        const watched: StageAlongside = async (projections, options) => {
          writtenWhenStarted = await alongside.app.store.headPosition();
          const staged = await stage(projections, options).catch((error: unknown) => {
            stageFailure = error;
            throw error;
          });
          stagedThrough = staged?.through;
          return staged;
        };
        // What the store and the read models held when the generator said every event was stored.
        const atWritten: Array<Promise<{ head: string | undefined; leads: number }>> = [];
        const onWritten = () =>
          atWritten.push(
            Promise.all([alongside.app.store.headPosition(), alongside.app.readDb.get<{ n: number | string }>('SELECT COUNT(*) AS n FROM read_leads')]).then(
              ([head, leads]) => ({ head, leads: Number(leads?.n) }),
            ),
          );
        // Small batches, so that the thread reads a log still being written.
        const summary = await seed(alongside.app, { leads: 150, seed: 5, batchEvents: 97, stageAlongside: watched, onWritten });
        await seed(after.app, { leads: 150, seed: 5, batchEvents: 97 });

        // The thread staged the whole log, which was not yet written when it started.
        expect(stageFailure).toBeUndefined();
        expect(writtenWhenStarted).toBeUndefined();
        expect(stagedThrough).toBe(summary.lastPosition);
        // Told once, when the last event was stored and before the staged read models were copied in
        // (npm run seed times the two apart).
        expect(atWritten).toHaveLength(1);
        expect(await atWritten[0]).toEqual({ head: summary.lastPosition, leads: 0 });
        await expectEqualToARebuild(alongside);
        // Positions aside (their form is the store's own), the rows are those of a rebuild after the load.
        for (const query of [
          'SELECT id, revision, status, owner_id, cycle, score, conversion, updated_at FROM read_leads ORDER BY id',
          'SELECT id, revision, status, stage, amount, loss_reason, updated_at FROM read_opportunities ORDER BY id',
          'SELECT id, revision, kind, name, updated_at FROM read_accounts ORDER BY id',
          'SELECT id, revision, account_id, updated_at FROM read_contacts ORDER BY id',
          'SELECT * FROM kpi_funnel_by_month ORDER BY cell, month',
          'SELECT stream_id, revision, event_type, actor, recorded_at FROM audit_events ORDER BY stream_id, revision',
        ]) {
          const rows = (opened: TestApplication) => opened.app.readDb.all(query);
          expect(await rows(alongside), query).toEqual(await rows(after));
        }
        if (alongside.app.readDb.dialect === 'sqlite') {
          // Staged with their indexes, copied with them (SQLite's transfer): the same indexes, whole.
          const indexes = (opened: TestApplication) => opened.app.readDb.all("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name");
          expect(await indexes(alongside)).toEqual(await indexes(after));
          expect(await alongside.app.readDb.get('PRAGMA integrity_check')).toEqual({ integrity_check: 'ok' });
        }
      } finally {
        await Promise.all([alongside.dispose(), after.dispose()]);
      }
    }, 180_000);

    it('rebuilds the read models after the load when the thread fails', async () => {
      const opened = await openFresh();
      try {
        const failing: StageAlongside = () => Promise.reject(new Error('no thread today'));
        await seed(opened.app, { leads: 40, seed: 6, stageAlongside: failing });
        await expectEqualToARebuild(opened);
        const leads = await opened.app.readDb.get<{ n: number }>('SELECT COUNT(*) AS n FROM read_leads');
        expect(leads!.n).toBe(40);
      } finally {
        await opened.dispose();
      }
    }, 120_000);
  });

  describe('on 400 leads', () => {
    let opened: TestApplication;
    let summary: GeneratedSummary;
    let events: RecordedEvent[];
    const ofType = (type: string) => events.filter((event) => event.type === type);
    const dataOf = <T>(type: string) => ofType(type).map((event) => event.data as T);

    beforeAll(async () => {
      opened = await openTestApplication();
      summary = await seed(opened.app, { leads: 400, seed: 42 });
      events = await allEvents(opened);
    }, 120_000);
    afterAll(async () => {
      await opened.dispose();
    });

    it('writes every event it reports, through the command handlers, on a clock that only moves forward', () => {
      expect(events).toHaveLength(summary.events);
      expect(summary.commandsByType.OpenAccount).toBe(B2C_GROUPINGS.length);
      expect(ofType('LeadCaptured')).toHaveLength(400);
      for (const event of events) {
        expect(event.metadata.commandType).toBeTruthy();
        expect(Date.parse(event.metadata.occurredAt)).toBeLessThanOrEqual(Date.parse(event.metadata.recordedAt));
      }
      const recorded = events.map((event) => Date.parse(event.metadata.recordedAt));
      expect(recorded).toEqual([...recorded].sort((a, b) => a - b));
      // Months of activity, starting on the default date, with some facts logged after they happened.
      expect(summary.firstAt.toISOString()).toBe('2025-01-06T08:00:00.000Z');
      expect(summary.lastAt.getTime() - summary.firstAt.getTime()).toBeGreaterThan(300 * 86_400_000);
      expect(events.filter((event) => event.metadata.occurredAt < event.metadata.recordedAt).length).toBeGreaterThan(20);
    });

    it("gives its leads, commands and events ids that begin with the simulated time, so the log's indexes fill in order", () => {
      // The 48 bits of milliseconds a time-ordered UUID (version 7 or 8) begins with.
      const timeOf = (id: string) => parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
      const ofLeads = events.filter((event) => event.metadata.commandType !== 'OpenAccount');
      const eventIds = new Set(events.map((event) => event.id));
      for (const event of ofLeads) {
        // Each event sorts with its cause: the command, or the fact it follows from (a conversion's).
        expect(event.id[14]).toBe('8');
        expect(event.id.slice(0, 13)).toBe(event.metadata.causationId.slice(0, 13));
        if (!eventIds.has(event.metadata.causationId)) expect(timeOf(event.id)).toBe(Date.parse(event.metadata.recordedAt));
      }
      for (const { leadId } of dataOf<{ leadId: string }>('LeadCaptured')) expect(leadId[14]).toBe('8');
      // The ids of a lead's conversion sort with the lead.
      for (const converted of dataOf<{ leadId: string; contactId: string; newContact?: object; opportunityId?: string }>('LeadConverted')) {
        if (converted.newContact) expect(converted.contactId.slice(0, 13)).toBe(converted.leadId.slice(0, 13));
        if (converted.opportunityId) expect(converted.opportunityId.slice(0, 13)).toBe(converted.leadId.slice(0, 13));
      }
    });

    it('tells believable stories: every lead outcome, sources, owners and reasons from the catalogs', async () => {
      const statuses = await opened.app.readDb.all<{ status: string; n: number }>(
        'SELECT status, COUNT(*) AS n FROM read_leads GROUP BY status ORDER BY status',
      );
      const byStatus = Object.fromEntries(statuses.map((row) => [row.status, row.n]));
      expect(Object.keys(byStatus)).toEqual(['CONTACTED', 'CONVERTED', 'DISQUALIFIED', 'NEW', 'QUALIFIED']);
      expect(byStatus.CONVERTED! / 400).toBeGreaterThan(0.1);
      expect(byStatus.CONVERTED! / 400).toBeLessThan(0.4);
      expect(byStatus.DISQUALIFIED).toBeGreaterThan(byStatus.CONVERTED!);

      const captured = dataOf<{ source: string; ownerId?: string; person?: { jobTitle?: string }; company?: { size?: string; address?: { country?: string } } }>('LeadCaptured');
      expect(new Set(captured.map((lead) => lead.source)).size).toBeGreaterThanOrEqual(8);
      expect(new Set(captured.map((lead) => lead.company?.address?.country).filter(Boolean)).size).toBeGreaterThanOrEqual(4);
      expect(new Set(captured.map((lead) => lead.company?.size).filter(Boolean)).size).toBe(5);
      expect(new Set(captured.map((lead) => lead.person?.jobTitle).filter(Boolean)).size).toBeGreaterThanOrEqual(8);
      const owners = new Set(dataOf<{ ownerId: string }>('LeadAssigned').map((assigned) => assigned.ownerId));
      expect([...owners].sort()).toEqual([...DEFAULT_SALES_TEAM].sort());

      const disqualified = dataOf<{ reason: string }>('LeadDisqualified').map((d) => d.reason);
      expect(new Set(disqualified).size).toBeGreaterThanOrEqual(6);
      expect(disqualified.every((reason) => opened.app.catalogs.disqualificationReasons.has(reason))).toBe(true);
      expect(ofType('LeadRecycled').length).toBeGreaterThan(0);
      expect(ofType('LeadContactLogged').length).toBeGreaterThan(400);
    });

    it('converts in B2B and B2C, and takes opportunities through quotes to wins, losses and reopens', async () => {
      expect(summary.conversions.b2b).toBeGreaterThan(summary.conversions.b2c);
      expect(summary.conversions.b2c).toBeGreaterThan(0);
      const groupings = await opened.app.readDb.all<{ name: string; contacts: number }>(
        `SELECT a.name, COUNT(c.id) AS contacts FROM read_accounts a JOIN read_contacts c ON c.account_id = a.id
         WHERE a.kind = 'GROUPING' GROUP BY a.name`,
      );
      expect(groupings.length).toBeGreaterThanOrEqual(3);
      // A company that converts a second lead keeps its one account.
      const companies = await opened.app.readDb.get<{ n: number }>(
        "SELECT COUNT(*) AS n FROM read_accounts WHERE kind = 'COMPANY'",
      );
      expect(companies!.n).toBeLessThan(summary.conversions.b2b);

      const lost = dataOf<{ reason: string; competitor?: string; stage: string }>('OpportunityLost');
      expect(ofType('OpportunityWon').length).toBeGreaterThan(10);
      expect(lost.length).toBeGreaterThan(10);
      expect(new Set(lost.map((loss) => loss.reason)).size).toBeGreaterThanOrEqual(4);
      expect(lost.every((loss) => opened.app.catalogs.lossReasons.has(loss.reason))).toBe(true);
      expect(lost.some((loss) => loss.competitor)).toBe(true);
      expect(new Set(lost.map((loss) => loss.stage)).size).toBeGreaterThanOrEqual(3);
      expect(ofType('OpportunityReopened').length).toBeGreaterThan(0);
      expect(new Set(dataOf<{ toStage: string }>('OpportunityStageChanged').map((move) => move.toStage))).toEqual(
        new Set(opened.app.pipeline.codes().slice(1)),
      );
      const quoteMoves = new Set(dataOf<{ to: string }>('QuoteStatusChanged').map((change) => change.to));
      expect(quoteMoves).toEqual(new Set(['SENT', 'SUPERSEDED', 'ACCEPTED', 'REJECTED']));
      expect(ofType('ActivityCompleted').length).toBeGreaterThan(ofType('ActivityReopened').length);
      expect(ofType('ActivityReopened').length).toBeGreaterThan(0);
    });

    it('leaves every read model equal to a rebuild from the log, and the models agreeing with each other', async () => {
      const scratch = await openScratchSpace(opened.config.readStore);
      try {
        const report = await verifyReadModels({ store: opened.app.store, scratch, projections: readModelProjections() });
        expect(report.problems).toEqual([]);
        // The generator makes no lead lists (yet): their tables are the only empty ones.
        const notSeeded = ['read_lead_list_members', 'read_lead_lists'];
        expect(report.tables.filter((table) => table.liveRows === 0).map((table) => table.table).sort()).toEqual(notSeeded);
        expect(report.ok).toBe(true);
      } finally {
        await scratch.close();
      }
      const orphans = await opened.app.readDb.all<{ id: string }>(
        `SELECT o.id FROM read_opportunities o
         LEFT JOIN read_accounts a ON a.id = o.account_id LEFT JOIN read_contacts c ON c.id = o.contact_id
         WHERE a.id IS NULL OR c.id IS NULL`,
      );
      expect(orphans).toEqual([]);
      const converted = await opened.app.readDb.get<{ n: number }>("SELECT COUNT(*) AS n FROM read_leads WHERE status = 'CONVERTED'");
      expect(converted!.n).toBe(summary.conversions.b2b + summary.conversions.b2c);
    });
  });
});
