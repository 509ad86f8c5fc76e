/** The contact's facts. A contact is a natural person, with or without an account. */
import type { Address } from '../values';

export interface ContactDetails {
  firstName?: string;
  lastName: string;
  email?: string;
  phone?: string;
  jobTitle?: string;
  /** The person's own address (a consumer's home, B2C), not an account's: personal data. */
  address?: Address;
}

export type ContactCreated = {
  type: 'ContactCreated';
  data: ContactDetails & {
    contactId: string;
    accountId?: string;
    ownerId?: string;
    /** Set when the contact was created by converting a lead. */
    fromLeadId?: string;
    /** The lead cycle that ended in this contact. */
    fromLeadCycle?: number;
  };
};

/** Only the fields that changed are present. */
export type ContactUpdated = {
  type: 'ContactUpdated';
  data: Partial<ContactDetails> & { contactId: string };
};

export type ContactMovedToAccount = {
  type: 'ContactMovedToAccount';
  /** `accountId` absent: the contact no longer belongs to any account. */
  data: { contactId: string; accountId?: string; previousAccountId?: string };
};

export type ContactDeactivated = { type: 'ContactDeactivated'; data: { contactId: string; reason?: string } };
export type ContactReactivated = { type: 'ContactReactivated'; data: { contactId: string } };

/**
 * A lead cycle that ended in this contact: by conversion (new or reused contact). Lets a contact
 * list the leads it came from, and what became of them.
 */
export type ContactLinkedToLead = {
  type: 'ContactLinkedToLead';
  data: { contactId: string; leadId: string; cycle: number };
};

/**
 * A later campaign re-engaged the contact: a new lead cycle was opened for them
 * (`engageContact`, whose `LeadCaptured` on the lead's stream names this contact). Recorded on
 * the contact's stream too, so that the person can be found from the contact (their every lead
 * cycle, for an erasure or an access report) and the contact lists the cycle. No personal data.
 */
export type ContactEngaged = {
  type: 'ContactEngaged';
  data: { contactId: string; leadId: string; source: string; campaign?: string };
};

export type ContactEvent =
  | ContactCreated
  | ContactUpdated
  | ContactMovedToAccount
  | ContactDeactivated
  | ContactReactivated
  | ContactLinkedToLead
  | ContactEngaged;

export const CONTACT_STREAM_PREFIX = 'contact-';
export const contactStreamId = (contactId: string): string => `${CONTACT_STREAM_PREFIX}${contactId}`;
