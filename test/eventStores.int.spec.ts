import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ConcurrencyConflictError, NO_STREAM, type NewEvent } from '../src/core/eventStore';
import { openEventStoreDbEventStore } from '../src/eventStores/eventStoreDb';
import { createInMemoryEventStore } from '../src/eventStores/inMemory';
import { openPostgresEventStore } from '../src/eventStores/postgres';
import { openSqliteEventStore } from '../src/eventStores/sqlite';
import { describeEventStoreContract } from './eventStoreContract';
import { startEventStoreDbModel, type EventStoreDbModel } from './support/eventStoreDbModel';
import { TEST_DATABASE_URL, aSchemaName, dropSchemas } from './support/postgres';
import { subscribedAndCaughtUp } from './support/subscriptions';

const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'event-stores-'));
afterAll(() => fs.rmSync(tempDir, { recursive: true, force: true }));

const aDatabaseFile = () => path.join(tempDir, `${randomUUID()}.sqlite`);

const anEvent = (data: unknown = { note: randomUUID() }): NewEvent => ({
  id: randomUUID(),
  type: 'SomethingHappened',
  data,
  metadata: {
    actor: 'tester',
    recordedAt: '2024-05-02T08:30:00.000Z',
    occurredAt: '2024-05-02T08:30:00.000Z',
    correlationId: randomUUID(),
    causationId: randomUUID(),
    schemaVersion: 1,
  },
});

describeEventStoreContract('in-memory', async () => createInMemoryEventStore());

// A file is written on the store's writer thread; a database in memory, which only its own
// connection can open, on the calling thread: the same checks, the same answers.
describeEventStoreContract('SQLite', async () => openSqliteEventStore({ filename: aDatabaseFile() }));
describeEventStoreContract('SQLite in memory', async () => openSqliteEventStore({ filename: ':memory:' }));

const contractSchema = aSchemaName('contract');
afterAll(() => dropSchemas(contractSchema));
describeEventStoreContract('PostgreSQL', () =>
  openPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema: contractSchema }),
);
// Every batch by COPY (a bulk load's big batches take that path): the same checks, the same answers.
const copiedSchema = aSchemaName('contract_copied');
afterAll(() => dropSchemas(copiedSchema));
describeEventStoreContract('PostgreSQL, every batch sent by COPY', () =>
  openPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema: copiedSchema, copyFromEvents: 1 }),
);

// EventStoreDB: against the server named by EVENTSTORE_URL when set (e.g. `docker compose up
// eventstoredb` and EVENTSTORE_URL=esdb://localhost:2113?tls=false); otherwise against the
// protocol model of test/support/eventStoreDbModel.ts (not the server), through the real client,
// once with the batch append the client prefers and once with the plain append of older servers.
const eventStoreUrl = process.env.EVENTSTORE_URL;
if (eventStoreUrl) {
  describeEventStoreContract(
    'EventStoreDB (real server at EVENTSTORE_URL)',
    async () => openEventStoreDbEventStore({ connectionString: eventStoreUrl }),
    { indexesEventIdsAcrossStreams: false, appendsToStreamsAtomically: false },
  );
} else {
  for (const advertiseBatchAppend of [true, false]) {
    const models: EventStoreDbModel[] = [];
    afterAll(() => Promise.all(models.map((model) => model.close())));
    describeEventStoreContract(
      `EventStoreDB protocol model (${advertiseBatchAppend ? 'BatchAppend' : 'plain Append'}, not the server)`,
      async () => {
        // A system event after every third append, so reads and subscriptions meet them mid-log and on top.
        const model = await startEventStoreDbModel({ advertiseBatchAppend, systemEventEvery: 3 });
        models.push(model);
        return openEventStoreDbEventStore({ connectionString: model.url });
      },
      { indexesEventIdsAcrossStreams: false, appendsToStreamsAtomically: false },
    );
  }
}

