/**
 * The report cache on a real SQLite file, written and read through two connections as the API
 * does (the runner's, and the reports'): an answer from memory is never older than a fresh one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cachingReports } from './reportCache';
import { readModelChangesOf, tableWrittenBy } from './readModelChanges';
import { openSqliteDatabase, type SqlDatabase } from './sqlDatabase';

let dir: string;
let file: string;
let writer: SqlDatabase;
let reader: SqlDatabase;

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'crm-report-cache-'));
  file = path.join(dir, 'read.sqlite');
  writer = openSqliteDatabase(file);
  await writer.exec('CREATE TABLE wins (amount INTEGER); CREATE TABLE losses (amount INTEGER); INSERT INTO wins VALUES (10);');
  reader = openSqliteDatabase(file);
});

afterEach(async () => {
  await writer.close();
  await reader.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A report of the wins' total, counting how often it is computed. */
const winsReport = () => {
  const cache = cachingReports(reader, readModelChangesOf(file));
  let computed = 0;
  const total = () =>
    cache.report('wins', {}, async (db) => {
      computed += 1;
      return (await db.get<{ total: number }>('SELECT SUM(amount) AS total FROM wins'))!.total;
    });
  return { cache, total, computed: () => computed };
};

describe('reports answered from memory', () => {
  it('answers again from memory until a table the report read has a commit', async () => {
    const { total, computed, cache } = winsReport();
    expect(await total()).toBe(10);
    expect(await total()).toBe(10);
    expect(computed()).toBe(1);

    await writer.run('INSERT INTO losses VALUES (5)');
    expect(await total()).toBe(10);
    expect(computed()).toBe(1);

    await writer.run('INSERT INTO wins VALUES (7)');
    expect(await total()).toBe(17);
    expect(computed()).toBe(2);
    expect(cache.stats()).toEqual({ hits: 2, misses: 2, entries: 1, rows: 2 });
  });

  it('does not take a report read before a commit as current after it', async () => {
    const { total, computed } = winsReport();
    await writer.transaction(async (tx) => {
      await tx.run('INSERT INTO wins VALUES (7)');
      await tx.run('UPDATE wins SET amount = amount + 1');
      // Read while the write is not committed: the report sees the rows before it.
      expect(await total()).toBe(10);
    });
    expect(await total()).toBe(19);
    expect(computed()).toBe(2);
  });

  it('counts a rolled-back write as a change, and a failed report as nothing remembered', async () => {
    const { total, computed } = winsReport();
    expect(await total()).toBe(10);
    await expect(
      writer.transaction(async (tx) => {
        await tx.run('DELETE FROM wins');
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    expect(await total()).toBe(10);
    expect(computed()).toBe(2);

    const cache = cachingReports(reader, readModelChangesOf(file));
    let attempts = 0;
    const failing = () =>
      cache.report('broken', {}, async (db) => {
        attempts += 1;
        return db.get('SELECT * FROM no_such_table');
      });
    await expect(failing()).rejects.toThrow(/no_such_table/);
    await expect(failing()).rejects.toThrow(/no_such_table/);
    expect(attempts).toBe(2);
  });

  it('takes DDL, exec and a copy from an attached file as a change of every table', async () => {
    const { total, computed } = winsReport();
    await total();
    await writer.exec('CREATE TABLE other (x INTEGER)');
    await total();
    expect(computed()).toBe(2);

    const staged = path.join(dir, 'staged.sqlite');
    const staging = openSqliteDatabase(staged);
    await staging.exec('CREATE TABLE wins (amount INTEGER); INSERT INTO wins VALUES (100);');
    await staging.close();
    await writer.withAttached!(staged, 'staged', () => writer.run('INSERT INTO main.wins SELECT amount FROM staged.wins'));
    expect(await total()).toBe(110);
    expect(computed()).toBe(3);
  });

  it('keys a report by its request, and keeps only the most recently asked within its rows', async () => {
    // Each report reads one row: it weighs two, so four fit in eight.
    const cache = cachingReports(reader, readModelChangesOf(file), { maxRows: 8 });
    const computed: number[] = [];
    const above = (floor: number) =>
      cache.report('above', { floor }, async (db) => {
        computed.push(floor);
        return (await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM wins WHERE amount > ?', [floor]))!.n;
      });
    expect([await above(5), await above(50), await above(60), await above(70)]).toEqual([1, 0, 0, 0]);
    await above(5);
    await above(80);
    await above(50);
    await above(5);
    expect(computed).toEqual([5, 50, 60, 70, 80, 50]);
    expect(cache.stats()).toMatchObject({ entries: 4, rows: 8 });
  });

  it('computes every time a report too large to keep', async () => {
    await writer.run('INSERT INTO wins VALUES (1), (2), (3)');
    const cache = cachingReports(reader, readModelChangesOf(file), { maxRows: 12 });
    let computed = 0;
    const everyWin = () =>
      cache.report('every win', {}, async (db) => {
        computed += 1;
        return db.all('SELECT amount FROM wins');
      });
    await everyWin();
    await everyWin();
    expect(computed).toBe(2);
    expect(cache.stats()).toMatchObject({ entries: 0, rows: 0 });
  });

  it('shares one computation between asks made while nothing was committed', async () => {
    const { total, computed } = winsReport();
    expect(await Promise.all([total(), total(), total()])).toEqual([10, 10, 10]);
    expect(computed()).toBe(1);
  });

  it('refuses a report that writes', async () => {
    const cache = cachingReports(reader, readModelChangesOf(file));
    await expect(cache.report('writes', {}, (db) => db.run('DELETE FROM wins'))).rejects.toThrow('A report only reads');
    expect((await reader.get<{ n: number }>('SELECT COUNT(*) AS n FROM wins'))!.n).toBe(1);
  });
});

describe('the table a statement writes', () => {
  it('is read from INSERT, UPDATE, DELETE and REPLACE, and is every table when the text does not say it plainly', () => {
    expect(tableWrittenBy('INSERT INTO kpi_lead_cycles (a) VALUES (?) ON CONFLICT DO NOTHING')).toBe('kpi_lead_cycles');
    expect(tableWrittenBy('  insert or replace into "Read_Leads" (a) values (1)')).toBe('read_leads');
    expect(tableWrittenBy('UPDATE read_pipeline_history SET valid_to = ?')).toBe('read_pipeline_history');
    expect(tableWrittenBy('DELETE FROM main.audit_events WHERE seq < ?')).toBe('audit_events');
    expect(tableWrittenBy('REPLACE INTO t VALUES (1)')).toBe('t');
    expect(tableWrittenBy('WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x')).toBe('every table');
    expect(tableWrittenBy('INSERT INTO staged.t VALUES (1)')).toBe('every table');
  });
});
