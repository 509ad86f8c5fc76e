/**
 * The report cache on a real SQLite file and a real PostgreSQL schema, written and read through
 * two connections as the API does (the runner's, and the reports'): an answer from memory is never
 * older than a fresh one. On PostgreSQL, an instance that does not lead never answers from memory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TEST_DATABASE_URL, aSchemaName, connectForTest, dropSchemas } from '../test/support/postgres';
import { openPostgresDatabase } from './postgresDatabase';
import { cachingReports, REQUESTS_SEEN } from './reportCache';
import {
  type ChangeCount,
  type ReadModelChanges,
  changesSeenWhileLeading,
  readModelChangesOf,
  readModelChangesOfSchema,
  tableWrittenBy,
} from './readModelChanges';
import { openSqliteDatabase, type SqlDatabase } from './sqlDatabase';

const schemas: string[] = [];
afterAll(() => dropSchemas(...schemas));

/** A read database in a store: two connections to it, and its changes as this process sees them. */
interface Opened {
  writer: SqlDatabase;
  reader: SqlDatabase;
  changes: ReadModelChanges;
  dispose(): Promise<void>;
}

const stores: Record<'sqlite' | 'postgres', () => Promise<Opened & { file?: string; dir?: string; schema?: string }>> = {
  sqlite: async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'crm-report-cache-'));
    const file = path.join(dir, 'read.sqlite');
    const writer = openSqliteDatabase(file);
    const reader = openSqliteDatabase(file);
    return {
      writer,
      reader,
      changes: readModelChangesOf(file),
      file,
      dir,
      dispose: async () => {
        await writer.close();
        await reader.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  postgres: async () => {
    const schema = aSchemaName('report_cache');
    schemas.push(schema);
    const writer = await openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema });
    const reader = await openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema });
    return {
      writer,
      reader,
      changes: readModelChangesOfSchema(TEST_DATABASE_URL, schema),
      schema,
      dispose: async () => {
        await writer.close();
        await reader.close();
      },
    };
  },
};

let opened: Awaited<ReturnType<(typeof stores)['sqlite']>>;
let writer: SqlDatabase;
let reader: SqlDatabase;
const open = (store: keyof typeof stores) => {
  beforeEach(async () => {
    opened = await stores[store]();
    ({ writer, reader } = opened);
    await writer.exec('CREATE TABLE wins (amount INTEGER); CREATE TABLE losses (amount INTEGER); INSERT INTO wins VALUES (10);');
  });
  afterEach(() => opened.dispose());
};

/** A report of the wins' total, counting how often it is computed. */
const winsReport = (changes: ChangeCount = opened.changes) => {
  const cache = cachingReports(reader, changes);
  let computed = 0;
  const total = () =>
    cache.report('wins', {}, async (db) => {
      computed += 1;
      return (await db.get<{ total: number }>('SELECT CAST(SUM(amount) AS INTEGER) AS total FROM wins'))!.total;
    });
  return { cache, total, computed: () => computed };
};

