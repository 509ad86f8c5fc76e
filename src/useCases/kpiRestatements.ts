/**
 * Restatements: which facts recorded after `since` moved a period's KPI figures, and from what
 * to what. What an auditor asks when a month already reported moves: a close back-dated into
 * it, a reopen that takes a close away, a conversion or a disqualification of a lead of its cohort.
 *
 * The figures compared are the rows of four KPIs over the period, as `kpis` answers them: the
 * lead funnel, the disqualification reasons, the loss reasons and the sales outcomes (the time in
 * stage and the pipeline value are left out: the pipeline is "open now" by definition). Each
 * figure of a row is compared: its counts, rates, amounts and averages; in a breakdown (reasons,
 * competitors, stages, currencies) each item's count and amount, not its shares, which follow.
 *
 * No log is replayed: the KPI fact rows are kept in versions along recorded time
 * (projections/kpis/kpiFactsProjection.ts), so the versions of the rows that bear on the period
 * (projections/kpis/kpiVersions.ts) are read once, those known at `since` are summed, and each
 * later version, in the order it was recorded, takes its predecessor's place in the sums
 * (`KpiSums`); the groups it touched are compared before and after. Each version names the event
 * that made it (its stream and revision), which is read from the store for its id, type, times
 * and actor. A command's several events recorded at one instant make one version, shown as its
 * last event; several facts recorded at one instant are each shown with the figures as they
 * moved them, in stream order.
 *
 * Paged: a page is the restatements after a cursor (the last one shown), and only its own events
 * are read. A period with a long tail of facts (a year asked since its middle: 240,600
 * restatements, 227 MB of JSON on the insights history) was answered whole, in one answer of tens
 * of seconds. The versions are still all read and summed for each page; the figures are compared
 * only from the cursor on, up to the page's end. The work is cut into turns of the event loop
 * (`turnsOf`), so that the requests that wait meanwhile are answered between them.
 */
import type { EventStore } from '../core/eventStore';
import { compareGroupKeys, groupKeyId, type KpiGroupKey } from '../domain/insights/definitions';
import type { KpiReport, KpiRequest } from '../domain/insights/kpis';
import { leadStreamId } from '../domain/leads/lead';
import { opportunityStreamId } from '../domain/opportunities/events';
import type { Pipeline } from '../domain/opportunities/pipeline';
import type { Money } from '../domain/values';
import { turnsOf, type TurnTaker } from '../../projections/eventLoopTurns';
import { versionsBearingOn, type LeadCycleVersion, type OpportunityVersion, type VersionsBearingOn } from '../../projections/kpis/kpiVersions';
import { listsOfLeads } from '../../projections/leads/leadsQueries';
import { decodeCursor, encodeCursor } from '../../projections/pagination';
import type { SqlDatabase } from '../../projections/sqlDatabase';
import type { LeadCycleFact, OpportunityFact } from './replayFacts';
import { copiesToSum, KpiSums, type KpiGroups, type Sign } from './replayKpis';

/** The KPIs whose figures are compared, in the order changes are listed. */
export const RESTATED_KPIS = ['leadFunnel', 'disqualificationReasons', 'lossReasons', 'salesOutcomes'] as const;
export type RestatedKpi = (typeof RESTATED_KPIS)[number];

export interface KpiRestatementRequest extends KpiRequest {
  /** Facts recorded after this instant (UTC ISO-8601) are looked at. */
  since: string;
}

export interface KpiFigureChange {
  kpi: RestatedKpi;
  group: KpiGroupKey;
  /** The figure's field in the KPI's row; in a breakdown, the list and the field: `reasons.count`. */
  figure: string;
  /** In a breakdown, the item: a reason or stage code, a competitor (null: none named), a currency. */
  item: string | null;
  /** As text (a count, a ratio, a decimal amount in the report's currency); null when absent or undefined. */
  before: string | null;
  after: string | null;
}

export interface RestatingEvent {
  id: string;
  type: string;
  streamId: string;
  revision: number;
  occurredAt: string;
  recordedAt: string;
  actor: string;
}

export interface KpiRestatement {
  event: RestatingEvent;
  changes: KpiFigureChange[];
}

export interface KpiRestatementSources {
  /** Where the KPI fact tables are read: the API gives its report connection (on SQLite, a thread of its own). */
  readDb: SqlDatabase;
  store: EventStore;
  pipeline: Pipeline;
  /** When to step aside for the rest of the thread's work (default: every `RESTATEMENT_SLICE_MS`). */
  takeTurn?: TurnTaker;
}

/** Which restatements: the first `first` after the one `after` names (the start when omitted). */
export interface RestatementPageRequest {
  first: number;
  /** The `endCursor` of the page before. */
  after?: string;
}

