/**
 * A follower's wait on the shared checkpoints, against rows written as a leader writes them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteDatabase, type SqlDatabase } from '../sqlDatabase';
import { ReadModelTimeoutError } from '../runner';
import { SharedCheckpoints } from './sharedCheckpoints';
import { temporaryDirectory } from '../../test/support/leadEvents';

const store = { comparePositions: (a: string, b: string) => Number(a) - Number(b) };

describe('a follower waiting on the shared checkpoints', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  const tableWith = async (rows: Array<[name: string, version: number, position: string]>): Promise<SqlDatabase> => {
    const directory = temporaryDirectory();
    const db = openSqliteDatabase(directory.file('read.db'));
    cleanups.push(() => directory.remove(), () => db.close());
    await db.exec('CREATE TABLE projection_checkpoints (name TEXT PRIMARY KEY, version INTEGER NOT NULL, position TEXT, updated_at TEXT NOT NULL, failure TEXT)');
    for (const [name, version, position] of rows) {
      await db.run("INSERT INTO projection_checkpoints (name, version, position, updated_at) VALUES (?, ?, ?, 'now')", [name, version, position]);
    }
    return db;
  };

  const follower = (db: SqlDatabase, versions: Record<string, number>) => {
    const watcher = new SharedCheckpoints({ db, store, projectionNames: Object.keys(versions), projectionVersions: new Map(Object.entries(versions)), pollIntervalMs: 5 });
    cleanups.push(() => watcher.stop());
    return watcher;
  };

  it('does not wait for a projection whose row holds another version (being rebuilt beside its old rows), and waits for the others', async () => {
    const db = await tableWith([
      ['leads', 3, '10'],
      ['audit-events', 1, '90'],
    ]);

    // The leader builds leads v4 beside its v3 rows: a write at 50 is answered once the others have it.
    expect(await follower(db, { leads: 4, 'audit-events': 1 }).waitForPosition('50', 1000)).toEqual([]);
    // Of the same version, leads is waited for, as always.
    await expect(follower(db, { leads: 3, 'audit-events': 1 }).waitForPosition('50', 200)).rejects.toBeInstanceOf(ReadModelTimeoutError);
    await expect(follower(db, { leads: 4, 'audit-events': 1 }).waitForPosition('95', 200)).rejects.toBeInstanceOf(ReadModelTimeoutError);
  });
});
