/**
 * What may happen to an opportunity: each command is checked against its state and either
 * refused (a domain error) or turned into events. Pure: the pipeline and the loss reasons are
 * configuration handed in when the decider is built; ids and times arrive with the command.
 */
import type { ReasonCatalog } from '../reasons';
import type { Decider } from '../../core/decider';
import { InvalidTransitionError, NotFoundError, ValidationError, type FieldProblem } from '../../core/errors';
import type { Money } from '../values';
import type { ActivityKind, OpportunityEvent, QuoteStatus } from './events';
import { AMOUNT, sameMoney } from './money';
import {
  evolveOpportunity,
  initialOpportunityState,
  type ExistingOpportunity,
  type OpportunityState,
} from './opportunity';
import type { Pipeline } from './pipeline';
import { withoutUndefined } from '../../core/json';

export type OpenOpportunity = {
  type: 'OpenOpportunity';
  data: {
    opportunityId: string;
    accountId: string;
    contactId?: string;
    name: string;
    amount?: Money;
    /** YYYY-MM-DD */
    expectedCloseDate?: string;
    /** The pipeline's first stage when absent. */
    stage?: string;
    ownerId?: string;
  };
};
export type MoveOpportunityStage = { type: 'MoveOpportunityStage'; data: { opportunityId: string; stage: string } };
export type UpdateOpportunity = {
  type: 'UpdateOpportunity';
  data: {
    opportunityId: string;
    name?: string;
    amount?: Money;
    expectedCloseDate?: string;
    /** Overrides the stage's default until the next stage move. */
    probability?: number;
    ownerId?: string;
  };
};
export type AddQuote = {
  type: 'AddQuote';
  data: { opportunityId: string; quoteId: string; amount: Money; validUntil?: string; description?: string };
};
export type ChangeQuoteStatus = {
  type: 'ChangeQuoteStatus';
  data: { opportunityId: string; quoteId: string; status: QuoteStatus };
};
export type ScheduleActivity = {
  type: 'ScheduleActivity';
  data: { opportunityId: string; activityId: string; kind: ActivityKind; subject: string; dueAt?: string; notes?: string };
};
export type CompleteActivity = {
  type: 'CompleteActivity';
  data: { opportunityId: string; activityId: string; notes?: string };
};
export type ReopenActivity = { type: 'ReopenActivity'; data: { opportunityId: string; activityId: string } };
export type CloseOpportunity = {
  type: 'CloseOpportunity';
  data: {
    opportunityId: string;
    outcome: 'WON' | 'LOST';
    /** When WON, the final amount (else the accepted quote's, else the current one); when LOST, the value lost. */
    amount?: Money;
    /** Required when LOST: a code of the loss reason catalog. */
    lossReason?: string;
    competitor?: string;
    notes?: string;
  };
};
export type ReopenOpportunity = { type: 'ReopenOpportunity'; data: { opportunityId: string; reason: string } };

export type OpportunityCommand =
  | OpenOpportunity
  | MoveOpportunityStage
  | UpdateOpportunity
  | AddQuote
  | ChangeQuoteStatus
  | ScheduleActivity
  | CompleteActivity
  | ReopenActivity
  | CloseOpportunity
  | ReopenOpportunity;

/** Where each quote status may go; the last three are final. */
const QUOTE_TRANSITIONS: Record<QuoteStatus, readonly QuoteStatus[]> = {
  DRAFT: ['SENT', 'SUPERSEDED'],
  SENT: ['ACCEPTED', 'REJECTED', 'SUPERSEDED'],
  ACCEPTED: [],
  REJECTED: [],
  SUPERSEDED: [],
};

export interface OpportunityDeciderConfig {
  pipeline: Pipeline;
  lossReasons: ReasonCatalog;
}

