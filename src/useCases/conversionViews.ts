/**
 * What `convertLead` answers: the lead, account, contact and opportunity, each as it was right
 * after the conversion's own write on its stream, even when other writes followed (a concurrent
 * update, or a replay of the same conversion long after). Each is the live read model's row when
 * that row is at that revision, else folded at it (`atRevision.ts`).
 *
 * Which revision is "the conversion's" on each stream:
 * - the lead: its `LeadConverted` event;
 * - a stream the conversion opened (new account, new contact, opportunity): its events start the
 *   stream (the completer refuses to open a stream that exists), so the last of them;
 * - an existing contact: the last event the conversion caused on it (linked, and maybe moved);
 * - an existing account, on which the conversion writes nothing: its last event at or before the
 *   conversion's position (where the read models had to be for the answer).
 * An account's status is derived as of the conversion's position when it is folded.
 */
import { readStreamOrEmpty } from '../core/commandHandler';
import { accountStreamId } from '../domain/accounts/events';
import { contactStreamId } from '../domain/contacts/events';
import { conversionFollowUps } from '../domain/leads/conversion';
import { leadStreamId } from '../domain/leads/lead';
import { opportunityStreamId } from '../domain/opportunities/events';
import { getAccount } from '../../projections/accounts/accountsReadModel';
import { type AccountView } from '../../projections/accounts/accountView';
import { getContact } from '../../projections/contacts/contactsReadModel';
import { type ContactView } from '../../projections/contacts/contactView';
import { getLead, type LeadView } from '../../projections/leads/leadView';
import { getOpportunity } from '../../projections/opportunities/opportunitiesQueries';
import {
  accountViewOf,
  contactViewOf,
  leadRowIsAt,
  leadViewOf,
  opportunityAtRevision,
  streamUpTo,
  type AtRevisionDependencies,
  type OpportunityAtRevision,
} from './atRevision';
import type { ConversionResult } from './convertLead';
import { readAutomaticScores } from './rescoreLead';

export interface ConvertedViews {
  lead: LeadView;
  account: AccountView;
  contact: ContactView;
  opportunity?: OpportunityAtRevision;
}

/** Call once the read models have reached `result.position`. */
export const convertedViews = async (deps: AtRevisionDependencies, result: ConversionResult): Promise<ConvertedViews> => {
  const { store, readDb } = deps;
  const { converted, position } = result;
  const { leadId, accountId, contactId, opportunityId } = converted;
  const opened = new Map(
    conversionFollowUps(converted)
      .filter((followUp) => followUp.opensStream)
      .map((followUp) => [followUp.streamId, followUp.events.length - 1]),
  );
  const [leadEvents, leadScores, liveLead, liveAccount, liveContact, liveOpportunity] = await Promise.all([
    readStreamOrEmpty(store, leadStreamId(leadId)),
    readAutomaticScores(store, leadId),
    getLead(readDb, leadId),
    getAccount(readDb, accountId),
    getContact(readDb, contactId),
    opportunityId ? getOpportunity(readDb, opportunityId) : undefined,
  ]);
  const decision = leadEvents.find((event) => event.type === 'LeadConverted');
  if (!decision) throw new Error(`Lead ${leadId} has no LeadConverted event`);

  const lead =
    liveLead !== undefined && leadRowIsAt(store, liveLead, decision)
      ? liveLead
      : leadViewOf(store, leadEvents.slice(0, decision.revision + 1), leadScores);

  const [account, contact, opportunity] = await Promise.all([
    (async () => {
      const streamId = accountStreamId(accountId);
      const openedAt = opened.get(streamId);
      if (openedAt !== undefined) {
        if (liveAccount?.revision === openedAt) return liveAccount;
        return accountViewOf(deps, accountId, await streamUpTo(store, streamId, openedAt), position);
      }
      const events = (await readStreamOrEmpty(store, streamId)).filter(
        (event) => store.comparePositions(event.position, position) <= 0,
      );
      if (liveAccount !== undefined && liveAccount.revision === events.at(-1)?.revision) return liveAccount;
      return accountViewOf(deps, accountId, events, position);
    })(),
    (async () => {
      const streamId = contactStreamId(contactId);
      const openedAt = opened.get(streamId);
      if (openedAt !== undefined) {
        if (liveContact?.revision === openedAt) return liveContact;
        return contactViewOf(await streamUpTo(store, streamId, openedAt));
      }
      const events = await readStreamOrEmpty(store, streamId);
      const caused = events.filter((event) => event.metadata.causationId === decision.id).at(-1);
      if (!caused) throw new Error(`Contact ${contactId} has no event of the conversion of lead ${leadId}`);
      if (liveContact?.revision === caused.revision) return liveContact;
      return contactViewOf(events.slice(0, caused.revision + 1));
    })(),
    (async () => {
      if (!opportunityId) return undefined;
      const openedAt = opened.get(opportunityStreamId(opportunityId)) ?? 0;
      if (liveOpportunity?.revision === openedAt) return liveOpportunity as OpportunityAtRevision;
      return opportunityAtRevision(store, opportunityId, openedAt);
    })(),
  ]);
  if (!lead || !account || !contact || (opportunityId && !opportunity)) {
    throw new Error(`Conversion of lead ${leadId} is missing from the log or the read models after it completed`);
  }
  return { lead, account, contact, opportunity };
};
