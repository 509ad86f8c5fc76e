// The GraphQL documents the dashboard sends, one per section, so that a section the token's
// roles may not read fails alone. With `knownAt`, the KPI sections ask `retrospective` (the same
// KPIs replayed from the log, counting only the events recorded by then); `kpis` has no knownAt.

const GROUP = 'group { source campaign ownerId month }';
const MONEY = 'amount currency';
const SLICE = `count share amount { ${MONEY} } amountShare`;

const kpiFields = {
  funnel: `leadFunnel { ${GROUP} captured contacted reachedMql reachedSql converted disqualified conversionRatio contactRate mqlRate sqlRate }`,
  disqualifications: `disqualificationReasons { ${GROUP} total reasons { reason { code label } count share } }`,
  losses: `lossReasons { ${GROUP} total amount { ${MONEY} }
    reasons { reason { code label } ${SLICE} }
    competitors { competitor ${SLICE} }
    stages { stage label ${SLICE} } }`,
  outcomes: `salesOutcomes { ${GROUP} closed won lost winRate averageSalesCycleDays averageWonSalesCycleDays wonAmount { ${MONEY} } }`,
};

/** `kpis(from, to, groupBy)`, or `retrospective(from, to, knownAt, groupBy)` when knownAt is set. */
export const kpiQuery = (part, { knownAt }) =>
  knownAt
    ? `query DashboardRetrospective($from: DateTime!, $to: DateTime!, $groupBy: [KpiDimension!], $knownAt: DateTime) {
        report: retrospective(from: $from, to: $to, groupBy: $groupBy, knownAt: $knownAt) { ${kpiFields[part]} } }`
    : `query DashboardKpis($from: DateTime!, $to: DateTime!, $groupBy: [KpiDimension!]) {
        report: kpis(from: $from, to: $to, groupBy: $groupBy) { ${kpiFields[part]} } }`;

export const PIPELINE = `query DashboardPipeline($asOf: DateTime, $knownAt: DateTime, $filter: PipelineFilter) {
  pipeline(asOf: $asOf, knownAt: $knownAt, filter: $filter) {
    currency count amount { ${MONEY} } weightedAmount { ${MONEY} }
    stages { stage label order probability count amount { ${MONEY} } weightedAmount { ${MONEY} } }
  }
}`;

/** The values the cuts can take in the period: the groups that have facts. */
export const FILTER_OPTIONS = `query DashboardFilterOptions($from: DateTime!, $to: DateTime!) {
  bySource: kpis(from: $from, to: $to, groupBy: [SOURCE]) { leadFunnel { group { source } } }
  byCampaign: kpis(from: $from, to: $to, groupBy: [CAMPAIGN]) { leadFunnel { group { campaign } } }
  byOwner: kpis(from: $from, to: $to, groupBy: [OWNER]) { leadFunnel { group { ownerId } } }
}`;

export const ME = 'query DashboardMe { me { sub roles } }';

export const CONVERTED_LEADS = `query DashboardConvertedLeads {
  leads(filter: { status: CONVERTED }, first: 50) { edges { node { id company { name } person { lastName } } } }
}`;

export const CONVERSION_TRACE = `query DashboardConversionTrace($leadId: ID!) {
  conversionTrace(leadId: $leadId) {
    lead { id source campaign }
    conversion { id }
    events { id type streamId revision actor occurredAt recordedAt correlationId causationId }
  }
}`;
