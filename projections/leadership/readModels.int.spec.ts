import { afterEach, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { openPostgresEventStore, type PostgresEventStore } from '../../src/eventStores/postgres';
import { openSqliteEventStore } from '../../src/eventStores/sqlite';
import { leadsProjection } from '../leads/leadsProjection';
import { getLead } from '../leads/leadView';
import { openPostgresDatabase } from '../postgresDatabase';
import { ProjectionRunner, ReadModelTimeoutError } from '../runner';
import { openSqliteDatabase } from '../sqlDatabase';
import { appendAll, generateLeadHistory, temporaryDirectory } from '../../test/support/leadEvents';
import { aSchemaName, connectForTest, dropSchemas, TEST_DATABASE_URL } from '../../test/support/postgres';
import { advisoryLockKey } from './advisoryLockLease';
import { ReadModels } from './readModels';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const eventually = async (condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
};

/** A fresh schema, its event store, and instances of the read side that compete for its lease. */
const sharedReadDatabase = async () => {
  const schema = aSchemaName('lease');
  const leaseName = `test:${schema}`;
  const store: PostgresEventStore = await openPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema, pollIntervalMs: 50 });
  cleanups.push(async () => {
    await store.close();
    await dropSchemas(schema);
  });
  const openInstance = async () => {
    const projectionDb = await openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema });
    const readDb = await openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema });
    const log: string[] = [];
    const readModels = await ReadModels.open({
      store,
      projectionDb,
      readDb,
      projections: [leadsProjection],
      lease: { connectionString: TEST_DATABASE_URL, name: leaseName, retryIntervalMs: 100 },
      logger: { log: (line: string) => log.push(line), error: (line: string) => log.push(line) },
    });
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await readModels.close();
      await Promise.all([projectionDb.close(), readDb.close()]);
    };
    cleanups.push(close);
    return { readModels, readDb, log, close };
  };
  const append = (seed: number) => appendAll(store, generateLeadHistory({ seed, leadCount: 5, eventCount: 30 }));
  return { schema, leaseName, store, openInstance, append };
};

/** A session of the test's own, to hold a lease or to cut an instance's session. */
const testSession = async (): Promise<pg.Client> => {
  const client = await connectForTest();
  cleanups.push(() => client.end());
  return client;
};

describe('ReadModels on one PostgreSQL read database', () => {
  it('lets one instance project while the other waits for its writes on the shared checkpoints', async () => {
    const { openInstance, append } = await sharedReadDatabase();
    const first = await openInstance();
    const second = await openInstance();
    expect([first.readModels.role, second.readModels.role]).toEqual(['leader', 'follower']);

    const position = await append(1);
    await second.readModels.waitForPosition(position, 10_000);
    const leads = await second.readDb.all<{ id: string }>('SELECT id FROM read_leads');
    expect(leads.length).toBeGreaterThan(0);
    await eventually(() => second.readModels.isReady(), 'the follower ready');
    expect(first.readModels.isReady()).toBe(true);
  });

  it('keeps a follower unready and waiting while nobody projects, until it takes the lease itself', async () => {
    const { openInstance, append, leaseName } = await sharedReadDatabase();
    const holder = await testSession();
    await holder.query('SELECT pg_advisory_lock($1::bigint)', [advisoryLockKey(leaseName)]);
    const position = await append(2);
    const instance = await openInstance();

    expect(instance.readModels.role).toBe('follower');
    await expect(instance.readModels.waitForPosition(position, 300)).rejects.toBeInstanceOf(ReadModelTimeoutError);
    expect(instance.readModels.isReady()).toBe(false);

    const waiting = instance.readModels.waitForPosition(position, 10_000);
    await holder.query('SELECT pg_advisory_unlock_all()');
    await waiting;
    expect(instance.readModels.role).toBe('leader');
    await eventually(() => instance.readModels.isReady(), 'ready once leading');
  });

  it('hands the projections over when the leader closes, and a follower wait in progress completes', async () => {
    const { openInstance, append } = await sharedReadDatabase();
    const first = await openInstance();
    const second = await openInstance();
    await second.readModels.waitForPosition(await append(3), 10_000);

    await first.close();
    const position = await append(4);
    await second.readModels.waitForPosition(position, 10_000);
    expect(second.readModels.role).toBe('leader');
    const lead = await getLead(second.readDb, generateLeadHistory({ seed: 4, leadCount: 5, eventCount: 30 })[0]!.event.data.leadId);
    expect(lead).toBeDefined();
  });

  it('makes an instance whose lease session is cut step down, so that exactly one leads again', async () => {
    const { openInstance, append, leaseName } = await sharedReadDatabase();
    const first = await openInstance();
    const second = await openInstance();
    const admin = await testSession();
    const key = BigInt(advisoryLockKey(leaseName));
    const { rowCount } = await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_locks
       WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 1`,
      [String((key >> 32n) & 0xffffffffn), String(key & 0xffffffffn)],
    );
    expect(rowCount).toBe(1);

    await eventually(() => first.log.some((line) => line.includes('lost the lease')), 'the leader stepping down');
    await eventually(
      () => [first, second].filter((instance) => instance.readModels.role === 'leader').length === 1,
      'one leader again',
    );
    const position = await append(5);
    await Promise.all([first, second].map((instance) => instance.readModels.waitForPosition(position, 10_000)));
  });
});

describe('two projection runners on one read database by mistake', () => {
  it('never apply an event twice: the second to move a checkpoint rolls back and stops', async () => {
    const directory = temporaryDirectory();
    const store = openSqliteEventStore({ filename: directory.file('crm.sqlite'), pollIntervalMs: 20 });
    const dbs = [openSqliteDatabase(store.filename), openSqliteDatabase(store.filename)];
    const runners = dbs.map((db) => new ProjectionRunner({ store, db, projections: [leadsProjection], logger: { error: () => undefined } }));
    cleanups.push(async () => {
      for (const runner of runners) await runner.stop();
      for (const db of dbs) await db.close();
      await store.close();
      directory.remove();
    });
    for (const runner of runners) await runner.start();

    const position = await appendAll(store, generateLeadHistory({ seed: 6, leadCount: 3, eventCount: 20 }));
    await eventually(() => runners.some((runner) => runner.lastError !== undefined), 'one runner refused');
    const [failed, survivor] = runners[0]!.lastError ? runners : [runners[1]!, runners[0]!];
    expect(String(failed!.lastError)).toContain('moved by another runner');
    await survivor!.waitForPosition(position);
    expect(survivor!.lastError).toBeUndefined();
  });
});
