/**
 * The opportunities read model and a person's erasure (GDPR art. 17): the opportunities opened
 * for one of the person's contacts or converted from one of their leads lose, at
 * `PersonalDataErased`, their close notes and their quotes' and activities' texts; a rebuild,
 * which reads those events with their personal fields null and then the same erasure, gives the
 * very same rows in all four tables.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/core/eventStore';
import { opportunityStreamId, type OpportunityEvent } from '../../src/domain/opportunities/events';
import { personalDataStreamId, type PersonalDataErased } from '../../src/domain/personalData';
import { asReadAfterErasure, eventRecorder } from '../../test/support/erasureEvents';
import { openSqliteDatabase, type SqlDatabase } from '../sqlDatabase';
import { opportunitiesProjection } from './opportunitiesProjection';
import { activitiesOf, findOpportunities, getOpportunity, quotesOf } from './opportunitiesQueries';

const eur = (amount: string) => ({ amount, currency: 'EUR' });

/** Converted from the erased person's lead, with their contact. */
const CONVERTED = 'opp-1';
/** Opened later for the erased person's contact, by hand. */
const FOR_CONTACT = 'opp-2';
/** Converted from another lead of the same person (a second cycle), lost. */
const SECOND_CYCLE = 'opp-3';
/** Someone else's. */
const OTHER = 'opp-4';

const PLAINTEXT = [
  'Call Martina about ovens',
  'Martina prefers mornings',
  'Martina said yes to the visit',
  'Quote for Martina Puigdomènech',
  'Martina signed on the spot',
  'Visit Martina at home',
  'Martina found it too dear',
];

const recorded = eventRecorder();
const stream = (opportunityId: string, events: OpportunityEvent[], minute: number): RecordedEvent[] =>
  events.map((event, revision) => recorded(opportunityStreamId(opportunityId), revision, event.type, event.data, minute));

const opened = (opportunityId: string, extra: { contactId?: string; fromLeadId?: string }): OpportunityEvent => ({
  type: 'OpportunityOpened',
  data: { opportunityId, accountId: 'account-forn', name: 'Oven refit', amount: eur('18500.00'), stage: 'QUALIFICATION', probability: 10, ...extra },
});

const personsOpportunities = (): RecordedEvent[] => [
  ...stream(
    CONVERTED,
    [
      opened(CONVERTED, { contactId: 'contact-7', fromLeadId: 'lead-7' }),
      { type: 'ActivityScheduled', data: { opportunityId: CONVERTED, activityId: 'a1', kind: 'CALL', subject: 'Call Martina about ovens', notes: 'Martina prefers mornings', dueAt: '2024-05-03T08:00:00.000Z' } },
      { type: 'ActivityCompleted', data: { opportunityId: CONVERTED, activityId: 'a1', notes: 'Martina said yes to the visit' } },
      { type: 'OpportunityStageChanged', data: { opportunityId: CONVERTED, fromStage: 'QUALIFICATION', toStage: 'PROPOSAL', probability: 50 } },
      { type: 'QuoteAdded', data: { opportunityId: CONVERTED, quoteId: 'q1', amount: eur('18000.00'), validUntil: '2024-06-01', description: 'Quote for Martina Puigdomènech' } },
      { type: 'QuoteStatusChanged', data: { opportunityId: CONVERTED, quoteId: 'q1', from: 'DRAFT', to: 'ACCEPTED' } },
      { type: 'OpportunityWon', data: { opportunityId: CONVERTED, accountId: 'account-forn', amount: eur('18000.00'), stage: 'PROPOSAL', notes: 'Martina signed on the spot' } },
    ],
    0,
  ),
  ...stream(
    FOR_CONTACT,
    [
      opened(FOR_CONTACT, { contactId: 'contact-7' }),
      { type: 'ActivityScheduled', data: { opportunityId: FOR_CONTACT, activityId: 'a2', kind: 'VISIT', subject: 'Visit Martina at home' } },
      { type: 'QuoteAdded', data: { opportunityId: FOR_CONTACT, quoteId: 'q2', amount: eur('900.00') } },
    ],
    20,
  ),
  ...stream(
    SECOND_CYCLE,
    [
      opened(SECOND_CYCLE, { fromLeadId: 'lead-7b' }),
      { type: 'OpportunityLost', data: { opportunityId: SECOND_CYCLE, accountId: 'account-forn', reason: 'PRICE', competitor: 'Forns Reunits', notes: 'Martina found it too dear', stage: 'QUALIFICATION' } },
      { type: 'OpportunityReopened', data: { opportunityId: SECOND_CYCLE, accountId: 'account-forn', reason: 'Budget found', previousStatus: 'LOST', stage: 'QUALIFICATION' } },
      { type: 'OpportunityLost', data: { opportunityId: SECOND_CYCLE, accountId: 'account-forn', reason: 'PRICE', notes: 'Martina found it too dear', stage: 'QUALIFICATION' } },
    ],
    40,
  ),
];

