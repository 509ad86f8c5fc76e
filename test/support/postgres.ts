/**
 * The real PostgreSQL the tests run against, and throwaway schemas in it: test files run in
 * parallel, so each works in schemas of its own and drops them when done.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';

export const TEST_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A schema name nobody else uses; `purpose` only helps whoever looks at the database. */
export const aSchemaName = (purpose: string): string =>
  `test_${purpose}_${randomUUID().replace(/-/g, '').slice(0, 12)}`;

/** A connection of the test's own, outside the code under test (to tamper, to hold locks). */
export const connectForTest = async (): Promise<pg.Client> => {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  return client;
};

export const dropSchemas = async (...schemas: string[]): Promise<void> => {
  const client = await connectForTest();
  try {
    for (const schema of schemas) {
      await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
    }
  } finally {
    await client.end();
  }
};
