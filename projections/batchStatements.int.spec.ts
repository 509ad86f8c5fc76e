/**
 * A batch's rows written and read in few statements (`writeRows`, `rowsByKeys`), on both ports:
 * one statement on PostgreSQL whatever the count, chunks on SQLite, and every value back as it
 * was given, the awkward ones included.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { countedReads } from '../test/support/countedReads';
import { TEST_DATABASE_URL, aSchemaName, dropSchemas } from '../test/support/postgres';
import { rowsByKeys } from './rowsByKeys';
import { openPostgresDatabase } from './postgresDatabase';
import { openSqliteDatabase, UnexpectedChangesError, type SqlDatabase, type SqlValue } from './sqlDatabase';

const schemas: string[] = [];
afterAll(() => dropSchemas(...schemas));

const AWKWARD = [
  'plain',
  'with "quotes", a \\ backslash, {braces}, commas',
  'NUL \u0000 inside',
  'the escape \uFFFF itself',
  'línea\nnueva\ty tabulador',
  'emoji 👩‍💼 and ß',
  '',
];

const COLUMNS = ['id', 'name', 'visits', 'big', 'note'];

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`writeRows and rowsByKeys on ${dialect}`, () => {
    let db: SqlDatabase;

    beforeEach(async () => {
      if (dialect === 'sqlite') {
        db = openSqliteDatabase(':memory:');
      } else {
        const schema = aSchemaName('batch_statements');
        schemas.push(schema);
        db = await openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema });
      }
      await db.exec('CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT NOT NULL, visits INTEGER NOT NULL, big BIGINT, note TEXT DEFAULT \'none\', seen INTEGER NOT NULL DEFAULT 7)');
    });
    afterEach(() => db.close());

    const rowOf = (index: number): SqlValue[] => [
      `p${index}`,
      AWKWARD[index % AWKWARD.length]!,
      index,
      index % 3 === 0 ? null : 2n ** 60n + BigInt(index),
      index % 2 === 0 ? null : `note ${index}`,
    ];

    it('writes 75 rows, awkward texts, nulls and integers beyond 2^53 included, each back as it was; unlisted columns take their defaults', async () => {
      const rows = Array.from({ length: 75 }, (_, index) => rowOf(index));
      expect(await db.transaction((tx) => tx.writeRows('people', COLUMNS, rows))).toEqual([]);
      const stored = await db.all<Record<string, SqlValue>>('SELECT id, name, visits, big, note, seen FROM people ORDER BY visits');
      expect(stored).toEqual(
        rows.map(([id, name, visits, big, note]) => ({
          id,
          name,
          visits,
          // better-sqlite3 reads integers as numbers; the PostgreSQL port gives those beyond 2^53 as bigints.
          big: big === null ? null : dialect === 'sqlite' ? Number(big) : big,
          note,
          seen: 7,
        })),
      );
    });

    it('takes a tail: an upsert answers what RETURNING gives, a conflict without it changes nothing', async () => {
      await db.writeRows('people', COLUMNS, [rowOf(1), rowOf(2)]);
      const returned = await db.writeRows<{ id: string; visits: number }>(
        'people',
        ['id', 'name', 'visits'],
        [['p1', 'Renamed', 100], ['p3', 'New', 3]],
        'ON CONFLICT (id) DO UPDATE SET name = excluded.name, visits = excluded.visits RETURNING id, visits',
      );
      expect(returned.sort((a, b) => a.id.localeCompare(b.id))).toEqual([{ id: 'p1', visits: 100 }, { id: 'p3', visits: 3 }]);
      expect(await db.writeRows('people', ['id', 'name', 'visits'], [['p2', 'Ignored', 0]], 'ON CONFLICT (id) DO NOTHING RETURNING id')).toEqual([]);
      expect(await db.all('SELECT id, name, visits FROM people ORDER BY id')).toEqual([
        { id: 'p1', name: 'Renamed', visits: 100 },
        { id: 'p2', name: AWKWARD[2], visits: 2 },
        { id: 'p3', name: 'New', visits: 3 },
      ]);
    });

    it('writes a batch of rows as one statement on PostgreSQL, and rolls back with its transaction', async () => {
      const rows = Array.from({ length: 200 }, (_, index) => rowOf(index));
      const failing = db.transaction(async (tx) => {
        await tx.writeRows('people', COLUMNS, rows);
        throw new Error('the batch failed after its write');
      });
      await expect(failing).rejects.toThrow('the batch failed');
      expect(await db.get('SELECT COUNT(*) AS count FROM people')).toEqual({ count: 0 });
      if (dialect === 'postgres') {
        // Two rows with one key: PostgreSQL refuses the statement as a whole, so nothing is half written.
        await expect(db.writeRows('people', COLUMNS, [rowOf(1), rowOf(1)], 'ON CONFLICT (id) DO UPDATE SET visits = excluded.visits')).rejects.toThrow(
          /cannot affect row a second time/,
        );
        expect(await db.get('SELECT COUNT(*) AS count FROM people')).toEqual({ count: 0 });
      }
    });

    it('numbers rows on from the largest number in the table, in their order, in and out of transactions', async () => {
      await db.exec('CREATE TABLE trail (seq INTEGER PRIMARY KEY, what TEXT NOT NULL, big BIGINT)');
      await db.writeNumberedRows('trail', 'seq', ['what', 'big'], [['first', null], ['second', 2n ** 60n]]);
      // A gap left by rows written otherwise: numbering goes on from the largest, not the count.
      await db.run('INSERT INTO trail (seq, what) VALUES (?, ?)', [10, 'tenth']);
      await db.transaction(async (tx) => {
        await tx.writeNumberedRows('trail', 'seq', ['what', 'big'], AWKWARD.map((text) => [text, null]));
        await tx.writeNumberedRows('trail', 'seq', ['what', 'big'], [['after the awkward ones', 1]]);
        await tx.writeNumberedRows('trail', 'seq', ['what', 'big'], []);
      });
      const failing = db.transaction(async (tx) => {
        await tx.writeNumberedRows('trail', 'seq', ['what', 'big'], [['rolled back', null]]);
        throw new Error('the batch failed after its write');
      });
      await expect(failing).rejects.toThrow('the batch failed');
      expect(await db.all('SELECT seq, what FROM trail ORDER BY seq')).toEqual([
        { seq: 1, what: 'first' },
        { seq: 2, what: 'second' },
        { seq: 10, what: 'tenth' },
        ...AWKWARD.map((what, index) => ({ seq: 11 + index, what })),
        { seq: 11 + AWKWARD.length, what: 'after the awkward ones' },
      ]);
      expect(await db.get('SELECT big FROM trail WHERE seq = 2')).toEqual({ big: dialect === 'sqlite' ? Number(2n ** 60n) : 2n ** 60n });
    });

    it('updates rows by key, awkward values included, and answers the keys it found', async () => {
      await db.writeRows('people', COLUMNS, Array.from({ length: 10 }, (_, index) => rowOf(index)));
      const found = await db.updateRows('people', 'id', ['name', 'big'], [
        ['p1', AWKWARD[2]!, 2n ** 62n],
        ['p2', AWKWARD[3]!, null],
        ['nobody', 'Nobody', 1],
      ]);
      expect(found.sort()).toEqual(['p1', 'p2']);
      expect(await db.all('SELECT id, name, visits, big, note FROM people WHERE id IN (?, ?, ?) ORDER BY id', ['p1', 'p2', 'p3'])).toEqual([
        { id: 'p1', name: AWKWARD[2], visits: 1, big: dialect === 'sqlite' ? Number(2n ** 62n) : 2n ** 62n, note: 'note 1' },
        { id: 'p2', name: AWKWARD[3], visits: 2, big: null, note: null },
        { id: 'p3', name: AWKWARD[3], visits: 3, big: null, note: 'note 3' },
      ]);
      expect(await db.updateRows('people', 'id', ['name'], [])).toEqual([]);
    });

    it('fails a write that changes another number of rows than expected, held or not, and commits none of its transaction', async () => {
      await db.writeRows('people', COLUMNS, [rowOf(1)]);
      for (const holdWrites of [false, true]) {
        const failing = db.transaction(
          async (tx) => {
            await tx.write('UPDATE people SET visits = 9 WHERE id = ?', ['p1'], { changes: 1, otherwise: 'not one person' });
            await tx.write('UPDATE people SET visits = 10 WHERE id = ?', ['nobody'], { changes: 1, otherwise: 'nobody to move' });
          },
          { holdWrites },
        );
        const error = await failing.catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(UnexpectedChangesError);
        expect(error).toMatchObject({ message: 'nobody to move' });
        expect(await db.get('SELECT visits FROM people')).toEqual({ visits: 1 });
      }
      await db.transaction((tx) => tx.write('UPDATE people SET visits = 9', [], { changes: 1, otherwise: 'not one' }), { holdWrites: true });
      expect(await db.get('SELECT visits FROM people')).toEqual({ visits: 9 });
    });

    it('updates rows by key expecting each found: answers no keys, and fails its transaction, nothing written, when one is missing', async () => {
      await db.writeRows('people', COLUMNS, Array.from({ length: 3 }, (_, index) => rowOf(index)));
      const expected = { changes: 2, otherwise: 'a person is missing' };
      expect(await db.transaction((tx) => tx.updateRows('people', 'id', ['visits'], [['p1', 11], ['p2', 12]], expected))).toEqual([]);
      const failing = db.transaction((tx) => tx.updateRows('people', 'id', ['visits'], [['p0', 10], ['nobody', 13]], expected), { holdWrites: true });
      await expect(failing).rejects.toThrow('a person is missing');
      expect(await db.all('SELECT id, visits FROM people ORDER BY id')).toEqual([
        { id: 'p0', visits: 0 },
        { id: 'p1', visits: 11 },
        { id: 'p2', visits: 12 },
      ]);
    });

    it('reads rows by their keys, the awkward ones and missing ones included, in one statement on PostgreSQL', async () => {
      const keys = [...AWKWARD, ...Array.from({ length: 40 }, (_, index) => `k${index}`)];
      await db.writeRows('people', ['id', 'name', 'visits'], keys.map((key, index) => [key, `Name of ${key}`, index]));
      const { handle, statements } = countedReads(db);
      const wanted = [...keys, 'nobody', 'p"}{,'];
      const rows = await rowsByKeys<{ id: string; name: string }>(handle, 'people', 'id', wanted);
      expect(rows.map((row) => row.id).sort()).toEqual([...keys].sort());
      for (const row of rows) expect(row.name).toBe(`Name of ${row.id}`);
      // 49 keys: one array on PostgreSQL; 32 + 16 + 1 on SQLite.
      expect(statements).toHaveLength(dialect === 'postgres' ? 1 : 3);
      expect(await rowsByKeys(db, 'people', 'id', [])).toEqual([]);
    });

    if (dialect === 'postgres') {
      it('stores a lone UTF-16 surrogate as U+FFFD, as a parameter is', async () => {
        await db.writeRows('people', ['id', 'name', 'visits'], [['batch', 'half \uD83D of an emoji', 1]]);
        await db.run('INSERT INTO people (id, name, visits) VALUES (?, ?, ?)', ['parameter', 'half \uD83D of an emoji', 2]);
        expect(await db.all('SELECT id, name FROM people ORDER BY id')).toEqual([
          { id: 'batch', name: 'half \uFFFD of an emoji' },
          { id: 'parameter', name: 'half \uFFFD of an emoji' },
        ]);
      });
    }
  });
}
