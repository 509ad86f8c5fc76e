/**
 * Personal data: which fields of which events are about a natural person, and the fact that a
 * person's data was erased. Pure: the encryption that protects these fields lives in
 * `src/personalData/`, which reads this table; nothing else in the domain knows about it.
 *
 * What is personal: the person of a lead and of a contact (names, e-mail, phone, job title, and
 * their own address: a consumer's, B2C), and free text written about them (notes of contacts,
 * qualification, disqualification, recycling, quotes asked for, closing; activities' subjects and
 * notes; quotes' descriptions). What is not: ids, times, actors, statuses, reasons, ranks, amounts,
 * stages, company data (a lead's company compartment and an account, addresses included). Every
 * KPI, trace and time-travel answer is computed from the second list only, so it survives an
 * erasure.
 */
import type { Decider } from '../core/decider';
import { ValidationError } from '../core/errors';

/** A contact's person, field by field; `address` (a consumer's own, B2C) is sealed as one value. */
const PERSON = ['firstName', 'lastName', 'email', 'phone', 'jobTitle', 'address'] as const;

/**
 * Per event type, the paths (dot-separated) of its personal fields. A path names a whole value:
 * `person` is the lead's person compartment as one value, `newContact.email` one field.
 */
export const PERSONAL_FIELDS: Readonly<Record<string, readonly string[]>> = {
  LeadCaptured: ['person', 'interest.notes'],
  LeadDetailsUpdated: ['person', 'interest.notes'],
  LeadContactLogged: ['notes'],
  LeadQualified: ['notes'],
  LeadDisqualified: ['notes'],
  LeadRecycled: ['notes'],
  LeadQuoteRequested: ['notes'],
  LeadConverted: PERSON.map((field) => `newContact.${field}`),
  ContactCreated: PERSON,
  ContactUpdated: PERSON,
  ContactDeactivated: ['reason'],
  QuoteAdded: ['description'],
  ActivityScheduled: ['subject', 'notes'],
  ActivityCompleted: ['notes'],
  OpportunityWon: ['notes'],
  OpportunityLost: ['notes'],
};

/**
 * Added to the data of an event read after its person's data was erased: the paths of the
 * personal fields, which then read `null`. Part of how events are read, so clients see it too.
 */
export const ERASED_PERSONAL_DATA = 'erasedPersonalData';

export const personalFieldsOf = (eventType: string): readonly string[] => PERSONAL_FIELDS[eventType] ?? [];

/**
 * The first events of the streams that hold personal data: each names the key of its stream even
 * when it carries nothing personal yet, so every later fact about the same person finds it.
 */
export const KEY_NAMING_EVENTS: ReadonlySet<string> = new Set(['LeadCaptured', 'ContactCreated', 'OpportunityOpened']);

// ---------------------------------------------------------------------------------------------
// Erasure
// ---------------------------------------------------------------------------------------------

export const ERASURE_ORIGINS = ['REQUEST', 'RETENTION'] as const;
export type ErasureOrigin = (typeof ERASURE_ORIGINS)[number];

/**
 * A person's personal data was erased: the keys that encrypted it were destroyed. It names the
 * person's leads and contacts (every cycle and the contact they became), so read models can drop
 * their copies, and carries no personal data itself.
 */
export type PersonalDataErased = {
  type: 'PersonalDataErased';
  data: {
    /** The lead or contact id the erasure was asked for. */
    subjectId: string;
    leadIds: string[];
    contactIds: string[];
    /** The keys destroyed: every key found on those streams. */
    keyIds: string[];
    origin: ErasureOrigin;
    reason: string;
  };
};

export type PersonalDataEvent = PersonalDataErased;

export type ErasePersonalData = { type: 'ErasePersonalData'; data: PersonalDataErased['data'] };

/** What was erased under one subject id: every erasure recorded on its stream, together. */
export type ErasureState = {
  erasures: PersonalDataErased['data'][];
  leadIds: ReadonlySet<string>;
  contactIds: ReadonlySet<string>;
  keyIds: ReadonlySet<string>;
};

export const PERSONAL_DATA_STREAM_PREFIX = 'personal-data-';
export const personalDataStreamId = (subjectId: string): string => `${PERSONAL_DATA_STREAM_PREFIX}${subjectId}`;

export const evolveErasure = (state: ErasureState, event: PersonalDataEvent): ErasureState => ({
  erasures: [...state.erasures, event.data],
  leadIds: new Set([...state.leadIds, ...event.data.leadIds]),
  contactIds: new Set([...state.contactIds, ...event.data.contactIds]),
  keyIds: new Set([...state.keyIds, ...event.data.keyIds]),
});

/**
 * Erasing a subject again records nothing, unless the person has gained data under a key (or a
 * lead or contact) that the earlier erasures did not name: then a new erasure names everything.
 */
export const createErasureDecider = (): Decider<ErasureState, ErasePersonalData, PersonalDataEvent> => ({
  initialState: () => ({ erasures: [], leadIds: new Set(), contactIds: new Set(), keyIds: new Set() }),
  evolve: evolveErasure,
  decide(command, state) {
    const { leadIds, contactIds, keyIds } = command.data;
    const covered =
      state.erasures.length > 0 &&
      leadIds.every((id) => state.leadIds.has(id)) &&
      contactIds.every((id) => state.contactIds.has(id)) &&
      keyIds.every((id) => state.keyIds.has(id));
    const reason = command.data.reason.trim();
    if (reason === '') throw new ValidationError([{ field: 'reason', message: 'say why the data is erased (the request, the law, the policy)' }]);
    if (covered) return [];
    if (leadIds.length + contactIds.length === 0) {
      throw new ValidationError([{ field: 'subjectId', message: 'names no lead and no contact' }]);
    }
    return [{ type: 'PersonalDataErased', data: { ...command.data, reason } }];
  },
});