export const createOpportunityDecider = (
  config: OpportunityDeciderConfig,
): Decider<OpportunityState, OpportunityCommand, OpportunityEvent> => {
  const decide = (command: OpportunityCommand, state: OpportunityState): OpportunityEvent[] => {
    if (command.type === 'OpenOpportunity') return open(command, state, config.pipeline);
    if (state.status === 'NONE') throw new NotFoundError('Opportunity', command.data.opportunityId);
    if (command.type === 'ReopenOpportunity') return reopen(command, state);
    if (state.status !== 'OPEN') {
      throw new InvalidTransitionError(
        state.status,
        `Opportunity ${state.opportunityId} is closed (${state.status}) and accepts nothing but reopenOpportunity`,
      );
    }
    switch (command.type) {
      case 'MoveOpportunityStage':
        return move(command, state, config.pipeline);
      case 'UpdateOpportunity':
        return update(command, state);
      case 'AddQuote':
        return addQuote(command, state);
      case 'ChangeQuoteStatus':
        return changeQuoteStatus(command, state);
      case 'ScheduleActivity':
        return scheduleActivity(command, state);
      case 'CompleteActivity':
        return completeActivity(command, state);
      case 'ReopenActivity':
        return reopenActivity(command, state);
      case 'CloseOpportunity':
        return close(command, state, config.lossReasons);
    }
  };
  return { decide, evolve: evolveOpportunity, initialState: initialOpportunityState };
};

const open = ({ data }: OpenOpportunity, state: OpportunityState, pipeline: Pipeline): OpportunityEvent[] => {
  if (state.status !== 'NONE') {
    throw new InvalidTransitionError(state.status, `Opportunity ${data.opportunityId} is already open`);
  }
  const stage = pipeline.stage(data.stage ?? pipeline.first().code);
  refuseIfAny([
    ...blank('name', data.name),
    ...(stage ? [] : unknownStage(data.stage!, pipeline)),
    ...moneyProblems('amount', data.amount),
    ...dateProblems('expectedCloseDate', data.expectedCloseDate),
  ]);
  return [
    {
      type: 'OpportunityOpened',
      data: withoutUndefined({ ...data, stage: stage!.code, probability: stage!.probability }),
    },
  ];
};

const move = ({ data }: MoveOpportunityStage, state: ExistingOpportunity, pipeline: Pipeline): OpportunityEvent[] => {
  const stage = pipeline.stage(data.stage);
  if (!stage) throw new ValidationError(unknownStage(data.stage, pipeline));
  if (stage.code === state.stage) return [];
  return [
    {
      type: 'OpportunityStageChanged',
      data: {
        opportunityId: data.opportunityId,
        fromStage: state.stage,
        toStage: stage.code,
        probability: stage.probability,
      },
    },
  ];
};

const update = ({ data }: UpdateOpportunity, state: ExistingOpportunity): OpportunityEvent[] => {
  refuseIfAny([
    ...(data.name === undefined ? [] : blank('name', data.name)),
    ...moneyProblems('amount', data.amount, state.currency),
    ...dateProblems('expectedCloseDate', data.expectedCloseDate),
    ...(data.probability === undefined ? [] : probabilityProblems(data.probability)),
    ...(data.ownerId === undefined ? [] : blank('ownerId', data.ownerId)),
  ]);
  const changed = withoutUndefined({
    name: data.name === state.name ? undefined : data.name,
    amount: data.amount === undefined || sameMoney(data.amount, state.amount) ? undefined : data.amount,
    expectedCloseDate: data.expectedCloseDate === state.expectedCloseDate ? undefined : data.expectedCloseDate,
    probability: data.probability === state.probability ? undefined : data.probability,
    ownerId: data.ownerId === state.ownerId ? undefined : data.ownerId,
  });
  if (Object.keys(changed).length === 0) return [];
  return [{ type: 'OpportunityDetailsUpdated', data: { opportunityId: data.opportunityId, ...changed } }];
};

