/**
 * One bad event stops one projection, never the others: on SQLite and on PostgreSQL read
 * models, a projection that fails on an event is set aside with that event, stays exactly
 * before it, is reported in the checkpoint table, and is retried at each start; a version bump
 * rebuilds it. Errors of the database itself are waited out when they pass by themselves (a
 * connection the server ended), and stop the runner otherwise.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { EventStore } from '../src/core/eventStore';
import { LEAD_EVENT_TYPES } from '../src/domain/leads/lead';
import { openPostgresEventStore } from '../src/eventStores/postgres';
import { openSqliteEventStore } from '../src/eventStores/sqlite';
import { appendAll, generateLeadHistory, temporaryDirectory, type TimedLeadEvent } from '../test/support/leadEvents';
import { aSchemaName, dropSchemas, TEST_DATABASE_URL } from '../test/support/postgres';
import { readCheckpointRows } from './checkpoints';
import { leadsProjection } from './leads/leadsProjection';
import { getLead } from './leads/leadView';
import { openPostgresDatabase } from './postgresDatabase';
import { EVERY_EVENT_TYPE, EventNotApplied, type Projection } from './projection';
import { ProjectionFailedError, ProjectionRunner } from './runner';
import { openSqliteDatabase, type SqlDatabase } from './sqlDatabase';

interface Backend {
  name: string;
  /** A fresh event store and a way to open read databases on it, all cleaned up by `dispose`. */
  open(): Promise<{ store: EventStore; openDb(): Promise<SqlDatabase>; dispose(): Promise<void> }>;
}

const BACKENDS: Backend[] = [
  {
    name: 'SQLite',
    open: async () => {
      const directory = temporaryDirectory();
      const store = openSqliteEventStore({ filename: directory.file('crm.sqlite'), pollIntervalMs: 20 });
      return {
        store,
        openDb: async () => openSqliteDatabase(store.filename),
        dispose: async () => {
          await store.close();
          directory.remove();
        },
      };
    },
  },
  {
    name: 'PostgreSQL',
    open: async () => {
      const schema = aSchemaName('setaside');
      const store = await openPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema, pollIntervalMs: 20 });
      return {
        store,
        openDb: () => openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema }),
        dispose: async () => {
          await store.close();
          await dropSchemas(schema);
        },
      };
    },
  },
];

/** One row per event applied, keyed by event id (applying one twice fails); throws on `failOn`. */
const ledger = (options: { failOn?: readonly string[]; name?: string; version?: number; everyEvent?: boolean } = {}): Projection => {
  const table = (options.name ?? 'ledger').replace(/-/g, '_');
  return {
    name: options.name ?? 'ledger',
    version: options.version ?? 1,
    canHandle: options.everyEvent ? [EVERY_EVENT_TYPE] : LEAD_EVENT_TYPES,
    setup: (db) => db.exec(`CREATE TABLE IF NOT EXISTS ${table} (event_id TEXT PRIMARY KEY)`),
    reset: (db) => db.exec(`DROP TABLE IF EXISTS ${table}`),
    apply: async (tx, event) => {
      await tx.run(`INSERT INTO ${table} (event_id) VALUES (?)`, [event.id]);
      if (options.failOn?.includes(event.id)) throw new Error(`${table} cannot take event ${event.id}`);
    },
  };
};

const ids = async (db: SqlDatabase, table: string) =>
  (await db.all<{ event_id: string }>(`SELECT event_id FROM ${table}`)).map((row) => row.event_id).sort();
const idsOf = (history: readonly TimedLeadEvent[]) => history.map(({ id }) => id).sort();

