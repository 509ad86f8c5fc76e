import { describe, expect, it } from 'vitest';
import { DEFAULT_LOSS_REASONS, ReasonCatalog } from '../reasons';
import { InvalidTransitionError, NotFoundError, ValidationError } from '../../core/errors';
import { deciderSpecification } from '../../core/testing/deciderSpecification';
import { createOpportunityDecider, type OpportunityCommand } from './decide';
import type { ActivityScheduled, OpportunityEvent, OpportunityOpened, QuoteStatus } from './events';
import { DEFAULT_PIPELINE_STAGES, Pipeline } from './pipeline';

const given = deciderSpecification(
  createOpportunityDecider({
    pipeline: new Pipeline(DEFAULT_PIPELINE_STAGES),
    lossReasons: new ReasonCatalog(DEFAULT_LOSS_REASONS),
  }),
);

const opportunityId = 'opp-1';
const accountId = 'acc-1';
const eur = (amount: string) => ({ amount, currency: 'EUR' });

const openedData: OpportunityOpened['data'] = {
  opportunityId,
  accountId,
  contactId: 'con-1',
  name: 'Shop refurbishment',
  amount: eur('18500.00'),
  expectedCloseDate: '2026-06-30',
  stage: 'QUALIFICATION',
  probability: 10,
  ownerId: 'alice',
};
const opened: OpportunityEvent = { type: 'OpportunityOpened', data: openedData };
const openedWithoutAmount: OpportunityEvent = {
  type: 'OpportunityOpened',
  data: { opportunityId, accountId, name: 'Warehouse', stage: 'QUALIFICATION', probability: 10 },
};
const quoteAdded = (quoteId: string, amount = '18000.00'): OpportunityEvent => ({
  type: 'QuoteAdded',
  data: { opportunityId, quoteId, amount: eur(amount) },
});
const quoteMoved = (quoteId: string, from: QuoteStatus, to: QuoteStatus): OpportunityEvent => ({
  type: 'QuoteStatusChanged',
  data: { opportunityId, quoteId, from, to },
});
const meeting: ActivityScheduled['data'] = {
  opportunityId,
  activityId: 'act-1',
  kind: 'MEETING',
  subject: 'Visit the shop',
  dueAt: '2026-03-02T10:00:00.000Z',
};
const activityScheduled: OpportunityEvent = { type: 'ActivityScheduled', data: meeting };
const activityCompleted: OpportunityEvent = { type: 'ActivityCompleted', data: { opportunityId, activityId: 'act-1' } };
const won: OpportunityEvent = {
  type: 'OpportunityWon',
  data: { opportunityId, accountId, amount: eur('18500.00'), stage: 'QUALIFICATION' },
};
const lost: OpportunityEvent = {
  type: 'OpportunityLost',
  data: { opportunityId, accountId, reason: 'PRICE', stage: 'QUALIFICATION', amount: eur('18500.00') },
};

const fieldsOf = (error: ValidationError) => error.fields.map((f) => f.field);

describe('OpenOpportunity', () => {
  it('opens at the first stage with its default probability', () => {
    given([])
      .when({
        type: 'OpenOpportunity',
        data: { opportunityId, accountId, name: 'Warehouse' },
      })
      .then([openedWithoutAmount]);
  });

  it('opens at a named stage with that stage’s probability, and keeps every detail', () => {
    const { probability: _default, ...details } = openedData;
    given([])
      .when({ type: 'OpenOpportunity', data: { ...details, stage: 'PREPARING_QUOTE' } })
      .then([{ type: 'OpportunityOpened', data: { ...openedData, stage: 'PREPARING_QUOTE', probability: 50 } }]);
  });

  it('refuses an unknown stage, a blank name, a negative amount and an impossible date, all at once', () => {
    given([])
      .when({
        type: 'OpenOpportunity',
        data: { opportunityId, accountId, name: ' ', stage: 'DREAMING', amount: eur('-5'), expectedCloseDate: '2026-02-30' },
      })
      .thenThrows(ValidationError, (e) =>
        expect(fieldsOf(e)).toEqual(['name', 'stage', 'amount.amount', 'expectedCloseDate']),
      );
  });

  it('refuses to open the same opportunity twice', () => {
    given([opened])
      .when({ type: 'OpenOpportunity', data: { opportunityId, accountId, name: 'Again' } })
      .thenThrows(InvalidTransitionError, (e) => expect(e.state).toBe('OPEN'));
  });
});

