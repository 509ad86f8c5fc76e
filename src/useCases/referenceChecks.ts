/**
 * "Does what this command refers to exist?", asked of the event log rather than a read model,
 * which may lag behind it. One home for the checks that conversion, contacts and opportunities
 * make before deciding.
 */
import { readStreamOrEmpty } from '../core/commandHandler';
import { foldEvents, type Decider } from '../core/decider';
import { NotFoundError } from '../core/errors';
import type { EventStore } from '../core/eventStore';
import { accountStreamId } from '../domain/accounts/events';
import type { ContactState, ExistingContact } from '../domain/contacts/contact';
import type { ContactCommand } from '../domain/contacts/decide';
import { contactStreamId, type ContactEvent } from '../domain/contacts/events';

export const requireAccount = async (store: EventStore, accountId: string): Promise<void> => {
  if ((await readStreamOrEmpty(store, accountStreamId(accountId))).length === 0) {
    throw new NotFoundError('Account', accountId);
  }
};

/** The contact's current state, folded from its stream; NOT_FOUND when it has none. */
export const requireContact = async (
  store: EventStore,
  contactDecider: Decider<ContactState, ContactCommand, ContactEvent>,
  contactId: string,
): Promise<ExistingContact> => {
  const events = await readStreamOrEmpty(store, contactStreamId(contactId));
  const contact = foldEvents(contactDecider, events as unknown as ContactEvent[]);
  if (contact.status === 'NONE') throw new NotFoundError('Contact', contactId);
  return contact;
};