describe('SQLite event store', () => {
  it('keeps its events when the file is opened again, and carries on numbering after them', async () => {
    const filename = path.join(tempDir, 'not', 'yet', 'created', 'events.sqlite');
    const first = openSqliteEventStore({ filename });
    const { position } = await first.appendToStream('lead-1', [anEvent(), anEvent()], {
      expectedRevision: NO_STREAM,
    });
    const written = await first.readStream('lead-1');
    await first.close();

    const reopened = openSqliteEventStore({ filename });
    try {
      expect(await reopened.readStream('lead-1')).toEqual(written);
      const next = await reopened.appendToStream('lead-2', [anEvent()], {
        expectedRevision: NO_STREAM,
      });
      expect(reopened.comparePositions(next.position, position)).toBeGreaterThan(0);
    } finally {
      await reopened.close();
    }
  });

  it('keeps the process serving while an append waits for the write lock, and answers it once it is free', async () => {
    const filename = aDatabaseFile();
    const store = openSqliteEventStore({ filename });
    const other = new Database(filename);
    try {
      await store.appendToStream('lead-1', [anEvent()], { expectedRevision: NO_STREAM });
      // Another connection, on this thread, holds the write lock: the append waits for it.
      other.exec('BEGIN IMMEDIATE');
      let settled = false;
      const appended = store.appendToStream('lead-1', [anEvent()], { expectedRevision: 0 });
      void appended.then(
        () => (settled = true),
        () => (settled = true),
      );
      // Timers fire meanwhile: the wait is not on this thread. (Were it, nothing would run here
      // until SQLite gave up, 5 s later, and the lock would never have been let go.)
      const started = performance.now();
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(performance.now() - started).toBeLessThan(1000);
      expect(settled).toBe(false);
      other.exec('COMMIT');
      await expect(appended).resolves.toMatchObject({ nextExpectedRevision: 1 });
      expect((await store.readStream('lead-1')).map((event) => event.revision)).toEqual([0, 1]);
    } finally {
      other.close();
      await store.close();
    }
  });

  it('answers a refused append with the error its caller knows, and commits the others of its group', async () => {
    const store = openSqliteEventStore({ filename: aDatabaseFile() });
    try {
      await store.appendToStream('lead-1', [anEvent()], { expectedRevision: NO_STREAM });
      // Asked in one turn of the event loop, the three share a commit.
      const [stale, fresh, other] = await Promise.allSettled([
        store.appendToStream('lead-1', [anEvent()], { expectedRevision: NO_STREAM }),
        store.appendToStream('lead-1', [anEvent()], { expectedRevision: 0 }),
        store.appendToStream('lead-2', [anEvent()], { expectedRevision: NO_STREAM }),
      ]);
      expect(stale).toMatchObject({ status: 'rejected', reason: { name: 'ConcurrencyConflictError', streamId: 'lead-1', actualRevision: 0 } });
      expect((stale as PromiseRejectedResult).reason).toBeInstanceOf(ConcurrencyConflictError);
      expect(fresh).toMatchObject({ status: 'fulfilled', value: { nextExpectedRevision: 1 } });
      expect(other).toMatchObject({ status: 'fulfilled', value: { nextExpectedRevision: 0 } });
      // Data that is not JSON is refused before anything is sent to be written.
      await expect(store.appendToStream('lead-3', [anEvent(10n)], { expectedRevision: NO_STREAM })).rejects.toThrow(TypeError);
      await expect(store.readStream('lead-3')).rejects.toThrow();
    } finally {
      await store.close();
    }
  });

  it('refuses, whoever asks, to update, delete or replace a stored event', async () => {
    const filename = aDatabaseFile();
    const store = openSqliteEventStore({ filename });
    const original = anEvent({ amount: '100.00' });
    await store.appendToStream('lead-1', [original], { expectedRevision: NO_STREAM });
    const otherConnection = new Database(filename);
    const tamperWith = (sql: string) => () => otherConnection.prepare(sql).run();

    try {
      expect(tamperWith(`UPDATE events SET data = '{"amount":"1.00"}'`)).toThrow(/immutable/);
      expect(tamperWith('DELETE FROM events')).toThrow(/immutable/);
      expect(
        tamperWith(
          `INSERT OR REPLACE INTO events
             (event_id, stream_id, stream_revision, event_type, data, metadata, recorded_at)
           SELECT event_id, stream_id, stream_revision, event_type, '{"amount":"1.00"}',
             metadata, recorded_at
           FROM events`,
        ),
      ).toThrow(/immutable/);

      const [stored] = await store.readStream('lead-1');
      expect(stored!.data).toEqual({ amount: '100.00' });
    } finally {
      otherConnection.close();
      await store.close();
    }
  });

  it('delivers to a live subscription the appends made through another connection', async () => {
    const filename = aDatabaseFile();
    const writer = openSqliteEventStore({ filename });
    const reader = openSqliteEventStore({ filename, pollIntervalMs: 20 });
    const { delivered, subscription } = await subscribedAndCaughtUp(reader);

    try {
      const events = [anEvent(), anEvent()];
      await writer.appendToStream('lead-1', events, { expectedRevision: NO_STREAM });

      await vi.waitFor(() => expect(delivered).toHaveLength(2), { timeout: 2000, interval: 5 });
      expect(delivered.map((event) => event.id)).toEqual(events.map((event) => event.id));
    } finally {
      await subscription.stop();
      await Promise.all([writer.close(), reader.close()]);
    }
  });

  // A live subscription takes the rows this process just committed from memory (recentCommits.ts):
  // what it is given must be what the file holds, whatever the appends were.
  describe('a live subscription given the rows this process just committed', () => {
    it('is given what reading the file gives: streams written together, several events each, in order', async () => {
      const store = openSqliteEventStore({ filename: aDatabaseFile() });
      const { delivered, subscription } = await subscribedAndCaughtUp(store);
      try {
        await store.appendToStream('lead-1', [anEvent({ n: 1 })], { expectedRevision: NO_STREAM });
        // Asked in one turn: one commit of three appends, one of them to two streams at once.
        await Promise.all([
          store.appendToStream('lead-1', [anEvent({ n: 2 }), anEvent({ n: 3 })], { expectedRevision: 0 }),
          store.appendToStreams([
            { streamId: 'lead-2', events: [anEvent({ n: 4 }), anEvent({ n: 5 }), anEvent({ n: 6 })], expectedRevision: NO_STREAM },
            { streamId: 'lead-3', events: [anEvent({ n: 7 })], expectedRevision: NO_STREAM },
          ]),
          store.appendToStream('lead-4', [anEvent({ n: 8 })], { expectedRevision: NO_STREAM }),
        ]);
        await vi.waitFor(() => expect(delivered).toHaveLength(8), { timeout: 2000, interval: 5 });
        expect(delivered).toEqual(await store.readAll());
        expect(delivered.map(({ streamId, revision }) => `${streamId}@${revision}`)).toEqual([
          'lead-1@0', 'lead-1@1', 'lead-1@2', 'lead-2@0', 'lead-2@1', 'lead-2@2', 'lead-3@0', 'lead-4@0',
        ]);
      } finally {
        await subscription.stop();
        await store.close();
      }
    });

    it("is given the first append's events, not a retry's, which stored nothing", async () => {
      const store = openSqliteEventStore({ filename: aDatabaseFile() });
      try {
        const first = [anEvent({ version: 'first' }), anEvent({ version: 'first' })];
        await store.appendToStream('lead-1', first, { expectedRevision: NO_STREAM });
        // The same ids again, with other data: answered as the first append, nothing written.
        const retry = first.map((event) => ({ ...event, data: { version: 'retry' } }));
        await store.appendToStream('lead-1', retry, { expectedRevision: NO_STREAM });
        const { delivered, subscription } = await subscribedAndCaughtUp(store);
        await subscription.stop();
        expect(delivered.map((event) => event.data)).toEqual([{ version: 'first' }, { version: 'first' }]);
        expect(delivered).toEqual(await store.readAll());
      } finally {
        await store.close();
      }
    });

    it('is given, in order and without a gap, the events another connection wrote between its own', async () => {
      const filename = aDatabaseFile();
      const store = openSqliteEventStore({ filename, pollIntervalMs: 20 });
      const other = openSqliteEventStore({ filename });
      const interleaved = async (name: string) => {
        for (let round = 0; round < 5; round++) {
          await store.appendToStream(`ours-${name}-${round}`, [anEvent(), anEvent()], { expectedRevision: NO_STREAM });
          await other.appendToStream(`theirs-${name}-${round}`, [anEvent()], { expectedRevision: NO_STREAM });
        }
        await store.appendToStream(`ours-${name}-last`, [anEvent()], { expectedRevision: NO_STREAM });
      };
      // Written before it subscribes (its first page starts with rows held, a row of the other
      // connection among them), then while it follows live.
      await interleaved('before');
      const { delivered, subscription } = await subscribedAndCaughtUp(store);
      try {
        expect(delivered).toEqual(await store.readAll());
        await interleaved('live');
        await vi.waitFor(() => expect(delivered).toHaveLength(32), { timeout: 2000, interval: 5 });
        expect(delivered).toEqual(await store.readAll());
        expect(delivered.map((event) => Number(event.position))).toEqual(Array.from({ length: 32 }, (_, index) => index + 1));
      } finally {
        await subscription.stop();
        await Promise.all([store.close(), other.close()]);
      }
    });
  });

  it('catches up on a log longer than a page, reporting caught up once and not at every poll', async () => {
    const store = openSqliteEventStore({ filename: aDatabaseFile(), pollIntervalMs: 5 });
    const events = Array.from({ length: 1234 }, (_, index) => anEvent({ index }));
    await store.appendToStream('lead-1', events, { expectedRevision: NO_STREAM });
    const delivered: number[] = [];
    const caughtUpAt: (string | undefined)[] = [];

    const subscription = store.subscribeToAll({
      onEvent: (event) => void delivered.push(event.revision),
      onCaughtUp: (position) => caughtUpAt.push(position),
    });
    try {
      await vi.waitFor(() => expect(caughtUpAt).toHaveLength(1));
      expect(delivered).toEqual(events.map((_, index) => index));
      expect(caughtUpAt).toEqual([await store.headPosition()]);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(caughtUpAt).toHaveLength(1);
    } finally {
      await subscription.stop();
      await store.close();
    }
  });

  describe('shared by processes', () => {
    const children: ChildProcessWithoutNullStreams[] = [];
    afterAll(() => children.forEach((child) => child.kill('SIGKILL')));

    // The child uses the adapter itself, through tsx, so the test covers its transactions and
    // pragmas rather than a hand-written imitation.
    const spawnAppender = (filename: string, script: string) => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', '-e', childSource(filename, script)],
        { cwd: path.resolve(__dirname, '..'), stdio: 'pipe' },
      );
      children.push(child);
      let stderr = '';
      child.stderr.on('data', (chunk) => (stderr += String(chunk)));
      const lines: string[] = [];
      readline.createInterface({ input: child.stdout }).on('line', (line) => lines.push(line));
      // 'close' rather than 'exit': it waits for stdout to drain, so `lines` is complete.
      const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
      const waitForLines = (count: number) =>
        vi.waitFor(() => expect(lines.length, stderr).toBeGreaterThanOrEqual(count), {
          timeout: 25_000, // booting tsx children on a loaded CI machine can take seconds
          interval: 2,
        });
      return { child, lines, closed, waitForLines, stderr: () => stderr };
    };

    it('keeps every acknowledged append when the appending process is killed', async () => {
      const filename = aDatabaseFile();
      const appender = spawnAppender(
        filename,
        `for (let revision = 0; revision < 100000; revision++) {
           const event = anEvent(revision);
           await store.appendToStream('lead-1', [event], {
             expectedRevision: revision === 0 ? 'no_stream' : revision - 1,
           });
           acknowledge(event.id);
         }`,
      );

      await appender.waitForLines(40);
      appender.child.kill('SIGKILL');
      await appender.closed;
      expect(appender.child.signalCode, appender.stderr()).toBe('SIGKILL');

      const store = openSqliteEventStore({ filename });
      try {
        const stored = await store.readStream('lead-1');
        expect(stored.map((event) => event.id).slice(0, appender.lines.length)).toEqual(
          appender.lines,
        );
        expect(stored.map((event) => event.revision)).toEqual(stored.map((_, index) => index));
      } finally {
        await store.close();
      }
    });

    it('serialises appends racing from several processes without losing or doubling one', async () => {
      const filename = aDatabaseFile();
      const appendsPerProcess = 25;
      const appenders = Array.from({ length: 3 }, () =>
        spawnAppender(
          filename,
          `acknowledge('ready');
           await new Promise((resolve) => process.stdin.once('data', resolve));
           for (let appended = 0; appended < ${appendsPerProcess}; ) {
             const event = anEvent(appended);
             let last = -1;
             try {
               last = (await store.readStream('lead-1')).length - 1;
             } catch (error) {
               if (error.name !== 'StreamNotFoundError') throw error;
             }
             try {
               await store.appendToStream('lead-1', [event], {
                 expectedRevision: last === -1 ? 'no_stream' : last,
               });
               acknowledge(event.id);
               appended++;
             } catch (error) {
               if (error.name !== 'ConcurrencyConflictError') throw error;
               console.error('conflict');
             }
           }`,
        ),
      );
      // Released together once all have booted, so that their appends really overlap.
      await Promise.all(appenders.map(({ waitForLines }) => waitForLines(1)));
      for (const { child } of appenders) child.stdin.write('go\n');
      await Promise.all(appenders.map(({ closed }) => closed));

      for (const { child, stderr } of appenders) expect(child.exitCode, stderr()).toBe(0);
      const acknowledged = appenders.flatMap(({ lines }) => lines.slice(1));
      const store = openSqliteEventStore({ filename });
      try {
        const stored = await store.readStream('lead-1');
        expect(stored).toHaveLength(3 * appendsPerProcess);
        expect(stored.map((event) => event.revision)).toEqual(stored.map((_, index) => index));
        expect(new Set(stored.map((event) => event.id))).toEqual(new Set(acknowledged));
      } finally {
        await store.close();
      }
    });
  });
});

const sqliteAdapterPath = path.resolve(__dirname, '../src/eventStores/sqlite.ts');

const childSource = (filename: string, script: string) => `
  const fs = require('node:fs');
  const { randomUUID } = require('node:crypto');
  const { openSqliteEventStore } = require(${JSON.stringify(sqliteAdapterPath)});
  const store = openSqliteEventStore({ filename: ${JSON.stringify(filename)} });
  const anEvent = (index) => ({
    id: randomUUID(),
    type: 'SomethingHappened',
    data: { index },
    metadata: {
      actor: 'child', recordedAt: new Date().toISOString(), occurredAt: new Date().toISOString(),
      correlationId: randomUUID(), causationId: randomUUID(), schemaVersion: 1,
    },
  });
  // Synchronous, so a line is out before the next append starts.
  const acknowledge = (id) => fs.writeSync(1, id + '\\n');
  (async () => {
    ${script}
    await store.close();
    process.exit(0);
  })().catch((error) => { console.error(error); process.exit(1); });
`;