describe('MoveOpportunityStage', () => {
  it('moves to another stage and takes its default probability', () => {
    given([opened])
      .when({ type: 'MoveOpportunityStage', data: { opportunityId, stage: 'DECISION_PENDING' } })
      .then([
        {
          type: 'OpportunityStageChanged',
          data: { opportunityId, fromStage: 'QUALIFICATION', toStage: 'DECISION_PENDING', probability: 75 },
        },
      ]);
  });

  it('records nothing when already at that stage', () => {
    given([opened]).when({ type: 'MoveOpportunityStage', data: { opportunityId, stage: 'QUALIFICATION' } }).thenNothingHappened();
  });

  it('refuses a stage the pipeline does not have', () => {
    given([opened])
      .when({ type: 'MoveOpportunityStage', data: { opportunityId, stage: 'WISHFUL' } })
      .thenThrows(ValidationError, (e) => {
        expect(fieldsOf(e)).toEqual(['stage']);
        expect(e.message).toMatch(/VISIT_PENDING/);
      });
  });

  it('refuses an opportunity that does not exist', () => {
    given([])
      .when({ type: 'MoveOpportunityStage', data: { opportunityId, stage: 'VISIT_PENDING' } })
      .thenThrows(NotFoundError, (e) => expect(e.entity).toBe('Opportunity'));
  });
});

describe('UpdateOpportunity', () => {
  it('records only what changed; the same amount written differently is no change', () => {
    const changes = { expectedCloseDate: '2026-07-15', probability: 40, ownerId: 'bob' };
    given([opened])
      .when({
        type: 'UpdateOpportunity',
        data: { opportunityId, name: 'Shop refurbishment', amount: eur('18500'), ...changes },
      })
      .then([{ type: 'OpportunityDetailsUpdated', data: { opportunityId, ...changes } }]);
  });

  it('records a new amount', () => {
    given([opened])
      .when({ type: 'UpdateOpportunity', data: { opportunityId, amount: eur('21000.50') } })
      .then([{ type: 'OpportunityDetailsUpdated', data: { opportunityId, amount: eur('21000.50') } }]);
  });

  it('records nothing when nothing changed', () => {
    given([opened])
      .when({ type: 'UpdateOpportunity', data: { opportunityId, name: 'Shop refurbishment' } })
      .thenNothingHappened();
  });

  it('refuses an amount in another currency than the opportunity’s', () => {
    given([opened])
      .when({ type: 'UpdateOpportunity', data: { opportunityId, amount: { amount: '20000', currency: 'USD' } } })
      .thenThrows(ValidationError, (e) => {
        expect(fieldsOf(e)).toEqual(['amount.currency']);
        expect(e.message).toMatch(/EUR/);
      });
  });

  it('takes its currency from the first quote when it had no amount', () => {
    given([openedWithoutAmount, quoteAdded('q-1')])
      .when({ type: 'UpdateOpportunity', data: { opportunityId, amount: { amount: '20000', currency: 'USD' } } })
      .thenThrows(ValidationError, (e) => expect(fieldsOf(e)).toEqual(['amount.currency']));
  });

  it('refuses a probability outside 0..100, a blank name and a malformed date', () => {
    given([opened])
      .when({ type: 'UpdateOpportunity', data: { opportunityId, probability: 101, name: '', expectedCloseDate: '30/06/2026' } })
      .thenThrows(ValidationError, (e) => expect(fieldsOf(e)).toEqual(['name', 'expectedCloseDate', 'probability']));
  });

  it('a stage move replaces an overridden probability with the new stage’s default', () => {
    given([opened, { type: 'OpportunityDetailsUpdated', data: { opportunityId, probability: 60 } }])
      .when({ type: 'MoveOpportunityStage', data: { opportunityId, stage: 'VISIT_PENDING' } })
      .then([
        {
          type: 'OpportunityStageChanged',
          data: { opportunityId, fromStage: 'QUALIFICATION', toStage: 'VISIT_PENDING', probability: 25 },
        },
      ]);
  });
});

