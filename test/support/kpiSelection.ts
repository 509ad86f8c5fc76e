/** Every section and figure of the `kpis` (and `retrospective`) report, for tests that compare whole reports. */
const SLICE = 'count share amount { amount currency } amountShare';

export const KPI_SELECTION = `
  from to groupBy currency
  leadFunnel { group { source campaign ownerId month } captured contacted reachedMql reachedSql disqualified
               converted contactRate mqlRate sqlRate conversionRatio }
  disqualificationReasons { group { source campaign ownerId month } total reasons { reason { code label } count share } }
  lossReasons { group { source campaign ownerId month } total amount { amount currency }
                reasons { reason { code } ${SLICE} } competitors { competitor ${SLICE} } stages { stage label ${SLICE} } }
  salesOutcomes { group { source campaign ownerId month } closed won lost winRate wonAmount { amount }
                  averageWonAmount { amount } averageSalesCycleDays averageWonSalesCycleDays }
  timeInStage { group { source ownerId month } stages { stage label stays totalDays averageDays } }
  pipelineValue { group { source ownerId month } pipeline { count amount { amount } weightedAmount { amount }
                  stages { stage count amount { amount } weightedAmount { amount } } } }`;