const addQuote = ({ data }: AddQuote, state: ExistingOpportunity): OpportunityEvent[] => {
  refuseIfAny([
    ...(data.quoteId in state.quotes ? [{ field: 'quoteId', message: `quote ${data.quoteId} already exists` }] : []),
    ...moneyProblems('amount', data.amount, state.currency),
    ...dateProblems('validUntil', data.validUntil),
  ]);
  return [{ type: 'QuoteAdded', data: withoutUndefined(data) }];
};

const changeQuoteStatus = ({ data }: ChangeQuoteStatus, state: ExistingOpportunity): OpportunityEvent[] => {
  const from = state.quotes[data.quoteId];
  if (from === undefined) throw new NotFoundError('Quote', data.quoteId);
  if (from === data.status) return [];
  if (!QUOTE_TRANSITIONS[from].includes(data.status)) {
    const allowed = QUOTE_TRANSITIONS[from];
    throw new InvalidTransitionError(
      from,
      `A ${from.toLowerCase()} quote cannot become ${data.status}` +
        (allowed.length === 0 ? '; its status is final' : `; it can become ${allowed.join(' or ')}`),
    );
  }
  const { opportunityId, quoteId, status: to } = data;
  if (to !== 'ACCEPTED') return [{ type: 'QuoteStatusChanged', data: { opportunityId, quoteId, from, to } }];

  // The customer accepts one proposal: a second acceptance is refused, and the quotes still in
  // play are superseded by the accepted one, so no stale draft can be sent or accepted later.
  const accepted = Object.entries(state.quotes).find(([, status]) => status === 'ACCEPTED');
  if (accepted) {
    throw new InvalidTransitionError(from, `Quote ${accepted[0]} is already accepted for this opportunity`);
  }
  const superseded: OpportunityEvent[] = Object.entries(state.quotes)
    .filter(([id, status]) => id !== quoteId && (status === 'DRAFT' || status === 'SENT'))
    .map(([id, status]) => ({
      type: 'QuoteStatusChanged',
      data: { opportunityId, quoteId: id, from: status, to: 'SUPERSEDED' },
    }));
  return [{ type: 'QuoteStatusChanged', data: { opportunityId, quoteId, from, to } }, ...superseded];
};

const scheduleActivity = ({ data }: ScheduleActivity, state: ExistingOpportunity): OpportunityEvent[] => {
  refuseIfAny([
    ...(data.activityId in state.activities
      ? [{ field: 'activityId', message: `activity ${data.activityId} already exists` }]
      : []),
    ...blank('subject', data.subject),
    ...(data.dueAt === undefined || !Number.isNaN(Date.parse(data.dueAt))
      ? []
      : [{ field: 'dueAt', message: 'must be an ISO-8601 date and time' }]),
  ]);
  return [{ type: 'ActivityScheduled', data: withoutUndefined(data) }];
};

const completeActivity = ({ data }: CompleteActivity, state: ExistingOpportunity): OpportunityEvent[] => {
  const done = state.activities[data.activityId];
  if (done === undefined) throw new NotFoundError('Activity', data.activityId);
  if (done) return [];
  return [{ type: 'ActivityCompleted', data: withoutUndefined(data) }];
};

const reopenActivity = ({ data }: ReopenActivity, state: ExistingOpportunity): OpportunityEvent[] => {
  const done = state.activities[data.activityId];
  if (done === undefined) throw new NotFoundError('Activity', data.activityId);
  if (!done) return [];
  return [{ type: 'ActivityReopened', data: { opportunityId: data.opportunityId, activityId: data.activityId } }];
};

