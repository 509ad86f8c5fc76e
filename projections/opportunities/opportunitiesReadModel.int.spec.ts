import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ANY, type EventStore } from '../../src/core/eventStore';
import { newId } from '../../src/core/ids';
import { openSqliteEventStore } from '../../src/eventStores/sqlite';
import {
  opportunityStreamId,
  type OpportunityEvent,
  type OpportunityOpened,
  type QuoteStatus,
} from '../../src/domain/opportunities/events';
import { Pipeline } from '../../src/domain/opportunities/pipeline';
import { ProjectionRunner } from '../runner';
import { openSqliteDatabase, type SqlDatabase } from '../sqlDatabase';
import { temporaryDirectory } from '../../test/support/leadEvents';
import { opportunitiesProjection } from './opportunitiesProjection';
import { activitiesOf, findOpportunities, getOpportunity, opportunitiesOfAccount, pipelineSummary, quotesOf, stageHistoryOf, type OpportunityPage } from './opportunitiesQueries';

const eur = (amount: string) => ({ amount, currency: 'EUR' });

describe('opportunities read model', () => {
  let directory: ReturnType<typeof temporaryDirectory>;
  let store: EventStore;
  let db: SqlDatabase;
  let runner: ProjectionRunner;

  beforeEach(async () => {
    directory = temporaryDirectory();
    store = openSqliteEventStore({ filename: directory.file('crm.db') });
    db = openSqliteDatabase(directory.file('crm.db'));
    runner = new ProjectionRunner({ store, db, projections: [opportunitiesProjection] });
    await runner.start();
    await runner.whenCaughtUp();
  });

  afterEach(async () => {
    await runner.stop();
    await db.close();
    await store.close();
    directory.remove();
  });

  /** Appends as a command would (one event, full metadata), then reads its own write. */
  const record = async (event: OpportunityEvent, occurredAt: string, actor = 'alice') => {
    const commandId = newId();
    const { position } = await store.appendToStream(
      opportunityStreamId(event.data.opportunityId),
      [
        {
          id: newId(),
          type: event.type,
          data: event.data,
          metadata: {
            actor,
            recordedAt: occurredAt,
            occurredAt,
            correlationId: commandId,
            causationId: commandId,
            schemaVersion: 1,
            commandType: event.type,
          },
        },
      ],
      { expectedRevision: ANY },
    );
    await runner.waitForPosition(position);
    return getOpportunity(db, event.data.opportunityId);
  };

  const opened = (opportunityId: string, data: Partial<OpportunityOpened['data']> = {}): OpportunityOpened => ({
    type: 'OpportunityOpened',
    data: { opportunityId, accountId: 'acc-1', name: opportunityId, stage: 'QUALIFICATION', probability: 10, ...data },
  });

  it('follows an opportunity through stages, quotes and activities to a win, and a reopen', async () => {
    const opportunityId = 'opp-shop';
    const at = (day: number, hour = 9) => `2026-03-${String(day).padStart(2, '0')}T${String(hour).padStart(2, '0')}:00:00.000Z`;
    const moved = (fromStage: string, toStage: string, probability: number): OpportunityEvent => ({
      type: 'OpportunityStageChanged',
      data: { opportunityId, fromStage, toStage, probability },
    });
    const quoteMoved = (quoteId: string, from: QuoteStatus, to: QuoteStatus): OpportunityEvent => ({
      type: 'QuoteStatusChanged',
      data: { opportunityId, quoteId, from, to },
    });
    const activity = (type: 'ActivityCompleted' | 'ActivityReopened', activityId: string, notes?: string) =>
      ({ type, data: { opportunityId, activityId, ...(notes ? { notes } : {}) } }) as OpportunityEvent;

    const openedView = await record(
      opened(opportunityId, {
        contactId: 'con-1',
        amount: eur('18500.00'),
        expectedCloseDate: '2026-06-30',
        ownerId: 'bob',
        fromLeadId: 'lead-7',
      }),
      at(1),
    );
    expect(openedView).toMatchObject({
      revision: 0,
      status: 'OPEN',
      accountId: 'acc-1',
      contactId: 'con-1',
      amount: eur('18500.00'),
      stage: 'QUALIFICATION',
      probability: 10,
      ownerId: 'bob',
      fromLeadId: 'lead-7',
      openedAt: at(1),
      openedBy: 'alice',
      stageEnteredAt: at(1),
      closedAt: null,
    });

    await record(moved('QUALIFICATION', 'VISIT_PENDING', 25), at(3));
    const visit = { opportunityId, activityId: 'visit', kind: 'VISIT', subject: 'Measure the shop' } as const;
    await record({ type: 'ActivityScheduled', data: { ...visit, dueAt: '2026-03-05T10:00:00+01:00' } }, at(3, 10));
    const call = { opportunityId, activityId: 'call', kind: 'CALL', subject: 'Call back', notes: 'After 5pm' } as const;
    await record({ type: 'ActivityScheduled', data: call }, at(3, 11));
    await record(activity('ActivityCompleted', 'visit', 'Done, 120 m²'), at(5));
    await record(activity('ActivityCompleted', 'call'), at(6));
    await record(activity('ActivityReopened', 'call'), at(6, 12));
    await record(moved('VISIT_PENDING', 'PREPARING_QUOTE', 50), at(7));
    const fullRefit = { amount: eur('19000.00'), validUntil: '2026-04-30', description: 'Full refit' };
    await record({ type: 'QuoteAdded', data: { opportunityId, quoteId: 'q1', ...fullRefit } }, at(8));
    await record(quoteMoved('q1', 'DRAFT', 'SENT'), at(8, 12));
    await record({ type: 'QuoteAdded', data: { opportunityId, quoteId: 'q2', amount: eur('17900.00') } }, at(10));
    await record(quoteMoved('q1', 'SENT', 'SUPERSEDED'), at(10, 10));
    await record(quoteMoved('q2', 'DRAFT', 'SENT'), at(10, 11));
    await record(quoteMoved('q2', 'SENT', 'ACCEPTED'), at(12));
    const updated = await record(
      {
        type: 'OpportunityDetailsUpdated',
        data: { opportunityId, amount: eur('17900.00'), probability: 90, name: 'Shop refit' },
      },
      at(12, 10),
    );
    expect(updated).toMatchObject({
      name: 'Shop refit',
      amount: eur('17900.00'),
      probability: 90,
      expectedCloseDate: '2026-06-30',
      ownerId: 'bob',
    });

    const won = await record(
      {
        type: 'OpportunityWon',
        data: { opportunityId, accountId: 'acc-1', amount: eur('17950.00'), stage: 'PREPARING_QUOTE', notes: 'Signed' },
      },
      at(13),
    );
    expect(won).toMatchObject({
      revision: 15,
      status: 'WON',
      amount: eur('17950.00'),
      closedAt: at(13),
      closeNotes: 'Signed',
      updatedAt: at(13),
    });

    expect(await quotesOf(db, opportunityId)).toEqual([
      expect.objectContaining({ id: 'q1', status: 'SUPERSEDED', ...fullRefit, addedAt: at(8), statusChangedAt: at(10, 10) }),
      expect.objectContaining({ id: 'q2', status: 'ACCEPTED', validUntil: null, addedBy: 'alice', statusChangedAt: at(12) }),
    ]);
    expect(await activitiesOf(db, opportunityId)).toEqual([
      expect.objectContaining({
        id: 'visit',
        done: true,
        completedAt: at(5),
        completionNotes: 'Done, 120 m²',
        dueAt: '2026-03-05T09:00:00.000Z',
      }),
      expect.objectContaining({ id: 'call', kind: 'CALL', done: false, completedAt: null, notes: 'After 5pm', dueAt: null }),
    ]);
    expect(await stageHistoryOf(db, opportunityId)).toEqual([
      { stage: 'QUALIFICATION', probability: 10, enteredAt: at(1), leftAt: at(3) },
      { stage: 'VISIT_PENDING', probability: 25, enteredAt: at(3), leftAt: at(7) },
      { stage: 'PREPARING_QUOTE', probability: 50, enteredAt: at(7), leftAt: at(13) },
    ]);

    const reopened = await record(
      {
        type: 'OpportunityReopened',
        data: { opportunityId, accountId: 'acc-1', reason: 'Order cancelled', previousStatus: 'WON', stage: 'PREPARING_QUOTE' },
      },
      at(20),
    );
    expect(reopened).toMatchObject({
      status: 'OPEN',
      closedAt: null,
      closeNotes: null,
      reopenedAt: at(20),
      reopenReason: 'Order cancelled',
      stageEnteredAt: at(20),
    });
    expect((await stageHistoryOf(db, opportunityId)).at(-1)).toEqual({
      stage: 'PREPARING_QUOTE',
      probability: 90,
      enteredAt: at(20),
      leftAt: null,
    });
  });

  it('records a loss with its reason, competitor and notes, and clears them on reopen', async () => {
    await record(opened('opp-lost', { amount: eur('5000') }), '2026-01-01T09:00:00.000Z');
    const lost = await record(
      {
        type: 'OpportunityLost',
        data: {
          opportunityId: 'opp-lost',
          accountId: 'acc-1',
          reason: 'COMPETITOR',
          competitor: 'Reformas SA',
          notes: 'Cheaper',
          stage: 'QUALIFICATION',
          amount: eur('5000'),
        },
      },
      '2026-01-05T09:00:00.000Z',
    );
    expect(lost).toMatchObject({
      status: 'LOST',
      lossReason: 'COMPETITOR',
      competitor: 'Reformas SA',
      closeNotes: 'Cheaper',
      closedAt: '2026-01-05T09:00:00.000Z',
    });
    const reopened = await record(
      {
        type: 'OpportunityReopened',
        data: { opportunityId: 'opp-lost', accountId: 'acc-1', reason: 'Back', previousStatus: 'LOST', stage: 'QUALIFICATION' },
      },
      '2026-02-01T09:00:00.000Z',
    );
    expect(reopened).toMatchObject({ status: 'OPEN', lossReason: null, competitor: null });
  });

  it('applies a redelivered event once', async () => {
    await record(opened('opp-once'), '2026-01-01T09:00:00.000Z');
    await record({ type: 'QuoteAdded', data: { opportunityId: 'opp-once', quoteId: 'q', amount: eur('1') } }, '2026-01-02T09:00:00.000Z');
    const [, quote] = await store.readStream(opportunityStreamId('opp-once'));

    await db.transaction((tx) => opportunitiesProjection.apply(tx, quote!));

    expect(await quotesOf(db, 'opp-once')).toHaveLength(1);
    expect(await getOpportunity(db, 'opp-once')).toMatchObject({ revision: 1 });
  });

  describe('pipelineSummary', () => {
    const pipeline = new Pipeline([
      { code: 'QUALIFICATION', label: 'Qualification', order: 1, probability: 10 },
      { code: 'VISIT_PENDING', label: 'Visit pending', order: 2, probability: 25 },
      { code: 'DECISION_PENDING', label: 'Decision pending', order: 3, probability: 75 },
    ]);

    beforeEach(async () => {
      const day = '2026-01-01T09:00:00.000Z';
      await record(opened('q-a', { amount: eur('0.10'), ownerId: 'bob' }), day);
      await record(opened('q-b', { amount: eur('0.20'), ownerId: 'bob', accountId: 'acc-2' }), day);
      await record(opened('q-c', { amount: { amount: '1000', currency: 'USD' }, ownerId: 'carla' }), day);
      await record(opened('q-d', { ownerId: 'carla' }), day);
      const decisionPending = { stage: 'DECISION_PENDING', probability: 75 };
      await record(opened('d-a', { amount: eur('18500.00'), ...decisionPending, ownerId: 'bob' }), day);
      await record(opened('d-b', { amount: eur('3333.33'), ...decisionPending, ownerId: 'carla', accountId: 'acc-2' }), day);
      // An override: weighted with its own 40%, not the stage's 75%.
      await record({ type: 'OpportunityDetailsUpdated', data: { opportunityId: 'd-b', probability: 40 } }, day);
      await record(opened('won', { amount: eur('99999'), ...decisionPending }), day);
      const wonData = { opportunityId: 'won', accountId: 'acc-1', amount: eur('99999'), stage: 'DECISION_PENDING' };
      await record({ type: 'OpportunityWon', data: wonData }, day);
      await record(opened('old', { amount: eur('100'), stage: 'RETIRED_STAGE', probability: 60 }), day);
    });

    it('groups open opportunities by stage in pipeline order, with exact sums and weighted sums', async () => {
      const summary = await pipelineSummary(db, pipeline);

      expect(summary.stages.map((s) => [s.stage, s.count, s.amount.amount, s.weightedAmount.amount])).toEqual([
        // 0.10 + 0.20 is 0.30 exactly; weighted at 10%: 0.03. The USD one and the one without amount still count.
        ['QUALIFICATION', 4, '0.30', '0.03'],
        ['VISIT_PENDING', 0, '0.00', '0.00'],
        // 18500.00 × 75% + 3333.33 × 40% = 13875 + 1333.332
        ['DECISION_PENDING', 2, '21833.33', '15208.332'],
        ['RETIRED_STAGE', 1, '100.00', '60.00'],
      ]);
      expect(summary.stages[0]).toMatchObject({
        label: 'Qualification',
        probability: 10,
        amount: { currency: 'EUR' },
        byCurrency: [
          { currency: 'EUR', count: 2, amount: '0.30', weightedAmount: '0.03' },
          { currency: 'USD', count: 1, amount: '1000.00', weightedAmount: '100.00' },
        ],
      });
      expect(summary.stages[3]).toMatchObject({ label: 'RETIRED_STAGE', probability: null, order: 4 });
      expect(summary).toMatchObject({ currency: 'EUR', count: 7, amount: eur('21933.63'), weightedAmount: eur('15268.362') });
    });

    it('filters by owner and by account, and reports in another currency on request', async () => {
      const bobs = await pipelineSummary(db, pipeline, { ownerId: 'bob' });
      expect(bobs.stages.map((s) => [s.stage, s.count, s.amount.amount])).toEqual([
        ['QUALIFICATION', 2, '0.30'],
        ['VISIT_PENDING', 0, '0.00'],
        ['DECISION_PENDING', 1, '18500.00'],
      ]);

      const account2 = await pipelineSummary(db, pipeline, { accountId: 'acc-2' });
      expect(account2).toMatchObject({ count: 2, amount: eur('3333.53'), weightedAmount: eur('1333.352') });

      const inDollars = await pipelineSummary(db, pipeline, { currency: 'USD' });
      expect(inDollars.stages[0]).toMatchObject({
        count: 4,
        amount: { amount: '1000.00', currency: 'USD' },
        weightedAmount: { amount: '100.00', currency: 'USD' },
      });
      expect(inDollars.amount).toEqual({ amount: '1000.00', currency: 'USD' });
    });
  });

  describe('findOpportunities', () => {
    const ids = (page: OpportunityPage) => page.nodes.map((o) => o.id).sort();

    beforeEach(async () => {
      await record(opened('o-1', { ownerId: 'bob', contactId: 'con-1', expectedCloseDate: '2026-03-31' }), '2026-01-01T09:00:00.000Z');
      await record(
        opened('o-2', { ownerId: 'carla', accountId: 'acc-2', expectedCloseDate: '2026-04-15', stage: 'VISIT_PENDING', probability: 25 }),
        '2026-01-02T09:00:00.000Z',
      );
      await record(opened('o-3', { ownerId: 'bob', accountId: 'acc-2', expectedCloseDate: '2026-05-01' }), '2026-01-03T09:00:00.000Z');
      await record(
        { type: 'OpportunityLost', data: { opportunityId: 'o-3', accountId: 'acc-2', reason: 'PRICE', stage: 'QUALIFICATION' } },
        '2026-01-04T09:00:00.000Z',
      );
      await record(opened('o-4'), '2026-01-05T09:00:00.000Z');
    });

    it('filters on status, stage, owner, account, contact and an inclusive close-date range', async () => {
      expect(ids(await findOpportunities(db, { filter: { status: 'LOST' } }))).toEqual(['o-3']);
      expect(ids(await findOpportunities(db, { filter: { status: 'OPEN' } }))).toEqual(['o-1', 'o-2', 'o-4']);
      expect(ids(await findOpportunities(db, { filter: { stage: 'VISIT_PENDING' } }))).toEqual(['o-2']);
      expect(ids(await findOpportunities(db, { filter: { ownerId: 'bob' } }))).toEqual(['o-1', 'o-3']);
      expect(ids(await findOpportunities(db, { filter: { accountId: 'acc-2', status: 'OPEN' } }))).toEqual(['o-2']);
      expect(ids(await findOpportunities(db, { filter: { contactId: 'con-1' } }))).toEqual(['o-1']);
      const range = await findOpportunities(db, { filter: { expectedCloseFrom: '2026-03-31', expectedCloseTo: '2026-04-15' } });
      expect(ids(range)).toEqual(['o-1', 'o-2']);
      expect(range.totalCount).toBe(2);
      expect(ids(await findOpportunities(db, { filter: { expectedCloseFrom: '2026-04-16' } }))).toEqual(['o-3']);
    });

    it('pages newest opened first, and lists an account’s opportunities', async () => {
      const first = await findOpportunities(db, { first: 3 });
      expect(first.nodes.map((o) => o.id)).toEqual(['o-4', 'o-3', 'o-2']);
      expect(first).toMatchObject({ totalCount: 4, hasNextPage: true });
      const rest = await findOpportunities(db, { first: 3, after: first.endCursor });
      expect(rest.nodes.map((o) => o.id)).toEqual(['o-1']);
      expect(rest).toMatchObject({ totalCount: 4, hasNextPage: false });
      // Past the last one, and a page of none: the count all the same.
      expect(await findOpportunities(db, { first: 3, after: rest.endCursor })).toMatchObject({ nodes: [], totalCount: 4, hasNextPage: false });
      expect(await findOpportunities(db, { first: 0, filter: { ownerId: 'bob' } })).toMatchObject({ nodes: [], totalCount: 2, hasNextPage: true });
      expect(await findOpportunities(db, { filter: { ownerId: 'nobody' } })).toMatchObject({ nodes: [], totalCount: 0 });

      expect((await opportunitiesOfAccount(db, 'acc-2')).map((o) => o.id)).toEqual(['o-3', 'o-2']);
    });
  });
});
