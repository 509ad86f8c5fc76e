/** From the KPIs' plain shapes to GraphQL's: labels for codes, undefined for null. */
import type { KpiGroupKey } from '../../domain/insights/definitions';
import type * as kpis from '../../domain/insights/kpis';
import type { LeadSource } from '../../domain/leads/lead';
import type { PipelineSummary } from '../../domain/opportunities/pipelineReport';
import type { GraphQLContext } from '../shared/context';
import type {
  DisqualificationReasonKpi,
  KpiGroup,
  LeadFunnelKpi,
  LossReasonKpi,
  PipelineValueKpi,
  SalesOutcomeKpi,
  StageTimeKpi,
} from '../types/insights';
import type { PipelineReport } from '../types/opportunities';

const orUndefined = <T>(value: T | null): T | undefined => value ?? undefined;

export const groupOf = (key: KpiGroupKey): KpiGroup => ({
  source: orUndefined(key.source) as LeadSource | undefined,
  campaign: orUndefined(key.campaign),
  ownerId: orUndefined(key.ownerId),
  month: orUndefined(key.month),
  listId: orUndefined(key.listId),
  origin: orUndefined(key.origin),
});

const sliceOf = ({ count, share, amount, amountShare, amountByCurrency }: kpis.AmountShare) => ({
  count,
  share: orUndefined(share),
  amount,
  amountShare: orUndefined(amountShare),
  amountByCurrency,
});

const reportOf = (summary: PipelineSummary): PipelineReport => {
  const byCurrency = (totals: PipelineSummary['byCurrency']) =>
    totals.map(({ currency, count, amount, weightedAmount }) => ({
      currency,
      count,
      amount: { amount, currency },
      weightedAmount: { amount: weightedAmount, currency },
    }));
  return {
    ...summary,
    byCurrency: byCurrency(summary.byCurrency),
    stages: summary.stages.map((stage) => ({
      ...stage,
      probability: orUndefined(stage.probability),
      byCurrency: byCurrency(stage.byCurrency),
    })),
  };
};

export const present = ({ app }: Pick<GraphQLContext, 'app'>) => {
  const disqualification = (code: string) => ({ code, label: app.catalogs.disqualificationReasons.label(code) ?? code });
  const loss = (code: string) => ({ code, label: app.catalogs.lossReasons.label(code) ?? code });
  const stageLabel = (code: string) => app.pipeline.stage(code)?.label ?? code;
  return {
    leadFunnel: (rows: kpis.LeadFunnelKpi[]): LeadFunnelKpi[] =>
      rows.map((row) => ({
        ...row,
        group: groupOf(row.group),
        contactRate: orUndefined(row.contactRate),
        mqlRate: orUndefined(row.mqlRate),
        sqlRate: orUndefined(row.sqlRate),
        conversionRatio: orUndefined(row.conversionRatio),
      })),
    disqualificationReasons: (rows: kpis.DisqualificationReasonKpi[]): DisqualificationReasonKpi[] =>
      rows.map((row) => ({
        group: groupOf(row.group),
        total: row.total,
        reasons: row.reasons.map(({ code, count, share }) => ({
          reason: disqualification(code),
          count,
          share: orUndefined(share),
        })),
      })),
    lossReasons: (rows: kpis.LossReasonKpi[]): LossReasonKpi[] =>
      rows.map((row) => ({
        group: groupOf(row.group),
        total: row.total,
        amount: row.amount,
        amountByCurrency: row.amountByCurrency,
        reasons: row.reasons.map((slice) => ({ ...sliceOf(slice), reason: loss(slice.code) })),
        competitors: row.competitors.map((slice) => ({ ...sliceOf(slice), competitor: orUndefined(slice.competitor) })),
        stages: row.stages.map((slice) => ({ ...sliceOf(slice), stage: slice.stage, label: stageLabel(slice.stage) })),
      })),
    salesOutcomes: (rows: kpis.SalesOutcomeKpi[]): SalesOutcomeKpi[] =>
      rows.map((row) => ({
        ...row,
        group: groupOf(row.group),
        winRate: orUndefined(row.winRate),
        averageWonAmount: orUndefined(row.averageWonAmount),
        averageSalesCycleDays: orUndefined(row.averageSalesCycleDays),
        averageWonSalesCycleDays: orUndefined(row.averageWonSalesCycleDays),
      })),
    timeInStage: (rows: kpis.StageTimeKpi[]): StageTimeKpi[] =>
      rows.map((row) => ({
        group: groupOf(row.group),
        stages: row.stages.map((stage) => ({
          ...stage,
          label: stageLabel(stage.stage),
          averageDays: orUndefined(stage.averageDays),
        })),
      })),
    pipelineValue: (rows: kpis.PipelineValueKpi[]): PipelineValueKpi[] =>
      rows.map((row) => ({ group: groupOf(row.group), pipeline: reportOf(row.pipeline) })),
  };
};
