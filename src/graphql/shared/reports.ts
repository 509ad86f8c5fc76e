/**
 * How a resolver asks for a KPI section or a pipeline report: from the report cache
 * (projections/reportCache.ts), noting on the request what it was answered, so that a whole
 * answer made of such reports can be sent again while each is still what it was
 * (src/graphql/reportAnswers.ts).
 */
import type { KpiQuery } from '../../../projections/kpis/kpiQueries';
import type { SqlDatabase } from '../../../projections/sqlDatabase';
import { compareGroupKeys, monthsOfPeriod, type KpiGroupKey } from '../../domain/insights/definitions';
import type { GraphQLContext } from './context';

export const askReport = async <T>(
  context: GraphQLContext,
  name: string,
  request: unknown,
  compute: (db: SqlDatabase) => Promise<T>,
): Promise<T> => {
  const value = await context.app.reports.report(name, request, compute);
  context.reportsAsked?.push({ name, request, value });
  return value;
};

/** A KPI group as the presenter gives it (`KpiGroup`): a dimension not cut by is absent. */
type PresentedGroup = { [Dimension in keyof KpiGroupKey]?: NonNullable<KpiGroupKey[Dimension]> };

const keyOf = (group: PresentedGroup): KpiGroupKey => ({
  source: group.source ?? null,
  campaign: group.campaign ?? null,
  ownerId: group.ownerId ?? null,
  month: group.month ?? null,
  listId: group.listId ?? null,
  origin: group.origin ?? null,
});

/** A request's parts by month, and the part of each month; undefined within one month. */
interface MonthlyParts {
  parts: KpiQuery[];
  partOfMonth: Map<string, number>;
}

/**
 * The parts asked lately, one object per request of a part, whichever period it was cut from:
 * the report cache writes a request object's key once, and a dashboard asks the same parts over
 * and over (26 per section for two years by month), its period up to now moving only the last.
 */
const recentParts = new Map<string, KpiQuery>();
const RECENT_PARTS = 1_000;

const partFor = (request: KpiQuery, rest: string, from: string, to: string): KpiQuery => {
  const key = `${from} ${to} ${rest}`;
  let part = recentParts.get(key);
  if (part === undefined) {
    part = { ...request, from, to };
    if (recentParts.size >= RECENT_PARTS) recentParts.delete(recentParts.keys().next().value!);
    recentParts.set(key, part);
  }
  return part;
};

/** By request object: the sections of one `kpis` query share their request, and its parts. */
const partsOfRequest = new WeakMap<KpiQuery, MonthlyParts | undefined>();

const monthlyPartsOf = (request: KpiQuery): MonthlyParts | undefined => {
  if (partsOfRequest.has(request)) return partsOfRequest.get(request);
  const months = monthsOfPeriod(request);
  const rest = JSON.stringify({ ...request, from: undefined, to: undefined });
  const cut =
    months.length < 2
      ? undefined
      : { parts: months.map(({ from, to }) => partFor(request, rest, from, to)), partOfMonth: new Map(months.map(({ month }, index) => [month, index])) };
  partsOfRequest.set(request, cut);
  return cut;
};

/**
 * A KPI section cut by MONTH over more than one month: the sections of each month's part of the
 * period (`monthsOfPeriod`), remembered one by one (`reportInParts`). A dashboard's period that
 * ends now moves at each ask; its earlier months do not, and are answered from memory: only the
 * month that moved is computed (issue 11: every section by month over two years, computed each
 * time, took 15 ms at the median and 43 at p99 over a million events). When several months must
 * be computed (the first ask, or after a write), the whole period is, in one statement per
 * section as before, and cut by month. Its statements read every table a month's would: a
 * month's part reads the monthly rollups only where the whole does, since a whole month inside
 * the period puts the whole's middle on the rollups.
 */
export const askKpiSection = async <T extends { group: PresentedGroup }>(
  context: GraphQLContext,
  name: string,
  request: KpiQuery,
  compute: (db: SqlDatabase, request: KpiQuery) => Promise<T[]>,
): Promise<T[]> => {
  const cut = request.groupBy.includes('MONTH') ? monthlyPartsOf(request) : undefined;
  if (cut === undefined) return askReport(context, name, request, (db) => compute(db, request));
  const { parts, partOfMonth } = cut;
  const values = await context.app.reports.reportInParts(name, parts, {
    part: (db, index) => compute(db, parts[index]!),
    whole: (db) => compute(db, request),
    partOf: (item) => partOfMonth.get(item.group.month ?? '') ?? -1,
  });
  values.forEach((value, index) => context.reportsAsked?.push({ name, request: parts[index]!, value }));
  // Months one after the other are in group order unless a dimension before the month is cut by.
  const items = values.flat();
  return request.groupBy.some((dimension) => dimension === 'SOURCE' || dimension === 'CAMPAIGN' || dimension === 'OWNER')
    ? items.sort((a, b) => compareGroupKeys(keyOf(a.group), keyOf(b.group)))
    : items;
};