describe.each(BACKENDS)('set-aside projections on $name', (backend) => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  const setUp = async () => {
    const opened = await backend.open();
    cleanups.push(opened.dispose);
    /** A process's read side: a connection and a runner, as the server has. */
    const readSide = async (projections: Projection[], batchSize = 500) => {
      const db = await opened.openDb();
      const logged: string[] = [];
      const runner = new ProjectionRunner({
        store: opened.store,
        db,
        projections,
        batchSize,
        logger: { error: (line: unknown) => logged.push(String(line)) },
      });
      let down = false;
      const shutDown = async () => {
        if (down) return;
        down = true;
        await runner.stop();
        await db.close();
      };
      cleanups.push(shutDown);
      await runner.start();
      return { db, runner, logged, shutDown };
    };
    const positionsOf = async () => (await opened.store.readAll()).map((event) => event.position);
    return { store: opened.store, readSide, positionsOf };
  };

  it('sets a failing projection aside at its event while the others keep up, and retries it at each start', async () => {
    const { store, readSide, positionsOf } = await setUp();
    const history = generateLeadHistory({ seed: 31, leadCount: 6, eventCount: 40 });
    const poison = history[17]!;
    await appendAll(store, history.slice(0, 30));

    const first = await readSide([leadsProjection, ledger({ failOn: [poison.id] }), ledger({ name: 'tally' })], 8);
    await first.runner.whenCaughtUp();
    let positions = await positionsOf();

    // Stopped exactly before the event: everything before it applied, nothing of it or after.
    expect(first.runner.lastError).toBeUndefined();
    expect(first.runner.failures).toEqual([
      expect.objectContaining({
        name: 'ledger',
        eventId: poison.id,
        eventType: poison.event.type,
        streamId: `lead-${poison.event.data.leadId}`,
        position: positions[17],
        error: `ledger cannot take event ${poison.id}`,
        attempts: 1,
      }),
    ]);
    expect(await ids(first.db, 'ledger')).toEqual(idsOf(history.slice(0, 17)));
    expect(await ids(first.db, 'tally')).toEqual(idsOf(history.slice(0, 30)));
    expect(first.logged.join('\n')).toContain(`Projection ledger set aside`);
    const rows = new Map((await readCheckpointRows(first.db)).map((row) => [row.name, row]));
    expect(rows.get('ledger')).toMatchObject({ position: positions[16], failure: first.runner.failures[0] });
    expect(rows.get('leads')).toMatchObject({ position: positions[29], failure: undefined });

    // Live: the others take new events at once; the wait reports the one stopped short.
    const last = await appendAll(store, history.slice(30));
    const stopped = await first.runner.waitForPosition(last, 5000);
    expect(stopped).toEqual([{ failure: first.runner.failures[0], checkpoint: positions[16] }]);
    expect(await ids(first.db, 'tally')).toEqual(idsOf(history));
    const lastLead = history[39]!.event.data.leadId;
    expect((await getLead(first.db, lastLead))?.revision).toBe(history.filter(({ event }) => event.data.leadId === lastLead).length - 1);
    const since = first.runner.failures[0]!.since;
    await first.shutDown();

    // A restart retries it: it fails again on the same event, and is set aside again.
    const second = await readSide([leadsProjection, ledger({ failOn: [poison.id] }), ledger({ name: 'tally' })]);
    await second.runner.whenCaughtUp();
    expect(second.runner.failures).toEqual([expect.objectContaining({ name: 'ledger', eventId: poison.id, since, attempts: 2 })]);
    expect(await ids(second.db, 'ledger')).toEqual(idsOf(history.slice(0, 17)));
    await second.shutDown();

    // Once fixed, the next start applies the event and what followed, each exactly once.
    const fixed = await readSide([leadsProjection, ledger(), ledger({ name: 'tally' })]);
    await fixed.runner.whenCaughtUp();
    expect(fixed.runner.failures).toEqual([]);
    expect(await fixed.runner.waitForPosition(last)).toEqual([]);
    expect(await ids(fixed.db, 'ledger')).toEqual(idsOf(history));
    positions = await positionsOf();
    expect((await readCheckpointRows(fixed.db)).map(({ name, position, failure }) => ({ name, position, failure }))).toEqual(
      expect.arrayContaining([
        { name: 'leads', position: positions[39], failure: undefined },
        { name: 'ledger', position: positions[39], failure: undefined },
        { name: 'tally', position: positions[39], failure: undefined },
      ]),
    );
  });

  it('sets aside each projection that fails in one batch at its own event, even one of every event type', async () => {
    const { store, readSide, positionsOf } = await setUp();
    const history = generateLeadHistory({ seed: 32, leadCount: 4, eventCount: 20 });
    await appendAll(store, history);
    const side = await readSide([
      ledger({ name: 'early', failOn: [history[4]!.id] }),
      leadsProjection,
      ledger({ name: 'late', failOn: [history[12]!.id, history[15]!.id] }),
      ledger({ name: 'everything', failOn: [history[8]!.id], everyEvent: true }),
    ]);
    await side.runner.whenCaughtUp();
    const positions = await positionsOf();

    expect(side.runner.failures.map(({ name, eventId, position }) => ({ name, eventId, position })).sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: 'early', eventId: history[4]!.id, position: positions[4] },
      { name: 'everything', eventId: history[8]!.id, position: positions[8] },
      { name: 'late', eventId: history[12]!.id, position: positions[12] },
    ]);
    expect(await ids(side.db, 'early')).toEqual(idsOf(history.slice(0, 4)));
    expect(await ids(side.db, 'everything')).toEqual(idsOf(history.slice(0, 8)));
    expect(await ids(side.db, 'late')).toEqual(idsOf(history.slice(0, 12)));
    expect((await side.runner.waitForPosition(positions[19]!)).map(({ failure }) => failure.name).sort()).toEqual([
      'early',
      'everything',
      'late',
    ]);
    // Before the event it failed on, a set-aside projection is not short of anything.
    expect((await side.runner.waitForPosition(positions[6]!)).map(({ failure }) => failure.name)).toEqual(['early']);
  });

  it('rebuilds a set-aside projection from zero when its version changes, and on request', async () => {
    const { store, readSide } = await setUp();
    const history = generateLeadHistory({ seed: 33, leadCount: 4, eventCount: 15 });
    const last = await appendAll(store, history);
    const broken = await readSide([leadsProjection, ledger({ failOn: [history[6]!.id] })]);
    await broken.runner.whenCaughtUp();
    expect(broken.runner.failures).toHaveLength(1);

    // A rebuild of a projection that still fails rejects with its error, and leaves it set aside.
    await expect(broken.runner.rebuild('ledger')).rejects.toBeInstanceOf(ProjectionFailedError);
    expect(broken.runner.failures).toEqual([expect.objectContaining({ name: 'ledger', eventId: history[6]!.id, attempts: 1 })]);
    await broken.shutDown();

    const bumped = await readSide([leadsProjection, ledger({ version: 2 })]);
    await bumped.runner.whenCaughtUp();
    expect(bumped.runner.failures).toEqual([]);
    expect(await bumped.runner.waitForPosition(last)).toEqual([]);
    expect(await ids(bumped.db, 'ledger')).toEqual(idsOf(history));
    expect((await readCheckpointRows(bumped.db)).find((row) => row.name === 'ledger')).toMatchObject({ version: 2, failure: undefined });
  });

  it('sets a projection that applies batches at once aside at the event its batch names, with the events before it applied', async () => {
    const { store, readSide, positionsOf } = await setUp();
    const history = generateLeadHistory({ seed: 33, leadCount: 5, eventCount: 30 });
    await appendAll(store, history);
    const batched = batchLedger({ failOn: [history[13]!.id] });
    const side = await readSide([batched.projection, ledger({ name: 'tally' })], 10);
    await side.runner.whenCaughtUp();
    const positions = await positionsOf();

    expect(side.runner.failures).toEqual([
      expect.objectContaining({ name: 'ledger', eventId: history[13]!.id, position: positions[13], error: `ledger cannot take event ${history[13]!.id}` }),
    ]);
    expect(await ids(side.db, 'ledger')).toEqual(idsOf(history.slice(0, 13)));
    expect(await ids(side.db, 'tally')).toEqual(idsOf(history));
    // The batches before the failing one went in at once.
    expect(batched.calls.batches).toBeGreaterThan(0);
  });

  it('sets aside the projection whose write the database refused, not the one whose statement carried it there', async () => {
    const { store, readSide, positionsOf } = await setUp();
    const history = generateLeadHistory({ seed: 35, leadCount: 5, eventCount: 30 });
    const poison = history[11]!;
    await appendAll(store, history);
    // Its rows go with `write`, whose outcome it never reads: on PostgreSQL, held and sent with
    // the next statement of the batch, which is the reader's. The table refuses the poison's row.
    const writer: Projection = {
      name: 'writer',
      version: 1,
      canHandle: LEAD_EVENT_TYPES,
      setup: (db) => db.exec(`CREATE TABLE IF NOT EXISTS writer (event_id TEXT PRIMARY KEY CHECK (event_id <> '${poison.id}'))`),
      reset: (db) => db.exec('DROP TABLE IF EXISTS writer'),
      apply: (tx, event) => tx.write('INSERT INTO writer (event_id) VALUES (?)', [event.id]),
    };
    const reader: Projection = {
      ...ledger({ name: 'reader' }),
      apply: async (tx, event) => {
        await tx.get('SELECT count(*) AS n FROM reader');
        await tx.run('INSERT INTO reader (event_id) VALUES (?)', [event.id]);
      },
    };
    const side = await readSide([writer, reader], 10);
    await side.runner.whenCaughtUp();
    const positions = await positionsOf();

    expect(side.runner.lastError).toBeUndefined();
    expect(side.runner.failures).toEqual([
      expect.objectContaining({ name: 'writer', eventId: poison.id, position: positions[11], error: expect.stringMatching(/check constraint/i) }),
    ]);
    expect(await ids(side.db, 'writer')).toEqual(idsOf(history.slice(0, 11)));
    expect(await ids(side.db, 'reader')).toEqual(idsOf(history));
  });

  it('applies again event by event a batch that a projection could not apply at once, naming no event', async () => {
    const { store, readSide } = await setUp();
    const history = generateLeadHistory({ seed: 34, leadCount: 5, eventCount: 30 });
    await appendAll(store, history);
    const batched = batchLedger({ refuseBatches: true });
    const side = await readSide([batched.projection], 10);
    await side.runner.whenCaughtUp();

    expect(side.runner.failures).toEqual([]);
    expect(side.runner.lastError).toBeUndefined();
    expect(await ids(side.db, 'ledger')).toEqual(idsOf(history));
    expect(batched.calls.oneByOne).toBe(history.length);
  });
});