describe('AddQuote', () => {
  it('adds a quote, which starts as a draft', () => {
    given([opened])
      .when({
        type: 'AddQuote',
        data: { opportunityId, quoteId: 'q-1', amount: eur('17900.00'), validUntil: '2026-04-30', description: 'Full refit' },
      })
      .then([
        {
          type: 'QuoteAdded',
          data: { opportunityId, quoteId: 'q-1', amount: eur('17900.00'), validUntil: '2026-04-30', description: 'Full refit' },
        },
      ]);
  });

  it('adds several quotes to one opportunity', () => {
    given([opened, quoteAdded('q-1')])
      .when({ type: 'AddQuote', data: { opportunityId, quoteId: 'q-2', amount: eur('16500') } })
      .then([quoteAdded('q-2', '16500')]);
  });

  it('refuses a quote in another currency, or with a malformed validity', () => {
    given([opened])
      .when({ type: 'AddQuote', data: { opportunityId, quoteId: 'q-1', amount: { amount: '1', currency: 'GBP' }, validUntil: '?' } })
      .thenThrows(ValidationError, (e) => expect(fieldsOf(e)).toEqual(['amount.currency', 'validUntil']));
  });

  it('refuses a quote id already used', () => {
    given([opened, quoteAdded('q-1')])
      .when({ type: 'AddQuote', data: { opportunityId, quoteId: 'q-1', amount: eur('1') } })
      .thenThrows(ValidationError, (e) => expect(fieldsOf(e)).toEqual(['quoteId']));
  });
});

describe('ChangeQuoteStatus', () => {
  const change = (quoteId: string, status: QuoteStatus): OpportunityCommand => ({
    type: 'ChangeQuoteStatus',
    data: { opportunityId, quoteId, status },
  });

  const sent = [quoteMoved('q-1', 'DRAFT', 'SENT')];

  it.each([
    ['DRAFT', 'SENT', []],
    ['DRAFT', 'SUPERSEDED', []],
    ['SENT', 'ACCEPTED', sent],
    ['SENT', 'REJECTED', sent],
    ['SENT', 'SUPERSEDED', sent],
  ] as Array<[QuoteStatus, QuoteStatus, OpportunityEvent[]]>)('moves a quote from %s to %s', (from, to, history) => {
    given([opened, quoteAdded('q-1'), ...history])
      .when(change('q-1', to))
      .then([quoteMoved('q-1', from, to)]);
  });

  it.each([
    ['DRAFT', 'ACCEPTED', []],
    ['DRAFT', 'REJECTED', []],
    ['SENT', 'DRAFT', sent],
    ['ACCEPTED', 'SUPERSEDED', [...sent, quoteMoved('q-1', 'SENT', 'ACCEPTED')]],
    ['REJECTED', 'SENT', [...sent, quoteMoved('q-1', 'SENT', 'REJECTED')]],
    ['SUPERSEDED', 'SENT', [quoteMoved('q-1', 'DRAFT', 'SUPERSEDED')]],
  ] as Array<[QuoteStatus, QuoteStatus, OpportunityEvent[]]>)('refuses a %s quote becoming %s, naming it', (from, to, history) => {
    given([opened, quoteAdded('q-1'), ...history])
      .when(change('q-1', to))
      .thenThrows(InvalidTransitionError, (e) => expect(e.state).toBe(from));
  });

  it('records nothing when the quote already has that status', () => {
    given([opened, quoteAdded('q-1'), quoteMoved('q-1', 'DRAFT', 'SENT')]).when(change('q-1', 'SENT')).thenNothingHappened();
  });

  it('refuses a quote the opportunity does not have', () => {
    given([opened]).when(change('q-9', 'SENT')).thenThrows(NotFoundError, (e) => expect(e.entity).toBe('Quote'));
  });

  it('supersedes the quotes still in play when one is accepted', () => {
    given([opened, quoteAdded('q-1'), quoteAdded('q-2'), quoteAdded('q-3'), quoteMoved('q-2', 'DRAFT', 'SENT'), quoteMoved('q-3', 'DRAFT', 'SENT'), quoteMoved('q-3', 'SENT', 'REJECTED')])
      .when(change('q-2', 'ACCEPTED'))
      .then([quoteMoved('q-2', 'SENT', 'ACCEPTED'), quoteMoved('q-1', 'DRAFT', 'SUPERSEDED')]);
  });

  it('refuses a second accepted quote', () => {
    given([opened, quoteAdded('q-1'), quoteAdded('q-2'), quoteMoved('q-1', 'DRAFT', 'SENT'), quoteMoved('q-2', 'DRAFT', 'SENT'), quoteMoved('q-1', 'SENT', 'ACCEPTED')])
      .when(change('q-2', 'ACCEPTED'))
      .thenThrows(InvalidTransitionError, (e) => expect(e.message).toMatch(/q-1 is already accepted/));
  });
});

