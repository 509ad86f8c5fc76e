/**
 * A database that cannot take a write for a moment is no internal error: the client is told
 * UNAVAILABLE, with HTTP 503 and Retry-After, nothing is recorded, and the same mutation sent
 * again with the same idempotency key records the lead once. On SQLite another process holds the
 * file's write lock past the busy timeout (a backup, a command run beside the server); on
 * PostgreSQL the server ends the connection a capture waits on; EventStoreDB's client finds no
 * server to append to (the protocol model of test/support/eventStoreDbModel.ts, closed: it cannot
 * come back with its events, so that test stops at the answer). And a write recorded while the
 * read models cannot take it in time is told READ_MODEL_BEHIND (recorded: do not send it again).
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, expect, it } from 'vitest';
import { DATABASE_FILE } from '../src/composition/config';
import { startEventStoreDbModel } from './support/eventStoreDbModel';
import { aSchemaName, connectForTest, dropSchemas, TEST_DATABASE_URL } from './support/postgres';
import { startTestServer, type TestServer } from './support/testServer';

const CAPTURE = `mutation Capture($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id revision } } }`;
const captureInput = (lastName: string, idempotencyKey: string) => ({
  input: { source: 'WEB_FORM', person: { lastName, email: `${lastName.toLowerCase()}@example.com` }, idempotencyKey },
});
const leadsNamed = async (server: TestServer, lastName: string): Promise<number> => {
  const { data } = await server.gql<{ leads: { totalCount: number } }>(`{ leads(filter: { search: "${lastName}" }) { totalCount } }`);
  return data!.leads.totalCount;
};
/** The raw HTTP answer: the test reads its status and headers. */
const post = async (server: TestServer, variables: Record<string, unknown>) =>
  fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await server.token()}` },
    body: JSON.stringify({ query: CAPTURE, variables }),
  });

/**
 * A first lead, captured and scored: the key pool and the lead scorer have done what they do at
 * first, and no work of theirs is left to wait behind (or be taken for) the lock a test takes next.
 */
const captureScored = async (server: TestServer): Promise<void> => {
  const first = await server.gql(CAPTURE, captureInput('Warmup', 'warmup-1'));
  expect(first.errors).toBeUndefined();
  const score = async () => (await server.gql(`{ lead(id: "${first.data!.captureLead.lead.id}") { score } }`)).data!.lead.score;
  await expect.poll(score, { timeout: 10_000 }).not.toBeNull();
};

/**
 * A test server on a fresh PostgreSQL schema, its first lead scored, and a test connection that
 * holds `table` of that schema locked in `mode` in a transaction of its own (`release` ends it).
 */
const postgresServerWithLock = async (purpose: string, table: string, mode: string) => {
  const schema = aSchemaName(purpose);
  cleanups.push(() => dropSchemas(schema));
  const server = await startTestServer({
    env: { CRM_EVENT_STORE: 'postgres', CRM_READ_STORE: 'postgres', DATABASE_URL: TEST_DATABASE_URL, CRM_PG_SCHEMA: schema },
  });
  cleanups.push(() => server.stop());
  await captureScored(server);
  const holder = await connectForTest();
  cleanups.push(() => holder.end());
  await holder.query('BEGIN');
  await holder.query(`LOCK TABLE ${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)} IN ${mode} MODE`);
  const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  return { server, holderPid, release: () => holder.query('ROLLBACK') };
};

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const expectUnavailable = async (response: Response) => {
  const body = (await response.json()) as { data?: unknown; errors?: Array<{ message: string; extensions: Record<string, unknown> }> };
  expect(body.errors?.map((error) => error.extensions)).toEqual([{ code: 'UNAVAILABLE', retryAfterSeconds: 1 }]);
  expect(body.errors?.[0]?.message).toMatch(/send it again/);
  expect(body.data ?? null).toBeNull();
  expect(response.status).toBe(503);
  expect(response.headers.get('retry-after')).toBe('1');
};

it('SQLite: a write lock held by another process past the busy timeout answers UNAVAILABLE, and the write is recorded once when sent again', async () => {
  const server = await startTestServer();
  cleanups.push(() => server.stop());
  await captureScored(server);

  const other = new Database(path.join(server.dataDir, DATABASE_FILE));
  cleanups.push(async () => void other.close());
  other.exec('BEGIN IMMEDIATE');
  const refused = await post(server, captureInput('Lockedout', 'locked-1'));
  await expectUnavailable(refused);
  other.exec('ROLLBACK');

  expect(await leadsNamed(server, 'Lockedout')).toBe(0);
  const again = await server.gql(CAPTURE, captureInput('Lockedout', 'locked-1'));
  expect(again.errors).toBeUndefined();
  const replayed = await server.gql(CAPTURE, captureInput('Lockedout', 'locked-1'));
  expect(replayed.data).toEqual(again.data);
  expect(await leadsNamed(server, 'Lockedout')).toBe(1);
}, 60_000);

it('PostgreSQL: a capture whose connection the server ends answers UNAVAILABLE, and the write is recorded once when sent again', async () => {
  // Every read and append of the log waits behind this lock: the capture's own (its stream read
  // first) is ended by the server, the projections' subscription (its query reads the horizon) is not.
  const { server, holderPid, release } = await postgresServerWithLock('unavailable', 'events', 'ACCESS EXCLUSIVE');
  const answer = post(server, captureInput('Cutoff', 'cutoff-1'));
  const watcher = await connectForTest();
  cleanups.push(() => watcher.end());
  const waitingCapture = async () =>
    (
      await watcher.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query NOT LIKE '%horizon%' AND pid <> $1`,
        [holderPid],
      )
    ).rows.map((row) => row.pid);
  await expect.poll(waitingCapture, { timeout: 10_000 }).toHaveLength(1);
  await watcher.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [await waitingCapture()]);
  await expectUnavailable(await answer);
  await release();

  expect(await leadsNamed(server, 'Cutoff')).toBe(0);
  const again = await server.gql(CAPTURE, captureInput('Cutoff', 'cutoff-1'));
  expect(again.errors).toBeUndefined();
  expect(await leadsNamed(server, 'Cutoff')).toBe(1);
}, 60_000);