export interface KpiRestatementPage {
  restatements: KpiRestatement[];
  hasNextPage: boolean;
  /** The cursor of the page's last restatement; undefined when the page is empty. */
  endCursor?: string;
}

/**
 * Milliseconds of work between turns of the event loop. The requests that wait meanwhile (a
 * capture takes well under a millisecond of this thread) are answered between slices; short, as
 * a capture waits for a slice each time it crosses the event loop (see `REPLAY_SLICE_MS`).
 */
export const RESTATEMENT_SLICE_MS = 2;

/** Every restatement, in the order their facts were recorded (for tests and scripts; the API pages). */
export const kpiRestatements = async (sources: KpiRestatementSources, request: KpiRestatementRequest): Promise<KpiRestatement[]> =>
  (await kpiRestatementPage(sources, request, { first: Infinity })).restatements;

/** A page of the restatements, in the order their facts were recorded. */
export const kpiRestatementPage = async (
  { readDb, store, pipeline, takeTurn = turnsOf(RESTATEMENT_SLICE_MS) }: KpiRestatementSources,
  request: KpiRestatementRequest,
  page: RestatementPageRequest,
): Promise<KpiRestatementPage> => {
  const cursor = page.after === undefined ? undefined : restatementCursor(page.after);
  const versions = await versionsBearingOn(readDb, request, request.since);
  // Cut by LIST, each fact counts in the lists its lead is in now, as in `kpis`.
  const copies = copiesToSum(request, request.groupBy.includes('LIST') ? await listsOfLeads(readDb) : undefined);
  const sums = new KpiSums(request, RESTATED_KPIS);
  const known = new Map<string, Step>();
  // A version takes its row's place in the sums: its predecessor's fact is taken away, its own added.
  const take = (step: Step): KpiGroups => {
    const touched: KpiGroups = new Map();
    const replaced = known.get(step.row);
    if (replaced) addGroups(touched, replaced.add(sums, -1));
    addGroups(touched, step.add(sums, 1));
    known.set(step.row, step);
    return touched;
  };
  const later: Step[] = [];
  for (const step of stepsOf(versions, copies)) {
    if (step.knownFrom <= request.since) take(step);
    else later.push(step);
    const turn = takeTurn();
    if (turn !== undefined) await turn;
  }
  later.sort(byRecording);
  // The facts before the cursor take their places in the sums; their figures are not compared.
  let next = 0;
  if (cursor !== undefined) {
    for (; next < later.length && byRecording(later[next]!, cursor) <= 0; next += 1) {
      take(later[next]!);
      const turn = takeTurn();
      if (turn !== undefined) await turn;
    }
  }
  const figures = figuresOf(sums.report(pipeline));

  const moved: Array<{ step: Step; changes: KpiFigureChange[] }> = [];
  // One restatement past the page says whether there is a next page.
  for (; next < later.length && moved.length <= page.first; next += 1) {
    const step = later[next]!;
    const touched = take(step);
    // Only the KPIs and groups it touched are computed again and compared.
    const after = figuresOf(sums.report(pipeline, touched));
    const changes: PlacedChange[] = [];
    for (const [kpi, groups] of touched) {
      for (const group of groups) {
        const id = figuresId(kpi as RestatedKpi, group);
        changes.push(...changesBetween(figures.get(id), after.get(id)));
        figures.set(id, after.get(id) ?? new Map());
      }
    }
    if (changes.length > 0) moved.push({ step, changes: changes.sort(byPlace).map(({ place: _place, ...change }) => change) });
    const turn = takeTurn();
    if (turn !== undefined) await turn;
  }

  const shown = moved.slice(0, page.first);
  const events = await eventsOf(store, shown.map(({ step }) => step));
  const last = shown.at(-1)?.step;
  return {
    restatements: shown.map(({ step, changes }) => ({ event: events.get(`${step.streamId} ${step.revision}`)!, changes })),
    hasNextPage: moved.length > page.first,
    endCursor: last && encodeCursor([last.knownFrom, last.streamId, last.revision, last.row]),
  };
};

/** Each version as a step, lead cycles first. */
function* stepsOf(versions: VersionsBearingOn, copies: Copies): Generator<Step> {
  for (const version of versions.cycles) yield cycleStep(version, copies);
  for (const version of versions.opportunities) yield opportunityStep(version, copies);
}

/** Where a step comes in the order recorded: its time, stream and revision, then its row (two rows one event made). */
type RecordingPlace = Pick<Step, 'knownFrom' | 'streamId' | 'revision' | 'row'>;

const byRecording = (a: RecordingPlace, b: RecordingPlace): number =>
  compareText(a.knownFrom, b.knownFrom) || compareText(a.streamId, b.streamId) || a.revision - b.revision || compareText(a.row, b.row);