describe('activities', () => {
  it('schedules a call, a meeting or a task with a due date and notes', () => {
    given([opened])
      .when({ type: 'ScheduleActivity', data: { ...meeting, notes: 'Bring samples' } })
      .then([{ type: 'ActivityScheduled', data: { ...meeting, notes: 'Bring samples' } }]);
  });

  it('refuses a blank subject and a due time that is not a time', () => {
    given([opened])
      .when({ type: 'ScheduleActivity', data: { opportunityId, activityId: 'act-2', kind: 'CALL', subject: '', dueAt: 'soon' } })
      .thenThrows(ValidationError, (e) => expect(fieldsOf(e)).toEqual(['subject', 'dueAt']));
  });

  it('refuses an activity id already used', () => {
    given([opened, activityScheduled])
      .when({ type: 'ScheduleActivity', data: { opportunityId, activityId: 'act-1', kind: 'TASK', subject: 'Again' } })
      .thenThrows(ValidationError, (e) => expect(fieldsOf(e)).toEqual(['activityId']));
  });

  it('marks an activity done, with notes', () => {
    given([opened, activityScheduled])
      .when({ type: 'CompleteActivity', data: { opportunityId, activityId: 'act-1', notes: 'Measured the shop' } })
      .then([{ type: 'ActivityCompleted', data: { opportunityId, activityId: 'act-1', notes: 'Measured the shop' } }]);
  });

  it('records nothing when completing a done activity', () => {
    given([opened, activityScheduled, activityCompleted])
      .when({ type: 'CompleteActivity', data: { opportunityId, activityId: 'act-1' } })
      .thenNothingHappened();
  });

  it('marks a done activity not done again', () => {
    given([opened, activityScheduled, activityCompleted])
      .when({ type: 'ReopenActivity', data: { opportunityId, activityId: 'act-1' } })
      .then([{ type: 'ActivityReopened', data: { opportunityId, activityId: 'act-1' } }]);
  });

  it('records nothing when reopening an activity that is not done', () => {
    given([opened, activityScheduled])
      .when({ type: 'ReopenActivity', data: { opportunityId, activityId: 'act-1' } })
      .thenNothingHappened();
  });

  it('refuses to complete or reopen an activity the opportunity does not have', () => {
    given([opened])
      .when({ type: 'CompleteActivity', data: { opportunityId, activityId: 'act-9' } })
      .thenThrows(NotFoundError, (e) => expect(e.entity).toBe('Activity'));
    given([opened])
      .when({ type: 'ReopenActivity', data: { opportunityId, activityId: 'act-9' } })
      .thenThrows(NotFoundError, (e) => expect(e.entity).toBe('Activity'));
  });
});

