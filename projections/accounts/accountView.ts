/**
 * The account's view and its fold from events, without a database: the accounts read model
 * (`accountsReadModel.ts`) applies this fold to its rows, and a mutation uses it to answer the account as it
 * was at a revision of its stream when the live row has moved on (`src/useCases/atRevision.ts`).
 *
 * The status is not in the account's stream: it follows from the wins of its opportunities.
 * `outcomeOf` folds one opportunity's events into what `read_account_wins` keeps for it, so the
 * status can be derived as of any global position from the opportunities' own streams.
 */
import { utcInstant } from '../../src/core/eventTimes';
import type { RecordedEvent } from '../../src/core/eventStore';
import { normalizeDomain } from '../../src/core/normalize';
import { evolveAccount, type AccountState, type AccountStatus } from '../../src/domain/accounts/account';
import type { AccountEvent, AccountKind } from '../../src/domain/accounts/events';
import type { OpportunityReopened, OpportunityWon } from '../../src/domain/opportunities/events';
import type { Address } from '../../src/domain/values';
import type { SqlDatabase } from '../sqlDatabase';

export interface AccountView {
  id: string;
  /** Stream revision of the last account event applied: the expected revision for the next command. */
  revision: number;
  kind: AccountKind;
  status: AccountStatus;
  name: string;
  website: string | null;
  /** The company domain of the website, as duplicate detection compares it. */
  domain: string | null;
  phone: string | null;
  industry: string | null;
  size: string | null;
  address: Address | null;
  ownerId: string | null;
  fromLeadId: string | null;
  /** Business times (the events' occurredAt), as UTC ISO-8601. */
  createdAt: string;
  updatedAt: string;
  createdBy: string;
}

export type RecordedAccountEvent = AccountEvent & Pick<RecordedEvent, 'revision' | 'metadata'>;

/** One account event applied to the view (undefined before the first), with the status to show. */
export const evolveAccountView = (
  view: AccountView | undefined,
  event: RecordedAccountEvent,
  status: AccountStatus,
): AccountView => {
  const state = evolveAccount(view === undefined ? { status: 'NONE' } : toAccountState(view), event);
  if (state.status === 'NONE') {
    throw new Error(`Account ${event.data.accountId} has an ${event.type} but was never opened`);
  }
  const at = utcInstant(event.metadata.occurredAt);
  const website = state.website ?? null;
  return {
    id: state.accountId,
    revision: event.revision,
    kind: state.kind,
    status,
    name: state.name,
    website,
    domain: website === null ? null : (normalizeDomain(website) ?? null),
    phone: state.phone ?? null,
    industry: state.industry ?? null,
    size: state.size ?? null,
    address: state.address ?? null,
    ownerId: state.ownerId ?? null,
    fromLeadId: event.type === 'AccountOpened' ? (event.data.fromLeadId ?? null) : (view?.fromLeadId ?? null),
    createdAt: view?.createdAt ?? at,
    updatedAt: at,
    createdBy: view?.createdBy ?? event.metadata.actor,
  };
};

/**
 * The account's events (a prefix of its stream) folded into its view, shown with `status`, and
 * with its address as the row gives it back (JSON text parsed). Undefined for no event.
 */
export const foldAccountView = (events: readonly RecordedAccountEvent[], status: AccountStatus): AccountView | undefined => {
  const view = events.reduce<AccountView | undefined>((current, event) => evolveAccountView(current, event, status), undefined);
  return view && { ...view, address: view.address === null ? null : JSON.parse(JSON.stringify(view.address)) };
};

const toAccountState = (view: AccountView): AccountState => ({
  status: 'OPEN',
  accountId: view.id,
  kind: view.kind,
  name: view.name,
  website: view.website ?? undefined,
  phone: view.phone ?? undefined,
  industry: view.industry ?? undefined,
  size: view.size ?? undefined,
  address: view.address ?? undefined,
  ownerId: view.ownerId ?? undefined,
});

/** What `read_account_wins` keeps of one opportunity: the account of its latest outcome, and whether it stands won. */
export interface OpportunityOutcome {
  accountId: string;
  won: boolean;
}

type OutcomeEvent = (OpportunityWon | OpportunityReopened) & Pick<RecordedEvent, 'revision'>;

/**
 * One opportunity's events (a prefix of its stream, any types) folded as the accounts projection
 * folds them: a win counts until the opportunity is reopened; reopening a lost one changes
 * nothing. Undefined when no outcome was recorded (no row).
 */
export const outcomeOf = (events: readonly Pick<RecordedEvent, 'type' | 'data' | 'revision'>[]): OpportunityOutcome | undefined => {
  let outcome: OpportunityOutcome | undefined;
  for (const event of events as readonly OutcomeEvent[]) {
    if (event.type === 'OpportunityWon') outcome = { accountId: event.data.accountId, won: true };
    else if (event.type === 'OpportunityReopened' && event.data.previousStatus === 'WON') {
      outcome = { accountId: event.data.accountId, won: false };
    }
  }
  return outcome;
};

/** The opportunities whose outcome ever counted for the account, as the read model knows them now. */
export const opportunitiesWithOutcomes = async (db: SqlDatabase, accountId: string): Promise<string[]> =>
  (
    await db.all<{ opportunity_id: string }>('SELECT opportunity_id FROM read_account_wins WHERE account_id = ? ORDER BY opportunity_id', [
      accountId,
    ])
  ).map((row) => row.opportunity_id);
