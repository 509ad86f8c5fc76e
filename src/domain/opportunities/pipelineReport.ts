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
  const lastOrder = pipeline.stages.at(-1)?.order ?? 0;
  const removedStages = [...new Set(rows.map((row) => row.stage).filter((stage) => !pipeline.has(stage)))].sort();
  const stages = [
    ...pipeline.stages.map((stage) => ({ ...stage, probability: stage.probability as number | null })),
    ...removedStages.map((code, index) => ({ code, label: code, order: lastOrder + index + 1, probability: null })),
  ].map((stage) => ({
    stage: stage.code,
    label: stage.label,
    order: stage.order,
    probability: stage.probability,
    ...totalsOf(rows.filter((row) => row.stage === stage.code), currency),
  }));
  return { currency, stages, ...totalsOf(rows, currency) };
};

const totalsOf = (
  rows: ReadonlyArray<{ amount: string | null; currency: string | null; probability: number; count?: number }>,
  currency: string,
): PipelineTotals => {
  const sums = new Map<string, { count: number; amount: bigint; weighted: bigint }>();
  for (const row of rows) {
    if (row.amount === null || row.currency === null) continue;
    const units = toUnits(row.amount);
    const sum = sums.get(row.currency) ?? { count: 0, amount: 0n, weighted: 0n };
    sums.set(row.currency, {
      count: sum.count + Number(row.count ?? 1),
      amount: sum.amount + units,
      weighted: sum.weighted + weightedUnits(units, Number(row.probability)),
    });
  }
  const inCurrency = sums.get(currency) ?? { amount: 0n, weighted: 0n };
  return {
    count: rows.reduce((total, row) => total + Number(row.count ?? 1), 0),
    amount: { amount: fromUnits(inCurrency.amount), currency },
    weightedAmount: { amount: fromUnits(inCurrency.weighted), currency },
    byCurrency: [...sums.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([code, sum]) => ({
        currency: code,
        count: sum.count,
        amount: fromUnits(sum.amount),
        weightedAmount: fromUnits(sum.weighted),
      })),
  };
};