/** The ledger, with an `applyBatch` that inserts a batch's rows in one statement (or refuses every batch). */
const batchLedger = (options: { failOn?: readonly string[]; refuseBatches?: boolean }) => {
  const base = ledger({ failOn: options.failOn });
  const calls = { batches: 0, oneByOne: 0 };
  const projection: Projection = {
    ...base,
    apply: async (tx, event) => {
      calls.oneByOne++;
      await base.apply(tx, event);
    },
    applyBatch: async (tx, events) => {
      if (options.refuseBatches) throw new Error('the batch statement was refused');
      const poison = events.find((event) => options.failOn?.includes(event.id));
      if (poison !== undefined) throw new EventNotApplied(poison, new Error(`ledger cannot take event ${poison.id}`));
      calls.batches++;
      await tx.run(`INSERT INTO ledger (event_id) VALUES ${events.map(() => '(?)').join(', ')}`, events.map((event) => event.id));
    },
  };
  return { projection, calls };
};

describe.each(BACKENDS)('a checkpoint table from before failures were kept, on $name', (backend) => {
  it('gets its failure column, and its checkpoints are taken up as they were', async () => {
    const { store, openDb, dispose } = await backend.open();
    const db = await openDb();
    const runner = new ProjectionRunner({ store, db, projections: [leadsProjection, ledger({ failOn: ['never'] })] });
    try {
      const history = generateLeadHistory({ seed: 35, leadCount: 2, eventCount: 6 });
      await appendAll(store, history.slice(0, 3));
      const [, , third] = (await store.readAll()).map((event) => event.position);
      // As an earlier version left it: no failure column, the ledger at the third event.
      await db.exec(`CREATE TABLE projection_checkpoints (name TEXT PRIMARY KEY, version INTEGER NOT NULL, position TEXT, updated_at TEXT NOT NULL);
        CREATE TABLE ledger (event_id TEXT PRIMARY KEY)`);
      await db.run(`INSERT INTO projection_checkpoints VALUES ('ledger', 1, ?, '2025-01-01T00:00:00.000Z')`, [third!]);
      for (const { id } of history.slice(0, 3)) await db.run('INSERT INTO ledger (event_id) VALUES (?)', [id]);
      expect((await readCheckpointRows(db)).map(({ name, position, failure }) => ({ name, position, failure }))).toEqual([
        { name: 'ledger', position: third, failure: undefined },
      ]);

      const last = await appendAll(store, history.slice(3));
      await runner.start();
      expect(await runner.waitForPosition(last)).toEqual([]);
      // Taken up, not rebuilt: a second insert of an event would have failed.
      expect(await ids(db, 'ledger')).toEqual(idsOf(history));
      expect(await db.all('SELECT name, failure FROM projection_checkpoints ORDER BY name')).toEqual([
        { name: 'leads', failure: null },
        { name: 'ledger', failure: null },
      ]);
    } finally {
      await runner.stop();
      await db.close();
      await dispose();
    }
  });
});

