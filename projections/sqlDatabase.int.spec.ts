import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteDatabase, openStagingDatabase, type SqlDatabase } from './sqlDatabase';
import { openSqliteDatabaseOnAThread } from './sqliteOnAThread';
import { temporaryDirectory } from '../test/support/leadEvents';

// The same port whether the statements run on this thread or on one of their own (the projections' connection in an API).
describe.each([
  ['openSqliteDatabase', (file: string) => openSqliteDatabase(file)],
  ['openSqliteDatabaseOnAThread', (file: string) => openSqliteDatabaseOnAThread(file)],
])('%s', (_name, open) => {
  let directory: ReturnType<typeof temporaryDirectory>;
  let db: SqlDatabase;

  beforeEach(async () => {
    directory = temporaryDirectory();
    db = open(directory.file('read.db'));
    await db.exec('CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)');
    await db.run('INSERT INTO counters (name, value) VALUES (?, ?)', ['hits', 0]);
  });

  afterEach(async () => {
    await db.close();
    directory.remove();
  });

  const hits = async (on: SqlDatabase = db) =>
    (await on.get<{ value: number }>('SELECT value FROM counters WHERE name = ?', ['hits']))?.value;

  it('leaves the checkpoints to the event store while its WAL is small, and checkpoints it past about 40 MB', async () => {
    // 1,200 commits of a 60 kB row: about 18,000 pages through the WAL.
    const walFile = `${directory.file('read.db')}-wal`;
    await db.exec('CREATE TABLE bodies (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
    const body = 'x'.repeat(60_000);
    let largest = 0;
    for (let commit = 0; commit < 1200; commit++) {
      await db.run('INSERT INTO bodies (body) VALUES (?)', [body]);
      largest = Math.max(largest, fs.statSync(walFile).size);
    }
    const mib = 1024 * 1024;
    // Past SQLite's 1,000 pages (4 MiB), the commits of the read models go on without a checkpoint.
    expect(largest).toBeGreaterThan(30 * mib);
    // Past 10,000 pages one of them checkpoints: the WAL starts again from its beginning.
    expect(largest).toBeLessThan(50 * mib);
    expect(fs.statSync(walFile).size).toBeLessThan(50 * mib);
  });

  it('reads rows as objects keyed by column, whatever the names, and follows a table that changes under SELECT *', async () => {
    await db.exec('CREATE TABLE odd ("__proto__" TEXT, "a""b" TEXT, "constructor" INTEGER, x REAL)');
    await db.run('INSERT INTO odd VALUES (?, ?, ?, ?)', ['p', 'q', 7, 0.5]);
    const row = await db.get<Record<string, unknown>>('SELECT * FROM odd');
    expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
    expect(Object.entries(row!)).toEqual([['__proto__', 'p'], ['a"b', 'q'], ['constructor', 7], ['x', 0.5]]);
    expect(await db.all('SELECT "a""b", x * 2 AS twice FROM odd')).toEqual([{ 'a"b': 'q', twice: 1 }]);
    // Two columns of one name: the later one, as better-sqlite3 gives it.
    expect(await db.all('SELECT value AS v, name AS v FROM counters')).toEqual([{ v: 'hits' }]);
    expect(await db.get('SELECT * FROM counters WHERE name = ?', ['none'])).toBeUndefined();
    expect(await db.all('SELECT * FROM counters WHERE name = ?', ['none'])).toEqual([]);

    const everyCounter = 'SELECT * FROM counters';
    expect(await db.all(everyCounter)).toEqual([{ name: 'hits', value: 0 }]);
    // A column added here, then one renamed by another connection (as the projections' own
    // connection switches to a new version's table): the same statement text answers with the
    // table as it is now, a row read by `get` too.
    await db.exec('ALTER TABLE counters ADD COLUMN note TEXT');
    expect(await db.all(everyCounter)).toEqual([{ name: 'hits', value: 0, note: null }]);
    const other = openSqliteDatabase(directory.file('read.db'));
    try {
      await other.exec('ALTER TABLE counters RENAME COLUMN note TO remark');
      expect(await db.all(everyCounter)).toEqual([{ name: 'hits', value: 0, remark: null }]);
      await other.exec('ALTER TABLE counters RENAME TO old_counters; CREATE TABLE counters (label TEXT, amount INTEGER, remark TEXT)');
      await other.run("INSERT INTO counters VALUES ('misses', 3, 'new')");
    } finally {
      await other.close();
    }
    expect(await db.all(everyCounter)).toEqual([{ label: 'misses', amount: 3, remark: 'new' }]);
    expect(await db.get('SELECT * FROM counters')).toEqual({ label: 'misses', amount: 3, remark: 'new' });
    await expect(db.all("UPDATE counters SET amount = 1 WHERE label = 'misses'")).rejects.toThrow(/does not return data/);
  });

  it('keeps concurrent read-modify-write transactions from interleaving', async () => {
    const increment = () =>
      db.transaction(async (tx) => {
        const before = (await hits(tx))!;
        await new Promise((resolve) => setTimeout(resolve, 1));
        await tx.run('UPDATE counters SET value = ? WHERE name = ?', [before + 1, 'hits']);
      });

    await Promise.all(Array.from({ length: 20 }, increment));

    expect(await hits()).toBe(20);
  });

  it('rolls everything back when the transaction fails, and keeps working afterwards', async () => {
    const failing = db.transaction(async (tx) => {
      await tx.run('UPDATE counters SET value = 99 WHERE name = ?', ['hits']);
      throw new Error('projection bug');
    });

    await expect(failing).rejects.toThrow('projection bug');
    expect(await hits()).toBe(0);
    await db.transaction((tx) => tx.run('UPDATE counters SET value = 1'));
    expect(await hits()).toBe(1);
  });

  it('never shows a plain read the rows of a transaction that has not committed', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const open = db.transaction(async (tx) => {
      await tx.run('UPDATE counters SET value = 5');
      await released;
      throw new Error('abandoned');
    });

    const readDuringTransaction = hits();
    release();

    await expect(open).rejects.toThrow('abandoned');
    expect(await readDuringTransaction).toBe(0);
  });

  it('rolls back a nested transaction alone', async () => {
    await db.transaction(async (tx) => {
      await tx.run('UPDATE counters SET value = 1');
      await expect(
        tx.transaction(async (inner) => {
          await inner.run('UPDATE counters SET value = 2');
          throw new Error('inner failure');
        }),
      ).rejects.toThrow('inner failure');
    });

    expect(await hits()).toBe(1);
  });

  it('shares the file with other connections', async () => {
    await db.transaction((tx) => tx.run('UPDATE counters SET value = 7'));
    const other = openSqliteDatabase(directory.file('read.db'));
    try {
      expect(await hits(other)).toBe(7);
    } finally {
      await other.close();
    }
  });
});

