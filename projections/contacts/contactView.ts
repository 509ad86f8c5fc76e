/**
 * The contact's view and its fold from events, without a database: the contacts read model
 * (`contactsReadModel.ts`) applies this fold to its rows, and a mutation uses it to answer the contact as it
 * was at a revision of its stream when the live row has moved on (`src/useCases/atRevision.ts`).
 *
 * Everything in the row comes from the contact's own stream.
 */
import { utcInstant } from '../../src/core/eventTimes';
import type { RecordedEvent } from '../../src/core/eventStore';
import { evolveContact, type ContactState } from '../../src/domain/contacts/contact';
import type { ContactEvent } from '../../src/domain/contacts/events';
import type { Address } from '../../src/domain/values';
import { carriesErasedPersonalData } from '../personalData';

export interface ContactView {
  id: string;
  /** Stream revision of the last event applied: the expected revision for the next command. */
  revision: number;
  firstName: string | null;
  /** Null only once the person's data was erased. */
  lastName: string | null;
  email: string | null;
  phone: string | null;
  jobTitle: string | null;
  /** The person's own address (a consumer's, B2C): personal data. */
  address: Address | null;
  accountId: string | null;
  ownerId: string | null;
  active: boolean;
  deactivationReason: string | null;
  fromLeadId: string | null;
  /** Business times (the events' occurredAt), as UTC ISO-8601. */
  createdAt: string;
  updatedAt: string;
  createdBy: string;
  /**
   * True once the person's personal data was erased (GDPR art. 17): names, e-mail, phone, job
   * title, address and deactivation reason read null.
   */
  personalDataErased: boolean;
}

export type RecordedContactEvent = ContactEvent & Pick<RecordedEvent, 'revision' | 'metadata'>;

/** One contact event applied to the view (undefined before the first). */
export const evolveContactView = (view: ContactView | undefined, event: RecordedContactEvent): ContactView => {
  const state = evolveContact(view === undefined ? { status: 'NONE' } : toContactState(view), event);
  if (state.status === 'NONE') {
    throw new Error(`Contact ${event.data.contactId} has a ${event.type} but was never created`);
  }
  const at = utcInstant(event.metadata.occurredAt);
  let deactivationReason = state.status === 'ACTIVE' ? null : (view?.deactivationReason ?? null);
  if (event.type === 'ContactDeactivated') deactivationReason = event.data.reason ?? null;
  return {
    id: state.contactId,
    revision: event.revision,
    firstName: state.firstName ?? null,
    // Null when read erased, although the domain's state types it as always there.
    lastName: state.lastName ?? null,
    email: state.email ?? null,
    phone: state.phone ?? null,
    jobTitle: state.jobTitle ?? null,
    address: state.address ?? null,
    accountId: state.accountId ?? null,
    ownerId: state.ownerId ?? null,
    active: state.status === 'ACTIVE',
    deactivationReason,
    fromLeadId: event.type === 'ContactCreated' ? (event.data.fromLeadId ?? null) : (view?.fromLeadId ?? null),
    createdAt: view?.createdAt ?? at,
    updatedAt: at,
    createdBy: view?.createdBy ?? event.metadata.actor,
    // An event read after the erasure (a rebuild, a fold at a revision) says so itself.
    personalDataErased: (view?.personalDataErased ?? false) || carriesErasedPersonalData(event),
  };
};

/**
 * The contact with its person's data erased: every personal field null, and marked. It depends
 * on none of the fields it drops, so a contact erased live and the same contact rebuilt from
 * its erased events end as the same view (and row).
 */
export const erasedContactView = (contact: ContactView): ContactView => ({
  ...contact,
  firstName: null,
  lastName: null,
  email: null,
  phone: null,
  jobTitle: null,
  address: null,
  deactivationReason: null,
  personalDataErased: true,
});

/** The contact's events (a prefix of its stream) folded into its view; undefined for no event. */
export const foldContactView = (events: readonly RecordedContactEvent[]): ContactView | undefined =>
  events.reduce<ContactView | undefined>(evolveContactView, undefined);

const toContactState = (view: ContactView): ContactState => ({
  status: view.active ? 'ACTIVE' : 'INACTIVE',
  contactId: view.id,
  firstName: view.firstName ?? undefined,
  // The domain never reads the name back out of the state into anything but a view, where null stays null.
  lastName: view.lastName as string,
  email: view.email ?? undefined,
  phone: view.phone ?? undefined,
  jobTitle: view.jobTitle ?? undefined,
  address: view.address ?? undefined,
  accountId: view.accountId ?? undefined,
  ownerId: view.ownerId ?? undefined,
});