it('PostgreSQL: a write recorded while the read models cannot catch up in time answers READ_MODEL_BEHIND, recorded, and shows once they do', async () => {
  // The leads' table locked against writes (reads go on: a capture looks for duplicates first): the
  // projections cannot write the next lead until the lock goes.
  const { server, release } = await postgresServerWithLock('behind', 'read_leads', 'SHARE');
  const behind = await server.gql(CAPTURE, captureInput('Latecomer', 'late-1'));
  await release();

  expect(behind.status).toBe(200);
  expect(behind.data ?? null).toBeNull();
  expect(behind.errors).toHaveLength(1);
  expect(behind.errors![0]!.message).toMatch(/The write is recorded .*Do not send the write again/);
  expect(behind.errors![0]!.extensions).toEqual({ code: 'READ_MODEL_BEHIND', recorded: true, position: expect.any(String) });
  // Recorded indeed: the lead shows once the read models catch up, and the same mutation answers it.
  await expect.poll(() => leadsNamed(server, 'Latecomer'), { timeout: 10_000 }).toBe(1);
  const again = await server.gql(CAPTURE, captureInput('Latecomer', 'late-1'));
  expect(again.errors).toBeUndefined();
  expect(await leadsNamed(server, 'Latecomer')).toBe(1);
}, 60_000);

it('PostgreSQL: the projections wait out a read of the log that the server ends, and go on', async () => {
  const { server, holderPid, release } = await postgresServerWithLock('log_ended', 'events', 'ACCESS EXCLUSIVE');
  const watcher = await connectForTest();
  cleanups.push(() => watcher.end());
  // The live subscriptions' read of the log (the projections', the lead scorer's, the conversion
  // completer's: its query reads the horizon), polled, waits behind the lock; the server ends it.
  const waitingReads = async () =>
    (
      await watcher.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%horizon%' AND pid <> $1`,
        [holderPid],
      )
    ).rows.map((row) => row.pid);
  await expect.poll(waitingReads, { timeout: 10_000 }).not.toHaveLength(0);
  await watcher.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [await waitingReads()]);
  await release();

  // The projections follow the log again: a capture made after it is answered and listed.
  const after = await server.gql(CAPTURE, captureInput('Afterwards', 'after-1'));
  expect(after.errors).toBeUndefined();
  expect(await leadsNamed(server, 'Afterwards')).toBe(1);
  const ready = await fetch(new URL('/readyz', server.url));
  expect(ready.status).toBe(200);
  expect(((await ready.json()) as { status: string }).status).toBe('ready');
}, 60_000);

it('EventStoreDB (the protocol model over gRPC): an append to a cluster that is gone answers UNAVAILABLE', async () => {
  const model = await startEventStoreDbModel();
  let modelOpen = true;
  cleanups.push(async () => void (modelOpen && (await model.close())));
  const server = await startTestServer({ env: { CRM_EVENT_STORE: 'eventstoredb', EVENTSTORE_URL: model.url } });
  cleanups.push(() => server.stop());
  await captureScored(server);

  await model.close();
  modelOpen = false;
  await expectUnavailable(await post(server, captureInput('Stranded', 'stranded-1')));
}, 60_000);
