/**
 * The lead: its events (facts, past tense), its state, and `evolve`, which folds the first
 * into the second. Pure: no I/O, no clock. Decisions live in `decide.ts`.
 */
import type { AccountOpened } from '../accounts/events';
import type { ContactCreated } from '../contacts/events';
import type { OpportunityOpened } from '../opportunities/events';
import type { Address, Money } from '../values';

export const LEAD_SOURCES = [
  'WEB_FORM',
  'TRADE_FAIR',
  'TELEMARKETING',
  'EMAIL_CAMPAIGN',
  'INBOUND_CALL',
  'INBOUND_EMAIL',
  'SOCIAL_MEDIA',
  'REFERRAL',
  'COLD_OUTREACH',
  'OTHER',
] as const;
export type LeadSource = (typeof LEAD_SOURCES)[number];

export const LEAD_STATUSES = ['NEW', 'CONTACTED', 'QUALIFIED', 'DISQUALIFIED', 'CONVERTED'] as const;
export type LeadStatus = (typeof LEAD_STATUSES)[number];

export const LEAD_RANKS = ['UNRANKED', 'MQL', 'SQL'] as const;
export type LeadRank = (typeof LEAD_RANKS)[number];

export const CONTACT_CHANNELS = ['CALL', 'EMAIL', 'MEETING', 'MESSAGE'] as const;
export type ContactChannel = (typeof CONTACT_CHANNELS)[number];

export const CONTACT_OUTCOMES = ['REACHED', 'NO_ANSWER', 'LEFT_MESSAGE', 'WRONG_NUMBER', 'BOUNCED'] as const;
export type ContactOutcome = (typeof CONTACT_OUTCOMES)[number];

/** The backpack's first compartment: becomes a contact. */
export interface LeadPerson {
  firstName?: string;
  lastName: string;
  email?: string;
  phone?: string;
  jobTitle?: string;
  /** The person's own address (a consumer's home, B2C): personal, sealed with the person. */
  address?: Address;
}

/** The second: becomes an account. */
export interface LeadCompany {
  name: string;
  website?: string;
  phone?: string;
  size?: string;
  address?: Address;
}

/** The third: becomes an opportunity. */
export interface LeadInterest {
  product?: string;
  notes?: string;
  estimatedValue?: Money;
}

