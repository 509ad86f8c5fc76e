/**
 * The KPIs' shapes, and how per-group aggregates become them. Both paths, the read models'
 * SQL and the replay's fold, first reduce facts to the same aggregate cells (counts and exact
 * sums per group and value); the shares, averages and order are then derived here, once.
 */
import type { Money } from '../values';
import type { Pipeline } from '../opportunities/pipeline';
import { summarisePipeline, type PipelineRow, type PipelineSummary } from '../opportunities/pipelineReport';
import {
  averageDays,
  averageMoney,
  compareGroupKeys,
  groupKeyId,
  moneyOf,
  ratio,
  unitsRatio,
  type KpiDimension,
  type KpiGroupKey,
  type KpiPeriod,
} from './definitions';

export interface KpiRequest extends KpiPeriod {
  groupBy: readonly KpiDimension[];
  /** The currency amounts are reported in; other currencies only appear in `amountByCurrency`. */
  currency: string;
}

// ---------------------------------------------------------------------------------------------
// Aggregate cells: what each path computes
// ---------------------------------------------------------------------------------------------

export interface FunnelCell {
  key: KpiGroupKey;
  captured: number;
  /** Reached at least once in the cycle (`reachesLead`). */
  contacted: number;
  reachedMql: number;
  reachedSql: number;
  disqualified: number;
  converted: number;
}

export interface ReasonCell {
  key: KpiGroupKey;
  code: string;
  count: number;
}

/** The facts of one group that share a value (a reason, a stage...) and a currency. */
export interface AmountCell {
  key: KpiGroupKey;
  value: string | null;
  /** Null for facts without an amount: they are counted, but add no money. */
  currency: string | null;
  count: number;
  /** The sum of their amounts, in `toUnits`' scale. */
  units: bigint;
}

export interface OutcomeCell extends AmountCell {
  value: 'WON' | 'LOST';
  /** The sum of their sales cycles (opened to closed). */
  cycleMs: number;
}

export interface StageTimeCell {
  key: KpiGroupKey;
  stage: string;
  stays: number;
  totalMs: number;
}

export interface PipelineCell {
  key: KpiGroupKey;
  rows: PipelineRow[];
}

export interface LossCells {
  byReason: AmountCell[];
  byCompetitor: AmountCell[];
  byStage: AmountCell[];
}

// ---------------------------------------------------------------------------------------------
// The KPIs
// ---------------------------------------------------------------------------------------------

export interface LeadFunnelKpi extends Omit<FunnelCell, 'key'> {
  group: KpiGroupKey;
  contactRate: number | null;
  mqlRate: number | null;
  sqlRate: number | null;
  conversionRatio: number | null;
}

export interface ReasonShare {
  code: string;
  count: number;
  share: number | null;
}

export interface DisqualificationReasonKpi {
  group: KpiGroupKey;
  total: number;
  reasons: ReasonShare[];
}

export interface AmountShare {
  count: number;
  share: number | null;
  amount: Money;
  amountShare: number | null;
  amountByCurrency: Money[];
}

export interface LossReasonKpi {
  group: KpiGroupKey;
  total: number;
  amount: Money;
  amountByCurrency: Money[];
  reasons: Array<AmountShare & { code: string }>;
  competitors: Array<AmountShare & { competitor: string | null }>;
  stages: Array<AmountShare & { stage: string }>;
}

export interface SalesOutcomeKpi {
  group: KpiGroupKey;
  closed: number;
  won: number;
  lost: number;
  winRate: number | null;
  wonAmount: Money;
  averageWonAmount: Money | null;
  averageSalesCycleDays: number | null;
  averageWonSalesCycleDays: number | null;
}

export interface StageTime {
  stage: string;
  stays: number;
  totalDays: number;
  averageDays: number | null;
}

export interface StageTimeKpi {
  group: KpiGroupKey;
  stages: StageTime[];
}

export interface PipelineValueKpi {
  group: KpiGroupKey;
  pipeline: PipelineSummary;
}

export interface KpiReport {
  leadFunnel: LeadFunnelKpi[];
  disqualificationReasons: DisqualificationReasonKpi[];
  lossReasons: LossReasonKpi[];
  salesOutcomes: SalesOutcomeKpi[];
  timeInStage: StageTimeKpi[];
  pipelineValue: PipelineValueKpi[];
}

// ---------------------------------------------------------------------------------------------
// From cells to KPIs
// ---------------------------------------------------------------------------------------------

const byGroup = <Cell extends { key: KpiGroupKey }>(cells: readonly Cell[]): Array<[KpiGroupKey, Cell[]]> => {
  const groups = new Map<string, { key: KpiGroupKey; cells: Cell[] }>();
  for (const cell of cells) {
    const id = groupKeyId(cell.key);
    const group = groups.get(id) ?? { key: cell.key, cells: [] };
    group.cells.push(cell);
    groups.set(id, group);
  }
  return [...groups.values()].sort((a, b) => compareGroupKeys(a.key, b.key)).map((g) => [g.key, g.cells]);
};

/** Most frequent first; ties in value order, an absent value first. */
const bySizeThenValue = <T extends { count: number }>(value: (item: T) => string | null) => (a: T, b: T) => {
  if (a.count !== b.count) return b.count - a.count;
  const [x, y] = [value(a), value(b)];
  return x === y ? 0 : x === null ? -1 : y === null ? 1 : x < y ? -1 : 1;
};

export const leadFunnelOf = (cells: readonly FunnelCell[]): LeadFunnelKpi[] =>
  byGroup(cells).map(([group, [cell]]) => ({
    group,
    captured: cell!.captured,
    contacted: cell!.contacted,
    reachedMql: cell!.reachedMql,
    reachedSql: cell!.reachedSql,
    disqualified: cell!.disqualified,
    converted: cell!.converted,
    contactRate: ratio(cell!.contacted, cell!.captured),
    mqlRate: ratio(cell!.reachedMql, cell!.captured),
    sqlRate: ratio(cell!.reachedSql, cell!.captured),
    conversionRatio: ratio(cell!.converted, cell!.captured),
  }));