describe('CloseOpportunity', () => {
  it('is won at the accepted quote\'s amount when no final amount is given', () => {
    given([opened, quoteAdded('q-1', '17250.00'), quoteMoved('q-1', 'DRAFT', 'SENT'), quoteMoved('q-1', 'SENT', 'ACCEPTED')])
      .when({ type: 'CloseOpportunity', data: { opportunityId, outcome: 'WON' } })
      .then([{ type: 'OpportunityWon', data: { opportunityId, accountId, amount: eur('17250.00'), stage: 'QUALIFICATION' } }]);
  });

  const movedToDecision: OpportunityEvent = {
    type: 'OpportunityStageChanged',
    data: { opportunityId, fromStage: 'QUALIFICATION', toStage: 'DECISION_PENDING', probability: 75 },
  };

  it('wins with the final amount, recording the stage it was won at', () => {
    given([opened, movedToDecision])
      .when({ type: 'CloseOpportunity', data: { opportunityId, outcome: 'WON', amount: eur('17900.00'), notes: 'Signed' } })
      .then([
        {
          type: 'OpportunityWon',
          data: { opportunityId, accountId, amount: eur('17900.00'), stage: 'DECISION_PENDING', notes: 'Signed' },
        },
      ]);
  });

  it('wins with the current amount when no final amount is given', () => {
    given([opened]).when({ type: 'CloseOpportunity', data: { opportunityId, outcome: 'WON' } }).then([won]);
  });

  it('refuses to win with no amount at all', () => {
    given([openedWithoutAmount])
      .when({ type: 'CloseOpportunity', data: { opportunityId, outcome: 'WON' } })
      .thenThrows(ValidationError, (e) => expect(fieldsOf(e)).toEqual(['amount']));
  });

  it('refuses a final amount in another currency', () => {
    given([opened])
      .when({ type: 'CloseOpportunity', data: { opportunityId, outcome: 'WON', amount: { amount: '1', currency: 'USD' } } })
      .thenThrows(ValidationError, (e) => expect(fieldsOf(e)).toEqual(['amount.currency']));
  });

  it('refuses a loss reason or a competitor on a win', () => {
    given([opened])
      .when({ type: 'CloseOpportunity', data: { opportunityId, outcome: 'WON', lossReason: 'PRICE', competitor: 'Reformas SA' } })
      .thenThrows(ValidationError, (e) => expect(fieldsOf(e)).toEqual(['lossReason', 'competitor']));
  });

  it('loses with a reason, a competitor and notes, recording the stage and the value lost', () => {
    given([opened, movedToDecision])
      .when({
        type: 'CloseOpportunity',
        data: { opportunityId, outcome: 'LOST', lossReason: 'COMPETITOR', competitor: 'Reformas SA', notes: 'Cheaper by 10%' },
      })
      .then([
        {
          type: 'OpportunityLost',
          data: {
            opportunityId,
            accountId,
            reason: 'COMPETITOR',
            competitor: 'Reformas SA',
            notes: 'Cheaper by 10%',
            stage: 'DECISION_PENDING',
            amount: eur('18500.00'),
          },
        },
      ]);
  });

  it('refuses to lose without a reason', () => {
    given([opened])
      .when({ type: 'CloseOpportunity', data: { opportunityId, outcome: 'LOST' } })
      .thenThrows(ValidationError, (e) => {
        expect(fieldsOf(e)).toEqual(['lossReason']);
        expect(e.message).toMatch(/PRICE/);
      });
  });

  it('refuses a reason outside the loss reason catalog', () => {
    given([opened])
      .when({ type: 'CloseOpportunity', data: { opportunityId, outcome: 'LOST', lossReason: 'BAD_LUCK' } })
      .thenThrows(ValidationError, (e) => expect(fieldsOf(e)).toEqual(['lossReason']));
  });
});

