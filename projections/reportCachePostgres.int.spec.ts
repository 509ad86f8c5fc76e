/**
 * The report cache on a real PostgreSQL schema, written and read through two pools as the API
 * does (the runner's, and the queries'): an answer from memory is never older than a fresh one,
 * and an instance that does not lead never answers from memory.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TEST_DATABASE_URL, aSchemaName, connectForTest, dropSchemas } from '../test/support/postgres';
import { openPostgresDatabase } from './postgresDatabase';
import { cachingReports } from './reportCache';
import { changesSeenWhileLeading, readModelChangesOfSchema, type ChangeCount } from './readModelChanges';
import type { SqlDatabase } from './sqlDatabase';

const schemas: string[] = [];
afterAll(() => dropSchemas(...schemas));

let schema: string;
let writer: SqlDatabase;
let reader: SqlDatabase;

beforeEach(async () => {
  schema = aSchemaName('report_cache');
  schemas.push(schema);
  writer = await openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema });
  await writer.exec('CREATE TABLE wins (amount INTEGER); CREATE TABLE losses (amount INTEGER); INSERT INTO wins VALUES (10);');
  reader = await openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema });
});

afterEach(async () => {
  await writer.close();
  await reader.close();
});

/** A report of the wins' total, counting how often it is computed. */
const winsReport = (changes: ChangeCount = readModelChangesOfSchema(TEST_DATABASE_URL, schema)) => {
  const cache = cachingReports(reader, changes);
  let computed = 0;
  const total = () =>
    cache.report('wins', {}, async (db) => {
      computed += 1;
      return (await db.get<{ total: number }>('SELECT CAST(SUM(amount) AS INTEGER) AS total FROM wins'))!.total;
    });
  return { cache, total, computed: () => computed };
};

describe('reports answered from memory, on PostgreSQL', () => {
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
    expect(cache.stats()).toMatchObject({ hits: 2, misses: 2, entries: 1 });
  });

  it('does not take a report read before a commit as current after it', async () => {
    const { total, computed } = winsReport();
    await writer.transaction(async (tx) => {
      await tx.run('INSERT INTO wins VALUES (7)');
      await tx.run('UPDATE wins SET amount = amount + 1');
      // Read on another connection while the write is not committed: the rows before it.
      expect(await total()).toBe(10);
    });
    expect(await total()).toBe(19);
    expect(computed()).toBe(2);
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

describe('reports of a read store other instances may write', () => {
  /** Another instance's write: not through this process's pools, so not seen here. */
  const writeElsewhere = async (sql: string) => {
    const client = await connectForTest();
    try {
      await client.query(`SET search_path TO ${schema}`);
      await client.query(sql);
    } finally {
      await client.end();
    }
  };

  it('are computed every time, and never shared, while this instance follows', async () => {
    const { total, computed } = winsReport(changesSeenWhileLeading(readModelChangesOfSchema(TEST_DATABASE_URL, schema), () => undefined));
    expect(await Promise.all([total(), total()])).toEqual([10, 10]);
    expect(await total()).toBe(10);
    expect(computed()).toBe(3);
    await writeElsewhere('INSERT INTO wins VALUES (5)');
    expect(await total()).toBe(15);
    expect(computed()).toBe(4);
  });

  it('are computed again in a new term, however few were asked while another instance led', async () => {
    let term: number | undefined = 1;
    const { total, computed } = winsReport(changesSeenWhileLeading(readModelChangesOfSchema(TEST_DATABASE_URL, schema), () => term));
    expect(await total()).toBe(10);
    expect(await total()).toBe(10);
    expect(computed()).toBe(1);

    // The lead passes to another instance, which writes, and comes back, with no report asked meanwhile.
    term = undefined;
    await writeElsewhere('INSERT INTO wins VALUES (5)');
    term = 2;
    expect(await total()).toBe(15);
    expect(await total()).toBe(15);
    expect(computed()).toBe(2);
  });
});
