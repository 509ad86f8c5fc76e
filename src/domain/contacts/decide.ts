/**
 * What may happen to a contact: create, update, move between accounts (or out of any),
 * deactivate and reactivate. An inactive contact only accepts reactivation. Whether a target
 * account exists is checked by the caller, which can read other streams; this stays pure.
 * Links to leads are recorded by lead conversion, not by a command of this decider.
 */
import type { Decider } from '../../core/decider';
import { InvalidTransitionError, NotFoundError, ValidationError } from '../../core/errors';
import { evolveContact, initialContactState, type ContactState, type ExistingContact } from './contact';
import type { ContactCreated, ContactDetails, ContactEvent } from './events';
import { sameValue, withoutUndefined } from '../../core/json';

export type CreateContact = { type: 'CreateContact'; data: ContactCreated['data'] };
/** Absent fields stay as they are; a present address replaces the old one. */
export type UpdateContact = { type: 'UpdateContact'; data: Partial<ContactDetails> & { contactId: string } };
/** Without `accountId` the contact leaves its account and belongs to none. */
export type MoveContact = { type: 'MoveContact'; data: { contactId: string; accountId?: string } };
export type DeactivateContact = { type: 'DeactivateContact'; data: { contactId: string; reason?: string } };
export type ReactivateContact = { type: 'ReactivateContact'; data: { contactId: string } };

export type ContactCommand = CreateContact | UpdateContact | MoveContact | DeactivateContact | ReactivateContact;

const UPDATABLE = ['firstName', 'lastName', 'email', 'phone', 'jobTitle', 'address'] as const;

export const createContactDecider = (): Decider<ContactState, ContactCommand, ContactEvent> => {
  const decide = (command: ContactCommand, state: ContactState): ContactEvent[] => {
    if (command.type === 'CreateContact') return create(command, state);
    if (state.status === 'NONE') throw new NotFoundError('Contact', command.data.contactId);
    switch (command.type) {
      case 'UpdateContact':
        return update(command, state);
      case 'MoveContact':
        return move(command, state);
      case 'DeactivateContact':
        return deactivate(command, state);
      case 'ReactivateContact':
        return reactivate(command, state);
    }
  };
  return { decide, evolve: evolveContact, initialState: initialContactState };
};

const create = ({ data }: CreateContact, state: ContactState): ContactEvent[] => {
  if (state.status !== 'NONE') {
    throw new InvalidTransitionError(state.status, `Contact ${data.contactId} already exists`);
  }
  requireLastName(data.lastName);
  return [{ type: 'ContactCreated', data: withoutUndefined(data) }];
};

const requireActive = (state: ExistingContact, action: string): void => {
  if (state.status === 'INACTIVE') {
    throw new InvalidTransitionError(state.status, `Cannot ${action} an inactive contact; reactivate it first`);
  }
};

const update = ({ data }: UpdateContact, state: ExistingContact): ContactEvent[] => {
  requireActive(state, 'update');
  if (data.lastName !== undefined) requireLastName(data.lastName);
  const changed: Record<string, unknown> = {};
  for (const key of UPDATABLE) {
    if (data[key] !== undefined && !sameValue(data[key], state[key])) changed[key] = data[key];
  }
  if (Object.keys(changed).length === 0) return [];
  return [{ type: 'ContactUpdated', data: withoutUndefined({ contactId: data.contactId, ...changed }) }];
};

const move = ({ data }: MoveContact, state: ExistingContact): ContactEvent[] => {
  requireActive(state, 'move');
  if (data.accountId === state.accountId) return [];
  return [
    {
      type: 'ContactMovedToAccount',
      data: withoutUndefined({ contactId: data.contactId, accountId: data.accountId, previousAccountId: state.accountId }),
    },
  ];
};

const deactivate = ({ data }: DeactivateContact, state: ExistingContact): ContactEvent[] => {
  if (state.status === 'INACTIVE') throw new InvalidTransitionError(state.status, 'The contact is already inactive');
  return [{ type: 'ContactDeactivated', data: withoutUndefined(data) }];
};

const reactivate = ({ data }: ReactivateContact, state: ExistingContact): ContactEvent[] => {
  if (state.status === 'ACTIVE') throw new InvalidTransitionError(state.status, 'The contact is already active');
  return [{ type: 'ContactReactivated', data: { contactId: data.contactId } }];
};

const requireLastName = (lastName: string): void => {
  if (!lastName.trim()) throw new ValidationError([{ field: 'lastName', message: 'a contact needs a last name' }]);
};

