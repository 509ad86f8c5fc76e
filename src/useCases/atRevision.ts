/**
 * An entity as it was right after one revision of its stream: what a mutation answers when the
 * read model has already moved past the mutation's own write (another writer came right after
 * it), or when the mutation is the replay of a command recorded earlier. Each view is folded
 * from the stream's first `revision + 1` events by the read model's own fold, so it is exactly
 * what the read model showed (or would have shown) had no other write happened since:
 *
 * - a lead: `evolveLeadView`, the leads projection's fold, and the row's own mapping, with the
 *   automatic scores of its score stream recorded before that revision's event (the read model
 *   takes them in log order);
 * - an opportunity: the opportunities projection applied to a private database, read with the
 *   live queries (quotes, activities and stage history included), as time travel does;
 * - a contact: `foldContactView` (beside the contacts projection); everything in it is the
 *   contact's own stream;
 * - an account: `foldAccountView` (beside the accounts projection) for the account's own
 *   fields. Its status is not in its stream: it follows from the wins of its opportunities. It is
 *   derived as of a global position (the command's), as the read model stood once it had applied
 *   everything up to that position and nothing after: the opportunities the read model lists
 *   with an outcome for the account (`read_account_wins`) are read from their streams up to that
 *   position and folded as the projection folds them.
 */
import { readStreamOrEmpty } from '../core/commandHandler';
import { StreamNotFoundError, type EventStore, type GlobalPosition, type NewEvent, type RecordedEvent } from '../core/eventStore';
import { accountStatusFor, type AccountStatus } from '../domain/accounts/account';
import { accountStreamId } from '../domain/accounts/events';
import { contactStreamId } from '../domain/contacts/events';
import { leadStreamId } from '../domain/leads/lead';
import { opportunityStreamId } from '../domain/opportunities/events';
import { readAutomaticScores } from './rescoreLead';
import type { AccountView } from '../../projections/accounts/accountView';
import {
  foldAccountView,
  opportunitiesWithOutcomes,
  outcomeOf,
  type RecordedAccountEvent,
} from '../../projections/accounts/accountView';
import { foldContactView, type RecordedContactEvent } from '../../projections/contacts/contactView';
import type { ContactView } from '../../projections/contacts/contactView';
import { asReadBack, type LeadView } from '../../projections/leads/leadView';
import type { OpportunityView } from '../../projections/opportunities/opportunitiesProjection';
import type { SqlDatabase } from '../../projections/sqlDatabase';
import { foldLeadView, foldOpportunitySnapshot, inLogOrder, type OpportunitySnapshot } from './asOf';

/** Where the folds read: the log, and the read models (only for an account's opportunities). */
export interface AtRevisionDependencies {
  store: EventStore;
  readDb: SqlDatabase;
}

/**
 * An opportunity's row, with, when it was folded rather than read live, the quotes, activities
 * and stage history of that same revision (the GraphQL field resolvers read `snapshot` first).
 */
export type OpportunityAtRevision = OpportunityView & { snapshot?: OpportunitySnapshot };

/** The stream's events up to and including `revision`, oldest first ([] for -1 or no stream). */
export const streamUpTo = async (store: EventStore, streamId: string, revision: number): Promise<RecordedEvent[]> => {
  if (revision < 0) return [];
  let events: RecordedEvent[];
  try {
    events = await store.readStream(streamId, { maxCount: revision + 1 });
  } catch (error) {
    if (error instanceof StreamNotFoundError) return [];
    throw error;
  }
  if (events.at(-1)?.revision !== revision) {
    throw new Error(`Stream ${streamId} has no revision ${revision} (it reads up to ${events.at(-1)?.revision ?? 'nothing'})`);
  }
  return events;
};

/**
 * A prefix of a lead's stream as the leads read model gives it back (its row, mapped back), with
 * the lead's automatic scores (`automaticScores`, its score stream) recorded before the prefix's
 * last event, each where the log put it.
 */
export const leadViewOf = (
  store: Pick<EventStore, 'comparePositions'>,
  events: readonly RecordedEvent[],
  automaticScores: readonly RecordedEvent[],
): LeadView | undefined => {
  const end = events.at(-1)?.position;
  const scores = end === undefined ? [] : automaticScores.filter((score) => store.comparePositions(score.position, end) < 0);
  const view = foldLeadView(inLogOrder(store, events, scores));
  return view && asReadBack(view);
};

