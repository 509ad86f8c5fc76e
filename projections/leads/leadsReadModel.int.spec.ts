import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors';
import type { EventStore } from '../../src/core/eventStore';
import { openSqliteEventStore } from '../../src/eventStores/sqlite';
import { leadStreamId, type LeadCaptured, type LeadEvent } from '../../src/domain/leads/lead';
import { ProjectionRunner } from '../runner';
import { openSqliteDatabase, type SqlDatabase } from '../sqlDatabase';
import { appendLeadEvent, temporaryDirectory } from '../../test/support/leadEvents';
import { DEFAULT_SCORING_RULES } from '../../src/domain/scoring/rules';
import { rescoreLead } from '../../src/useCases/rescoreLead';
import { leadsProjection } from './leadsProjection';
import { findLeads, type LeadPage } from './leadsQueries';
import { getLead } from './leadView';

describe('leads read model', () => {
  let directory: ReturnType<typeof temporaryDirectory>;
  let store: EventStore;
  let db: SqlDatabase;
  let runner: ProjectionRunner;

  beforeEach(async () => {
    directory = temporaryDirectory();
    store = openSqliteEventStore({ filename: directory.file('crm.db') });
    db = openSqliteDatabase(directory.file('crm.db'));
    runner = new ProjectionRunner({ store, db, projections: [leadsProjection] });
    await runner.start();
    await runner.whenCaughtUp();
  });

  afterEach(async () => {
    await runner.stop();
    await db.close();
    await store.close();
    directory.remove();
  });

  /** Appends as a mutation would, then reads its own write as the API does. */
  const record = async (event: LeadEvent, occurredAt: string) => {
    const { position } = await appendLeadEvent(store, event, { occurredAt });
    await runner.waitForPosition(position);
    return getLead(db, event.data.leadId);
  };

  const captured = (leadId: string, data: Partial<LeadCaptured['data']> = {}): LeadCaptured => ({
    type: 'LeadCaptured',
    data: { leadId, source: 'WEB_FORM', person: { lastName: leadId }, ...data },
  });

  it('takes an automatic score without changing the revision or the time of the last fact; the latest score in log order shows', async () => {
    const leadId = 'lead-scored';
    await record(captured(leadId, { source: 'REFERRAL' }), '2024-05-01T09:00:00.000Z');
    const contacted = (await record({ type: 'LeadContactLogged', data: { leadId, channel: 'CALL', outcome: 'REACHED' } }, '2024-05-02T09:00:00.000Z'))!;
    const automatic = await rescoreLead(store, {
      leadId,
      reason: 'FACT',
      rules: DEFAULT_SCORING_RULES,
      causationId: 'contact-1',
      actor: 'lead-scorer',
      correlationId: 'c',
      now: new Date('2024-05-02T09:00:01.000Z'),
    });
    expect(automatic.kind).toBe('rescored');
    await runner.waitForPosition(automatic.position!);
    const rescored = (await getLead(db, leadId))!;
    expect(rescored).toMatchObject({
      revision: contacted.revision,
      updatedAt: contacted.updatedAt,
      score: 30,
      scoreRulesVersion: 'default-1',
      scoredAt: '2024-05-02T09:00:01.000Z',
      scorePosition: automatic.position,
      scoreBreakdown: [
        { ruleId: 'referral', label: 'Came by referral', points: 20 },
        { ruleId: 'contacts-reached', label: 'Contacts reached', points: 10, count: 1 },
      ],
    });
    // A score on the lead's own stream, recorded later, is the one shown; and the other way round.
    const manual = (await record({ type: 'LeadScored', data: { leadId, score: 7, rulesVersion: 'by-hand', breakdown: [] } }, '2024-05-03T09:00:00.000Z'))!;
    expect(manual).toMatchObject({ score: 7, scoreRulesVersion: 'by-hand', revision: contacted.revision + 1 });
    const again = await rescoreLead(store, {
      leadId,
      reason: 'FACT',
      rules: DEFAULT_SCORING_RULES,
      causationId: 'contact-2',
      actor: 'lead-scorer',
      correlationId: 'c',
      now: new Date('2024-05-03T09:00:01.000Z'),
    });
    await runner.waitForPosition(again.position!);
    expect(await getLead(db, leadId)).toMatchObject({ score: 30, scoreRulesVersion: 'default-1', revision: manual.revision });
  });

  it('follows a lead through contact, qualification, disqualification and recycling', async () => {
    const leadId = 'lead-walk';
    const capture = await record(
      captured(leadId, {
        source: 'TRADE_FAIR',
        campaign: 'spring-fair',
        person: { firstName: 'José', lastName: 'García', email: 'jose@example.com' },
        company: { name: 'Acme' },
        ownerId: 'user-bob',
      }),
      '2024-05-01T09:00:00.000Z',
    );
    expect(capture).toMatchObject({
      id: leadId,
      revision: 0,
      status: 'NEW',
      rank: 'UNRANKED',
      cycle: 1,
      contactAttempts: 0,
      source: 'TRADE_FAIR',
      campaign: 'spring-fair',
      person: { firstName: 'José', lastName: 'García', email: 'jose@example.com' },
      company: { name: 'Acme' },
      ownerId: 'user-bob',
      capturedAt: '2024-05-01T09:00:00.000Z',
      updatedAt: '2024-05-01T09:00:00.000Z',
      capturedBy: 'user-alice',
      lastContactedAt: null,
    });

    const noAnswer = await record(
      { type: 'LeadContactLogged', data: { leadId, channel: 'CALL', outcome: 'NO_ANSWER' } },
      '2024-05-01T10:00:00.000Z',
    );
    expect(noAnswer).toMatchObject({ status: 'NEW', contactAttempts: 1, lastContactOutcome: 'NO_ANSWER' });

    // Back-dated with an offset: shown in UTC, like every other time.
    const reached = await record(
      { type: 'LeadContactLogged', data: { leadId, channel: 'MEETING', outcome: 'REACHED' } },
      '2024-05-02T11:30:00+02:00',
    );
    expect(reached).toMatchObject({
      status: 'CONTACTED',
      contactAttempts: 2,
      lastContactOutcome: 'REACHED',
      lastContactedAt: '2024-05-02T09:30:00.000Z',
    });

    const criteria = { need: true, budget: true, authority: false, timing: true };
    const qualified = await record(
      { type: 'LeadQualified', data: { leadId, rank: 'MQL', criteria, notes: 'asked for a demo' } },
      '2024-05-03T09:00:00.000Z',
    );
    expect(qualified).toMatchObject({
      status: 'QUALIFIED',
      rank: 'MQL',
      criteria,
      qualificationNotes: 'asked for a demo',
      qualifiedAt: '2024-05-03T09:00:00.000Z',
    });

    const disqualified = await record(
      {
        type: 'LeadDisqualified',
        data: { leadId, reason: 'NO_BUDGET', notes: 'budget frozen', statusBefore: 'QUALIFIED' },
      },
      '2024-05-04T09:00:00.000Z',
    );
    expect(disqualified).toMatchObject({
      status: 'DISQUALIFIED',
      disqualificationReason: 'NO_BUDGET',
      disqualificationNotes: 'budget frozen',
      disqualifiedAt: '2024-05-04T09:00:00.000Z',
    });

    const recycled = await record(
      { type: 'LeadRecycled', data: { leadId, cycle: 2, source: 'EMAIL_CAMPAIGN', campaign: 'winback' } },
      '2024-09-01T09:00:00.000Z',
    );
    expect(recycled).toMatchObject({
      revision: 5,
      status: 'NEW',
      rank: 'UNRANKED',
      cycle: 2,
      contactAttempts: 0,
      source: 'EMAIL_CAMPAIGN',
      campaign: 'winback',
      criteria: null,
      qualificationNotes: null,
      qualifiedAt: null,
      disqualificationReason: null,
      disqualificationNotes: null,
      disqualifiedAt: null,
      lastContactedAt: '2024-05-02T09:30:00.000Z',
    });

    await record({ type: 'LeadAssigned', data: { leadId, ownerId: 'user-chen', previousOwnerId: 'user-bob' } }, '2024-09-02T09:00:00.000Z');
    const updated = await record(
      { type: 'LeadDetailsUpdated', data: { leadId, company: { name: 'Acme Holding', website: 'https://acme.test' } } },
      '2024-09-03T09:00:00.000Z',
    );
    expect(updated).toMatchObject({
      revision: 7,
      ownerId: 'user-chen',
      company: { name: 'Acme Holding', website: 'https://acme.test' },
      person: { firstName: 'José', lastName: 'García' },
      capturedAt: '2024-05-01T09:00:00.000Z',
      updatedAt: '2024-09-03T09:00:00.000Z',
    });
    expect((await findLeads(db, { filter: { search: 'acme holding' } })).totalCount).toBe(1);
  });

  it('counts a redelivered event once', async () => {
    await record(captured('lead-once'), '2024-05-01T09:00:00.000Z');
    await record(
      { type: 'LeadContactLogged', data: { leadId: 'lead-once', channel: 'CALL', outcome: 'REACHED' } },
      '2024-05-01T10:00:00.000Z',
    );
    const [capture, contact] = await store.readStream(leadStreamId('lead-once'));

    await db.transaction((tx) => leadsProjection.apply(tx, contact!));
    // The capture, which the projection writes without reading the row first, leaves it as it is too.
    await db.transaction((tx) => leadsProjection.apply(tx, capture!));

    expect(await getLead(db, 'lead-once')).toMatchObject({ contactAttempts: 1, revision: 1, status: 'CONTACTED' });
  });

  describe('findLeads', () => {
    const lastNames = (page: LeadPage) => page.nodes.map((lead) => lead.person?.lastName).sort();

    beforeEach(async () => {
      const at = (day: number) => `2024-06-0${day}T09:00:00.000Z`;
      await record(
        captured('lead-a', {
          person: { firstName: 'José', lastName: 'García', email: 'jose@example.com' },
          company: { name: 'Acme' },
          campaign: 'spring-fair',
          ownerId: 'user-bob',
        }),
        at(1),
      );
      await record(
        {
          type: 'LeadQualified',
          data: { leadId: 'lead-a', rank: 'SQL', criteria: { need: true, budget: true, authority: true, timing: true } },
        },
        at(2),
      );
      await record(
        captured('lead-b', {
          source: 'TRADE_FAIR',
          person: { firstName: 'Zoë', lastName: 'Müller' },
          company: { name: 'Société Générale' },
          campaign: 'spring-fair',
          ownerId: 'user-alice',
        }),
        at(2),
      );
      await record(captured('lead-c', { person: { firstName: 'Marc', lastName: 'Dupont' }, ownerId: 'user-alice' }), at(3));
      await record(
        { type: 'LeadDisqualified', data: { leadId: 'lead-c', reason: 'NO_NEED', statusBefore: 'NEW' } },
        at(4),
      );
      await record(
        captured('lead-d', {
          source: 'REFERRAL',
          person: { firstName: 'Ana', lastName: 'Muller', email: 'Ana.Muller@Example.org' },
          company: { name: 'Café Crème GmbH' },
          ownerId: 'user-chen',
        }),
        at(4),
      );
      await record(
        captured('lead-e', { source: 'OTHER', person: { lastName: 'Smith' }, company: { name: '100%_Sure Ltd' } }),
        at(5),
      );
    });

    it('filters on status, rank, source, campaign and owner, alone or together', async () => {
      expect(lastNames(await findLeads(db, { filter: { status: 'QUALIFIED' } }))).toEqual(['García']);
      expect(lastNames(await findLeads(db, { filter: { rank: 'SQL' } }))).toEqual(['García']);
      expect(lastNames(await findLeads(db, { filter: { status: 'DISQUALIFIED' } }))).toEqual(['Dupont']);
      expect(lastNames(await findLeads(db, { filter: { source: 'WEB_FORM' } }))).toEqual(['Dupont', 'García']);
      expect(lastNames(await findLeads(db, { filter: { campaign: 'spring-fair' } }))).toEqual(['García', 'Müller']);
      expect(lastNames(await findLeads(db, { filter: { ownerId: 'user-alice' } }))).toEqual(['Dupont', 'Müller']);

      const together = await findLeads(db, { filter: { source: 'WEB_FORM', ownerId: 'user-alice' } });
      expect(lastNames(together)).toEqual(['Dupont']);
      expect(together.totalCount).toBe(1);
      expect((await findLeads(db, {})).totalCount).toBe(5);
    });

    it('searches names, e-mail and company regardless of case and accents', async () => {
      const search = async (text: string) => lastNames(await findLeads(db, { filter: { search: text } }));

      expect(await search('muller')).toEqual(['Muller', 'Müller']);
      expect(await search('MÜLLER')).toEqual(['Muller', 'Müller']);
      expect(await search('  jose   GARCIA ')).toEqual(['García']);
      expect(await search('zoë')).toEqual(['Müller']);
      expect(await search('societe gen')).toEqual(['Müller']);
      expect(await search('ana.muller@example')).toEqual(['Muller']);
      expect(await search('cafe creme')).toEqual(['Muller']);
      // The LIKE wildcards are plain characters in a search.
      expect(await search('%')).toEqual(['Smith']);
      expect(await search('_')).toEqual(['Smith']);
      expect(await search('nobody')).toEqual([]);
    });

    it('combines a search with filters in the total count', async () => {
      const page = await findLeads(db, { filter: { search: 'muller', source: 'REFERRAL' } });
      expect(lastNames(page)).toEqual(['Muller']);
      expect(page.totalCount).toBe(1);
    });

    it("asks a filtered page's rows and count in one statement, and a search's count before its rows (which depend on it)", async () => {
      // Each statement takes a moment; the log says when each started and ended.
      const log: string[] = [];
      const slow = Object.create(db) as SqlDatabase;
      const timed =
        <A extends unknown[], T>(call: (...args: A) => Promise<T>) =>
        async (...args: A): Promise<T> => {
          const sql = String(args[0]);
          const what = /FROM read_leads .*ORDER BY/s.test(sql) ? (/COUNT\(\*\)/.test(sql) ? 'rows and count' : 'rows') : 'count';
          log.push(`${what} started`);
          await new Promise((resolve) => setTimeout(resolve, 5));
          const result = await call(...args);
          log.push(`${what} ended`);
          return result;
        };
      slow.get = timed(db.get.bind(db)) as SqlDatabase['get'];
      slow.all = timed(db.all.bind(db)) as SqlDatabase['all'];

      const filtered = await findLeads(slow, { filter: { ownerId: 'user-alice' } });
      expect(lastNames(filtered)).toEqual(['Dupont', 'Müller']);
      expect(filtered.totalCount).toBe(2);
      expect(log).toEqual(['rows and count started', 'rows and count ended']);

      log.length = 0;
      const searched = await findLeads(slow, { filter: { search: 'muller' } });
      expect(searched.totalCount).toBe(lastNames(searched).length);
      expect(log).toEqual(['count started', 'count ended', 'rows started', 'rows ended']);
    });
  });

  describe('pagination', () => {
    // Three leads share a capture time: the id breaks the tie, so no page repeats or skips one.
    const captureTimes: Record<string, string> = {
      'lead-1': '2024-07-01T09:00:00.000Z',
      'lead-2': '2024-07-02T09:00:00.000Z',
      'lead-3': '2024-07-02T09:00:00.000Z',
      'lead-4': '2024-07-02T09:00:00.000Z',
      'lead-5': '2024-07-03T09:00:00.000Z',
      'lead-6': '2024-07-04T09:00:00.000Z',
      'lead-7': '2024-07-05T09:00:00.000Z',
    };
    const newestFirst = ['lead-7', 'lead-6', 'lead-5', 'lead-4', 'lead-3', 'lead-2', 'lead-1'];
    const ids = (page: LeadPage) => page.nodes.map((lead) => lead.id);

    beforeEach(async () => {
      for (const [leadId, at] of Object.entries(captureTimes)) await record(captured(leadId), at);
    });

    it('walks every lead once, newest capture first, page by page', async () => {
      const first = await findLeads(db, { first: 3 });
      expect(ids(first)).toEqual(newestFirst.slice(0, 3));
      expect(first).toMatchObject({ totalCount: 7, hasNextPage: true, endCursor: first.cursors[2] });

      const second = await findLeads(db, { first: 3, after: first.endCursor });
      expect(ids(second)).toEqual(newestFirst.slice(3, 6));
      expect(second).toMatchObject({ totalCount: 7, hasNextPage: true });

      const last = await findLeads(db, { first: 3, after: second.endCursor });
      expect(ids(last)).toEqual(newestFirst.slice(6));
      expect(last.hasNextPage).toBe(false);
    });

    it('resumes after any cursor, even once newer leads arrived', async () => {
      const first = await findLeads(db, { first: 3 });
      await record(captured('lead-8'), '2024-08-01T09:00:00.000Z');

      expect(ids(await findLeads(db, { first: 2, after: first.cursors[1] }))).toEqual(['lead-5', 'lead-4']);
      expect(ids(await findLeads(db, { first: 3, after: first.endCursor }))).toEqual(newestFirst.slice(3, 6));
    });

    it('tells the count of a filter on a page past its last lead, and on a page of none', async () => {
      const newest = await findLeads(db, { first: 2, filter: { source: 'WEB_FORM' } });
      expect(newest).toMatchObject({ totalCount: 7, hasNextPage: true });
      const last = await findLeads(db, { first: 7, filter: { source: 'WEB_FORM' } });
      expect(last).toMatchObject({ totalCount: 7, hasNextPage: false });

      const past = await findLeads(db, { first: 3, after: last.endCursor, filter: { source: 'WEB_FORM' } });
      expect(past).toMatchObject({ nodes: [], totalCount: 7, hasNextPage: false });
      expect(await findLeads(db, { first: 0, filter: { source: 'WEB_FORM' } })).toMatchObject({ nodes: [], totalCount: 7, hasNextPage: true });
      expect(await findLeads(db, { first: 3, filter: { source: 'REFERRAL' } })).toMatchObject({ nodes: [], totalCount: 0, hasNextPage: false });
    });

    it('refuses a cursor it did not issue', async () => {
      await expect(findLeads(db, { after: 'not-a-cursor' })).rejects.toBeInstanceOf(ValidationError);
    });

    it('returns 50 leads when no page size is given', async () => {
      for (let index = 0; index < 45; index++) {
        await appendLeadEvent(store, captured(`lead-bulk-${index}`), { occurredAt: '2024-06-01T00:00:00.000Z' });
      }
      await runner.waitForPosition((await store.headPosition())!);

      const page = await findLeads(db);

      expect(page.nodes).toHaveLength(50);
      expect(page).toMatchObject({ totalCount: 52, hasNextPage: true });
    });
  });
});