describe('openStagingDatabase', () => {
  it('reports a deferred index with its table, and refuses to defer one that does not exist, or a UNIQUE one unless told', async () => {
    const staging = openStagingDatabase();
    try {
      await staging.db.exec(`
        CREATE TABLE facts (id TEXT PRIMARY KEY, at TEXT, code TEXT);
        CREATE INDEX facts_by_at ON facts (at);
        CREATE UNIQUE INDEX facts_by_code ON facts (code);`);
      staging.deferIndexes(['facts_by_at']);
      // Gone from the staging database: inserts no longer maintain it.
      expect(await staging.db.all("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'facts_by_at'")).toEqual([]);
      // Still reported, to be built where the table is copied.
      expect(staging.tables().find((table) => table.name === 'facts')!.indexes.map((index) => index.name).sort()).toEqual(['facts_by_at', 'facts_by_code']);
      expect(() => staging.deferIndexes(['facts_by_code'])).toThrow(/UNIQUE/);
      expect(() => staging.deferIndexes(['facts_by_nothing'])).toThrow(/No index facts_by_nothing/);
      // Unless the caller says it knows: inserts no longer check it, and it is still reported.
      staging.deferIndexes(['facts_by_code'], { unique: true });
      await staging.db.run("INSERT INTO facts (id, code) VALUES ('a', 'same'), ('b', 'same')");
      expect(staging.tables().find((table) => table.name === 'facts')!.indexes.map((index) => index.name).sort()).toEqual(['facts_by_at', 'facts_by_code']);
    } finally {
      staging.close();
    }
  });
});
