/**
 * Retrospectives by replay: the facts the KPIs are computed from, rebuilt in memory by reading
 * the whole event log from its start, with no read model involved. The lead and opportunity
 * states are folded with the domain's own `evolve`; optionally only with the events recorded by
 * `knownAt`, which answers "as we knew it then". The lists each lead is in are those of the whole
 * log, whatever `knownAt`: a cut by LIST looks at the facts through the lists as they are now.
 */
import type { EventStore, GlobalPosition, RecordedEvent } from '../core/eventStore';
import { turnsOf, type TurnTaker } from '../../projections/eventLoopTurns';
import { LEAD_EVENT_TYPES, evolveLead, initialLeadState, type LeadEvent, type LeadState } from '../domain/leads/lead';
import { LEAD_LIST_EVENT_TYPES, type LeadListEvent } from '../domain/leadLists/events';
import { evolveLeadList, initialLeadListState, type LeadListState } from '../domain/leadLists/leadList';
import { leadFilterOf } from '../domain/leadLists/membership';
import { leadSearchText } from '../domain/leads/search';
import type { LeadRescored } from '../domain/scoring/rescore';
import type { Money } from '../domain/values';
import type { OpportunityEvent, OpportunityStatus } from '../domain/opportunities/events';
import {
  OPPORTUNITY_EVENT_TYPES,
  evolveOpportunity,
  initialOpportunityState,
  type OpportunityState,
} from '../domain/opportunities/opportunity';
import { instant, originOfCapture, reachesLead, type KpiAttribution } from '../domain/insights/definitions';

export interface LeadCycleFact extends KpiAttribution {
  leadId: string;
  cycle: number;
  capturedAt: string;
  /** The cycle's first reach (`reachesLead`), if any. */
  contactedAt?: string;
  reachedMql: boolean;
  reachedSql: boolean;
  disqualifiedAt?: string;
  disqualificationReason?: string;
  convertedAt?: string;
}

export interface StageStayFact {
  stage: string;
  enteredAt: string;
  leftAt?: string;
}

export interface OpportunityFact extends KpiAttribution {
  opportunityId: string;
  /** The lead converted into it; null for an opportunity opened on an account. */
  leadId: string | null;
  openedAt: string;
  status: OpportunityStatus;
  stage: string;
  probability: number;
  amount?: Money;
  /** The latest close, while it stands (a reopen clears it). */
  closedAt?: string;
  lossReason?: string;
  competitor?: string;
  stays: StageStayFact[];
}

export interface ReplayedFacts {
  cycles: LeadCycleFact[];
  opportunities: OpportunityFact[];
  /**
   * The lead lists each lead is in at the end of the log (by list id; a lead in none is absent):
   * a static list's members, and the leads a dynamic list's filter matches. Absent when the
   * replay was asked not to work them out (`withLists: false`).
   */
  listsOfLead?: ReadonlyMap<string, readonly string[]>;
  /** Events folded (those recorded after `knownAt` are read but not counted). */
  eventsReplayed: number;
}

export interface ReplayOptions {
  /** Ignore events recorded after this instant (ISO-8601). */
  knownAt?: string;
  pageSize?: number;
  /** Whether to work out the lists each lead is in (a cut by LIST needs them); true by default. */
  withLists?: boolean;
  /** When to step aside for the rest of the thread's work (default: every `REPLAY_SLICE_MS`). */
  takeTurn?: TurnTaker;
}

/**
 * Milliseconds of the fold between turns of the event loop. On SQLite a page of the log is read
 * synchronously, so the replay of a whole log (13 s on the insights history's 1,004,970 events)
 * would otherwise hold the thread that serves every other request until it ends; a page of 2,000
 * events is read in about 10 ms. Short slices: a capture crosses the event loop several times
 * (its request, its commit, its read models, its answer), and waits for a slice at each. Beside a
 * retrospective, 10 connections capturing got 80 captures/s answered (p50 113 ms) with slices of
 * 10 ms, 167/s (p50 57 ms) with 2 ms (`npm run bench:lists`, one round each).
 */
export const REPLAY_SLICE_MS = 2;

const LEAD_TYPES = new Set<string>(LEAD_EVENT_TYPES);
const OPPORTUNITY_TYPES = new Set<string>(OPPORTUNITY_EVENT_TYPES);
const LEAD_LIST_TYPES = new Set<string>(LEAD_LIST_EVENT_TYPES);
/** A score given by the lead scorer, on the lead's score stream rather than the lead's own. */
const LEAD_RESCORED: LeadRescored['type'] = 'LeadRescored';