describe('a closed opportunity', () => {
  const commands: OpportunityCommand[] = [
    { type: 'MoveOpportunityStage', data: { opportunityId, stage: 'VISIT_PENDING' } },
    { type: 'UpdateOpportunity', data: { opportunityId, name: 'Renamed' } },
    { type: 'AddQuote', data: { opportunityId, quoteId: 'q-2', amount: eur('1') } },
    { type: 'ChangeQuoteStatus', data: { opportunityId, quoteId: 'q-1', status: 'SENT' } },
    { type: 'ScheduleActivity', data: { opportunityId, activityId: 'act-2', kind: 'CALL', subject: 'Follow up' } },
    { type: 'CompleteActivity', data: { opportunityId, activityId: 'act-1' } },
    { type: 'ReopenActivity', data: { opportunityId, activityId: 'act-1' } },
    { type: 'CloseOpportunity', data: { opportunityId, outcome: 'LOST', lossReason: 'PRICE' } },
  ];

  it.each(commands.map((command) => [command.type, command] as const))('refuses %s once won', (_type, command) => {
    given([opened, quoteAdded('q-1'), activityScheduled, won])
      .when(command)
      .thenThrows(InvalidTransitionError, (e) => expect(e.state).toBe('WON'));
  });

  it.each(commands.map((command) => [command.type, command] as const))('refuses %s once lost', (_type, command) => {
    given([opened, quoteAdded('q-1'), activityScheduled, lost])
      .when(command)
      .thenThrows(InvalidTransitionError, (e) => expect(e.state).toBe('LOST'));
  });
});

describe('ReopenOpportunity', () => {
  it('reopens a won opportunity at the stage it was closed at, with the reason', () => {
    given([opened, won])
      .when({ type: 'ReopenOpportunity', data: { opportunityId, reason: 'Customer cancelled the order' } })
      .then([
        {
          type: 'OpportunityReopened',
          data: { opportunityId, accountId, reason: 'Customer cancelled the order', previousStatus: 'WON', stage: 'QUALIFICATION' },
        },
      ]);
  });

  it('reopens a lost one, which then accepts commands again', () => {
    const reopened: OpportunityEvent = {
      type: 'OpportunityReopened',
      data: { opportunityId, accountId, reason: 'They came back', previousStatus: 'LOST', stage: 'QUALIFICATION' },
    };
    given([opened, lost]).when({ type: 'ReopenOpportunity', data: { opportunityId, reason: 'They came back' } }).then([reopened]);
    given([opened, lost, reopened])
      .when({ type: 'MoveOpportunityStage', data: { opportunityId, stage: 'VISIT_PENDING' } })
      .then([
        {
          type: 'OpportunityStageChanged',
          data: { opportunityId, fromStage: 'QUALIFICATION', toStage: 'VISIT_PENDING', probability: 25 },
        },
      ]);
  });

  it('refuses to reopen without a reason', () => {
    given([opened, won])
      .when({ type: 'ReopenOpportunity', data: { opportunityId, reason: '  ' } })
      .thenThrows(ValidationError, (e) => expect(fieldsOf(e)).toEqual(['reason']));
  });

  it('refuses to reopen an open opportunity', () => {
    given([opened])
      .when({ type: 'ReopenOpportunity', data: { opportunityId, reason: 'Why not' } })
      .thenThrows(InvalidTransitionError, (e) => expect(e.state).toBe('OPEN'));
  });

  it('refuses an opportunity that does not exist', () => {
    given([]).when({ type: 'ReopenOpportunity', data: { opportunityId, reason: 'x' } }).thenThrows(NotFoundError);
  });
});
