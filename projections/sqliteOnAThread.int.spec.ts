/**
 * What the read database on a thread of its own adds to the port (sqlDatabase.int.spec.ts runs the
 * port's own tests on it too): this thread is free while its statements run, a transaction holding
 * writes sends them with its next answer and takes the file's write turn only then, and a held
 * write that fails fails the transaction with SQLite's own error.
 */
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BUSY_TIMEOUT_MS, inTurnToWrite } from '../src/eventStores/sqliteWriteTurns';
import { temporaryDirectory } from '../test/support/leadEvents';
import { readModelChangesOf } from './readModelChanges';
import { UnexpectedChangesError, type SqlDatabase } from './sqlDatabase';
import { openSqliteDatabaseOnAThread } from './sqliteOnAThread';

describe('openSqliteDatabaseOnAThread', () => {
  let directory: ReturnType<typeof temporaryDirectory>;
  let file: string;
  let db: SqlDatabase;

  beforeEach(async () => {
    directory = temporaryDirectory();
    file = directory.file('read.db');
    db = openSqliteDatabaseOnAThread(file);
    await db.exec('CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)');
    await db.run('INSERT INTO counters (name, value) VALUES (?, ?)', ['hits', 0]);
  });

  afterEach(async () => {
    await db.close();
    directory.remove();
  });

  const hits = async () => (await db.get<{ value: number }>('SELECT value FROM counters WHERE name = ?', ['hits']))?.value;

  it('leaves this thread free while a long statement runs', async () => {
    let longestGap = 0;
    let last = performance.now();
    const ticks = setInterval(() => {
      const now = performance.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
    }, 1);
    const started = performance.now();
    try {
      const counted = await db.get<{ n: number }>(
        'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT count(*) AS n FROM c',
      );
      expect(counted).toEqual({ n: 3_000_000 });
      // The wait since the last tick counts too: a statement on this thread ends before any timer runs.
      longestGap = Math.max(longestGap, performance.now() - last);
    } finally {
      clearInterval(ticks);
    }
    const took = performance.now() - started;
    // On this thread the statement would have held every timer for as long as it ran.
    expect(took).toBeGreaterThan(150);
    expect(longestGap).toBeLessThan(took / 3);
  });

  it('takes the file’s write turn when a transaction holding writes first sends, not while its body works', async () => {
    const order: string[] = [];
    await db.transaction(
      async (tx) => {
        await tx.write('UPDATE counters SET value = 1');
        // Another writer of the file in this process (the event store's appends) goes first: the
        // write above is held, nothing has been sent, so the turn is free.
        await inTurnToWrite(file, BUSY_TIMEOUT_MS, async () => {
          order.push('other writer');
        });
        order.push('read');
        expect(await tx.get('SELECT value FROM counters')).toEqual({ value: 1 });
      },
      { holdWrites: true },
    );
    expect(order).toEqual(['other writer', 'read']);
    expect(await hits()).toBe(1);
  });

  it('holds the turn from its first message until its COMMIT is sent: another writer waits for it', async () => {
    const order: string[] = [];
    let other: Promise<void> | undefined;
    await db.transaction(
      async (tx) => {
        expect(await tx.get('SELECT value FROM counters')).toEqual({ value: 0 });
        other = inTurnToWrite(file, BUSY_TIMEOUT_MS, async () => {
          order.push('other writer');
        });
        await new Promise((resolve) => setTimeout(resolve, 20));
        await tx.write('UPDATE counters SET value = 2');
        order.push('transaction body done');
      },
      { holdWrites: true },
    );
    await other;
    expect(order).toEqual(['transaction body done', 'other writer']);
  });

  it('answers calls of one transaction that overlap, in the order called, on one turn', async () => {
    const values = await db.transaction(
      async (tx) => {
        await tx.write('UPDATE counters SET value = 6');
        // Both reads leave before either is answered, the first taking the turn (a copy's checks do so).
        const [before, after] = await Promise.all([
          tx.get<{ value: number }>('SELECT value FROM counters'),
          tx.run('UPDATE counters SET value = 7').then(() => tx.get<{ value: number }>('SELECT value FROM counters')),
        ]);
        return [before?.value, after?.value];
      },
      { holdWrites: true },
    );
    expect(values).toEqual([6, 7]);
    expect(await hits()).toBe(7);
  });

  it('fails a transaction with the error of a held write, SQLite’s own, and commits none of it', async () => {
    const failing = db.transaction(
      async (tx) => {
        await tx.write('UPDATE counters SET value = 5');
        // Held: answered at once; its failure comes with the next statement that answers.
        await tx.write('INSERT INTO counters (name, value) VALUES (?, ?)', ['hits', 1]);
        await tx.get('SELECT value FROM counters');
      },
      { holdWrites: true },
    );
    const error = await failing.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Database.SqliteError);
    expect(error).toMatchObject({ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' });
    expect(await hits()).toBe(0);
    // The connection goes on, its next transaction on its own.
    await db.transaction((tx) => tx.write('UPDATE counters SET value = 3'), { holdWrites: true });
    expect(await hits()).toBe(3);
  });

  it('holds the checked writes of a transaction holding writes: a batch of them and its COMMIT go as one message', async () => {
    await db.exec('CREATE TABLE people (id TEXT PRIMARY KEY, visits INTEGER NOT NULL)');
    await db.run("INSERT INTO people VALUES ('ana', 0), ('bea', 0)");
    const order: string[] = [];
    await db.transaction(
      async (tx) => {
        expect(await tx.updateRows('people', 'id', ['visits'], [['ana', 1], ['bea', 2]], { changes: 2, otherwise: 'missing' })).toEqual([]);
        await tx.write('UPDATE counters SET value = 1', [], { changes: 1, otherwise: 'no counter' });
        // Nothing sent yet: the turn is free for another writer of the file.
        await inTurnToWrite(file, BUSY_TIMEOUT_MS, async () => {
          order.push('other writer');
        });
      },
      { holdWrites: true },
    );
    expect(order).toEqual(['other writer']);
    expect(await db.all('SELECT id, visits FROM people ORDER BY id')).toEqual([
      { id: 'ana', visits: 1 },
      { id: 'bea', visits: 2 },
    ]);
    expect(await hits()).toBe(1);
  });

  it('fails with UnexpectedChangesError a held write that changed another number of rows, and commits none of its transaction', async () => {
    const failing = db.transaction(
      async (tx) => {
        await tx.write('UPDATE counters SET value = 8');
        await tx.write('UPDATE counters SET value = 9 WHERE name = ?', ['misses'], { changes: 1, otherwise: 'no misses to move' });
      },
      { holdWrites: true },
    );
    const error = await failing.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UnexpectedChangesError);
    expect(error).toMatchObject({ message: 'no misses to move' });
    expect(await hits()).toBe(0);
  });

  it('counts a table as changed once the transaction that wrote it has committed, not before', async () => {
    const changes = readModelChangesOf(file);
    const before = changes.now();
    await db.transaction(async (tx) => {
      await tx.run('UPDATE counters SET value = 4');
      expect(changes.unchangedSince(['counters'], before)).toBe(true);
    });
    expect(changes.unchangedSince(['counters'], before)).toBe(false);
    expect(changes.unchangedSince(['other_table'], before)).toBe(true);
  });
});
