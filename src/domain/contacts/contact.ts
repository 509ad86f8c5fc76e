/** The contact's state and `evolve`, which folds its events (in `events.ts`) into it. Pure. */
import type { Address } from '../values';
import type { ContactEvent } from './events';

export type ContactState =
  | { status: 'NONE' }
  | {
      status: 'ACTIVE' | 'INACTIVE';
      contactId: string;
      firstName?: string;
      lastName: string;
      email?: string;
      phone?: string;
      jobTitle?: string;
      address?: Address;
      accountId?: string;
      ownerId?: string;
    };

export type ExistingContact = Exclude<ContactState, { status: 'NONE' }>;

export const initialContactState = (): ContactState => ({ status: 'NONE' });

export const evolveContact = (state: ContactState, event: ContactEvent): ContactState => {
  if (event.type === 'ContactCreated') {
    const { fromLeadId: _lead, fromLeadCycle: _cycle, ...data } = event.data;
    return { status: 'ACTIVE', ...data };
  }
  if (state.status === 'NONE') return state;

  switch (event.type) {
    case 'ContactUpdated':
      return { ...state, ...event.data };
    case 'ContactMovedToAccount':
      return { ...state, accountId: event.data.accountId };
    case 'ContactDeactivated':
      return { ...state, status: 'INACTIVE' };
    case 'ContactReactivated':
      return { ...state, status: 'ACTIVE' };
    case 'ContactLinkedToLead':
    case 'ContactEngaged':
      // The contact's lead cycles are history for the read model; no rule depends on them.
      return state;
  }
};