export const disqualificationReasonsOf = (cells: readonly ReasonCell[]): DisqualificationReasonKpi[] =>
  byGroup(cells).map(([group, reasons]) => {
    const total = reasons.reduce((sum, cell) => sum + cell.count, 0);
    return {
      group,
      total,
      reasons: reasons
        .map(({ code, count }) => ({ code, count, share: ratio(count, total) }))
        .sort(bySizeThenValue((r) => r.code)),
    };
  });

interface AmountTotals {
  count: number;
  units: Map<string, bigint>;
}

const totalsOf = (cells: readonly AmountCell[]): AmountTotals => {
  const units = new Map<string, bigint>();
  for (const cell of cells) {
    if (cell.currency !== null) units.set(cell.currency, (units.get(cell.currency) ?? 0n) + cell.units);
  }
  return { count: cells.reduce((sum, cell) => sum + cell.count, 0), units };
};

const moneyByCurrency = (totals: AmountTotals): Money[] =>
  [...totals.units.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([code, units]) => moneyOf(units, code));

/** Each value's share of the group, by count and by amount in the report's currency. */
const sharesOf = (cells: readonly AmountCell[], currency: string) => {
  const total = totalsOf(cells);
  const totalUnits = total.units.get(currency) ?? 0n;
  const values = new Map<string | null, AmountCell[]>();
  for (const cell of cells) values.set(cell.value, [...(values.get(cell.value) ?? []), cell]);
  const slices = [...values.entries()].map(([value, ofValue]) => {
    const totals = totalsOf(ofValue);
    const units = totals.units.get(currency) ?? 0n;
    return {
      value,
      count: totals.count,
      share: ratio(totals.count, total.count),
      amount: moneyOf(units, currency),
      amountShare: unitsRatio(units, totalUnits),
      amountByCurrency: moneyByCurrency(totals),
    };
  });
  return { total, slices: slices.sort(bySizeThenValue((s) => s.value)) };
};

export const lossReasonsOf = (cells: LossCells, currency: string): LossReasonKpi[] => {
  const competitors = new Map(byGroup(cells.byCompetitor).map(([key, group]) => [groupKeyId(key), group]));
  const stages = new Map(byGroup(cells.byStage).map(([key, group]) => [groupKeyId(key), group]));
  return byGroup(cells.byReason).map(([group, reasonCells]) => {
    const reasons = sharesOf(reasonCells, currency);
    const id = groupKeyId(group);
    return {
      group,
      total: reasons.total.count,
      amount: moneyOf(reasons.total.units.get(currency) ?? 0n, currency),
      amountByCurrency: moneyByCurrency(reasons.total),
      reasons: reasons.slices.map(({ value, ...slice }) => ({ code: value!, ...slice })),
      competitors: sharesOf(competitors.get(id) ?? [], currency).slices.map(({ value, ...slice }) => ({
        competitor: value,
        ...slice,
      })),
      stages: sharesOf(stages.get(id) ?? [], currency).slices.map(({ value, ...slice }) => ({ stage: value!, ...slice })),
    };
  });
};

export const salesOutcomesOf = (cells: readonly OutcomeCell[], currency: string): SalesOutcomeKpi[] =>
  byGroup(cells).map(([group, outcomes]) => {
    const of = (status: 'WON' | 'LOST') => outcomes.filter((cell) => cell.value === status);
    const sum = (list: readonly OutcomeCell[], field: 'count' | 'cycleMs') =>
      list.reduce((total, cell) => total + cell[field], 0);
    const [won, lost] = [of('WON'), of('LOST')];
    const wonInCurrency = won.filter((cell) => cell.currency === currency);
    const wonUnits = wonInCurrency.reduce((total, cell) => total + cell.units, 0n);
    const closed = sum(outcomes, 'count');
    return {
      group,
      closed,
      won: sum(won, 'count'),
      lost: sum(lost, 'count'),
      winRate: ratio(sum(won, 'count'), closed),
      wonAmount: moneyOf(wonUnits, currency),
      averageWonAmount: averageMoney(wonUnits, sum(wonInCurrency, 'count'), currency),
      averageSalesCycleDays: averageDays(sum(outcomes, 'cycleMs'), closed),
      averageWonSalesCycleDays: averageDays(sum(won, 'cycleMs'), sum(won, 'count')),
    };
  });

/** Stages in pipeline order; stages since removed from the pipeline last, by code. */
const stageOrder = (pipeline: Pipeline) => (a: string, b: string) => {
  const [x, y] = [pipeline.stage(a)?.order ?? Infinity, pipeline.stage(b)?.order ?? Infinity];
  return x !== y ? x - y : a < b ? -1 : a > b ? 1 : 0;
};

export const timeInStageOf = (cells: readonly StageTimeCell[], pipeline: Pipeline): StageTimeKpi[] =>
  byGroup(cells).map(([group, stages]) => ({
    group,
    stages: stages
      .sort((a, b) => stageOrder(pipeline)(a.stage, b.stage))
      .map(({ stage, stays, totalMs }) => ({
        stage,
        stays,
        totalDays: averageDays(totalMs, 1)!,
        averageDays: averageDays(totalMs, stays),
      })),
  }));

export const pipelineValueOf = (cells: readonly PipelineCell[], pipeline: Pipeline, currency: string): PipelineValueKpi[] =>
  byGroup(cells).map(([group, [cell]]) => ({ group, pipeline: summarisePipeline(cell!.rows, pipeline, currency) }));
