/** The account's facts. An account is a B2B company, or a B2C grouping (region, store, profit centre). */
import type { Address } from '../values';

export const ACCOUNT_KINDS = ['COMPANY', 'GROUPING'] as const;
export type AccountKind = (typeof ACCOUNT_KINDS)[number];

export interface AccountDetails {
  name: string;
  website?: string;
  phone?: string;
  industry?: string;
  size?: string;
  address?: Address;
}

export type AccountOpened = {
  type: 'AccountOpened';
  data: AccountDetails & {
    accountId: string;
    kind: AccountKind;
    ownerId?: string;
    /** Set when the account was created by converting a lead. */
    fromLeadId?: string;
  };
};

/** Only the fields that changed are present. */
export type AccountUpdated = {
  type: 'AccountUpdated';
  data: Partial<AccountDetails> & { accountId: string; ownerId?: string };
};

export type AccountEvent = AccountOpened | AccountUpdated;

export const ACCOUNT_STREAM_PREFIX = 'account-';
export const accountStreamId = (accountId: string): string => `${ACCOUNT_STREAM_PREFIX}${accountId}`;