describe('an error of the database itself', () => {
  it('stops the runner as before, instead of setting a healthy projection aside', async () => {
    const schema = aSchemaName('setaside');
    const store = await openPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema, pollIntervalMs: 20 });
    const db = await openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema });
    const history = generateLeadHistory({ seed: 34, leadCount: 2, eventCount: 6 });
    // The server fails the projection's statement mid-batch with a system error (58P01, a file it
    // cannot open), which waiting does not mend.
    const broken: Projection = {
      ...ledger(),
      name: 'broken',
      apply: async (tx, event) => {
        if (event.id === history[3]!.id) await tx.run("SELECT pg_read_file('/nonexistent/crm-test-file')");
      },
    };
    const runner = new ProjectionRunner({ store, db, projections: [leadsProjection, broken], logger: { error: () => undefined } });
    try {
      await appendAll(store, history);
      await runner.start();
      await expect(runner.whenCaughtUp()).rejects.toBeInstanceOf(ProjectionFailedError);
      expect(runner.failures).toEqual([]);
      expect(runner.lastError).toBeInstanceOf(ProjectionFailedError);
      expect((await readCheckpointRows(db)).filter((row) => row.failure !== undefined)).toEqual([]);
    } finally {
      await runner.stop();
      await db.close();
      await store.close();
      await dropSchemas(schema);
    }
  });
});

