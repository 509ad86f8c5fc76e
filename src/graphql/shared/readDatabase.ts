import type { Application } from '../../composition/application';
import type { SqlDatabase } from '../../../projections/sqlDatabase';

/**
 * Where a list query reads: with a search, on the report connection (a search tests every row, or
 * every entry of an index: 20 to 40 ms of SQL on 114,000 leads, which on SQLite would hold the
 * main thread and every capture behind it); otherwise on the main read connection, where a page
 * read through an index costs less than the trip to the report thread.
 */
export const listDatabase = (app: Pick<Application, 'readDb' | 'reportDb'>, search: string | null | undefined): SqlDatabase =>
  search ? app.reportDb : app.readDb;
