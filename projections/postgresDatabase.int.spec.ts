import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TEST_DATABASE_URL, aSchemaName, connectForTest, dropSchemas } from '../test/support/postgres';
import { openPostgresDatabase } from './postgresDatabase';
import type { ReadOptions, SqlDatabase } from './sqlDatabase';

const schemas: string[] = [];
afterAll(() => dropSchemas(...schemas));

const openDatabase = (options: { schema?: string; pool?: pg.Pool } = {}) => {
  const schema = options.schema ?? aSchemaName('read');
  schemas.push(schema);
  return openPostgresDatabase({ connectionString: TEST_DATABASE_URL, ...options, schema });
};

describe('openPostgresDatabase', () => {
  let db: SqlDatabase;

  beforeEach(async () => {
    db = await openDatabase();
    await db.exec('CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)');
    await db.run('INSERT INTO counters (name, value) VALUES (?, ?)', ['hits', 0]);
  });

  afterEach(() => db.close());

  const hits = async (on: SqlDatabase = db) =>
    (await on.get<{ value: number }>('SELECT value FROM counters WHERE name = ?', ['hits']))?.value;

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

  it('runs a transaction marked concurrently while another of the handle is open, each committing its own rows', async () => {
    await db.exec('CREATE TABLE parts (part TEXT PRIMARY KEY)');
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const first = db.transaction(
      async (tx) => {
        await tx.run('INSERT INTO parts (part) VALUES (?)', ['first']);
        await held;
      },
      { concurrently: true },
    );
    // Without the option it would wait for the first to end, which waits for it: the test would time out.
    await db.transaction(
      async (tx) => {
        await tx.run('INSERT INTO parts (part) VALUES (?)', ['second']);
        expect(await tx.all('SELECT part FROM parts ORDER BY part')).toEqual([{ part: 'second' }]);
      },
      { concurrently: true },
    );
    release();
    await first;
    expect(await db.all('SELECT part FROM parts ORDER BY part')).toEqual([{ part: 'first' }, { part: 'second' }]);
  });

  it('keeps a transaction not so marked after the ones before it', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const order: string[] = [];
    const first = db.transaction(async (tx) => {
      await tx.run('UPDATE counters SET value = 1');
      await held;
      order.push('first');
    });
    const second = db.transaction(async (tx) => {
      order.push('second began');
      expect(await hits(tx)).toBe(1);
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first', 'second began']);
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

  it('rolls back after a statement the database refused, and keeps working afterwards', async () => {
    const failing = db.transaction(async (tx) => {
      await tx.run('UPDATE counters SET value = 5');
      await tx.run('INSERT INTO counters (name, value) VALUES (?, ?)', ['hits', 1]);
    });

    await expect(failing).rejects.toThrow(/duplicate key/);
    expect(await hits()).toBe(0);
    expect(await db.transaction((tx) => tx.run('UPDATE counters SET value = 2'))).toEqual({ changes: 1 });
  });

  it('never shows a plain read the rows of a transaction that has not committed', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let updated!: () => void;
    const hasUpdated = new Promise<void>((resolve) => (updated = resolve));
    const open = db.transaction(async (tx) => {
      await tx.run('UPDATE counters SET value = 5');
      updated();
      await released;
      throw new Error('abandoned');
    });

    await hasUpdated;
    expect(await hits()).toBe(0);
    release();

    await expect(open).rejects.toThrow('abandoned');
    expect(await hits()).toBe(0);
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

  it('counts as a number, reports changes, and leaves a question mark in a literal alone', async () => {
    await db.run('INSERT INTO counters (name, value) VALUES (?, ?), (?, ?)', ['why?', 1, 'how?', 2]);

    expect(await db.get('SELECT COUNT(*) AS n, SUM(value) AS total FROM counters')).toEqual({ n: 3, total: 3 });
    expect(await db.all(`SELECT name FROM counters WHERE name LIKE '%?' AND value > ? ORDER BY name`, [1])).toEqual([
      { name: 'how?' },
    ]);
    expect(await db.run('UPDATE counters SET value = value + 1 WHERE value >= ?', [1])).toEqual({ changes: 2 });
  });

  it('keeps each schema apart, even on one shared pool', async () => {
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
    try {
      const [first, second] = [await openDatabase({ pool }), await openDatabase({ pool })];
      await first.exec('CREATE TABLE notes (text TEXT)');
      await second.exec('CREATE TABLE notes (text TEXT)');
      await first.run('INSERT INTO notes (text) VALUES (?)', ['first']);
      await second.run('INSERT INTO notes (text) VALUES (?)', ['second']);

      expect(await first.all('SELECT text FROM notes')).toEqual([{ text: 'first' }]);
      expect(await second.all('SELECT text FROM notes')).toEqual([{ text: 'second' }]);

      await first.close();
      await second.close();
      // Borrowed, so still open.
      expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await pool.end();
    }
  });
});

describe('openPostgresDatabase: writes held for the next round trip', () => {
  let pool: pg.Pool;
  let db: SqlDatabase;
  /** Every message to the server that waits for an answer: one round trip each. */
  let roundTrips = 0;

  beforeEach(async () => {
    pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
    pool.on('connect', (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as { query: unknown }).query = (...args: unknown[]) => {
        roundTrips++;
        return query(...args);
      };
    });
    db = await openDatabase({ pool });
    await db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT, big BIGINT)');
    roundTrips = 0;
  });
  afterEach(async () => {
    await db.close();
    await pool.end();
  });

  const notes = () => db.all<{ id: number; text: string | null; big: number | bigint | null }>('SELECT id, text, big FROM notes ORDER BY id');
  const add = (on: SqlDatabase, id: number, text: string | null = `note ${id}`) => on.write('INSERT INTO notes (id, text) VALUES (?, ?)', [id, text]);

  it('sends them with the next statement that answers, and the rest with the COMMIT: 2 round trips for 5 writes and a read', async () => {
    const seen = await db.transaction(
      async (tx) => {
        await add(tx, 1);
        await tx.writeRows('notes', ['id', 'text'], [[2, 'two']]);
        const counted = await tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM notes');
        await add(tx, 3);
        await add(tx, 4);
        await tx.write('UPDATE notes SET text = ? WHERE id = ?', ['one', 1]);
        return counted!.n;
      },
      { holdWrites: true },
    );

    expect(seen).toBe(2);
    expect(roundTrips).toBe(2);
    expect((await notes()).map(({ id, text }) => [id, text])).toEqual([[1, 'one'], [2, 'two'], [3, 'note 3'], [4, 'note 4']]);
  });

  it('holds rows numbered on from the table (an audit trail batch): one round trip for them, the read after them and the COMMIT', async () => {
    const seen = await db.transaction(
      async (tx) => {
        await tx.writeNumberedRows('notes', 'id', ['text'], [['one'], ['two']]);
        await tx.writeNumberedRows('notes', 'id', ['text'], [['three']]);
        const counted = await tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM notes');
        await tx.writeNumberedRows('notes', 'id', ['text'], [['four']]);
        return counted!.n;
      },
      { holdWrites: true },
    );

    expect(seen).toBe(3);
    expect(roundTrips).toBe(2);
    expect((await notes()).map(({ id, text }) => [id, text])).toEqual([[1, 'one'], [2, 'two'], [3, 'three'], [4, 'four']]);
  });

  it('goes a round trip per statement, BEGIN and COMMIT included, in a transaction that does not hold them', async () => {
    await db.transaction(async (tx) => {
      await add(tx, 1);
      await add(tx, 2);
      await tx.get('SELECT COUNT(*) AS n FROM notes');
    });

    expect(roundTrips).toBe(5);
    expect(await notes()).toHaveLength(2);
  });

  it('sends nothing for a transaction that writes nothing', async () => {
    expect(await db.transaction(async () => 'nothing to do', { holdWrites: true })).toBe('nothing to do');
    expect(roundTrips).toBe(0);
  });

  it('stores every value as a parameter stores it: quotes, backslashes, U+0000, U+FFFF, lone surrogates, big integers', async () => {
    const texts = ["it's", 'back\\slash \\\' and \\n', 'nul \u0000 inside', 'escape \uFFFF0 look-alike', 'lone \uD800 half', 'emoji 😀', '$$ dollar $$', '?', ''];
    const big = 2n ** 62n;
    await db.transaction(
      async (tx) => {
        for (const [index, text] of texts.entries()) await add(tx, index + 1, text);
        await tx.write('INSERT INTO notes (id, text, big) VALUES (?, ?, ?)', [100, null, big]);
        await tx.writeRows('notes', ['id', 'text'], texts.map((text, index) => [200 + index, text]));
      },
      { holdWrites: true },
    );
    const held = await notes();
    await db.exec('DELETE FROM notes');
    for (const [index, text] of texts.entries()) await db.run('INSERT INTO notes (id, text) VALUES (?, ?)', [index + 1, text]);
    await db.run('INSERT INTO notes (id, text, big) VALUES (?, ?, ?)', [100, null, big]);
    await db.writeRows('notes', ['id', 'text'], texts.map((text, index) => [200 + index, text]));

    expect(held).toEqual(await notes());
    expect(held.slice(0, texts.length).map(({ text }) => text)).toEqual(texts.map((text) => text.replace('\uD800', '\uFFFD')));
    expect(held.find(({ id }) => id === 100)).toEqual({ id: 100, text: null, big });
  });

  const count = (tx: SqlDatabase) => tx.get('SELECT COUNT(*) AS n FROM notes');
  it.each([
    { carrier: 'the statement', steps: [(tx: SqlDatabase) => add(tx, 2), (tx: SqlDatabase) => add(tx, 1), count] },
    { carrier: 'the COMMIT', steps: [count, (tx: SqlDatabase) => add(tx, 2), (tx: SqlDatabase) => add(tx, 1)] },
  ])('fails $carrier that carries a refused write, with the database error, and keeps nothing of the transaction', async ({ steps }) => {
    await add(db, 1);
    const failing = db.transaction(
      async (tx) => {
        for (const step of steps) await step(tx);
      },
      { holdWrites: true },
    );

    await expect(failing).rejects.toMatchObject({ code: '23505' });
    expect((await notes()).map(({ id }) => id)).toEqual([1]);
    await db.transaction((tx) => add(tx, 3), { holdWrites: true });
    expect((await notes()).map(({ id }) => id)).toEqual([1, 3]);
  });

  it('sends what it holds before a nested transaction, whose rollback then undoes its own writes only', async () => {
    await db.transaction(
      async (tx) => {
        await add(tx, 1);
        await tx
          .transaction(async (nested) => {
            await add(nested, 2);
            throw new Error('nested step failed');
          })
          .catch(() => undefined);
        await add(tx, 3);
      },
      { holdWrites: true },
    );

    expect((await notes()).map(({ id }) => id)).toEqual([1, 3]);
  });
});

describe('openPostgresDatabase: plans', () => {
  it('plans a prepared point read for the table as it is, not as it was when the statement was new', async () => {
    // Its own pool, as the service opens it; used one call at a time, it hands out one connection.
    const db = await openDatabase();
    try {
      await db.exec('CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT)');
      const read = () => db.get<{ name: string }>('SELECT * FROM people WHERE id = ?', ['p7']);
      for (let i = 0; i < 10; i++) expect(await read()).toBeUndefined();
      await db.run(`INSERT INTO people (id, name) SELECT 'p' || g, repeat('x', 500) FROM generate_series(1, 20000) AS g`);
      expect((await read())?.name).toHaveLength(500);

      const [statement] = await db.all<{ name: string; generic_plans: number; custom_plans: number }>(
        `SELECT name, generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE 'SELECT * FROM people WHERE id = $1'`,
      );
      // Without it PostgreSQL settles on a generic plan after five runs, made for the empty table.
      expect(statement).toMatchObject({ generic_plans: 0, custom_plans: 11 });
      const plan = (await db.all<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE ${statement!.name}('p7')`)).map((row) => row['QUERY PLAN']).join('\n');
      expect(plan).toMatch(/Index Scan/);
      expect(plan).not.toMatch(/Seq Scan/);
    } finally {
      await db.close();
    }
  });

  type Plans = { generic_plans: number; custom_plans: number };
  /** How the connection a read of `options` is handed has planned `statement` so far. */
  const plansOf = async (db: SqlDatabase, statement: string, options?: ReadOptions) =>
    (await db.all<Plans>('SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = ?', [statement], options))[0];

  it('plans a read marked planOnce once per connection, and answers as a read planned at each use', async () => {
    const db = await openDatabase();
    try {
      await db.exec('CREATE TABLE facts (at TEXT PRIMARY KEY, n INTEGER NOT NULL)');
      await db.run(`INSERT INTO facts (at, n) SELECT to_char(g, 'FM00000'), g FROM generate_series(1, 5000) AS g`);
      const sum = 'SELECT CAST(SUM(n) AS INTEGER) AS total FROM facts WHERE at >= ? AND at < ?';
      for (let i = 0; i < 6; i++) {
        const range = [`0${1000 + i}`, `0${1100 + i}`];
        expect(await db.all(sum, range, { planOnce: true })).toEqual(await db.all(sum, range));
      }
      const text = 'SELECT CAST(SUM(n) AS INTEGER) AS total FROM facts WHERE at >= $1 AND at < $2';
      // Used one call at a time, each pool hands out one connection: its statements are those above.
      expect(await plansOf(db, text, { planOnce: true })).toEqual({ generic_plans: 6, custom_plans: 0 });
      expect(await plansOf(db, text)).toEqual({ generic_plans: 0, custom_plans: 6 });
      // Inside a transaction, on the transaction's connection, as any statement of it.
      await db.transaction(async (tx) => {
        expect(await tx.all(sum, ['01000', '01100'], { planOnce: true })).toEqual([{ total: 104_950 }]);
        expect(await plansOf(tx, text, { planOnce: true })).toEqual({ generic_plans: 0, custom_plans: 7 });
      });
    } finally {
      await db.close();
    }
  });

  it('plans a read marked planOnce at each use on a borrowed pool, which it opens no connection beside', async () => {
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
    const db = await openDatabase({ pool });
    try {
      const text = 'SELECT CAST(COUNT(*) AS INTEGER) AS n FROM generate_series(1, $1::int) AS g';
      for (let i = 1; i <= 3; i++) expect(await db.all(text.replace('$1', '?'), [i], { planOnce: true })).toEqual([{ n: i }]);
      expect(await plansOf(db, text, { planOnce: true })).toEqual({ generic_plans: 0, custom_plans: 3 });
    } finally {
      await db.close();
      await pool.end();
    }
  });

  it('closes the connections of its reads planned once with the rest', async () => {
    const application = aSchemaName('plans');
    const schema = aSchemaName('read');
    schemas.push(schema);
    const db = await openPostgresDatabase({ connectionString: `${TEST_DATABASE_URL}?application_name=${application}`, schema });
    const observer = await connectForTest();
    const open = async () =>
      (await observer.query<{ n: number }>('SELECT CAST(COUNT(*) AS INTEGER) AS n FROM pg_stat_activity WHERE application_name = $1', [application])).rows[0]!.n;
    try {
      await Promise.all([db.all('SELECT 1 AS one', [], { planOnce: true }), db.all('SELECT 1 AS one')]);
      expect(await open()).toBe(2);
      await db.close();
      await expect.poll(open).toBe(0);
    } finally {
      await observer.end();
    }
  });
});

describe('openPostgresDatabase: prepared statements', () => {
  // One connection, so that every statement below meets the statements prepared before it.
  let pool: pg.Pool;
  let schema: string;
  let db: SqlDatabase;

  beforeEach(async () => {
    pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
    schema = aSchemaName('read');
    db = await openDatabase({ pool, schema });
    await db.exec('CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT)');
    await db.run('INSERT INTO people (id, name) VALUES (?, ?)', ['p1', 'Ana']);
  });

  afterEach(async () => {
    await db.close();
    await pool.end();
  });

  /** Another process: a connection of its own, which the handle under test hears nothing from. */
  const addColumnFromAnotherProcess = async () => {
    const other = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await other.connect();
    try {
      await other.query(`ALTER TABLE "${schema}".people ADD COLUMN email TEXT`);
    } finally {
      await other.end();
    }
  };

  const preparedCount = async () =>
    (await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM pg_prepared_statements WHERE name LIKE 'rm\\_%'`))!.n;

  it('prepares a statement once on a connection and uses it again', async () => {
    const before = await preparedCount();
    for (let i = 0; i < 5; i++) {
      expect(await db.get('SELECT * FROM people WHERE id = ?', ['p1'])).toEqual({ id: 'p1', name: 'Ana' });
    }
    // The count's own statement and the SELECT: one more each, not one per use.
    expect(await preparedCount()).toBe(before + 1);
  });

  it('answers with the new columns once its own DDL makes a table again', async () => {
    expect(await db.get('SELECT * FROM people WHERE id = ?', ['p1'])).toEqual({ id: 'p1', name: 'Ana' });

    await db.exec('DROP TABLE people; CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT, email TEXT)');
    await db.run('INSERT INTO people (id, name, email) VALUES (?, ?, ?)', ['p1', 'Ana', 'ana@example.com']);

    expect(await db.get('SELECT * FROM people WHERE id = ?', ['p1'])).toEqual({ id: 'p1', name: 'Ana', email: 'ana@example.com' });
  });

  it('keeps its statements prepared across maintenance that changes no columns', async () => {
    const read = () => db.get('SELECT * FROM people WHERE id = ?', ['p1']);
    await read();
    const before = await preparedCount();

    await db.exec('VACUUM people');
    await db.exec('ANALYZE people');
    await read();

    expect(await preparedCount()).toBe(before);
  });

  it('answers with the new columns once another process makes the table again, and its next transaction works', async () => {
    const read = (on: SqlDatabase) => on.get('SELECT * FROM people WHERE id = ?', ['p1']);
    expect(await read(db)).toEqual({ id: 'p1', name: 'Ana' });
    await db.transaction(read);

    await addColumnFromAnotherProcess();

    // Outside a transaction the statement is prepared again and answers.
    expect(await read(db)).toEqual({ id: 'p1', name: 'Ana', email: null });
    // In a transaction too, now that the stale statement is left behind.
    expect(await db.transaction(read)).toEqual({ id: 'p1', name: 'Ana', email: null });
  });

  it('fails a transaction that meets a stale statement, as any refused statement, and the next one works', async () => {
    const read = (on: SqlDatabase) => on.get('SELECT * FROM people WHERE id = ?', ['p1']);
    await db.transaction(read);
    await addColumnFromAnotherProcess();

    await expect(
      db.transaction(async (tx) => {
        await tx.run('UPDATE people SET name = ? WHERE id = ?', ['Eva', 'p1']);
        return read(tx);
      }),
    ).rejects.toThrow(/cached plan must not change result type/);

    expect(await db.transaction(read)).toEqual({ id: 'p1', name: 'Ana', email: null });
  });

  it('keeps at most 300 statements prepared on a connection, and still answers those beyond', async () => {
    for (let i = 1; i <= 320; i++) {
      expect(await db.get(`SELECT name, ${i} AS n FROM people WHERE id = ?`, ['p1'])).toEqual({ name: 'Ana', n: i });
    }
    expect(await preparedCount()).toBeLessThanOrEqual(300);
    expect(await preparedCount()).toBeGreaterThanOrEqual(299);
  });
});

describe('openPostgresDatabase: insertRows', () => {
  let db: SqlDatabase;

  beforeEach(async () => {
    db = await openDatabase();
    await db.exec('CREATE TABLE copied (n BIGINT PRIMARY KEY, label TEXT NOT NULL, note TEXT)');
  });

  afterEach(() => db.close());

  const label = (n: number) => `row ${n}\twith a tab, a line\nbreak, a \\ backslash, ñ and 🙂`;
  function* rowsUpTo(count: number, options: { failAt?: number; nullLabelAt?: number } = {}) {
    for (let n = 1; n <= count; n++) {
      if (n === options.failAt) throw new Error(`the source failed at row ${n}`);
      yield [BigInt(n) * 1_000_000_007n, n === options.nullLabelAt ? null : label(n), n % 3 === 0 ? null : `note ${n}`];
    }
  }
  const stored = () => db.all<{ n: string; label: string; note: string | null }>('SELECT CAST(n AS TEXT) AS n, label, note FROM copied ORDER BY copied.n');

  it('stores every row an iterator gives, across many chunks, each value as it was', async () => {
    await db.transaction((tx) => tx.insertRows('copied', ['n', 'label', 'note'], rowsUpTo(2_345)));

    const rows = await stored();
    expect(rows).toHaveLength(2_345);
    expect(rows[2]).toEqual({ n: '3000000021', label: label(3), note: null });
    expect(rows).toEqual([...rowsUpTo(2_345)].map(([n, text, note]) => ({ n: String(n), label: text, note })));
  });

  it('stores U+0000, U+FFFF and a carriage return as a parameter stores them', async () => {
    const labels = ['nul \u0000 inside', 'escape \uFFFF0 look-alike', 'carriage\rreturn', '\\N', 'plain'];
    await db.transaction((tx) => tx.insertRows('copied', ['n', 'label', 'note'], labels.map((text, index) => [index + 1, text, text])));
    const copied = await stored();
    await db.exec('DELETE FROM copied');
    for (const [index, text] of labels.entries()) await db.run('INSERT INTO copied (n, label, note) VALUES (?, ?, ?)', [index + 1, text, text]);

    expect(copied).toEqual(await stored());
    expect(copied.map(({ label }) => label)).toEqual(labels);
  });

  it('stores nothing when the rows fail midway, whether the source or the server refuses them, and goes on working', async () => {
    const failing = db.transaction((tx) => tx.insertRows('copied', ['n', 'label', 'note'], rowsUpTo(3_000, { failAt: 1_500 })));
    await expect(failing).rejects.toThrow('the source failed at row 1500');
    const refused = db.transaction((tx) => tx.insertRows('copied', ['n', 'label', 'note'], rowsUpTo(3_000, { nullLabelAt: 2_001 })));
    await expect(refused).rejects.toThrow(/null value in column "label"/);
    expect(await stored()).toEqual([]);

    await db.transaction((tx) => tx.insertRows('copied', ['n', 'label', 'note'], rowsUpTo(10)));
    expect(await stored()).toHaveLength(10);
  });
});
