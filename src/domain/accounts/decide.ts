/**
 * What may happen to an account: open it once, then update its details. Pure: ids, time and
 * the actor arrive with the command's context.
 */
import type { Decider } from '../../core/decider';
import { InvalidTransitionError, NotFoundError, ValidationError } from '../../core/errors';
import { evolveAccount, initialAccountState, type AccountState, type ExistingAccount } from './account';
import type { AccountDetails, AccountEvent, AccountOpened } from './events';
import { sameValue, withoutUndefined } from '../../core/json';

export type OpenAccount = { type: 'OpenAccount'; data: AccountOpened['data'] };
/** Absent fields stay as they are; a present address replaces the old one. */
export type UpdateAccount = {
  type: 'UpdateAccount';
  data: Partial<AccountDetails> & { accountId: string; ownerId?: string };
};

export type AccountCommand = OpenAccount | UpdateAccount;

const UPDATABLE = ['name', 'website', 'phone', 'industry', 'size', 'address', 'ownerId'] as const;

export const createAccountDecider = (): Decider<AccountState, AccountCommand, AccountEvent> => {
  const decide = (command: AccountCommand, state: AccountState): AccountEvent[] => {
    switch (command.type) {
      case 'OpenAccount':
        return open(command, state);
      case 'UpdateAccount':
        if (state.status === 'NONE') throw new NotFoundError('Account', command.data.accountId);
        return update(command, state);
    }
  };
  return { decide, evolve: evolveAccount, initialState: initialAccountState };
};

const open = ({ data }: OpenAccount, state: AccountState): AccountEvent[] => {
  if (state.status !== 'NONE') {
    throw new InvalidTransitionError(state.status, `Account ${data.accountId} is already open`);
  }
  requireName(data.name);
  return [{ type: 'AccountOpened', data: withoutUndefined(data) }];
};

const update = ({ data }: UpdateAccount, state: ExistingAccount): AccountEvent[] => {
  if (data.name !== undefined) requireName(data.name);
  const changed: Record<string, unknown> = {};
  for (const key of UPDATABLE) {
    if (data[key] !== undefined && !sameValue(data[key], state[key])) changed[key] = data[key];
  }
  if (Object.keys(changed).length === 0) return [];
  return [{ type: 'AccountUpdated', data: withoutUndefined({ accountId: data.accountId, ...changed }) }];
};

const requireName = (name: string): void => {
  if (!name.trim()) throw new ValidationError([{ field: 'name', message: 'an account needs a name' }]);
};

