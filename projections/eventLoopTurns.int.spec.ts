/**
 * A projection rebuilt beside its old tables is staged, then copied into the read database, on
 * the thread that serves requests (eventLoopTurns.ts): both must let that thread's event loop turn
 * while they work, and still stage and copy every row, exactly.
 */
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../src/core/eventStore';
import { LEAD_EVENT_TYPES } from '../src/domain/leads/lead';
import { createInMemoryEventStore } from '../src/eventStores/inMemory';
import { longestStall } from '../test/support/eventLoopStalls';
import { appendAll, generateLeadHistory, temporaryDirectory } from '../test/support/leadEvents';
import { copyStaged, stageInBulk, type Staged } from './bulkRebuild';
import type { Projection } from './projection';
import { ProjectionRunner } from './runner';
import { openSqliteDatabase, openStagingDatabase, type SqlDatabase } from './sqlDatabase';

const LEADS = 200;
const EVENTS = 3_000;
/** Work of the thread per event applied, on top of its statement: a slow projection, but no slower than a real one under load. */
const WORK_PER_EVENT_MS = 0.2;

const busyFor = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

const leadIdOf = (event: RecordedEvent) => (event.data as { leadId: string }).leadId;

const SETUP = 'CREATE TABLE IF NOT EXISTS busy_leads (lead_id TEXT PRIMARY KEY, events INTEGER NOT NULL)';
const COUNT_EVENT = 'INSERT INTO busy_leads (lead_id, events) VALUES (?, 1) ON CONFLICT (lead_id) DO UPDATE SET events = events + 1';

const aBusyProjection = (shape: 'statements' | 'fold'): Projection => ({
  name: 'busy-leads',
  version: 1,
  canHandle: LEAD_EVENT_TYPES,
  rebuildsInBulk: true,
  setup: (db) => db.exec(SETUP),
  reset: (db) => db.exec('DROP TABLE IF EXISTS busy_leads'),
  apply: async (tx, event) => {
    busyFor(WORK_PER_EVENT_MS);
    await tx.run(COUNT_EVENT, [leadIdOf(event)]);
  },
  ...(shape === 'fold'
    ? {
        foldInMemory: () => {
          const counts = new Map<string, number>();
          return {
            apply: async (_tx: SqlDatabase, event: RecordedEvent) => {
              busyFor(WORK_PER_EVENT_MS);
              counts.set(leadIdOf(event), (counts.get(leadIdOf(event)) ?? 0) + 1);
            },
            flush: async (tx: SqlDatabase, everything: boolean) => {
              if (!everything) return;
              for (const [leadId, events] of counts) await tx.run('INSERT INTO busy_leads (lead_id, events) VALUES (?, ?)', [leadId, events]);
            },
          };
        },
      }
    : {}),
});

describe('a stage in bulk on the thread that serves requests', () => {
  let staged: Staged | undefined;
  afterEach(() => {
    staged?.staging.close();
    staged = undefined;
  });

  it.each(['statements', 'fold'] as const)('lets the event loop run other work at least every few tens of milliseconds (a projection of %s)', async (shape) => {
    const store = createInMemoryEventStore();
    await appendAll(store, generateLeadHistory({ seed: 23, leadCount: LEADS, eventCount: EVENTS }));
    const { result, elapsedMs, longestStallMs } = await longestStall(() =>
      stageInBulk({ store, projections: [aBusyProjection(shape)], handles: () => true, pageSize: 1_000, isActive: () => true }),
    );
    staged = result;
    // The stage is long enough for a stall to show: at least the projection's own work.
    expect(elapsedMs).toBeGreaterThan(EVENTS * WORK_PER_EVENT_MS);
    // It works in slices of about 10 ms; on a loaded machine a slice may take longer, never the whole stage.
    expect(longestStallMs).toBeLessThan(100);
    // And every event was staged.
    const rows = await staged!.staging.db.all<{ leads: number; events: number }>('SELECT COUNT(*) AS leads, SUM(events) AS events FROM busy_leads');
    const appended = await store.readAll({ maxCount: EVENTS * 2 });
    expect(rows).toEqual([{ leads: LEADS, events: appended.length }]);
  });
});