export const leadAtRevision = async (store: EventStore, leadId: string, revision: number): Promise<LeadView | undefined> => {
  const [events, scores] = await Promise.all([streamUpTo(store, leadStreamId(leadId), revision), readAutomaticScores(store, leadId)]);
  return leadViewOf(store, events, scores);
};

/**
 * The lead right after the command that captured it, from that command's one event as it was
 * appended at `position`: what `leadAtRevision(store, leadId, 0)` reads back from the log (the
 * capture is the stream's first event, and no automatic score comes before a lead's capture),
 * without reading two streams and opening the sealed personal data again. Undefined for a command
 * of several events, whose positions but the last are unknown here: those are read.
 */
export const leadOpenedBy = (leadId: string, events: readonly NewEvent[], position: GlobalPosition): LeadView | undefined => {
  if (events.length !== 1) return undefined;
  const view = foldLeadView([{ ...events[0]!, streamId: leadStreamId(leadId), revision: 0, position }]);
  return view && asReadBack(view);
};

/**
 * Whether the lead's row, read at `revision` of its stream, still shows the lead as it was right
 * after that revision's event (at `position`): an automatic score recorded since changes the row
 * without changing its revision.
 */
export const leadRowIsAt = (
  store: Pick<EventStore, 'comparePositions'>,
  row: LeadView,
  at: { revision: number; position: GlobalPosition },
): boolean => row.revision === at.revision && (row.scorePosition === null || store.comparePositions(row.scorePosition, at.position) <= 0);

export const opportunityViewOf = async (
  opportunityId: string,
  events: readonly RecordedEvent[],
): Promise<OpportunityAtRevision | undefined> => {
  const snapshot = await foldOpportunitySnapshot(opportunityId, events);
  return snapshot && { ...snapshot.view, snapshot };
};

export const opportunityAtRevision = async (
  store: EventStore,
  opportunityId: string,
  revision: number,
): Promise<OpportunityAtRevision | undefined> =>
  opportunityViewOf(opportunityId, await streamUpTo(store, opportunityStreamId(opportunityId), revision));

export const contactViewOf = (events: readonly RecordedEvent[]): ContactView | undefined =>
  foldContactView(events as unknown as RecordedContactEvent[]);

export const contactAtRevision = async (store: EventStore, contactId: string, revision: number): Promise<ContactView | undefined> =>
  contactViewOf(await streamUpTo(store, contactStreamId(contactId), revision));

/** A prefix of an account's stream, with its status as of `statusAt` (see `accountStatusAt`). */
export const accountViewOf = async (
  deps: AtRevisionDependencies,
  accountId: string,
  events: readonly RecordedEvent[],
  statusAt: GlobalPosition,
): Promise<AccountView | undefined> =>
  events.length === 0
    ? undefined
    : foldAccountView(events as unknown as RecordedAccountEvent[], await accountStatusAt(deps, accountId, statusAt));

export const accountAtRevision = async (
  deps: AtRevisionDependencies,
  accountId: string,
  revision: number,
  statusAt: GlobalPosition,
): Promise<AccountView | undefined> =>
  accountViewOf(deps, accountId, await streamUpTo(deps.store, accountStreamId(accountId), revision), statusAt);

/**
 * The account's status as the accounts read model showed it once it had applied every event up
 * to `position` and none after: CUSTOMER while one of its opportunities stood won then. The
 * opportunities that may count are those the read model lists with an outcome for the account
 * now (a win at or before `position` is among them, since the read model is past it); each is
 * read from its stream up to `position`. No read of the log when the account never had a win.
 */
export const accountStatusAt = async (
  deps: AtRevisionDependencies,
  accountId: string,
  position: GlobalPosition,
): Promise<AccountStatus> => {
  const candidates = await opportunitiesWithOutcomes(deps.readDb, accountId);
  const outcomes = await Promise.all(
    candidates.map(async (opportunityId) => {
      const events = await readStreamOrEmpty(deps.store, opportunityStreamId(opportunityId));
      return outcomeOf(events.filter((event) => deps.store.comparePositions(event.position, position) <= 0));
    }),
  );
  return accountStatusFor(outcomes.filter((outcome) => outcome?.won && outcome.accountId === accountId).length);
};