const othersOpportunity = (): RecordedEvent[] =>
  stream(
    OTHER,
    [
      opened(OTHER, { contactId: 'contact-8', fromLeadId: 'lead-8' }),
      { type: 'ActivityScheduled', data: { opportunityId: OTHER, activityId: 'a4', kind: 'CALL', subject: 'Call Jordi', notes: 'Jordi is keen' } },
      { type: 'QuoteAdded', data: { opportunityId: OTHER, quoteId: 'q4', amount: eur('700.00'), description: 'Quote for Jordi' } },
      { type: 'OpportunityWon', data: { opportunityId: OTHER, accountId: 'account-forn', amount: eur('700.00'), stage: 'QUALIFICATION', notes: 'Jordi signed' } },
    ],
    60,
  );

const erasure = (): RecordedEvent =>
  recorded(personalDataStreamId('lead-7'), 0, 'PersonalDataErased', {
    subjectId: 'lead-7',
    leadIds: ['lead-7', 'lead-7b'],
    contactIds: ['contact-7'],
    keyIds: ['key-7'],
    origin: 'REQUEST',
    reason: 'She asked us to',
  } satisfies PersonalDataErased['data']);

const TABLES = ['read_opportunities', 'read_opportunity_quotes', 'read_opportunity_activities', 'read_opportunity_stage_history'];

