/**
 * rowsInTurn on PostgreSQL: the reads asked in one turn share statements, and each caller gets
 * the row it asked for (or undefined), its own copy, never a row older than its question.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { countedReads } from '../test/support/countedReads';
import { TEST_DATABASE_URL, aSchemaName, dropSchemas } from '../test/support/postgres';
import { openPostgresDatabase } from './postgresDatabase';
import { rowsInTurn } from './rowsInTurn';
import type { SqlDatabase } from './sqlDatabase';

const schemas: string[] = [];
afterAll(() => dropSchemas(...schemas));

describe('rowsInTurn', () => {
  let db: SqlDatabase;
  const rowOf = rowsInTurn('people', 'id');

  beforeEach(async () => {
    const schema = aSchemaName('rows_in_turn');
    schemas.push(schema);
    db = await openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema });
    await db.exec('CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT NOT NULL)');
    for (let index = 0; index < 50; index++) await db.run('INSERT INTO people (id, name) VALUES (?, ?)', [`p${index}`, `Person ${index}`]);
  });

  afterEach(() => db.close());

  it('reads the rows asked in one turn in one statement, each caller its row', async () => {
    const { handle, statements } = countedReads(db);
    const keys = Array.from({ length: 45 }, (_, index) => `p${index}`);
    const rows = await Promise.all(keys.map((key) => rowOf(handle, key)));
    expect(rows.map((row) => row?.name)).toEqual(keys.map((key) => `Person ${key.slice(1)}`));
    // One statement instead of 45.
    expect(statements).toHaveLength(1);
  });

  it('answers a missing key with undefined and the same key asked twice with two copies', async () => {
    const [missing, first, second] = await Promise.all([rowOf(db, 'nobody'), rowOf(db, 'p1'), rowOf(db, 'p1')]);
    expect(missing).toBeUndefined();
    expect(first).toEqual({ id: 'p1', name: 'Person 1' });
    expect(second).toEqual(first);
    first!.name = 'changed by its reader';
    expect(second!.name).toBe('Person 1');
  });

  it('never answers with a row older than the question: a read asked after a write sees it', async () => {
    const before = rowOf(db, 'p2'); // its statement may still be on the wire when the write ends
    await db.run('UPDATE people SET name = ? WHERE id = ?', ['Renamed', 'p2']);
    const after = rowOf(db, 'p2');
    expect((await after)?.name).toBe('Renamed');
    expect(['Person 2', 'Renamed']).toContain((await before)?.name);
    // Each later turn reads again, on its own.
    const { handle, statements } = countedReads(db);
    expect((await rowOf(handle, 'p2'))?.name).toBe('Renamed');
    expect((await rowOf(handle, 'p3'))?.name).toBe('Person 3');
    expect(statements).toHaveLength(2);
  });

  it('rejects every reader of a turn whose statement fails, and the next turn reads again', async () => {
    const failing = rowsInTurn('no_such_table', 'id');
    const results = await Promise.allSettled([failing(db, 'a'), failing(db, 'b'), failing(db, 'a')]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/no_such_table/);
    expect((await rowOf(db, 'p4'))?.name).toBe('Person 4');
  });

  it('keeps the reads of two databases apart', async () => {
    const schema = aSchemaName('rows_in_turn');
    schemas.push(schema);
    const other = await openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema });
    try {
      await other.exec('CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT NOT NULL)');
      await other.run('INSERT INTO people (id, name) VALUES (?, ?)', ['p1', 'Elsewhere']);
      const [here, there] = await Promise.all([rowOf(db, 'p1'), rowOf(other, 'p1')]);
      expect(here?.name).toBe('Person 1');
      expect(there?.name).toBe('Elsewhere');
    } finally {
      await other.close();
    }
  });
});
