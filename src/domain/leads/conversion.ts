/**
 * Conversion unpacks the lead's backpack: the company becomes an account (or the lead joins an
 * existing one, or a B2C grouping), the person a contact, the interest an opportunity.
 *
 * It is all or nothing without a multi-stream transaction: one `LeadConverted` event on the lead
 * stream is the decision, with every id derived from the lead. The events on the account, contact
 * and opportunity streams are pure functions of that event (`conversionFollowUps`), appended with
 * ids derived from it, so appending them again, after a crash or from a concurrent request,
 * changes nothing. Their times are the conversion's, raised to the last event of the stream they
 * join (`followUpTimes`), so that a back-dated conversion never dates an existing contact's
 * events before that contact's later facts. Pure module: lookups happen in `convertLead.ts`.
 */
import type { AccountKind } from '../accounts/events';
import { accountStreamId } from '../accounts/events';
import { contactStreamId } from '../contacts/events';
import type { DomainEvent } from '../../core/decider';
import type { EventMetadata } from '../../core/eventStore';
import { ValidationError } from '../../core/errors';
import { deterministicId, withTimeOf } from '../../core/ids';
import { opportunityStreamId } from '../opportunities/events';
import type { ConvertLead } from './decide';
import type { ExistingLead, LeadConverted } from './lead';
import type { Address, Money } from '../values';

export interface NewAccountRequest {
  kind: AccountKind;
  /** Defaults to the lead's company name for a COMPANY; a GROUPING must be named. */
  name?: string;
  website?: string;
  phone?: string;
  industry?: string;
  size?: string;
  address?: Address;
}

export interface ConversionRequest {
  leadId: string;
  /** Omitted: a COMPANY account from the lead's company data. */
  account?: { existingAccountId?: string; new?: NewAccountRequest };
  existingContactId?: string;
  /** False: convert without opening an opportunity. */
  createOpportunity?: boolean;
  opportunity?: { name?: string; amount?: Money; expectedCloseDate?: string; stage?: string };
  allowDuplicate?: boolean;
}

export interface StageLookup {
  first(): { code: string; probability: number };
  stage(code: string): { code: string; probability: number } | undefined;
}

export interface ConversionFacts {
  pipeline: StageLookup;
  /** Who will own what the lead becomes: the lead's owner, else whoever converts it. */
  ownerId: string;
  /** The account an existing contact belongs to now, when one is reused. */
  existingContactAccountId?: string;
  requestHash: string;
}

/** Ids of what a lead becomes: derived, so every attempt at the same conversion agrees; they sort with the lead. */
export const conversionIds = (leadId: string, cycle: number) => {
  const idOf = (entity: 'account' | 'contact' | 'opportunity') => withTimeOf(leadId, deterministicId('lead-conversion', leadId, cycle, entity));
  return { accountId: idOf('account'), contactId: idOf('contact'), opportunityId: idOf('opportunity') };
};