describe('a database unavailable for a moment', () => {
  it('is waited out: the batch is applied again once it answers, nothing set aside, nothing applied twice', async () => {
    const schema = aSchemaName('setaside');
    const store = await openPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema, pollIntervalMs: 20 });
    const db = await openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema });
    const history = generateLeadHistory({ seed: 35, leadCount: 2, eventCount: 6 });
    // The projection's own session is ended by the server mid-batch (57P01, admin shutdown), twice.
    let cuts = 0;
    const cut: Projection = {
      ...ledger(),
      name: 'cut',
      apply: async (tx, event) => {
        if (event.id === history[3]!.id && cuts < 2) {
          cuts += 1;
          await tx.run('SELECT pg_terminate_backend(pg_backend_pid())');
        }
      },
    };
    const logged: string[] = [];
    const runner = new ProjectionRunner({ store, db, projections: [leadsProjection, cut], logger: { error: (message: string) => void logged.push(message) } });
    try {
      await appendAll(store, history);
      await runner.start();
      await runner.whenCaughtUp();
      expect(cuts).toBe(2);
      expect(runner.lastError).toBeUndefined();
      expect((await readCheckpointRows(db)).filter((row) => row.failure !== undefined)).toEqual([]);
      expect(logged).toEqual([
        expect.stringMatching(/the read database is unavailable .* applied again in 100 ms/),
        expect.stringMatching(/the read database is unavailable .* applied again in 200 ms/),
      ]);
      for (const leadId of new Set(history.map(({ event }) => event.data.leadId))) {
        expect((await getLead(db, leadId))?.revision).toBe(history.filter(({ event }) => event.data.leadId === leadId).length - 1);
      }
    } finally {
      await runner.stop();
      await db.close();
      await store.close();
      await dropSchemas(schema);
    }
  });

  it('is waited out when the log cannot be read: the runner follows it again from its checkpoints', async () => {
    const directory = temporaryDirectory();
    const inner = openSqliteEventStore({ filename: directory.file('crm.sqlite'), pollIntervalMs: 20 });
    const db = openSqliteDatabase(directory.file('read.sqlite'));
    const history = generateLeadHistory({ seed: 36, leadCount: 3, eventCount: 9 });
    // The catch-up's second page of the log is refused twice, as PostgreSQL refuses a read it
    // ends when it restarts (57P01); the events of the first page are applied already.
    let refusals = 0;
    const store: EventStore = {
      ...inner,
      readAll: async (options) => {
        if (options?.fromPosition !== undefined && refusals < 2) {
          refusals += 1;
          throw Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
        }
        return inner.readAll(options);
      },
    };
    const applied: string[] = [];
    const counted: Projection = { ...ledger(), name: 'counted', apply: async (_tx, event) => void applied.push(event.id) };
    const logged: string[] = [];
    const runner = new ProjectionRunner({ store, db, projections: [leadsProjection, counted], batchSize: 4, logger: { error: (message: string) => void logged.push(message) } });
    try {
      await appendAll(inner, history);
      await runner.start();
      await runner.whenCaughtUp();
      expect(refusals).toBe(2);
      expect(runner.lastError).toBeUndefined();
      expect(logged).toEqual([
        expect.stringMatching(/the event log is unavailable \(terminating connection .*\); following it again in 100 ms$/),
        expect.stringMatching(/following it again in 200 ms$/),
      ]);
      // Each event applied once, in order, though the first page was read three times.
      expect(applied).toEqual(history.map(({ id }) => id));
      for (const leadId of new Set(history.map(({ event }) => event.data.leadId))) {
        expect((await getLead(db, leadId))?.revision).toBe(history.filter(({ event }) => event.data.leadId === leadId).length - 1);
      }
    } finally {
      await runner.stop();
      await db.close();
      await inner.close();
      directory.remove();
    }
  });
});
