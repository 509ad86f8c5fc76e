import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { longestStall, turnsBeside } from '../test/support/eventLoopStalls';
import { openSqliteDatabase, type SqlDatabase } from './sqlDatabase';
import { openSqliteReportReader, ReportQueryError, rowsOfParts } from './sqliteReportReader';

/** A query that keeps SQLite busy for a while (about a second on our machines). */
const SLOW = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000000) SELECT COUNT(*) AS n FROM c';

describe('the SQLite report reader', () => {
  let directory: string;
  let file: string;
  let db: SqlDatabase;
  let reader: SqlDatabase;

  beforeEach(async () => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-report-reader-'));
    file = path.join(directory, 'read.sqlite');
    db = openSqliteDatabase(file);
    await db.exec('CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER, note TEXT)');
    await db.run('INSERT INTO t VALUES (?, ?, ?), (?, ?, ?)', ['a', 1, 'first', 'b', 2, null]);
    reader = openSqliteReportReader(file);
  });

  afterEach(async () => {
    await reader.close();
    await db.close();
    fs.rmSync(directory, { recursive: true, force: true });
  });

  it('answers what the main connection answers, and sees what is committed after it started', async () => {
    const sql = 'SELECT id, n, note FROM t WHERE n >= ? ORDER BY id';
    expect(await reader.all(sql, [1])).toEqual(await db.all(sql, [1]));
    expect(await reader.get('SELECT n FROM t WHERE id = ?', ['b'])).toEqual({ n: 2 });
    expect(await reader.get('SELECT n FROM t WHERE id = ?', ['none'])).toBeUndefined();

    await db.run('INSERT INTO t VALUES (?, ?, ?)', ['c', 3, 'later']);
    expect(await reader.all<{ id: string }>('SELECT id FROM t ORDER BY id')).toEqual([{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
  });

  it('names the columns as the main connection does, a column called __proto__ as an own property', async () => {
    const sql = 'SELECT id AS "__proto__", n AS twice, n * 2 AS twice, note AS "a""b" FROM t ORDER BY id';
    const rows = await reader.all<Record<string, unknown>>(sql);
    expect(rows).toEqual(await db.all(sql));
    expect(rows.map((row) => [Object.getPrototypeOf(row), Object.entries(row)])).toEqual([
      [Object.prototype, [['__proto__', 'a'], ['twice', 2], ['a"b', 'first']]],
      [Object.prototype, [['__proto__', 'b'], ['twice', 4], ['a"b', null]]],
    ]);
  });

  it("rejects a failing query with SQLite's message and code, and goes on answering", async () => {
    const failure = await reader.all('SELECT missing_column FROM t').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ReportQueryError);
    expect(failure).toMatchObject({ message: expect.stringContaining('no such column: missing_column'), code: 'SQLITE_ERROR' });
    expect(await reader.get('SELECT COUNT(*) AS n FROM t')).toEqual({ n: 2 });
  });

  it('refuses to write, and the table is unchanged', async () => {
    await expect(reader.run('DELETE FROM t')).rejects.toThrow(/only reads/);
    await expect(reader.exec('DROP TABLE t')).rejects.toThrow(/only reads/);
    await expect(reader.transaction(async () => undefined)).rejects.toThrow(/only reads/);
    expect(await db.get('SELECT COUNT(*) AS n FROM t')).toEqual({ n: 2 });
  });

  it('keeps the main thread free while a long report runs, where the main connection holds it', async () => {
    await reader.get('SELECT 1 AS one'); // the thread started
    const onMain = await longestStall(() => db.get(SLOW), 2);
    const onReader = await longestStall(() => reader.get(SLOW), 2);
    // On the main connection the event loop stops for the whole query; on the reader it runs on.
    expect(onMain.longestStallMs).toBeGreaterThan(onMain.elapsedMs * 0.8);
    // A quarter of it leaves room for a loaded machine's own pauses (other test files, GC).
    expect(onReader.longestStallMs).toBeLessThan(onMain.longestStallMs / 4);
    expect(await reader.get(SLOW)).toEqual({ n: 5_000_000 });
  });

  it('answers a long list of rows in parts, equal to the main connection\'s, still in the order asked', async () => {
    await db.run('WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000) INSERT INTO t SELECT printf(\'r%05d\', x), x, NULL FROM c');
    const inParts = openSqliteReportReader(file, { chunkRows: 1_000 });
    try {
      const sql = 'SELECT id, n, note FROM t ORDER BY id';
      const settled: string[] = [];
      const [long, short] = await Promise.all([
        inParts.all(sql).then((rows) => (settled.push('long'), rows)),
        inParts.get('SELECT COUNT(*) AS n FROM t').then((row) => (settled.push('short'), row)),
      ]);
      expect(long).toEqual(await db.all(sql));
      expect(long).toHaveLength(10_002);
      expect(short).toEqual({ n: 10_002 });
      expect(settled).toEqual(['long', 'short']);
    } finally {
      await inParts.close();
    }
  });

  it('parses a long answer a part at a time, the thread\'s other work running between parts', async () => {
    const parts = [0, 1, 2, 3, 4].map((part) => JSON.stringify([[`r${part}a`, part], [`r${part}b`, part]]));
    const { result: rows, turns } = await turnsBeside(() => rowsOfParts(['id', 'n'], parts));
    expect(rows).toHaveLength(10);
    expect(rows.slice(0, 3)).toEqual([{ id: 'r0a', n: 0 }, { id: 'r0b', n: 0 }, { id: 'r1a', n: 1 }]);
    expect(turns).toBeGreaterThanOrEqual(4);
  });

  it('answers in the order asked, and a query out when it closes is rejected, not left hanging', async () => {
    const answers = await Promise.all([1, 2, 3].map((n) => reader.get<{ n: number }>('SELECT ? AS n', [n])));
    expect(answers).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    const pending = reader.get(SLOW).catch((error: unknown) => error);
    await reader.close();
    expect(await pending).toMatchObject({ message: expect.stringMatching(/closed/) });
  });
});
