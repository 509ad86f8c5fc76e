/**
 * The pipeline report's arithmetic: open opportunities by stage, with count, amount and
 * probability-weighted amount, exact in BigInt units and kept per currency. Pure: the
 * opportunities read model, the pipeline history and the KPIs feed it their rows.
 */
import type { Money } from '../values';
import { fromUnits, toUnits, weightedUnits } from './money';
import type { Pipeline } from './pipeline';

export interface CurrencyTotal {
  currency: string;
  /** Opportunities with an amount in this currency. */
  count: number;
  amount: string;
  weightedAmount: string;
}

export interface PipelineTotals {
  /** Every open opportunity counted, with or without an amount. */
  count: number;
  /** In the report's currency: opportunities in other currencies are in `byCurrency` only. */
  amount: Money;
  weightedAmount: Money;
  /** One entry per currency present, alphabetically. */
  byCurrency: CurrencyTotal[];
}

export interface PipelineStageSummary extends PipelineTotals {
  stage: string;
  label: string;
  order: number;
  /** The stage's default; null for a stage no longer in the pipeline that still holds opportunities. */
  probability: number | null;
}

export interface PipelineSummary extends PipelineTotals {
  currency: string;
  /** Every pipeline stage in order, empty ones too; stages since removed from the pipeline last. */
  stages: PipelineStageSummary[];
}

/** An open opportunity as the pipeline report counts it. */
export interface PipelineRow {
  stage: string;
  amount: string | null;
  currency: string | null;
  probability: number;
  /** How many opportunities the row sums up (their amounts added, all at this probability); 1 when absent. */
  count?: number;
}

/** The pipeline report of any set of open opportunities (the KPIs cut it by source, campaign...). */
export const summarisePipeline = (
  rows: readonly PipelineRow[],
  pipeline: Pipeline,
  currency: string = pipeline.reportingCurrency,
): PipelineSummary => {
  // One pass: each row's amount parsed and weighted once, into its stage's sums; the report's
  // totals are the stages' sums added up (every row is in exactly one stage). The pipeline query
  // reads every open opportunity, thousands of them on a large history.
  const byStage = new Map<string, Sums>();
  for (const row of rows) {
    let sums = byStage.get(row.stage);
    if (sums === undefined) byStage.set(row.stage, (sums = emptySums()));
    addRow(sums, row);
  }
  const lastOrder = pipeline.stages.at(-1)?.order ?? 0;
  const removedStages = [...byStage.keys()].filter((stage) => !pipeline.has(stage)).sort();
  const stages = [
    ...pipeline.stages.map((stage) => ({ ...stage, probability: stage.probability as number | null })),
    ...removedStages.map((code, index) => ({ code, label: code, order: lastOrder + index + 1, probability: null })),
  ].map((stage) => ({
    stage: stage.code,
    label: stage.label,
    order: stage.order,
    probability: stage.probability,
    ...totalsOf(byStage.get(stage.code) ?? emptySums(), currency),
  }));
  const all = emptySums();
  for (const sums of byStage.values()) addSums(all, sums);
  return { currency, stages, ...totalsOf(all, currency) };
};

/** Exact sums of a set of rows: every row counted, and per currency those with an amount. */
interface Sums {
  count: number;
  byCurrency: Map<string, { count: number; amount: bigint; weighted: bigint }>;
}

const emptySums = (): Sums => ({ count: 0, byCurrency: new Map() });

const addRow = (sums: Sums, row: PipelineRow): void => {
  const count = Number(row.count ?? 1);
  sums.count += count;
  if (row.amount === null || row.currency === null) return;
  const units = toUnits(row.amount);
  const sum = sums.byCurrency.get(row.currency);
  const weighted = weightedUnits(units, Number(row.probability));
  if (sum === undefined) sums.byCurrency.set(row.currency, { count, amount: units, weighted });
  else {
    sum.count += count;
    sum.amount += units;
    sum.weighted += weighted;
  }
};

const addSums = (into: Sums, from: Sums): void => {
  into.count += from.count;
  for (const [code, sum] of from.byCurrency) {
    const known = into.byCurrency.get(code);
    if (known === undefined) into.byCurrency.set(code, { ...sum });
    else {
      known.count += sum.count;
      known.amount += sum.amount;
      known.weighted += sum.weighted;
    }
  }
};

const totalsOf = (sums: Sums, currency: string): PipelineTotals => {
  const inCurrency = sums.byCurrency.get(currency) ?? { amount: 0n, weighted: 0n };
  return {
    count: sums.count,
    amount: { amount: fromUnits(inCurrency.amount), currency },
    weightedAmount: { amount: fromUnits(inCurrency.weighted), currency },
    byCurrency: [...sums.byCurrency.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([code, sum]) => ({
        currency: code,
        count: sum.count,
        amount: fromUnits(sum.amount),
        weightedAmount: fromUnits(sum.weighted),
      })),
  };
};