describe('the copy in turns (`inTurns`: beside a serving API) of staged tables into a SQLite read database', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  // Rowids of every kind: negative, sparse, past 2^53 (exact in JavaScript only as text), the
  // extremes of 64 bits, and enough of them for many statements of the copy.
  const ROWIDS = [
    '-9223372036854775808',
    '-9223372036854775807',
    '-5',
    ...Array.from({ length: 15_000 }, (_, index) => String(index * 3)),
    '9007199254740992',
    '9007199254740993',
    '9007199254740995',
    '9223372036854775806',
    '9223372036854775807',
  ];
  const TABLE = 'CREATE TABLE IF NOT EXISTS copied_rows (id INTEGER PRIMARY KEY, label TEXT NOT NULL)';

  it('copies every row exactly, with its rowid, and lets the event loop turn while the read database works at it', async () => {
    const directory = temporaryDirectory();
    const db = openSqliteDatabase(directory.file('read.db'));
    cleanups.push(() => directory.remove(), () => db.close());
    // Where the rows are copied to, a trigger makes each insert cost the thread what a lead with its search index costs it, or more.
    const projection: Projection = {
      name: 'copied',
      version: 1,
      canHandle: [],
      apply: async () => undefined,
      setup: (tx) =>
        tx.exec(`${TABLE};
          CREATE TABLE IF NOT EXISTS copied_work (id INTEGER NOT NULL, work INTEGER NOT NULL);
          CREATE TRIGGER IF NOT EXISTS copied_rows_work AFTER INSERT ON copied_rows BEGIN
            INSERT INTO copied_work (id, work) SELECT new.id, length(hex(randomblob(15000)));
          END;`),
      reset: (tx) => tx.exec('DROP TABLE IF EXISTS copied_rows; DROP TABLE IF EXISTS copied_work'),
    };
    await projection.setup(db);
    const staging = openStagingDatabase();
    cleanups.push(() => staging.close());
    await staging.db.exec(TABLE);
    await staging.db.transaction(async (tx) => {
      for (const id of ROWIDS) await tx.run('INSERT INTO copied_rows (id, label) VALUES (CAST(? AS INTEGER), ?)', [id, `row ${id}`]);
    });

    const { elapsedMs, longestStallMs } = await longestStall(() =>
      copyStaged({ db, projections: [projection], staging, through: '1', eventTypes: [], moveCheckpoints: async () => undefined, inTurns: true }),
    );

    // Ordered by the integer, not by the text of the same name.
    const copied = await db.all<{ id: string; label: string }>('SELECT CAST(copied_rows.id AS TEXT) AS id, label FROM copied_rows ORDER BY copied_rows.id');
    expect(copied).toEqual(ROWIDS.map((id) => ({ id, label: `row ${id}` })));
    expect(await db.get('SELECT COUNT(*) AS n FROM copied_work')).toEqual({ n: ROWIDS.length });
    // Long enough for a stall to show, and cut into turns all along.
    expect(elapsedMs).toBeGreaterThan(300);
    expect(longestStallMs).toBeLessThan(100);
  });
  it('builds the indexes of a table with triggers as the rows come, and leaves the WAL to another thread: neither holds the event loop', async () => {
    const directory = temporaryDirectory();
    const file = directory.file('read.db');
    const db = openSqliteDatabase(file);
    cleanups.push(() => directory.remove(), () => db.close());
    // Each row costs its index an expression of some microseconds: sorted after the rows, the index
    // was one long statement. The rows are wide: their commit fills the WAL with megabytes. A
    // trigger counts them, as the leads' fill their search index.
    const WIDE = 'CREATE TABLE IF NOT EXISTS wide_rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)';
    const WEIGHED = 'CREATE INDEX IF NOT EXISTS wide_rows_by_weight ON wide_rows (length(hex(zeroblob(6000 + id % 7))), id)';
    const ROWS = 40_000;
    const projection: Projection = {
      name: 'wide',
      version: 1,
      canHandle: [],
      apply: async () => undefined,
      setup: (tx) =>
        tx.exec(`${WIDE}; ${WEIGHED};
          CREATE TABLE IF NOT EXISTS wide_count (n INTEGER NOT NULL);
          INSERT INTO wide_count (n) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM wide_count);
          CREATE TRIGGER IF NOT EXISTS wide_rows_counted AFTER INSERT ON wide_rows BEGIN UPDATE wide_count SET n = n + 1; END;`),
      reset: (tx) => tx.exec('DROP TABLE IF EXISTS wide_rows; DROP TABLE IF EXISTS wide_count'),
    };
    await projection.setup(db);
    const automatic = await db.get('PRAGMA wal_autocheckpoint');
    const staging = openStagingDatabase();
    cleanups.push(() => staging.close());
    await staging.db.exec(`${WIDE}; ${WEIGHED}`);
    await staging.db.transaction(async (tx) => {
      for (let id = 1; id <= ROWS; id++) await tx.run('INSERT INTO wide_rows (id, body) VALUES (?, ?)', [id, `${id} `.padEnd(2_000, 'x')]);
    });

    const { elapsedMs, longestStallMs } = await longestStall(() =>
      copyStaged({ db, projections: [projection], staging, through: '1', eventTypes: [], moveCheckpoints: async () => undefined, inTurns: true, replaceTables: true }),
    );

    expect(await db.get('SELECT COUNT(*) AS n, SUM(length(body)) AS bytes FROM wide_rows')).toEqual({ n: ROWS, bytes: ROWS * 2_000 });
    expect(await db.get('SELECT n FROM wide_count')).toEqual({ n: ROWS });
    // The index is whole: counted through it, every row.
    expect(await db.get('SELECT COUNT(*) AS n FROM wide_rows INDEXED BY wide_rows_by_weight WHERE length(hex(zeroblob(6000 + id % 7))) > 0')).toEqual({ n: ROWS });
    expect(await db.get('PRAGMA integrity_check')).toEqual({ integrity_check: 'ok' });
    // The WAL was copied back into the file and emptied, and the automatic checkpoint is back on.
    expect(fs.statSync(`${file}-wal`).size).toBe(0);
    expect(await db.get('PRAGMA wal_autocheckpoint')).toEqual(automatic);
    expect(elapsedMs).toBeGreaterThan(300);
    expect(longestStallMs).toBeLessThan(100);
  });
});

