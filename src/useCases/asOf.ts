/**
 * One lead, opportunity, contact or account as it was, on two time axes:
 * - `asOf`: only the facts that had occurred by then (occurredAt <= asOf), "as we know now";
 * - `knownAt`: only the facts recorded by then (recordedAt <= knownAt), "as we knew it then".
 * Both together keep the facts that pass both tests. The kept events are folded in stream order
 * by the read model's own code, so an answer has the shape and meaning of a live one. Because a
 * stream's times never go backwards (`src/core/eventTimes.ts`), the kept events are always a
 * prefix of the stream: the state folded is one the entity really had. The same folds of a prefix
 * (`foldLeadView`, `foldOpportunitySnapshot`) serve `atRevision.ts`, which cuts the stream at a
 * revision instead of a time.
 */
import { readStreamOrEmpty } from '../core/commandHandler';
import type { EventStore, RecordedEvent } from '../core/eventStore';
import { searchKey } from '../core/normalize';
import { accountStatusFor, type AccountStatus } from '../domain/accounts/account';
import { accountStreamId } from '../domain/accounts/events';
import { contactStreamId } from '../domain/contacts/events';
import { leadStreamId } from '../domain/leads/lead';
import { opportunityStreamId } from '../domain/opportunities/events';
import {
  foldAccountView,
  opportunitiesWithOutcomes,
  outcomeOf,
  type AccountView,
  type RecordedAccountEvent,
} from '../../projections/accounts/accountView';
import { contactsEverOfAccount } from '../../projections/contacts/contactsReadModel';
import { foldContactView, type ContactView, type RecordedContactEvent } from '../../projections/contacts/contactView';
import { opportunitiesOfAccount } from '../../projections/opportunities/opportunitiesQueries';
import type { SqlDatabase } from '../../projections/sqlDatabase';
import { evolveLeadView, type RecordedLeadStoryEvent } from '../../projections/leads/leadsProjection';
import { readAutomaticScores } from './rescoreLead';
import { type LeadView } from '../../projections/leads/leadView';
import { opportunitiesProjection, type ActivityView, type OpportunityView, type QuoteView, type StageVisitView } from '../../projections/opportunities/opportunitiesProjection';
import { activitiesOf, getOpportunity, quotesOf, stageHistoryOf } from '../../projections/opportunities/opportunitiesQueries';
import { openSqliteDatabase } from '../../projections/sqlDatabase';

export interface TimeWindow {
  /** Business time: facts that occurred after it are left out. */
  asOf?: Date;
  /** Knowledge time: facts recorded after it are left out. */
  knownAt?: Date;
}

/** Said of each query taking both arguments; on the arguments themselves it would split their one-line signatures. */
export const TIME_TRAVEL_DESCRIPTION =
  'With asOf, as it was at that business time (the facts that had occurred by then), as known now; with knownAt, ' +
  'as it was known then (the facts recorded by then); with both, both. Without them, as it is now.';

export const isTimeTravel = (window: TimeWindow): boolean => window.asOf !== undefined || window.knownAt !== undefined;

/** The events of a stream that the window keeps, in stream order. */
export const eventsInWindow = <E extends Pick<RecordedEvent, 'metadata'>>(events: readonly E[], window: TimeWindow): E[] => {
  const asOf = window.asOf?.getTime() ?? Infinity;
  const knownAt = window.knownAt?.getTime() ?? Infinity;
  return events.filter(
    (event) => Date.parse(event.metadata.occurredAt) <= asOf && Date.parse(event.metadata.recordedAt) <= knownAt,
  );
};

/**
 * Undefined when the lead did not exist in that window. Its automatic scores (its score stream)
 * recorded in the window count too, where the log put them among the lead's events.
 */
export const leadAsOf = async (store: EventStore, leadId: string, window: TimeWindow): Promise<LeadView | undefined> => {
  const [events, scores] = await Promise.all([readStreamOrEmpty(store, leadStreamId(leadId)), readAutomaticScores(store, leadId)]);
  const kept = eventsInWindow(events, window);
  const first = kept[0]?.position;
  // A score belongs to the lead's story once the lead is in it (clocks of two instances may differ a little).
  const keptScores = first === undefined ? [] : eventsInWindow(scores, window).filter((score) => store.comparePositions(score.position, first) > 0);
  return foldLeadView(inLogOrder(store, kept, keptScores));
};

/** Two streams' events, each in its own order, merged into the log's. */
export const inLogOrder = (
  store: Pick<EventStore, 'comparePositions'>,
  first: readonly RecordedEvent[],
  second: readonly RecordedEvent[],
): RecordedEvent[] => {
  if (second.length === 0) return [...first];
  const merged: RecordedEvent[] = [];
  let i = 0;
  let j = 0;
  while (i < first.length || j < second.length) {
    if (j >= second.length || (i < first.length && store.comparePositions(first[i]!.position, second[j]!.position) < 0)) {
      merged.push(first[i++]!);
    } else {
      merged.push(second[j++]!);
    }
  }
  return merged;
};

/**
 * A prefix of a lead's stream, with any automatic scores among it in log order, folded by the
 * leads read model's own `evolveLeadView`; undefined for none.
 */
export const foldLeadView = (events: readonly RecordedEvent[]): LeadView | undefined =>
  (events as unknown as RecordedLeadStoryEvent[]).reduce<LeadView | undefined>(evolveLeadView, undefined);

export interface OpportunitySnapshot {
  view: OpportunityView;
  quotes: QuoteView[];
  activities: ActivityView[];
  stageHistory: StageVisitView[];
}