/** The place of the restatement a cursor names, or BAD_USER_INPUT on `after`. */
const restatementCursor = (after: string): RecordingPlace => {
  const [knownFrom, streamId, revision, row] = decodeCursor(after, ['string', 'string', 'integer', 'string'], 'is not a cursor of these restatements');
  return { knownFrom: knownFrom as string, streamId: streamId as string, revision: revision as number, row: row as string };
};

const addGroups = (into: KpiGroups, groups: KpiGroups): void => {
  for (const [kpi, ofKpi] of groups) into.set(kpi, new Set([...(into.get(kpi) ?? []), ...ofKpi]));
};

// ---------------------------------------------------------------------------------------------
// Versions as facts to sum
// ---------------------------------------------------------------------------------------------

interface Step {
  /** The row the version is of. */
  row: string;
  streamId: string;
  revision: number;
  knownFrom: string;
  /** Adds the version's fact to the sums (or takes it away); the groups it touched. */
  add(sums: KpiSums, sign: Sign): KpiGroups;
}

const orUndefined = <T>(value: T | null): T | undefined => value ?? undefined;

/** The copies of a fact that are summed (`copiesToSum`). */
type Copies = ReturnType<typeof copiesToSum>;

/** Each copy of a fact added to the sums (or taken away); the groups they touched. */
const addCopies = <Fact>(copies: readonly Fact[], add: (copy: Fact) => KpiGroups): KpiGroups => {
  const touched: KpiGroups = new Map();
  for (const copy of copies) addGroups(touched, add(copy));
  return touched;
};

const cycleStep = (version: LeadCycleVersion, copies: Copies): Step => {
  const fact: LeadCycleFact = {
    leadId: version.leadId,
    cycle: version.cycle,
    capturedAt: version.capturedAt,
    contactedAt: orUndefined(version.contactedAt),
    reachedMql: version.mqlAt !== null,
    reachedSql: version.sqlAt !== null,
    disqualifiedAt: orUndefined(version.disqualifiedAt),
    disqualificationReason: orUndefined(version.disqualificationReason),
    convertedAt: orUndefined(version.convertedAt),
    source: version.source,
    campaign: version.campaign,
    ownerId: version.ownerId,
    origin: version.origin,
  };
  return {
    row: JSON.stringify(['cycle', version.leadId, version.cycle]),
    streamId: leadStreamId(version.leadId),
    revision: version.revision,
    knownFrom: version.knownFrom,
    add: (sums, sign) => addCopies(copies(fact), (copy) => sums.addCycle(copy, sign)),
  };
};

const opportunityStep = (version: OpportunityVersion, copies: Copies): Step => {
  const fact: OpportunityFact = {
    opportunityId: version.opportunityId,
    leadId: version.leadId,
    openedAt: version.openedAt,
    status: version.status,
    stage: version.stage,
    probability: version.probability,
    amount: version.amount,
    closedAt: orUndefined(version.closedAt),
    lossReason: orUndefined(version.lossReason),
    competitor: orUndefined(version.competitor),
    // Stays count in the time in stage only, which is not compared (nor summed).
    stays: [],
    source: version.source,
    campaign: version.campaign,
    ownerId: version.ownerId,
    origin: version.origin,
  };
  return {
    row: JSON.stringify(['opportunity', version.opportunityId]),
    streamId: opportunityStreamId(version.opportunityId),
    revision: version.revision,
    knownFrom: version.knownFrom,
    add: (sums, sign) => addCopies(copies(fact), (copy) => sums.addOpportunity(copy, sign)),
  };
};

/** The events that made the steps, by stream and revision: each stream read once, from the first needed. */
const eventsOf = async (store: EventStore, steps: readonly Step[]): Promise<Map<string, RestatingEvent>> => {
  const revisions = new Map<string, number[]>();
  for (const { streamId, revision } of steps) revisions.set(streamId, [...(revisions.get(streamId) ?? []), revision]);
  const events = new Map<string, RestatingEvent>();
  for (const [streamId, wanted] of revisions) {
    const [first, last] = [Math.min(...wanted), Math.max(...wanted)];
    for (const event of await store.readStream(streamId, { fromRevision: first, maxCount: last - first + 1 })) {
      events.set(`${streamId} ${event.revision}`, {
        id: event.id,
        type: event.type,
        streamId: event.streamId,
        revision: event.revision,
        occurredAt: event.metadata.occurredAt,
        recordedAt: event.metadata.recordedAt,
        actor: event.metadata.actor,
      });
    }
    for (const revision of wanted) {
      if (!events.has(`${streamId} ${revision}`)) throw new Error(`${streamId} has no event at revision ${revision}`);
    }
  }
  return events;
};

// ---------------------------------------------------------------------------------------------
// Figures of KPI rows, compared
// ---------------------------------------------------------------------------------------------