describe('opportunities read model: erasure of a person', () => {
  let live: SqlDatabase;
  let rebuilt: SqlDatabase;

  const project = async (db: SqlDatabase, events: readonly RecordedEvent[]) => {
    for (const event of events) {
      if (opportunitiesProjection.canHandle.includes(event.type)) await db.transaction((tx) => opportunitiesProjection.apply(tx, event));
    }
  };
  const tables = async (db: SqlDatabase) =>
    Object.fromEntries(
      await Promise.all(TABLES.map(async (table) => [table, await db.all<Record<string, unknown>>(`SELECT * FROM ${table} ORDER BY 1, 2`)] as const)),
    );
  const rowsOf = async (db: SqlDatabase, opportunityId: string) =>
    Object.fromEntries(
      await Promise.all(
        TABLES.map(async (table) => {
          const column = table === 'read_opportunities' ? 'id' : 'opportunity_id';
          return [table, await db.all<Record<string, unknown>>(`SELECT * FROM ${table} WHERE ${column} = ? ORDER BY 1, 2`, [opportunityId])] as const;
        }),
      ),
    );
  const leaks = (value: unknown): string[] => {
    const text = JSON.stringify(value).toLowerCase();
    return PLAINTEXT.filter((plain) => text.includes(plain.toLowerCase()));
  };

  beforeEach(async () => {
    live = openSqliteDatabase(':memory:');
    rebuilt = openSqliteDatabase(':memory:');
    await opportunitiesProjection.setup(live);
    await opportunitiesProjection.setup(rebuilt);
  });
  afterEach(async () => {
    await live.close();
    await rebuilt.close();
  });

  it('takes PersonalDataErased in, and was bumped so that the runner rebuilds it', () => {
    expect(opportunitiesProjection.canHandle).toContain('PersonalDataErased');
    expect(opportunitiesProjection.version).toBeGreaterThanOrEqual(2);
  });

  it("nulls the texts of the person's opportunities, their quotes and activities, keeps the rest, and marks them", async () => {
    await project(live, [...personsOpportunities(), ...othersOpportunity()]);
    const before = await tables(live);
    expect(leaks(before)).toEqual(PLAINTEXT);
    const others = await rowsOf(live, OTHER);

    await project(live, [erasure()]);

    const after = await tables(live);
    expect(leaks(after)).toEqual([]);
    expect(await rowsOf(live, OTHER)).toEqual(others);
    for (const id of [CONVERTED, FOR_CONTACT, SECOND_CYCLE]) {
      const view = (await getOpportunity(live, id))!;
      expect(view).toMatchObject({ personalDataErased: true, closeNotes: null });
      for (const quote of await quotesOf(live, id)) expect(quote.description).toBeNull();
      for (const activity of await activitiesOf(live, id)) expect(activity).toMatchObject({ subject: null, notes: null, completionNotes: null });
    }
    expect((await getOpportunity(live, OTHER))!).toMatchObject({ personalDataErased: false, closeNotes: 'Jordi signed' });

    // Nothing else moves: status, amounts, stages, times, revisions, what was lost to whom.
    expect(await getOpportunity(live, CONVERTED)).toMatchObject({ status: 'WON', amount: eur('18000.00'), stage: 'PROPOSAL', revision: 6 });
    expect(await getOpportunity(live, SECOND_CYCLE)).toMatchObject({ status: 'LOST', lossReason: 'PRICE', reopenReason: 'Budget found' });
    expect(await activitiesOf(live, CONVERTED)).toMatchObject([{ id: 'a1', kind: 'CALL', done: true, dueAt: '2024-05-03T08:00:00.000Z' }]);
    expect(await quotesOf(live, CONVERTED)).toMatchObject([{ id: 'q1', status: 'ACCEPTED', amount: eur('18000.00') }]);
    const withoutTexts = (snapshot: Record<string, Record<string, unknown>[]>) =>
      Object.fromEntries(
        Object.entries(snapshot).map(([table, rows]) => [
          table,
          rows.map(({ close_notes: _c, description: _d, subject: _s, notes: _n, completion_notes: _cn, personal_data_erased: _e, ...rest }) => rest),
        ]),
      );
    expect(withoutTexts(after)).toEqual(withoutTexts(before));
  });

  it('ends with the same rows as a rebuild, which reads the events erased and then the same PersonalDataErased', async () => {
    await project(live, [...personsOpportunities(), ...othersOpportunity(), erasure()]);
    await project(rebuilt, [...personsOpportunities().map(asReadAfterErasure), ...othersOpportunity(), erasure()]);
    expect(await tables(rebuilt)).toEqual(await tables(live));
    await project(live, [erasure()]);
    expect(await tables(live)).toEqual(await tables(rebuilt));
  });

  it('takes a null activity subject in, and marks the opportunity as soon as it reads an erased event', async () => {
    await project(rebuilt, personsOpportunities().map(asReadAfterErasure));
    expect(await activitiesOf(rebuilt, FOR_CONTACT)).toMatchObject([{ id: 'a2', subject: null, notes: null }]);
    // Those with an erased event say so (time travel folds the stream with this same projection).
    expect((await getOpportunity(rebuilt, CONVERTED))!.personalDataErased).toBe(true);
    expect((await getOpportunity(rebuilt, SECOND_CYCLE))!.personalDataErased).toBe(true);
    expect((await getOpportunity(rebuilt, FOR_CONTACT))!.personalDataErased).toBe(true);
    for (const table of Object.values(await tables(rebuilt))) {
      for (const row of table) {
        for (const value of Object.values(row)) if (value !== null) expect(String(value)).not.toMatch(/\bnull\b|\bundefined\b/);
      }
    }
  });

  it('keeps listing and filtering the erased opportunities (nothing personal is searched)', async () => {
    await project(live, [...personsOpportunities(), ...othersOpportunity(), erasure()]);
    expect((await findOpportunities(live, { filter: { contactId: 'contact-7' } })).nodes.map((o) => o.id)).toEqual([FOR_CONTACT, CONVERTED]);
  });
});