describe.each(['sqlite', 'postgres'] as const)('reports answered from memory (%s)', (store) => {
  open(store);

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

  it("keeps a report asked to be kept when asked again only from its request's second ask, then after each commit", async () => {
    const cache = cachingReports(reader, opened.changes);
    const computed: number[] = [];
    const above = (floor: number) =>
      cache.report('above', { floor }, async (db) => {
        computed.push(floor);
        return (await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM wins WHERE amount > ?', [floor]))!.n;
      }, { keep: 'askedAgain' });
    // Requests asked once each (a client paging through): each computed, none kept.
    for (let floor = 0; floor < 20; floor++) await above(floor);
    expect(cache.stats()).toMatchObject({ misses: 20, entries: 0, rows: 0 });
    // Asked a second time: computed again and kept; a third time, from memory.
    expect(await above(5)).toBe(1);
    expect(await above(5)).toBe(1);
    expect(computed.filter((floor) => floor === 5)).toHaveLength(2);
    expect(cache.stats()).toMatchObject({ hits: 1, entries: 1 });
    // After a commit to what it read, a request asked before is kept from its next computation.
    await writer.run('INSERT INTO wins VALUES (7)');
    expect(await above(5)).toBe(2);
    expect(await above(5)).toBe(2);
    expect(computed.filter((floor) => floor === 5)).toHaveLength(3);
    expect(cache.stats()).toMatchObject({ hits: 2, misses: 22, entries: 1 });
  });

  it('forgets the oldest of the requests asked once past REQUESTS_SEEN, so they are not kept when asked again', async () => {
    const cache = cachingReports(reader, opened.changes);
    let computed = 0;
    const above = (floor: number) =>
      cache.report('above', { floor }, async (db) => {
        computed += 1;
        return (await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM wins WHERE amount > ?', [floor]))!.n;
      }, { keep: 'askedAgain' });
    await above(-1);
    for (let floor = 0; floor < REQUESTS_SEEN; floor++) await above(floor);
    // -1 was the oldest asked: forgotten, its second ask is as a first.
    await above(-1);
    await above(-1);
    expect(computed).toBe(REQUESTS_SEEN + 3);
    await above(-1);
    expect(computed).toBe(REQUESTS_SEEN + 3);
  });

  it('takes the tables a statement names as whole words, for every report that runs it, and reads them again after DDL', async () => {
    const cache = cachingReports(reader, opened.changes);
    await writer.exec('CREATE TABLE wins_by_month (amount INTEGER)');
    // `bonuses` is a CTE here, until a table of that name is made.
    const sql = 'WITH bonuses AS (SELECT 1 AS amount) SELECT CAST(SUM(amount) AS INTEGER) AS total FROM wins';
    let computed = 0;
    const total = (request: object) =>
      cache.report('wins', request, async (db) => {
        computed += 1;
        return (await db.get<{ total: number }>(sql))!.total;
      });
    expect([await total({ asked: 1 }), await total({ asked: 2 })]).toEqual([10, 10]);
    expect(computed).toBe(2);

    // A table whose name holds `wins` is not `wins`; a CTE is not a table.
    await writer.run('INSERT INTO wins_by_month VALUES (1)');
    expect([await total({ asked: 1 }), await total({ asked: 2 })]).toEqual([10, 10]);
    expect(computed).toBe(2);

    // The second report ran the same statement, and reads `wins` as the first does.
    await writer.run('INSERT INTO wins VALUES (7)');
    expect([await total({ asked: 1 }), await total({ asked: 2 })]).toEqual([17, 17]);
    expect(computed).toBe(4);

    // Once `bonuses` is a table, the same statement names it.
    await writer.exec('CREATE TABLE bonuses (amount INTEGER)');
    expect(await total({ asked: 1 })).toBe(17);
    expect(computed).toBe(5);
    await writer.run('INSERT INTO bonuses VALUES (3)');
    expect(await total({ asked: 1 })).toBe(17);
    expect(computed).toBe(6);
  });
  it('tells whether reports answered before are still the answers, and counts them answered only when asked to answer', async () => {
    const cache = cachingReports(reader, opened.changes);
    const wins = () => cache.report('wins', {}, async (db) => ({ total: (await db.get<{ total: number }>('SELECT CAST(SUM(amount) AS INTEGER) AS total FROM wins'))!.total }));
    const losses = () => cache.report('losses', { of: 'all' }, async (db) => db.all('SELECT amount FROM losses'));
    const asked = [
      { name: 'wins', request: {}, value: await wins() },
      { name: 'losses', request: { of: 'all' }, value: await losses() },
    ];
    expect(cache.areCurrent(asked)).toBe(true);
    expect(cache.stats()).toMatchObject({ hits: 0, misses: 2 });
    expect(cache.answerAgain(asked)).toBe(true);
    expect(cache.stats()).toMatchObject({ hits: 2, misses: 2 });
    // An equal value that is not the one remembered, or another request, is not an answer of the cache.
    expect(cache.areCurrent([{ ...asked[0]!, value: { total: 10 } }])).toBe(false);
    expect(cache.areCurrent([{ ...asked[1]!, request: { of: 'some' } }])).toBe(false);

    await writer.run('INSERT INTO losses VALUES (5)');
    expect(cache.areCurrent(asked.slice(0, 1))).toBe(true);
    // One of them changed: none is counted.
    expect(cache.answerAgain(asked)).toBe(false);
    expect(cache.stats()).toMatchObject({ hits: 2, misses: 2 });
    expect(await losses()).toEqual([{ amount: 5 }]);
    expect(cache.areCurrent(asked)).toBe(false);
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

  it('takes a read that opens with WITH as a read, not as a change', async () => {
    const { total, computed } = winsReport();
    const cache = cachingReports(reader, opened.changes);
    const withClause = () => cache.report('with', {}, (db) => db.get<{ n: number }>('WITH w AS (SELECT amount FROM wins) SELECT CAST(COUNT(*) AS INTEGER) AS n FROM w'));
    expect(await total()).toBe(10);
    expect(await withClause()).toEqual({ n: 1 });
    expect(await withClause()).toEqual({ n: 1 });
    await reader.all('WITH w AS (SELECT amount FROM losses) SELECT amount FROM w');
    expect(await total()).toBe(10);
    expect(computed()).toBe(1);
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1 });
  });

  it('shares one computation between asks made while nothing was committed', async () => {
    const { total, computed } = winsReport();
    expect(await Promise.all([total(), total(), total()])).toEqual([10, 10, 10]);
    expect(computed()).toBe(1);
  });
});

/**
 * A report in parts: the wins above the first of `floors` up to `top`, one part per floor, each
 * win in the part of the highest floor below it; counting what is computed, part by part or whole.
 */
const winsInParts = (cache: ReturnType<typeof cachingReports>, floors: number[], top = 1_000) => {
  const computed: string[] = [];
  const partOf = (amount: number) => floors.filter((floor) => amount > floor).length - 1;
  const winsBetween = async (db: SqlDatabase, low: number, high: number) =>
    (await db.all<{ amount: number }>('SELECT amount FROM wins WHERE amount > ? AND amount <= ? ORDER BY amount', [low, high])).map((row) => row.amount);
  const ask = () =>
    cache.reportInParts(
      'wins by floor',
      floors.map((floor, index) => ({ above: floor, upTo: floors[index + 1] ?? top })),
      {
        part: (db, index) => {
          computed.push(`part ${index}`);
          return winsBetween(db, floors[index]!, floors[index + 1] ?? top);
        },
        whole: (db) => {
          computed.push('whole');
          return winsBetween(db, floors[0]!, top);
        },
        partOf,
      },
    );
  return { ask, computed };
};

describe.each(['sqlite', 'postgres'] as const)('a report in parts, answered from memory part by part (%s)', (store) => {
  open(store);

  it('computes the whole once and cuts it, then only the part asked anew, and the whole again after a commit', async () => {
    await writer.run('INSERT INTO wins VALUES (25), (35), (120)');
    const cache = cachingReports(reader, opened.changes);
    const report = winsInParts(cache, [0, 20, 30, 100]);
    expect(await report.ask()).toEqual([[10], [25], [35], [120]]);
    expect(report.computed).toEqual(['whole']);
    expect(await report.ask()).toEqual([[10], [25], [35], [120]]);
    expect(report.computed).toEqual(['whole']);
    expect(cache.stats()).toMatchObject({ hits: 4, misses: 1, entries: 4 });

    // A range that moves at its top: the parts below it are remembered, the last one is new. A
    // part computed alone is kept from its second computation (most are asked once).
    const moved = winsInParts(cache, [0, 20, 30, 100], 2_000);
    expect(await moved.ask()).toEqual([[10], [25], [35], [120]]);
    expect(moved.computed).toEqual(['part 3']);
    expect(cache.stats()).toMatchObject({ entries: 4 });
    expect(await moved.ask()).toEqual([[10], [25], [35], [120]]);
    expect(await moved.ask()).toEqual([[10], [25], [35], [120]]);
    expect(moved.computed).toEqual(['part 3', 'part 3']);
    expect(cache.stats()).toMatchObject({ entries: 5 });

    // A commit to the table: every part is stale, and the whole is computed again.
    await writer.run('INSERT INTO wins VALUES (31)');
    expect(await moved.ask()).toEqual([[10], [25], [31, 35], [120]]);
    expect(moved.computed).toEqual(['part 3', 'part 3', 'whole']);
    await writer.run('INSERT INTO losses VALUES (1)');
    expect(await moved.ask()).toEqual([[10], [25], [31, 35], [120]]);
    expect(moved.computed).toEqual(['part 3', 'part 3', 'whole']);
  });

  it('shares the whole between asks made while nothing was committed, and remembers nothing of a failed one', async () => {
    const cache = cachingReports(reader, opened.changes);
    const report = winsInParts(cache, [0, 50]);
    expect(await Promise.all([report.ask(), report.ask()])).toEqual([[[10], []], [[10], []]]);
    expect(report.computed).toEqual(['whole']);

    const failing = cachingReports(reader, opened.changes);
    let attempts = 0;
    const outside = () =>
      failing.reportInParts('outside', [{ part: 0 }, { part: 1 }], {
        part: () => Promise.reject(new Error('not asked')),
        whole: async (db) => {
          attempts += 1;
          return db.all<{ amount: number }>('SELECT amount FROM wins');
        },
        partOf: () => 2,
      });
    await expect(outside()).rejects.toThrow("A report's item falls in none of its 2 parts");
    await expect(outside()).rejects.toThrow("A report's item falls in none of its 2 parts");
    expect(attempts).toBe(2);
    expect(failing.stats()).toMatchObject({ entries: 0 });
  });

  it('computes the whole every time, and remembers no part, while this instance follows', async () => {
    const following: ChangeCount = { now: () => 0, unchangedSince: () => false, seesEveryWrite: () => false };
    const cache = cachingReports(reader, following);
    const report = winsInParts(cache, [0, 50]);
    await report.ask();
    await report.ask();
    expect(report.computed).toEqual(['whole', 'whole']);
    expect(cache.stats()).toMatchObject({ hits: 0, entries: 0 });
  });
});

describe('reports answered from memory, on SQLite', () => {
  open('sqlite');

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

    const cache = cachingReports(reader, readModelChangesOf(opened.file!));
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

    const staged = path.join(opened.dir!, 'staged.sqlite');
    const staging = openSqliteDatabase(staged);
    await staging.exec('CREATE TABLE wins (amount INTEGER); INSERT INTO wins VALUES (100);');
    await staging.close();
    await writer.withAttached!(staged, 'staged', () => writer.run('INSERT INTO main.wins SELECT amount FROM staged.wins'));
    expect(await total()).toBe(110);
    expect(computed()).toBe(3);
  });

  it('keys a report by its request, and keeps only the most recently asked within its rows', async () => {
    // Each report reads one row: it weighs two, so four fit in eight.
    const cache = cachingReports(reader, readModelChangesOf(opened.file!), { maxRows: 8 });
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
    const cache = cachingReports(reader, readModelChangesOf(opened.file!), { maxRows: 12 });
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

  it('refuses a report that writes', async () => {
    const cache = cachingReports(reader, readModelChangesOf(opened.file!));
    await expect(cache.report('writes', {}, (db) => db.run('DELETE FROM wins'))).rejects.toThrow('A report only reads');
    expect((await reader.get<{ n: number }>('SELECT COUNT(*) AS n FROM wins'))!.n).toBe(1);
  });
});

describe('reports answered from memory, on PostgreSQL', () => {
  open('postgres');

  it("runs a report's reads planned once as such: on connections whose plans are made once", async () => {
    const cache = cachingReports(reader, opened.changes);
    const mode = "SELECT current_setting('plan_cache_mode') AS mode FROM wins";
    const modes = await cache.report('plan modes', {}, async (db) => [
      ...(await db.all<{ mode: string }>(mode, [], { planOnce: true })),
      ...(await db.all<{ mode: string }>(mode)),
    ]);
    expect(modes).toEqual([{ mode: 'force_generic_plan' }, { mode: 'force_custom_plan' }]);
  });

  it('takes a COPY and anything exec runs as changes, and a nested transaction as part of its own', async () => {
    const { total, computed } = winsReport();
    await total();
    await writer.insertRows('wins', ['amount'], [[1], [2]]);
    expect(await total()).toBe(13);
    await writer.exec('UPDATE wins SET amount = amount * 2');
    expect(await total()).toBe(26);
    await writer.transaction((tx) => tx.transaction((nested) => nested.run('DELETE FROM wins WHERE amount = 2')));
    expect(await total()).toBe(24);
    expect(computed()).toBe(4);
  });
});

describe('reports of a PostgreSQL read store other instances may write', () => {
  open('postgres');

  /** Another instance's write: not through this process's pools, so not seen here. */
  const writeElsewhere = async (sql: string) => {
    const client = await connectForTest();
    try {
      await client.query(`SET search_path TO ${opened.schema}`);
      await client.query(sql);
    } finally {
      await client.end();
    }
  };

  it('are computed every time, never shared and never kept, while this instance follows', async () => {
    const { total, computed, cache } = winsReport(changesSeenWhileLeading(opened.changes, () => undefined));
    expect(await Promise.all([total(), total()])).toEqual([10, 10]);
    expect(await total()).toBe(10);
    expect(computed()).toBe(3);
    await writeElsewhere('INSERT INTO wins VALUES (5)');
    expect(await total()).toBe(15);
    expect(computed()).toBe(4);
    expect(cache.stats()).toEqual({ hits: 0, misses: 4, entries: 0, rows: 0 });
    // Nor is an answer made of them ever sent again.
    expect(cache.answerAgain([{ name: 'wins', request: {}, value: 15 }])).toBe(false);
  });

  it('are computed again in a new term, however few were asked while another instance led', async () => {
    let term: number | undefined = 1;
    const { total, computed, cache } = winsReport(changesSeenWhileLeading(opened.changes, () => term));
    expect(await total()).toBe(10);
    expect(await total()).toBe(10);
    expect(computed()).toBe(1);
    const asked = [{ name: 'wins', request: {}, value: 10 }];
    expect(cache.areCurrent(asked)).toBe(true);

    // The lead passes to another instance, which writes, and comes back, with no report asked meanwhile.
    term = undefined;
    await writeElsewhere('INSERT INTO wins VALUES (5)');
    term = 2;
    expect(cache.areCurrent(asked)).toBe(false);
    expect(await total()).toBe(15);
    expect(await total()).toBe(15);
    expect(computed()).toBe(2);
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