interface Figure {
  kpi: RestatedKpi;
  group: KpiGroupKey;
  figure: string;
  item: string | null;
  value: string | null;
  /** Where the figure comes in its KPI row, to list changes in that order. */
  place: number;
}

type Figures = Map<string, Figure>;

const valueOf = (value: number | Money | null): string | null =>
  value === null ? null : typeof value === 'number' ? String(value) : value.amount;

/** Where a KPI row's figures are kept: by KPI and group. */
const figuresId = (kpi: RestatedKpi, groupId: string): string => `${kpi} ${groupId}`;

/** Identifies one figure of a report: its KPI, group, field and item. */
export const figureId = (figure: Pick<KpiFigureChange, 'kpi' | 'group' | 'figure' | 'item'>): string =>
  JSON.stringify([figure.kpi, groupKeyId(figure.group), figure.figure, figure.item]);

/** Each KPI row's figures (by KPI and group), each keyed by `figureId`. */
const figuresOf = (report: KpiReport): Map<string, Figures> => {
  const rows = new Map<string, Figures>();
  const put = (kpi: RestatedKpi, group: KpiGroupKey, figure: string, item: string | null, value: number | Money | null) => {
    const id = figuresId(kpi, groupKeyId(group));
    const figures = rows.get(id) ?? new Map<string, Figure>();
    rows.set(id, figures);
    figures.set(figureId({ kpi, group, figure, item }), { kpi, group, figure, item, value: valueOf(value), place: figures.size });
  };
  const fields = <Row>(kpi: RestatedKpi, row: Row & { group: KpiGroupKey }, names: ReadonlyArray<keyof Row>) => {
    for (const name of names) put(kpi, row.group, String(name), null, row[name] as number | Money | null);
  };
  const slices = (
    kpi: RestatedKpi,
    group: KpiGroupKey,
    list: string,
    items: ReadonlyArray<{ item: string | null; count: number; amount?: Money }>,
  ) => {
    for (const { item, count, amount } of items) {
      put(kpi, group, `${list}.count`, item, count);
      if (amount !== undefined) put(kpi, group, `${list}.amount`, item, amount);
    }
  };

  for (const row of report.leadFunnel) {
    fields('leadFunnel', row, ['captured', 'contacted', 'reachedMql', 'reachedSql', 'disqualified', 'converted',
      'contactRate', 'mqlRate', 'sqlRate', 'conversionRatio']);
  }
  for (const row of report.disqualificationReasons) {
    fields('disqualificationReasons', row, ['total']);
    slices('disqualificationReasons', row.group, 'reasons', row.reasons.map(({ code, count }) => ({ item: code, count })));
  }
  for (const row of report.lossReasons) {
    fields('lossReasons', row, ['total', 'amount']);
    for (const money of row.amountByCurrency) put('lossReasons', row.group, 'amountByCurrency', money.currency, money);
    slices('lossReasons', row.group, 'reasons', row.reasons.map(({ code, ...slice }) => ({ item: code, ...slice })));
    slices('lossReasons', row.group, 'competitors', row.competitors.map(({ competitor, ...slice }) => ({ item: competitor, ...slice })));
    slices('lossReasons', row.group, 'stages', row.stages.map(({ stage, ...slice }) => ({ item: stage, ...slice })));
  }
  for (const row of report.salesOutcomes) {
    fields('salesOutcomes', row, ['closed', 'won', 'lost', 'winRate', 'wonAmount', 'averageWonAmount',
      'averageSalesCycleDays', 'averageWonSalesCycleDays']);
  }
  return rows;
};

/** Every figure of the compared KPIs in a report, by `figureId`. */
export const figureValues = (report: KpiReport): Map<string, string | null> =>
  new Map([...figuresOf(report).values()].flatMap((figures) => [...figures].map(([id, { value }]) => [id, value] as const)));

type PlacedChange = KpiFigureChange & { place: number };

const changesBetween = (before: Figures | undefined, after: Figures | undefined): PlacedChange[] => {
  const changes: PlacedChange[] = [];
  for (const id of new Set([...(before?.keys() ?? []), ...(after?.keys() ?? [])])) {
    const [was, is] = [before?.get(id), after?.get(id)];
    if ((was?.value ?? null) === (is?.value ?? null)) continue;
    const { kpi, group, figure, item, place } = (is ?? was)!;
    changes.push({ kpi, group, figure, item, before: was?.value ?? null, after: is?.value ?? null, place });
  }
  return changes;
};

const byPlace = (a: PlacedChange, b: PlacedChange): number =>
  RESTATED_KPIS.indexOf(a.kpi) - RESTATED_KPIS.indexOf(b.kpi) || compareGroupKeys(a.group, b.group) || a.place - b.place;

const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
