/**
 * Re-engaging a contact: a later campaign opens a new lead cycle for a person we already know.
 * The seeds' cycle does not end at conversion: the person "goes back to being a contact until it
 * is associated again with, or brought into, another campaign". This module holds the pure
 * parts: the lead's backpack packed from the contact and its account, the contact's own record
 * of the engagement, and what converting such a lead attaches to by default.
 *
 * Why not `captureLead` with a `contactId`: a re-engagement takes no person (it is the
 * contact's, copied, so it cannot drift from it or be typed in again), it is sealed under the
 * contact's key, it refuses an erased person, and it converts onto the contact and its account
 * without asking; `captureLead` takes a stranger's backpack. Same event (`LeadCaptured`, with
 * `contactId`), so every cycle is counted alike; different command and rules.
 */
import type { ExistingAccount } from '../accounts/account';
import type { ExistingContact } from '../contacts/contact';
import { contactStreamId } from '../contacts/events';
import { ValidationError } from '../../core/errors';
import type { EngageContact } from './decide';
import type { FollowUp, ConversionRequest } from './conversion';
import type { ExistingLead, LeadCaptured, LeadCompany, LeadInterest, LeadPerson, LeadSource } from './lead';

export interface EngagementRequest {
  leadId: string;
  contactId: string;
  source: LeadSource;
  campaign?: string;
  interest?: LeadInterest;
  ownerId?: string;
}

/** The contact's person, as a lead's person compartment. */
export const personOfContact = (contact: ExistingContact): LeadPerson => ({
  firstName: contact.firstName,
  lastName: contact.lastName,
  email: contact.email,
  phone: contact.phone,
  jobTitle: contact.jobTitle,
  address: contact.address,
});

/** The account's company data, as a lead's company compartment (a B2C grouping is no company). */
export const companyOfAccount = (account: ExistingAccount | undefined): LeadCompany | undefined =>
  account === undefined || account.kind !== 'COMPANY'
    ? undefined
    : { name: account.name, website: account.website, phone: account.phone, size: account.size, address: account.address };

/** The command that opens the new lead cycle: person from the contact, company from its account. */
export const engagementCommand = (
  request: EngagementRequest,
  contact: ExistingContact,
  account: ExistingAccount | undefined,
): EngageContact => ({
  type: 'EngageContact',
  data: {
    leadId: request.leadId,
    contactId: contact.contactId,
    accountId: contact.accountId,
    source: request.source,
    campaign: request.campaign,
    person: personOfContact(contact),
    company: companyOfAccount(account),
    interest: request.interest,
    ownerId: request.ownerId,
  },
});

/** What the contact's stream records of an engagement: a function of the lead's `LeadCaptured` alone. */
export const engagementFollowUp = (captured: LeadCaptured['data']): FollowUp | undefined => {
  if (captured.contactId === undefined) return undefined;
  const { contactId, leadId, source, campaign } = captured;
  return {
    streamId: contactStreamId(contactId),
    events: [{ type: 'ContactEngaged', data: campaign === undefined ? { contactId, leadId, source } : { contactId, leadId, source, campaign } }],
    opensStream: false,
  };
};

/**
 * The conversion a request asks for, once the lead's own contact is filled in: a lead opened for
 * a contact converts onto that contact (another one is refused: it is that person's cycle), and,
 * unless the request names an account, onto the account the contact belongs to now, so that
 * nothing new is created and no duplicate is suspected. A contact without an account converts as
 * any lead does: onto the account named, or a new one from the company compartment.
 */
export const engagedConversionRequest = (
  lead: ExistingLead,
  request: ConversionRequest,
  contactAccountId: string | undefined,
): ConversionRequest => {
  if (lead.contactId === undefined) return request;
  if (request.existingContactId !== undefined && request.existingContactId !== lead.contactId) {
    throw new ValidationError([
      {
        field: 'existingContactId',
        message: `this lead was opened for contact ${lead.contactId}: it converts onto that contact (leave existingContactId out)`,
      },
    ]);
  }
  const account = request.account ?? (contactAccountId === undefined ? undefined : { existingAccountId: contactAccountId });
  return { ...request, existingContactId: lead.contactId, account };
};
