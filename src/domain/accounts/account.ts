/**
 * The account's state and `evolve`, which folds its events (in `events.ts`) into it. Pure.
 * Whether an account is a prospect or a customer is not kept here: it follows from its
 * opportunities, so the read model derives it (see projections/accounts).
 */
import type { Address } from '../values';
import type { AccountEvent, AccountKind } from './events';

export const ACCOUNT_STATUSES = ['PROSPECT', 'CUSTOMER'] as const;
export type AccountStatus = (typeof ACCOUNT_STATUSES)[number];

/** The first won opportunity makes a customer; losing every win (reopened) makes a prospect again. */
export const accountStatusFor = (wonOpportunities: number): AccountStatus =>
  wonOpportunities > 0 ? 'CUSTOMER' : 'PROSPECT';

export type AccountState =
  | { status: 'NONE' }
  | {
      status: 'OPEN';
      accountId: string;
      kind: AccountKind;
      name: string;
      website?: string;
      phone?: string;
      industry?: string;
      size?: string;
      address?: Address;
      ownerId?: string;
    };

export type ExistingAccount = Exclude<AccountState, { status: 'NONE' }>;

export const initialAccountState = (): AccountState => ({ status: 'NONE' });

export const evolveAccount = (state: AccountState, event: AccountEvent): AccountState => {
  switch (event.type) {
    case 'AccountOpened': {
      const { fromLeadId: _lead, ...data } = event.data;
      return { status: 'OPEN', ...data };
    }
    case 'AccountUpdated':
      return state.status === 'NONE' ? state : { ...state, ...event.data };
  }
};