const close = ({ data }: CloseOpportunity, state: ExistingOpportunity, lossReasons: ReasonCatalog): OpportunityEvent[] => {
  const { opportunityId, outcome, amount, lossReason, competitor, notes } = data;
  const { accountId, stage } = state;
  if (outcome === 'WON') {
    const finalAmount = amount ?? state.acceptedAmount ?? state.amount;
    refuseIfAny([
      ...(lossReason === undefined ? [] : [{ field: 'lossReason', message: 'only a LOST opportunity has a loss reason' }]),
      ...(competitor === undefined ? [] : [{ field: 'competitor', message: 'is recorded for a LOST opportunity only' }]),
      ...(finalAmount
        ? moneyProblems('amount', amount, state.currency)
        : [{ field: 'amount', message: 'a WON opportunity needs its final amount, and this one has none yet' }]),
    ]);
    const wonData = withoutUndefined({ opportunityId, accountId, amount: finalAmount!, stage, notes });
    return [{ type: 'OpportunityWon', data: wonData }];
  }
  const codes = lossReasons.codes().join(', ');
  refuseIfAny([
    ...(lossReason === undefined || lossReason.trim() === ''
      ? [{ field: 'lossReason', message: `is required when LOST: one of ${codes}` }]
      : lossReasons.has(lossReason)
        ? []
        : [{ field: 'lossReason', message: `unknown reason code ${lossReason}; expected one of ${codes}` }]),
    ...moneyProblems('amount', amount, state.currency),
  ]);
  return [
    {
      type: 'OpportunityLost',
      data: withoutUndefined({
        opportunityId,
        accountId,
        reason: lossReason!,
        competitor,
        notes,
        stage,
        amount: amount ?? state.amount,
      }),
    },
  ];
};

const reopen = ({ data }: ReopenOpportunity, state: ExistingOpportunity): OpportunityEvent[] => {
  if (state.status === 'OPEN') {
    throw new InvalidTransitionError(state.status, 'Only a won or lost opportunity can be reopened');
  }
  refuseIfAny(blank('reason', data.reason));
  return [
    {
      type: 'OpportunityReopened',
      data: {
        opportunityId: data.opportunityId,
        accountId: state.accountId,
        reason: data.reason,
        previousStatus: state.status,
        stage: state.stage,
      },
    },
  ];
};

// ---------------------------------------------------------------------------------------------
// Checks: each returns the problems it found, so that one refusal lists them all.
// ---------------------------------------------------------------------------------------------

const refuseIfAny = (problems: FieldProblem[]): void => {
  if (problems.length > 0) throw new ValidationError(problems);
};

const blank = (field: string, value: string | undefined): FieldProblem[] =>
  value === undefined || value.trim() === '' ? [{ field, message: 'must not be empty' }] : [];

const unknownStage = (code: string, pipeline: Pipeline): FieldProblem[] => [
  { field: 'stage', message: `unknown stage ${code}; expected one of ${pipeline.codes().join(', ')}` },
];

const moneyProblems = (field: string, money: Money | undefined, currency?: string): FieldProblem[] => {
  if (money === undefined) return [];
  const problems: FieldProblem[] = [];
  if (!AMOUNT.test(money.amount)) {
    problems.push({ field: `${field}.amount`, message: 'must be 0 or more, with at most 18 digits and 8 decimals' });
  }
  if (!/^[A-Z]{3}$/.test(money.currency)) {
    problems.push({ field: `${field}.currency`, message: 'must be a three-letter ISO 4217 code such as EUR' });
  } else if (currency !== undefined && money.currency !== currency) {
    problems.push({ field: `${field}.currency`, message: `must be ${currency}, the currency of this opportunity` });
  }
  return problems;
};

const probabilityProblems = (probability: number): FieldProblem[] =>
  Number.isInteger(probability) && probability >= 0 && probability <= 100
    ? []
    : [{ field: 'probability', message: 'must be a whole number from 0 to 100' }];

const dateProblems = (field: string, date: string | undefined): FieldProblem[] =>
  date === undefined || isCalendarDate(date) ? [] : [{ field, message: 'must be a calendar date, YYYY-MM-DD' }];

export const isCalendarDate = (text: string): boolean => {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!match) return false;
  const [year, month, day] = match.slice(1).map(Number) as [number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
};

