/**
 * The opportunity's state and `evolve`, which folds its events (see `events.ts`) into it.
 * Only what decisions need is kept; the read model holds the rest. Pure: no I/O, no clock.
 */
import type { Money } from '../values';
import type { OpportunityEvent, OpportunityStatus, QuoteStatus } from './events';

/** Written as a record so that the compiler refuses a list missing an event type. */
export const OPPORTUNITY_EVENT_TYPES = Object.keys({
  OpportunityOpened: true,
  OpportunityStageChanged: true,
  OpportunityDetailsUpdated: true,
  QuoteAdded: true,
  QuoteStatusChanged: true,
  ActivityScheduled: true,
  ActivityCompleted: true,
  ActivityReopened: true,
  OpportunityWon: true,
  OpportunityLost: true,
  OpportunityReopened: true,
} satisfies Record<OpportunityEvent['type'], true>) as ReadonlyArray<OpportunityEvent['type']>;

export type OpportunityState =
  | { status: 'NONE' }
  | {
      status: OpportunityStatus;
      opportunityId: string;
      accountId: string;
      contactId?: string;
      name: string;
      amount?: Money;
      expectedCloseDate?: string;
      stage: string;
      probability: number;
      ownerId?: string;
      /** Set by the first amount recorded (of the opportunity or a quote): later ones must match. */
      currency?: string;
      quotes: Readonly<Record<string, QuoteStatus>>;
      /** The amount the customer accepted, once a quote is ACCEPTED: a win defaults to it. */
      acceptedAmount?: Money;
      quoteAmounts: Readonly<Record<string, Money>>;
      /** Activity id → done. */
      activities: Readonly<Record<string, boolean>>;
    };

export type ExistingOpportunity = Exclude<OpportunityState, { status: 'NONE' }>;

export const initialOpportunityState = (): OpportunityState => ({ status: 'NONE' });

export const evolveOpportunity = (state: OpportunityState, event: OpportunityEvent): OpportunityState => {
  if (event.type === 'OpportunityOpened') {
    const { opportunityId, accountId, contactId, name, amount, expectedCloseDate, stage, probability, ownerId } =
      event.data;
    return {
      status: 'OPEN',
      opportunityId,
      accountId,
      contactId,
      name,
      amount,
      expectedCloseDate,
      stage,
      probability,
      ownerId,
      currency: amount?.currency,
      quotes: {},
      quoteAmounts: {},
      activities: {},
    };
  }
  if (state.status === 'NONE') return state;

  switch (event.type) {
    case 'OpportunityStageChanged':
      return { ...state, stage: event.data.toStage, probability: event.data.probability };
    case 'OpportunityDetailsUpdated': {
      const { name, amount, expectedCloseDate, probability, ownerId } = event.data;
      return {
        ...state,
        name: name ?? state.name,
        amount: amount ?? state.amount,
        expectedCloseDate: expectedCloseDate ?? state.expectedCloseDate,
        probability: probability ?? state.probability,
        ownerId: ownerId ?? state.ownerId,
        currency: state.currency ?? amount?.currency,
      };
    }
    case 'QuoteAdded':
      return {
        ...state,
        quotes: { ...state.quotes, [event.data.quoteId]: 'DRAFT' },
        quoteAmounts: { ...state.quoteAmounts, [event.data.quoteId]: event.data.amount },
        currency: state.currency ?? event.data.amount.currency,
      };
    case 'QuoteStatusChanged':
      return {
        ...state,
        quotes: { ...state.quotes, [event.data.quoteId]: event.data.to },
        acceptedAmount: event.data.to === 'ACCEPTED' ? state.quoteAmounts[event.data.quoteId] : state.acceptedAmount,
      };
    case 'ActivityScheduled':
      return { ...state, activities: { ...state.activities, [event.data.activityId]: false } };
    case 'ActivityCompleted':
      return { ...state, activities: { ...state.activities, [event.data.activityId]: true } };
    case 'ActivityReopened':
      return { ...state, activities: { ...state.activities, [event.data.activityId]: false } };
    case 'OpportunityWon':
      return { ...state, status: 'WON', amount: event.data.amount, currency: state.currency ?? event.data.amount.currency };
    case 'OpportunityLost':
      return {
        ...state,
        status: 'LOST',
        amount: event.data.amount ?? state.amount,
        currency: state.currency ?? event.data.amount?.currency,
      };
    case 'OpportunityReopened':
      return { ...state, status: 'OPEN' };
  }
};
