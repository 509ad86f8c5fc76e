/**
 * A page and the count of its list (`rowsAndCount`) on a SQLite file as the API reads them: the
 * page on the main thread's connection, the count on the report reader's thread through the
 * report cache, remembered until the table changes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { countedReads } from '../test/support/countedReads';
import { longestStall } from '../test/support/eventLoopStalls';
import { rowsAndCount } from './pagination';
import { readModelChangesOf } from './readModelChanges';
import { cachingReports } from './reportCache';
import { openSqliteDatabase, type SqlDatabase } from './sqlDatabase';
import { openSqliteReportReader } from './sqliteReportReader';


/** What a list shows of a page: its rows' ids, and the count. (One statement's rows also carry the count.) */
const shown = ({ rows, total }: { rows: { id: string }[]; total: number }) => ({ ids: rows.map((row) => row.id), total });

const pageOfKind = (kind: string, cursor?: string) => ({
  table: 'items',
  columns: 'id, sort_key',
  filter: { conditions: ['kind = ?'], params: [kind] },
  cursor: cursor === undefined ? undefined : { conditions: ['sort_key > ?'], params: [cursor] },
  orderBy: 'sort_key, id',
  limit: 3,
});

describe('a page whose count is asked on the report thread', () => {
  let directory: string;
  let file: string;
  let main: SqlDatabase;
  let reader: SqlDatabase;

  beforeEach(async () => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-pagination-'));
    file = path.join(directory, 'read.sqlite');
    main = openSqliteDatabase(file);
    await main.exec(`
      CREATE TABLE items (id TEXT PRIMARY KEY, kind TEXT NOT NULL, sort_key TEXT NOT NULL);
      CREATE INDEX items_by_kind ON items (kind, sort_key, id);`);
    reader = openSqliteReportReader(file);
  });

  /** `rows` rows in `items`: three in four of kind `common`, the others `rare`. */
  const fill = (rows: number) =>
    main.exec(`INSERT INTO items
      WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ${rows})
      SELECT printf('i%07d', x), CASE WHEN x % 4 = 0 THEN 'rare' ELSE 'common' END, printf('k%07d', x) FROM n`);

  afterEach(async () => {
    await reader.close();
    await main.close();
    fs.rmSync(directory, { recursive: true, force: true });
  });

  it('gives the page and count of one statement, counted on the reader and remembered until the table changes', async () => {
    const ROWS = 10_000;
    await fill(ROWS);
    const { handle: mainHandle, statements: onMain } = countedReads(main, { andGets: true });
    const { handle: readerHandle, statements: onReader } = countedReads(reader, { andGets: true });
    const counts = cachingReports(readerHandle, readModelChangesOf(file));
    // The cache reads the table names too.
    const countsOnReader = () => onReader.filter((sql) => sql.includes('COUNT(*)')).length;
    const page = async () => shown(await rowsAndCount<{ id: string }>(mainHandle, pageOfKind('rare'), counts));

    expect(await page()).toEqual(shown(await rowsAndCount(main, pageOfKind('rare'))));
    expect(await page()).toEqual({ ids: ['i0000004', 'i0000008', 'i0000012'], total: ROWS / 4 });
    // The page on the main connection, without a count; the count once, on the reader.
    expect(onMain).toHaveLength(2);
    expect(onMain.every((sql) => !sql.includes('COUNT'))).toBe(true);
    expect(countsOnReader()).toBe(1);

    // A page after a cursor shares the count of its filter.
    expect((await rowsAndCount(main, pageOfKind('rare', 'k0000012'), counts)).total).toBe(ROWS / 4);
    expect(countsOnReader()).toBe(1);

    await main.run("INSERT INTO items VALUES ('j1', 'rare', 'a')");
    expect(await page()).toEqual({ ids: ['j1', 'i0000004', 'i0000008'], total: ROWS / 4 + 1 });
    expect(countsOnReader()).toBe(2);
    // A filter no row matches: no page, and a count of none.
    expect(await rowsAndCount(main, pageOfKind('none'), counts)).toEqual({ rows: [], total: 0 });
  });

  it('keeps the event loop turning while it counts a long list, where one statement on the main connection holds it', async () => {
    const ROWS = 2_000_000;
    await fill(ROWS);
    const counts = cachingReports(reader, readModelChangesOf(file));
    await reader.get('SELECT 1 AS one'); // the thread started
    const inOne = await longestStall(() => rowsAndCount<{ id: string }>(main, pageOfKind('common')), 1);
    const apart = await longestStall(() => rowsAndCount<{ id: string }>(main, pageOfKind('common'), counts), 1);
    expect(shown(apart.result)).toEqual(shown(inOne.result));
    expect(apart.result.total).toBe((ROWS * 3) / 4);
    // Counting 1,500,000 entries of an index holds the main thread for the whole statement (tens of
    // milliseconds); the page alone, 3 rows down the index, about nothing. A quarter leaves room
    // for a loaded machine's own pauses.
    expect(inOne.longestStallMs).toBeGreaterThan(inOne.elapsedMs * 0.8);
    expect(apart.longestStallMs).toBeLessThan(inOne.longestStallMs / 4);
  });
});
