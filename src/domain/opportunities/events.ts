/** The opportunity's facts: from opening, through pipeline stages, quotes and activities, to a close. */
import type { Money } from '../values';

export const QUOTE_STATUSES = ['DRAFT', 'SENT', 'ACCEPTED', 'REJECTED', 'SUPERSEDED'] as const;
export type QuoteStatus = (typeof QUOTE_STATUSES)[number];

export const ACTIVITY_KINDS = ['CALL', 'MEETING', 'TASK', 'EMAIL', 'VISIT'] as const;
export type ActivityKind = (typeof ACTIVITY_KINDS)[number];

export const OPPORTUNITY_STATUSES = ['OPEN', 'WON', 'LOST'] as const;
export type OpportunityStatus = (typeof OPPORTUNITY_STATUSES)[number];

export type OpportunityOpened = {
  type: 'OpportunityOpened';
  data: {
    opportunityId: string;
    accountId: string;
    contactId?: string;
    name: string;
    amount?: Money;
    /** A calendar date, YYYY-MM-DD. */
    expectedCloseDate?: string;
    stage: string;
    /** The stage's default probability (0..100) at the time. */
    probability: number;
    ownerId?: string;
    fromLeadId?: string;
  };
};

export type OpportunityStageChanged = {
  type: 'OpportunityStageChanged';
  data: { opportunityId: string; fromStage: string; toStage: string; probability: number };
};

/** Only the fields that changed are present. */
export type OpportunityDetailsUpdated = {
  type: 'OpportunityDetailsUpdated';
  data: { opportunityId: string; name?: string; amount?: Money; expectedCloseDate?: string; probability?: number; ownerId?: string };
};

export type QuoteAdded = {
  type: 'QuoteAdded';
  data: { opportunityId: string; quoteId: string; amount: Money; validUntil?: string; description?: string };
};

export type QuoteStatusChanged = {
  type: 'QuoteStatusChanged';
  data: { opportunityId: string; quoteId: string; from: QuoteStatus; to: QuoteStatus };
};

export type ActivityScheduled = {
  type: 'ActivityScheduled';
  data: { opportunityId: string; activityId: string; kind: ActivityKind; subject: string; dueAt?: string; notes?: string };
};

export type ActivityCompleted = {
  type: 'ActivityCompleted';
  data: { opportunityId: string; activityId: string; notes?: string };
};

export type ActivityReopened = { type: 'ActivityReopened'; data: { opportunityId: string; activityId: string } };

export type OpportunityWon = {
  type: 'OpportunityWon';
  data: { opportunityId: string; accountId: string; amount: Money; stage: string; notes?: string };
};

export type OpportunityLost = {
  type: 'OpportunityLost';
  data: {
    opportunityId: string;
    accountId: string;
    reason: string;
    competitor?: string;
    notes?: string;
    /** The stage at which it was lost, for loss analysis. */
    stage: string;
    amount?: Money;
  };
};

export type OpportunityReopened = {
  type: 'OpportunityReopened';
  data: { opportunityId: string; accountId: string; reason: string; previousStatus: 'WON' | 'LOST'; stage: string };
};

export type OpportunityEvent =
  | OpportunityOpened
  | OpportunityStageChanged
  | OpportunityDetailsUpdated
  | QuoteAdded
  | QuoteStatusChanged
  | ActivityScheduled
  | ActivityCompleted
  | ActivityReopened
  | OpportunityWon
  | OpportunityLost
  | OpportunityReopened;

export const OPPORTUNITY_STREAM_PREFIX = 'opportunity-';
export const opportunityStreamId = (opportunityId: string): string => `${OPPORTUNITY_STREAM_PREFIX}${opportunityId}`;