/**
 * The opportunities read model keeps its rows in four tables, written by SQL: the window's
 * events are projected by that same projection into a private in-memory database, which is
 * read with the same queries as the live one.
 */
export const opportunityAsOf = async (
  store: EventStore,
  opportunityId: string,
  window: TimeWindow,
): Promise<OpportunitySnapshot | undefined> => {
  const events = eventsInWindow(await readStreamOrEmpty(store, opportunityStreamId(opportunityId)), window);
  return foldOpportunitySnapshot(opportunityId, events);
};

/** A prefix of an opportunity's stream projected into a private database; undefined for none. */
export const foldOpportunitySnapshot = async (
  opportunityId: string,
  events: readonly RecordedEvent[],
): Promise<OpportunitySnapshot | undefined> => {
  if (events.length === 0) return undefined;
  const scratch = openSqliteDatabase(':memory:');
  try {
    await opportunitiesProjection.setup(scratch);
    for (const event of events) await opportunitiesProjection.apply(scratch, event);
    const view = await getOpportunity(scratch, opportunityId);
    if (!view) return undefined;
    const [quotes, activities, stageHistory] = await Promise.all([
      quotesOf(scratch, opportunityId),
      activitiesOf(scratch, opportunityId),
      stageHistoryOf(scratch, opportunityId),
    ]);
    return { view, quotes, activities, stageHistory };
  } finally {
    await scratch.close();
  }
};

/** Where the folds of an account read: its stream and the others', and the read models (which streams may count). */
export interface AsOfDependencies {
  store: EventStore;
  readDb: SqlDatabase;
}

/** The contact in that window, folded by the contacts read model's own `foldContactView`; undefined when it did not exist yet. */
export const contactAsOf = async (store: EventStore, contactId: string, window: TimeWindow): Promise<ContactView | undefined> =>
  foldContactView(eventsInWindow(await readStreamOrEmpty(store, contactStreamId(contactId)), window) as unknown as RecordedContactEvent[]);

/**
 * The account in that window: its own fields (owner included) folded from its stream by
 * `foldAccountView`, and its status as the accounts projection derives it from the wins of its
 * opportunities, each opportunity's events taken in the same window. Undefined when it did not
 * exist yet.
 */
export const accountAsOf = async (deps: AsOfDependencies, accountId: string, window: TimeWindow): Promise<AccountView | undefined> => {
  const events = eventsInWindow(await readStreamOrEmpty(deps.store, accountStreamId(accountId)), window);
  if (events.length === 0) return undefined;
  return foldAccountView(events as unknown as RecordedAccountEvent[], await accountStatusAsOf(deps, accountId, window));
};

/**
 * CUSTOMER when one of the account's opportunities stood won in the window. The opportunities
 * that may count are those the accounts read model lists with an outcome for the account now (a
 * win in any window is among them, and an opportunity never changes account).
 */
export const accountStatusAsOf = async (deps: AsOfDependencies, accountId: string, window: TimeWindow): Promise<AccountStatus> => {
  const outcomes = await Promise.all(
    (await opportunitiesWithOutcomes(deps.readDb, accountId)).map(async (opportunityId) =>
      outcomeOf(eventsInWindow(await readStreamOrEmpty(deps.store, opportunityStreamId(opportunityId)), window)),
    ),
  );
  return accountStatusFor(outcomes.filter((outcome) => outcome?.won && outcome.accountId === accountId).length);
};

/**
 * The account's contacts in that window, active and inactive, in the live list's order (last
 * name, first name, id): every contact that ever belonged to the account, folded in the window,
 * kept when it belonged to it then.
 */
export const accountContactsAsOf = async (deps: AsOfDependencies, accountId: string, window: TimeWindow): Promise<ContactView[]> => {
  const contacts = await Promise.all(
    (await contactsEverOfAccount(deps.readDb, accountId)).map((contactId) => contactAsOf(deps.store, contactId, window)),
  );
  const sortKey = (contact: ContactView) => searchKey(`${contact.lastName ?? ''} ${contact.firstName ?? ''}`);
  return contacts
    .filter((contact): contact is ContactView => contact?.accountId === accountId)
    .sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
};

/**
 * The account's opportunities in that window, open and closed, newest first as the live list:
 * each opportunity's events in the window projected into one private database (a B2C grouping
 * may have thousands), read with the live queries.
 */
export const accountOpportunitiesAsOf = async (
  deps: AsOfDependencies,
  accountId: string,
  window: TimeWindow,
): Promise<OpportunitySnapshot[]> => {
  const candidates = await opportunitiesOfAccount(deps.readDb, accountId);
  if (candidates.length === 0) return [];
  const scratch = openSqliteDatabase(':memory:');
  try {
    await opportunitiesProjection.setup(scratch);
    for (const candidate of candidates) {
      for (const event of eventsInWindow(await readStreamOrEmpty(deps.store, opportunityStreamId(candidate.id)), window)) {
        await opportunitiesProjection.apply(scratch, event);
      }
    }
    return await Promise.all(
      (await opportunitiesOfAccount(scratch, accountId)).map(async (view) => {
        const [quotes, activities, stageHistory] = await Promise.all([
          quotesOf(scratch, view.id),
          activitiesOf(scratch, view.id),
          stageHistoryOf(scratch, view.id),
        ]);
        return { view, quotes, activities, stageHistory };
      }),
    );
  } finally {
    await scratch.close();
  }
};