export const replayFacts = async (store: EventStore, options: ReplayOptions = {}): Promise<ReplayedFacts> => {
  const fold = new FactFold();
  const pageSize = options.pageSize ?? 2000;
  const knownAt = options.knownAt === undefined ? undefined : Date.parse(options.knownAt);
  // Without knownAt the facts' lead states are the current ones: the lists need no fold of their own.
  const lists = options.withLists === false ? undefined : new ListMembershipFold(knownAt !== undefined);
  // The facts read no personal field: their events stay sealed (nothing to decrypt). A dynamic
  // list's search reads the names and e-mails of the leads: their events are opened for the lists.
  const opensPersonalDataOf = lists === undefined ? () => false : (type: string) => LEAD_TYPES.has(type);
  const takeTurn = options.takeTurn ?? turnsOf(REPLAY_SLICE_MS);
  let position: GlobalPosition | undefined;
  for (;;) {
    const events = await store.readAll({ fromPosition: position, maxCount: pageSize, opensPersonalDataOf });
    for (const event of events) {
      if (knownAt === undefined || Date.parse(event.metadata.recordedAt) <= knownAt) fold.apply(event);
      lists?.apply(event);
      const turn = takeTurn();
      if (turn !== undefined) await turn;
    }
    if (events.length < pageSize) break;
    position = events[events.length - 1]!.position;
  }
  const facts = fold.facts();
  return lists === undefined ? facts : { ...facts, listsOfLead: lists.membership(knownAt === undefined ? fold.leadStates() : undefined) };
};

/** Which lists each lead is in at the end of the log, as the lead lists and leads read models say. */
class ListMembershipFold {
  private readonly lists = new Map<string, LeadListState>();
  private readonly leads = new Map<string, LeadState>();
  /**
   * Each lead's latest score in the log's order, given by `scoreLead` (on the lead's stream) or
   * by the lead scorer (`LeadRescored`, on its score stream), as the leads read model keeps it:
   * what a dynamic list's `minScore` reads.
   */
  private readonly scores = new Map<string, { value: number; rulesVersion: string }>();

  /** `foldsLeads`: whether the leads' current states must be folded here (not when the facts' are current). */
  constructor(private readonly foldsLeads: boolean) {}

  apply(event: RecordedEvent): void {
    if (LEAD_LIST_TYPES.has(event.type)) {
      const listEvent = event as RecordedEvent & LeadListEvent;
      const { listId } = listEvent.data;
      this.lists.set(listId, evolveLeadList(this.lists.get(listId) ?? initialLeadListState(), listEvent));
      return;
    }
    if (event.type === 'LeadScored' || event.type === LEAD_RESCORED) {
      const { leadId, score, rulesVersion } = (event as RecordedEvent & (LeadRescored | Extract<LeadEvent, { type: 'LeadScored' }>)).data;
      this.scores.set(leadId, { value: score, rulesVersion });
    }
    if (this.foldsLeads && LEAD_TYPES.has(event.type)) {
      const leadEvent = event as RecordedEvent & LeadEvent;
      const { leadId } = leadEvent.data;
      this.leads.set(leadId, evolveLead(this.leads.get(leadId) ?? initialLeadState(), leadEvent));
    }
  }

  /** `currentLeads`: the leads' current states, when folded elsewhere. */
  membership(currentLeads: Iterable<LeadState> = this.leads.values()): Map<string, string[]> {
    const listsOfLead = new Map<string, string[]>();
    const add = (leadId: string, listId: string) => {
      const lists = listsOfLead.get(leadId);
      if (lists) lists.push(listId);
      else listsOfLead.set(leadId, [listId]);
    };
    // Archived lists too: an archived list keeps its leads, and its figures can still be asked for.
    const lists = [...this.lists.values()].flatMap((list) => (list.status === 'NONE' ? [] : [list]));
    for (const list of lists) {
      if (list.kind === 'STATIC') for (const leadId of list.leadIds) add(leadId, list.listId);
    }
    const dynamic = lists.flatMap((list) => (list.kind === 'DYNAMIC' ? [{ listId: list.listId, matches: leadFilterOf(list.filter ?? {}) }] : []));
    if (dynamic.length > 0) {
      for (const folded of currentLeads) {
        if (folded.status === 'NONE') continue;
        const score = this.scores.get(folded.leadId);
        const lead = score === undefined ? folded : { ...folded, score };
        let searchText: string | undefined;
        const searchTextOf = () => (searchText ??= leadSearchText(lead.person, lead.company));
        for (const list of dynamic) if (list.matches(lead, searchTextOf)) add(lead.leadId, list.listId);
      }
    }
    for (const listIds of listsOfLead.values()) listIds.sort();
    return listsOfLead;
  }
}

