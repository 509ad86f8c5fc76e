/**
 * How a resolver asks for a KPI section or a pipeline report: from the report cache
 * (projections/reportCache.ts), noting on the request what it was answered, so that a whole
 * answer made of such reports can be sent again while each is still what it was
 * (src/graphql/reportAnswers.ts).
 */
import type { SqlDatabase } from '../../../projections/sqlDatabase';
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