export interface QualificationCriteria {
  need: boolean;
  budget: boolean;
  authority: boolean;
  timing: boolean;
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

export type LeadCaptured = {
  type: 'LeadCaptured';
  data: {
    leadId: string;
    source: LeadSource;
    campaign?: string;
    person?: LeadPerson;
    company?: LeadCompany;
    interest?: LeadInterest;
    ownerId?: string;
    /**
     * Set when the lead cycle was opened for an existing contact (`engageContact`): a later
     * campaign re-engaged a known person. The person compartment is then a copy of the contact's,
     * sealed under the contact's key (one person, one key), and converting the lead attaches it
     * to that contact. Absent for a lead captured as a stranger.
     */
    contactId?: string;
    /** The contact's account when it was engaged, whose data the company compartment copies. */
    accountId?: string;
  };
};

export type LeadContactLogged = {
  type: 'LeadContactLogged';
  data: { leadId: string; channel: ContactChannel; outcome: ContactOutcome; notes?: string };
};

/** Only the compartments that changed are present; a present compartment replaces the old one. */
export type LeadDetailsUpdated = {
  type: 'LeadDetailsUpdated';
  data: {
    leadId: string;
    campaign?: string;
    person?: LeadPerson;
    company?: LeadCompany;
    interest?: LeadInterest;
  };
};

export type LeadAssigned = {
  type: 'LeadAssigned';
  data: { leadId: string; ownerId: string; previousOwnerId?: string };
};

export type LeadQualified = {
  type: 'LeadQualified';
  data: { leadId: string; rank: 'MQL' | 'SQL'; criteria: QualificationCriteria; notes?: string };
};

export type LeadDisqualified = {
  type: 'LeadDisqualified';
  data: { leadId: string; reason: string; notes?: string; statusBefore: LeadStatus };
};

/** A disqualified lead re-engaged by a later campaign: a new cycle starts, history stays. */
export type LeadRecycled = {
  type: 'LeadRecycled';
  data: { leadId: string; cycle: number; source: LeadSource; campaign?: string; notes?: string };
};

/**
 * The lead's backpack was unpacked. This one fact decides everything: which account, contact and
 * opportunity the lead became, with ids derived from the lead, and the data of each one to
 * create. The events on those other streams follow from it alone (see `conversion.ts`), so they
 * can be appended, or completed after a crash, without a multi-stream transaction.
 */
export type LeadConverted = {
  type: 'LeadConverted';
  data: {
    leadId: string;
    cycle: number;
    accountId: string;
    /** Present when the conversion opens the account; absent when it attaches to an existing one. */
    newAccount?: AccountOpened['data'];
    contactId: string;
    newContact?: ContactCreated['data'];
    /** Present when an existing contact that belonged elsewhere (or nowhere) joins the account. */
    movedContact?: { previousAccountId?: string };
    opportunityId?: string;
    newOpportunity?: OpportunityOpened['data'];
    /** Digest of the conversion request: an identical retry gets the same answer. */
    requestHash: string;
  };
};

/** The lead asked for a proposal (a quote): the strongest sign of interest before conversion. */
export type LeadQuoteRequested = {
  type: 'LeadQuoteRequested';
  data: { leadId: string; notes?: string };
};

/**
 * A score given by a version of the scoring rules (`src/domain/scoring/`). The version's definition is
 * kept on the `scoring-rules` stream, so the score can be recomputed from the events before it.
 */
export type LeadScored = {
  type: 'LeadScored';
  data: { leadId: string; score: number; rulesVersion: string; breakdown: ScoreContribution[] };
};

/** What one rule added to a score. */
export interface ScoreContribution {
  ruleId: string;
  label?: string;
  points: number;
  /** For a rule on actions: how many of them were counted. */
  count?: number;
}

export type LeadEvent =
  | LeadCaptured
  | LeadContactLogged
  | LeadDetailsUpdated
  | LeadAssigned
  | LeadQualified
  | LeadDisqualified
  | LeadRecycled
  | LeadConverted
  | LeadQuoteRequested
  | LeadScored;

export type LeadEventType = LeadEvent['type'];

export const LEAD_EVENT_TYPES: readonly LeadEventType[] = [
  'LeadCaptured',
  'LeadContactLogged',
  'LeadDetailsUpdated',
  'LeadAssigned',
  'LeadQualified',
  'LeadDisqualified',
  'LeadRecycled',
  'LeadConverted',
  'LeadQuoteRequested',
  'LeadScored',
];

export const LEAD_STREAM_PREFIX = 'lead-';
export const leadStreamId = (leadId: string): string => `${LEAD_STREAM_PREFIX}${leadId}`;
export const isLeadStream = (streamId: string): boolean => streamId.startsWith(LEAD_STREAM_PREFIX);

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

export type LeadState =
  | { status: 'NONE' }
  | {
      status: LeadStatus;
      leadId: string;
      source: LeadSource;
      campaign?: string;
      person?: LeadPerson;
      company?: LeadCompany;
      interest?: LeadInterest;
      ownerId?: string;
      rank: LeadRank;
      criteria?: QualificationCriteria;
      /** 1 for the first cycle; each recycle starts the next. */
      cycle: number;
      contactAttempts: number;
      /** Contacts of this cycle by `CHANNEL:OUTCOME` (see `contactKey`), which scoring counts. */
      contactsBy: Readonly<Record<string, number>>;
      /** Proposals asked for in this cycle. */
      quoteRequests: number;
      /** The last score recorded, whichever cycle it was given in. */
      score?: { value: number; rulesVersion: string };
      disqualificationReason?: string;
      conversion?: LeadConverted['data'];
      /** The contact this lead was opened for (`LeadCaptured.contactId`), and its account then. */
      contactId?: string;
      accountId?: string;
    };

export type ExistingLead = Exclude<LeadState, { status: 'NONE' }>;

export const initialLeadState = (): LeadState => ({ status: 'NONE' });

export const contactKey = (channel: ContactChannel, outcome: ContactOutcome): string => `${channel}:${outcome}`;

export const evolveLead = (state: LeadState, event: LeadEvent): LeadState => {
  if (event.type === 'LeadCaptured') {
    const { leadId, source, campaign, person, company, interest, ownerId, contactId, accountId } = event.data;
    return {
      status: 'NEW',
      leadId,
      source,
      campaign,
      person,
      company,
      interest,
      ownerId,
      rank: 'UNRANKED',
      cycle: 1,
      contactAttempts: 0,
      contactsBy: {},
      quoteRequests: 0,
      ...(contactId === undefined ? {} : { contactId }),
      ...(accountId === undefined ? {} : { accountId }),
    };
  }
  if (state.status === 'NONE') return state;

  switch (event.type) {
    case 'LeadContactLogged': {
      const key = contactKey(event.data.channel, event.data.outcome);
      return {
        ...state,
        contactAttempts: state.contactAttempts + 1,
        contactsBy: { ...state.contactsBy, [key]: (state.contactsBy[key] ?? 0) + 1 },
        status: state.status === 'NEW' && event.data.outcome === 'REACHED' ? 'CONTACTED' : state.status,
      };
    }
    case 'LeadDetailsUpdated': {
      const { campaign, person, company, interest } = event.data;
      return {
        ...state,
        campaign: campaign ?? state.campaign,
        person: person ?? state.person,
        company: company ?? state.company,
        interest: interest ?? state.interest,
      };
    }
    case 'LeadAssigned':
      return { ...state, ownerId: event.data.ownerId };
    case 'LeadQualified':
      return { ...state, status: 'QUALIFIED', rank: event.data.rank, criteria: event.data.criteria };
    case 'LeadDisqualified':
      return { ...state, status: 'DISQUALIFIED', disqualificationReason: event.data.reason };
    case 'LeadRecycled':
      return {
        ...state,
        status: 'NEW',
        rank: 'UNRANKED',
        criteria: undefined,
        disqualificationReason: undefined,
        contactAttempts: 0,
        contactsBy: {},
        quoteRequests: 0,
        cycle: event.data.cycle,
        source: event.data.source,
        campaign: event.data.campaign ?? state.campaign,
      };
    case 'LeadConverted':
      return { ...state, status: 'CONVERTED', conversion: event.data };
    case 'LeadQuoteRequested':
      return { ...state, quoteRequests: state.quoteRequests + 1 };
    case 'LeadScored':
      return { ...state, score: { value: event.data.score, rulesVersion: event.data.rulesVersion } };
  }
};
