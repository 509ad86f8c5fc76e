/**
 * The compaction after an erasure on a SQLite file (`compactAfterErasure`): VACUUM rewrites the
 * whole file, tens of seconds at a million events, on a thread of its own. The API's thread goes
 * on serving meanwhile; a write of this process waits for the VACUUM's turn and then succeeds;
 * and nothing of the erased rows is left in the file or its WAL.
 */
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteDatabase, type SqlDatabase } from '../../projections/sqlDatabase';
import { longestStall } from '../../test/support/eventLoopStalls';
import { temporaryDirectory } from '../../test/support/leadEvents';
import { compactAfterErasure } from './application';

/** Rows of 2,000 characters: a file of about 100 MB, which VACUUM takes most of a second to rewrite here. */
const ROWS = 50_000;
const ERASED = 'erased-person-7f3a';

describe('the compaction after an erasure on a SQLite file', () => {
  let directory: ReturnType<typeof temporaryDirectory>;
  let db: SqlDatabase | undefined;

  afterEach(async () => {
    await db?.close();
    directory.remove();
  });

  it('rewrites the file on another thread: the event loop turns, a write waits for it and lands, nothing erased is left', async () => {
    directory = temporaryDirectory();
    const file = directory.file('read.db');
    db = openSqliteDatabase(file);
    await db.exec('CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, filler TEXT NOT NULL); CREATE TABLE later (id TEXT)');
    await db.transaction(async (tx) => {
      await tx.insertRows(
        'people',
        ['id', 'name', 'filler'],
        Array.from({ length: ROWS }, (_, index) => [index, index % 1000 === 0 ? ERASED : `person-${index}`, 'x'.repeat(2000)]),
      );
    });
    await db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    // An erasure nulls the copies: the old values stay in freed pages until the file is rewritten.
    await db.run('UPDATE people SET name = ? WHERE name = ?', ['(erased)', ERASED]);
    expect(fs.readFileSync(file).includes(ERASED) || fs.readFileSync(`${file}-wal`).includes(ERASED)).toBe(true);

    const order: string[] = [];
    const { longestStallMs, elapsedMs } = await longestStall(async () => {
      const compacted = compactAfterErasure({ kind: 'sqlite', filename: file }, db!).then(() => order.push('compacted'));
      // Asked once the VACUUM holds the file's write turn: it waits for it, without failing.
      await new Promise((resolve) => setTimeout(resolve, 20));
      const written = db!.run("INSERT INTO later (id) VALUES ('after')").then(() => order.push('written'));
      await Promise.all([compacted, written]);
    });

    expect(elapsedMs).toBeGreaterThan(150);
    expect(longestStallMs).toBeLessThan(100);
    expect(order).toEqual(['compacted', 'written']);
    expect(await db.get('SELECT id FROM later')).toEqual({ id: 'after' });
    expect(await db.get('SELECT COUNT(*) AS n FROM people')).toEqual({ n: ROWS });
    expect(await db.get('PRAGMA integrity_check')).toEqual({ integrity_check: 'ok' });
    // The WAL held the write after the VACUUM only, never the erased values.
    await db.close();
    db = undefined;
    expect(fs.readFileSync(file).includes(ERASED)).toBe(false);
    expect(fs.existsSync(`${file}-wal`) && fs.readFileSync(`${file}-wal`).includes(ERASED)).toBe(false);
  });
});