describe('the runner\'s rebuilds in bulk, on the thread that serves requests', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  const PARTS = 10;
  /** Ten rows per lead event, each insert into the read database costing about what a lead costs (a trigger). */
  const widened = (version: number): Projection => ({
    name: 'widened',
    version,
    canHandle: LEAD_EVENT_TYPES,
    rebuildsInBulk: true,
    setup: (tx) =>
      tx.exec(`CREATE TABLE IF NOT EXISTS widened_rows (event_id TEXT NOT NULL, part INTEGER NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (event_id, part));
        CREATE TABLE IF NOT EXISTS widened_work (work INTEGER NOT NULL);
        CREATE TRIGGER IF NOT EXISTS widened_rows_work AFTER INSERT ON widened_rows BEGIN
          INSERT INTO widened_work (work) SELECT length(hex(randomblob(15000)));
        END;`),
    reset: (tx) => tx.exec('DROP TABLE IF EXISTS widened_rows; DROP TABLE IF EXISTS widened_work'),
    apply: async (tx, event) => {
      await tx.writeRows(
        'widened_rows',
        ['event_id', 'part', 'version'],
        Array.from({ length: PARTS }, (_, part) => [event.id, part, version]),
      );
    },
  });

  it('of a new version beside its old tables: lets the event loop turn while it stages and copies, then serves the new rows', async () => {
    const store = createInMemoryEventStore();
    await appendAll(store, generateLeadHistory({ seed: 29, leadCount: 300, eventCount: 1_500 }));
    const events = (await store.readAll({ maxCount: 10_000 })).length;
    const directory = temporaryDirectory();
    const db = openSqliteDatabase(directory.file('read.db'));
    cleanups.push(() => directory.remove(), () => db.close());
    const first = new ProjectionRunner({ store, db, projections: [widened(1)] });
    await first.start();
    await first.whenCaughtUp();
    await first.stop();

    const runner = new ProjectionRunner({ store, db, projections: [widened(2)] });
    cleanups.push(() => runner.stop());
    const { elapsedMs, longestStallMs } = await longestStall(async () => {
      await runner.start();
      expect(runner.rebuildingBeside).toEqual(['widened']);
      await runner.whenRebuiltBeside();
    });

    expect(runner.failures).toEqual([]);
    expect(await db.all('SELECT version, COUNT(*) AS n FROM widened_rows GROUP BY version')).toEqual([{ version: 2, n: events * PARTS }]);
    // The copy alone inserts events × 10 rows at about 30 us each: long enough for a stall to show.
    expect(elapsedMs).toBeGreaterThan(300);
    expect(longestStallMs).toBeLessThan(100);
  });

  it('rebuilds a projection that has no rows yet (the first start of a new read model) in turns too; a command alone on its thread does not', async () => {
    const store = createInMemoryEventStore();
    await appendAll(store, generateLeadHistory({ seed: 31, leadCount: 300, eventCount: 1_500 }));
    const events = (await store.readAll({ maxCount: 10_000 })).length;
    const rebuildFromNothing = async (sharesThreadWithRequests: boolean) => {
      const directory = temporaryDirectory();
      const db = openSqliteDatabase(directory.file('read.db'));
      cleanups.push(() => directory.remove(), () => db.close());
      const runner = new ProjectionRunner({ store, db, projections: [widened(1)], sharesThreadWithRequests });
      cleanups.push(() => runner.stop());
      const measured = await longestStall(async () => {
        await runner.start();
        await runner.whenCaughtUp();
      });
      expect(await db.all('SELECT version, COUNT(*) AS n FROM widened_rows GROUP BY version')).toEqual([{ version: 1, n: events * PARTS }]);
      return measured;
    };
    const inTurns = await rebuildFromNothing(true);
    expect(inTurns.elapsedMs).toBeGreaterThan(300);
    expect(inTurns.longestStallMs).toBeLessThan(100);
    // `npm run replay` and `npm run verify`: one statement per table, the thread held for the copy.
    const alone = await rebuildFromNothing(false);
    expect(alone.longestStallMs).toBeGreaterThan(200);
  });
});