export const planConversion = (
  lead: ExistingLead,
  request: ConversionRequest,
  facts: ConversionFacts,
): ConvertLead => {
  const ids = conversionIds(lead.leadId, lead.cycle);
  const problems: { field: string; message: string }[] = [];

  const existingAccountId = request.account?.existingAccountId;
  const accountId = existingAccountId ?? ids.accountId;
  let newAccount: LeadConverted['data']['newAccount'];
  if (!existingAccountId) {
    const wanted = request.account?.new ?? { kind: 'COMPANY' as const };
    const fromLead = wanted.kind === 'COMPANY' ? lead.company : undefined;
    const name = wanted.name ?? fromLead?.name;
    if (!name) {
      problems.push({
        field: 'account.new.name',
        message:
          wanted.kind === 'GROUPING'
            ? 'a grouping account (region, store...) must be named'
            : 'the lead has no company name: name the new account or attach to an existing one',
      });
    }
    newAccount = {
      accountId,
      kind: wanted.kind,
      name: name ?? '',
      website: wanted.website ?? fromLead?.website,
      phone: wanted.phone ?? fromLead?.phone,
      industry: wanted.industry,
      size: wanted.size ?? fromLead?.size,
      address: wanted.address ?? fromLead?.address,
      ownerId: facts.ownerId,
      fromLeadId: lead.leadId,
    };
  }

  const contactId = request.existingContactId ?? ids.contactId;
  let newContact: LeadConverted['data']['newContact'];
  let movedContact: LeadConverted['data']['movedContact'];
  if (request.existingContactId) {
    if (facts.existingContactAccountId !== accountId) {
      movedContact = { previousAccountId: facts.existingContactAccountId };
    }
  } else if (!lead.person?.lastName) {
    problems.push({
      field: 'existingContactId',
      message: 'the lead names no person: attach an existing contact to convert it',
    });
  } else {
    newContact = {
      ...lead.person,
      contactId,
      accountId,
      ownerId: facts.ownerId,
      fromLeadId: lead.leadId,
      fromLeadCycle: lead.cycle,
    };
  }

  let opportunityId: string | undefined;
  let newOpportunity: LeadConverted['data']['newOpportunity'];
  if (request.createOpportunity !== false) {
    const wanted = request.opportunity ?? {};
    const stage = wanted.stage ? facts.pipeline.stage(wanted.stage) : facts.pipeline.first();
    if (!stage) problems.push({ field: 'opportunity.stage', message: `unknown pipeline stage ${wanted.stage}` });
    opportunityId = ids.opportunityId;
    newOpportunity = {
      opportunityId,
      accountId,
      contactId,
      // Never the person's name: an opportunity's name is business data, kept in clear after an erasure.
      name: wanted.name ?? lead.interest?.product ?? newAccount?.name ?? lead.company?.name ?? 'New opportunity',
      amount: wanted.amount ?? lead.interest?.estimatedValue,
      expectedCloseDate: wanted.expectedCloseDate,
      stage: stage?.code ?? '',
      probability: stage?.probability ?? 0,
      ownerId: facts.ownerId,
      fromLeadId: lead.leadId,
    };
  }

  if (problems.length > 0) throw new ValidationError(problems);
  return {
    type: 'ConvertLead',
    data: {
      leadId: lead.leadId,
      accountId,
      newAccount,
      contactId,
      newContact,
      movedContact,
      opportunityId,
      newOpportunity,
      requestHash: facts.requestHash,
    },
  };
};

export interface FollowUp {
  streamId: string;
  events: DomainEvent[];
  /** The stream is created by this conversion and must not exist otherwise. */
  opensStream: boolean;
}

/** What the other streams must record once a lead is converted: a function of the fact alone. */
export const conversionFollowUps = (converted: LeadConverted['data']): FollowUp[] => {
  const followUps: FollowUp[] = [];
  if (converted.newAccount) {
    followUps.push({
      streamId: accountStreamId(converted.accountId),
      events: [{ type: 'AccountOpened', data: converted.newAccount }],
      opensStream: true,
    });
  }
  if (converted.newContact) {
    followUps.push({
      streamId: contactStreamId(converted.contactId),
      events: [{ type: 'ContactCreated', data: converted.newContact }],
      opensStream: true,
    });
  } else {
    const { contactId, leadId, cycle } = converted;
    const events: DomainEvent[] = [{ type: 'ContactLinkedToLead', data: { contactId, leadId, cycle } }];
    if (converted.movedContact) {
      events.push({
        type: 'ContactMovedToAccount',
        data: { contactId, accountId: converted.accountId, previousAccountId: converted.movedContact.previousAccountId },
      });
    }
    followUps.push({ streamId: contactStreamId(contactId), events, opensStream: false });
  }
  if (converted.newOpportunity && converted.opportunityId) {
    followUps.push({
      streamId: opportunityStreamId(converted.opportunityId),
      events: [{ type: 'OpportunityOpened', data: converted.newOpportunity }],
      opensStream: true,
    });
  }
  return followUps;
};

type EventTimeStamps = Pick<EventMetadata, 'occurredAt' | 'recordedAt'>;

/** The latest of ISO-8601 times, in UTC; undefined ones are skipped. */
const latest = (...times: Array<string | undefined>): string =>
  new Date(Math.max(...times.filter((time) => time !== undefined).map((time) => Date.parse(time)))).toISOString();

/**
 * The times of a follow-up appended after `last`, the newest event of its stream (none for a
 * stream the conversion opens). It happened when the conversion did, and was recorded now; but a
 * stream's times never go backwards (`src/core/eventTimes.ts`), and a conversion back-dated onto
 * an existing contact can be older than that contact's last fact: the follow-up then takes the
 * stream's last times, as any other write would. It is never recorded before the conversion
 * itself, either (a raced conversion's recordedAt may be ahead of the clock). Applied where the
 * follow-up is appended, on the stream as read for its expected revision, so the live path and
 * the completer after a crash stamp it alike.
 */
export const followUpTimes = (converted: EventTimeStamps, last: EventTimeStamps | undefined, now: Date): EventTimeStamps => ({
  occurredAt: latest(converted.occurredAt, last?.occurredAt),
  recordedAt: latest(now.toISOString(), converted.recordedAt, last?.recordedAt),
});
