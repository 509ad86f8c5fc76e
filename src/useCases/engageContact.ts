/**
 * The engagement use case: a later campaign re-engages a known contact, opening a new lead cycle
 * whose person is the contact's and whose company is its account's (`src/domain/leads/engagement.ts`).
 *
 * Two streams, no multi-stream transaction, as a conversion: the decision is the lead's
 * `LeadCaptured` (naming the contact), appended to the new lead stream; the contact's
 * `ContactEngaged` follows from that event alone, appended with an id derived from it, and the
 * conversion completer finishes it after a crash (`completeEngagement`). So a lead opened for a
 * contact is always found from the contact, by the read models and by an erasure.
 */
import type { AccountState } from '../domain/accounts/account';
import type { AccountCommand } from '../domain/accounts/decide';
import { accountStreamId, type AccountEvent } from '../domain/accounts/events';
import type { ContactState } from '../domain/contacts/contact';
import type { ContactCommand } from '../domain/contacts/decide';
import { contactStreamId, type ContactEvent } from '../domain/contacts/events';
import type { LeadCommand } from '../domain/leads/decide';
import { engagementCommand, type EngagementRequest } from '../domain/leads/engagement';
import { leadStreamId, type LeadEvent, type LeadState } from '../domain/leads/lead';
import { handleCommand, readStreamOrEmpty, type CommandContext } from '../core/commandHandler';
import { foldEvents, type Decider } from '../core/decider';
import { NotFoundError, PersonalDataErasedError } from '../core/errors';
import type { EventStore, GlobalPosition } from '../core/eventStore';
import { carriesErasedPersonalData } from '../../projections/personalData';
import { completeEngagement, type RecordedLeadCaptured } from './conversionCompleter';

/** What an engagement reads and writes: narrower than the whole application, on purpose. */
export interface EngagementDependencies {
  store: EventStore;
  leadDecider: Decider<LeadState, LeadCommand, LeadEvent>;
  contactDecider: Decider<ContactState, ContactCommand, ContactEvent>;
  accountDecider: Decider<AccountState, AccountCommand, AccountEvent>;
}

export interface EngagementResult {
  leadId: string;
  /** The lead stream's revision after the engagement (0: its `LeadCaptured`). */
  revision: number;
  /** Where the read models must have reached for the answer to include both streams. */
  position: GlobalPosition;
}

/**
 * Refuses an unknown contact (NOT_FOUND) and a contact whose person was erased
 * (PERSONAL_DATA_ERASED: the person asked to be forgotten, and a new cycle would be a new record
 * of them). An inactive contact may be engaged: winning a person back is what campaigns are for.
 */
export const engageContact = async (
  deps: EngagementDependencies,
  request: EngagementRequest,
  context: CommandContext,
  /** The lead's id was just drawn at random: its stream need not be read first. */
  options: { freshStream?: boolean } = {},
): Promise<EngagementResult> => {
  const contactEvents = await readStreamOrEmpty(deps.store, contactStreamId(request.contactId));
  const contact = foldEvents(deps.contactDecider, contactEvents as unknown as ContactEvent[]);
  if (contact.status === 'NONE') throw new NotFoundError('Contact', request.contactId);
  if (contactEvents.some(carriesErasedPersonalData)) {
    // Named by the input that leads to them: the client sends no person.
    throw new PersonalDataErasedError(contactStreamId(request.contactId), ['contactId']);
  }
  const account =
    contact.accountId === undefined
      ? undefined
      : foldEvents(deps.accountDecider, (await readStreamOrEmpty(deps.store, accountStreamId(contact.accountId))) as unknown as AccountEvent[]);

  const streamId = leadStreamId(request.leadId);
  const result = await handleCommand(
    deps.store,
    deps.leadDecider,
    streamId,
    engagementCommand(request, contact, account?.status === 'OPEN' ? account : undefined),
    context,
    { freshStream: options.freshStream },
  );
  // The lead's first event is this engagement's (or, for a replay, the one it replays).
  const [captured] = await deps.store.readStream(streamId, { maxCount: 1 });
  if (captured?.type !== 'LeadCaptured') throw new Error(`Lead ${request.leadId} has no LeadCaptured after its engagement`);
  const position = await completeEngagement(deps.store, captured as RecordedLeadCaptured, context.now);
  return { leadId: request.leadId, revision: result.revision, position };
};
