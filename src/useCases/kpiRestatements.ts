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
 */
import type { EventStore } from '../core/eventStore';
import { compareGroupKeys, groupKeyId, type KpiGroupKey } from '../domain/insights/definitions';
import type { KpiReport, KpiRequest } from '../domain/insights/kpis';
import { leadStreamId } from '../domain/leads/lead';
import { opportunityStreamId } from '../domain/opportunities/events';
import type { Pipeline } from '../domain/opportunities/pipeline';
import type { Money } from '../domain/values';
import { versionsBearingOn, type LeadCycleVersion, type OpportunityVersion } from '../../projections/kpis/kpiVersions';
import type { SqlDatabase } from '../../projections/sqlDatabase';
import type { LeadCycleFact, OpportunityFact } from './replayFacts';
import { KpiSums, type Sign } from './replayKpis';

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
  /** The read database, where the KPI fact tables are. */
  readDb: SqlDatabase;
  store: EventStore;
  pipeline: Pipeline;
}

/** The restatements in the order their facts were recorded. */
export const kpiRestatements = async (
  { readDb, store, pipeline }: KpiRestatementSources,
  request: KpiRestatementRequest,
): Promise<KpiRestatement[]> => {
  const versions = await versionsBearingOn(readDb, request, request.since);
  const steps = [
    ...versions.cycles.map((version) => cycleStep(version)),
    ...versions.opportunities.map((version) => opportunityStep(version)),
  ];
  const sums = new KpiSums(request);
  const known = new Map<string, Step>();
  for (const step of steps.filter((step) => step.knownFrom <= request.since)) {
    step.add(sums, 1);
    known.set(step.row, step);
  }
  const figures = figuresByGroup(sums.report(pipeline));
  const later = steps
    .filter((step) => step.knownFrom > request.since)
    .sort((a, b) => compareText(a.knownFrom, b.knownFrom) || compareText(a.streamId, b.streamId) || a.revision - b.revision);

  const moved: Array<{ step: Step; changes: KpiFigureChange[] }> = [];
  for (const step of later) {
    const touched = new Set<string>();
    const replaced = known.get(step.row);
    if (replaced) for (const group of replaced.add(sums, -1)) touched.add(group);
    for (const group of step.add(sums, 1)) touched.add(group);
    known.set(step.row, step);
    const after = figuresByGroup(sums.report(pipeline, touched));
    const changes: PlacedChange[] = [];
    for (const group of touched) {
      changes.push(...changesBetween(figures.get(group), after.get(group)));
      figures.set(group, after.get(group) ?? new Map());
    }
    if (changes.length > 0) moved.push({ step, changes: changes.sort(byPlace).map(({ place: _place, ...change }) => change) });
  }

  const restatements: KpiRestatement[] = [];
  for (const { step, changes } of moved) restatements.push({ event: await eventOf(store, step), changes });
  return restatements;
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
  add(sums: KpiSums, sign: Sign): Set<string>;
}

const orUndefined = <T>(value: T | null): T | undefined => value ?? undefined;

const cycleStep = (version: LeadCycleVersion): Step => {
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
  };
  return {
    row: JSON.stringify(['cycle', version.leadId, version.cycle]),
    streamId: leadStreamId(version.leadId),
    revision: version.revision,
    knownFrom: version.knownFrom,
    add: (sums, sign) => sums.addCycle(fact, sign),
  };
};

const opportunityStep = (version: OpportunityVersion): Step => {
  const fact: OpportunityFact = {
    opportunityId: version.opportunityId,
    openedAt: version.openedAt,
    status: version.status,
    stage: version.stage,
    probability: version.probability,
    amount: version.amount,
    closedAt: orUndefined(version.closedAt),
    lossReason: orUndefined(version.lossReason),
    competitor: orUndefined(version.competitor),
    // Stays count in the time in stage only, which is not compared.
    stays: [],
    source: version.source,
    campaign: version.campaign,
    ownerId: version.ownerId,
  };
  return {
    row: JSON.stringify(['opportunity', version.opportunityId]),
    streamId: opportunityStreamId(version.opportunityId),
    revision: version.revision,
    knownFrom: version.knownFrom,
    add: (sums, sign) => sums.addOpportunity(fact, sign),
  };
};

const eventOf = async (store: EventStore, step: Step): Promise<RestatingEvent> => {
  const [event] = await store.readStream(step.streamId, { fromRevision: step.revision, maxCount: 1 });
  if (event === undefined) throw new Error(`${step.streamId} has no event at revision ${step.revision}`);
  return {
    id: event.id,
    type: event.type,
    streamId: event.streamId,
    revision: event.revision,
    occurredAt: event.metadata.occurredAt,
    recordedAt: event.metadata.recordedAt,
    actor: event.metadata.actor,
  };
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
  /** Where the figure comes in its group's report, to list changes in that order. */
  place: number;
}

type Figures = Map<string, Figure>;

const valueOf = (value: number | Money | null): string | null =>
  value === null ? null : typeof value === 'number' ? String(value) : value.amount;

/** Each group's figures (by the group's id), each keyed by KPI, figure and item. */
export const figuresByGroup = (report: KpiReport): Map<string, Figures> => {
  const groups = new Map<string, Figures>();
  const put = (kpi: RestatedKpi, group: KpiGroupKey, figure: string, item: string | null, value: number | Money | null) => {
    const id = groupKeyId(group);
    const figures = groups.get(id) ?? new Map<string, Figure>();
    groups.set(id, figures);
    figures.set(JSON.stringify([kpi, figure, item]), { kpi, group, figure, item, value: valueOf(value), place: figures.size });
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
  return groups;
};

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