class FactFold {
  private readonly leads = new Map<string, { state: LeadState; cycle: LeadCycleFact }>();
  private readonly opportunities = new Map<string, { state: OpportunityState; fact: OpportunityFact }>();
  /** The lead cycle each converted opportunity came from. */
  private readonly origins = new Map<string, LeadCycleFact>();
  private readonly cycles: LeadCycleFact[] = [];
  private replayed = 0;

  apply(event: RecordedEvent): void {
    if (LEAD_TYPES.has(event.type)) this.applyLead(event as RecordedEvent & LeadEvent);
    else if (OPPORTUNITY_TYPES.has(event.type)) this.applyOpportunity(event as RecordedEvent & OpportunityEvent);
    else return;
    this.replayed += 1;
  }

  leadStates(): Iterable<LeadState> {
    return [...this.leads.values()].map(({ state }) => state);
  }

  facts(): Omit<ReplayedFacts, 'listsOfLead'> {
    return {
      cycles: this.cycles,
      opportunities: [...this.opportunities.values()].map(({ fact }) => fact),
      eventsReplayed: this.replayed,
    };
  }

  private applyLead(event: RecordedEvent & LeadEvent): void {
    const at = instant(event.metadata.occurredAt);
    const known = this.leads.get(event.data.leadId);
    const state = evolveLead(known?.state ?? initialLeadState(), event);
    if (state.status === 'NONE') return;
    let cycle = known?.cycle;
    if (event.type === 'LeadCaptured' || event.type === 'LeadRecycled' || cycle === undefined) {
      cycle = {
        leadId: state.leadId,
        cycle: state.cycle,
        capturedAt: at,
        reachedMql: false,
        reachedSql: false,
        source: state.source,
        campaign: null,
        ownerId: null,
        // A recycle starts the same lead's next cycle: it keeps the origin of the lead's capture.
        origin: event.type === 'LeadCaptured' ? originOfCapture(event.data) : (known?.cycle.origin ?? 'NEW'),
      };
      this.cycles.push(cycle);
    }
    // Within a cycle the latest campaign and owner count; a closed cycle no longer changes.
    cycle.campaign = state.campaign ?? null;
    cycle.ownerId = state.ownerId ?? null;
    switch (event.type) {
      case 'LeadContactLogged':
        if (reachesLead(event.data.outcome)) cycle.contactedAt ??= at;
        break;
      case 'LeadQualified':
        cycle.reachedMql = true;
        cycle.reachedSql ||= state.rank === 'SQL';
        break;
      case 'LeadDisqualified':
        cycle.disqualifiedAt = at;
        cycle.disqualificationReason = event.data.reason;
        break;
      case 'LeadConverted':
        cycle.convertedAt = at;
        if (event.data.opportunityId !== undefined) this.origins.set(event.data.opportunityId, cycle);
        break;
    }
    this.leads.set(state.leadId, { state, cycle });
  }

  private applyOpportunity(event: RecordedEvent & OpportunityEvent): void {
    const at = instant(event.metadata.occurredAt);
    const id = event.data.opportunityId;
    const known = this.opportunities.get(id);
    const state = evolveOpportunity(known?.state ?? initialOpportunityState(), event);
    if (state.status === 'NONE') return;
    const origin = this.origins.get(id);
    const fact: OpportunityFact = known?.fact ?? {
      opportunityId: id,
      leadId: origin?.leadId ?? null,
      openedAt: at,
      source: origin?.source ?? null,
      campaign: origin?.campaign ?? null,
      origin: origin?.origin ?? null,
      ownerId: null,
      status: 'OPEN',
      stage: state.stage,
      probability: state.probability,
      stays: [],
    };
    const openStay = fact.stays.find((stay) => stay.leftAt === undefined);
    const enter = () => fact.stays.push({ stage: state.stage, enteredAt: at });
    const leave = () => {
      if (openStay) openStay.leftAt = at;
    };
    switch (event.type) {
      case 'OpportunityOpened':
        enter();
        break;
      case 'OpportunityStageChanged':
        leave();
        enter();
        break;
      case 'OpportunityWon':
      case 'OpportunityLost':
        leave();
        fact.closedAt = at;
        fact.lossReason = event.type === 'OpportunityLost' ? event.data.reason : undefined;
        fact.competitor = event.type === 'OpportunityLost' ? event.data.competitor : undefined;
        break;
      case 'OpportunityReopened':
        enter();
        fact.closedAt = undefined;
        fact.lossReason = undefined;
        fact.competitor = undefined;
        break;
    }
    Object.assign(fact, {
      status: state.status,
      stage: state.stage,
      probability: state.probability,
      amount: state.amount,
      ownerId: state.ownerId ?? null,
    });
    this.opportunities.set(id, { state, fact });
  }
}
