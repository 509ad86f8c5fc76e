import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import type { EventStore } from '../core/eventStore';
import type { Projection } from '../../projections/projection';
import { ProjectionRunner, type StageAlongside } from '../../projections/runner';
import type { SqlDatabase } from '../../projections/sqlDatabase';
import { replayProjections, type ReplayProgress } from '../../projections/tools/replay';
import { openScratchSpace } from '../../projections/tools/scratch';
import { countEvents } from '../../projections/tools/storeViews';
import { verifyReadModels } from '../../projections/tools/verify';
import { startEventStoreDbModel, type EventStoreDbModel } from '../../test/support/eventStoreDbModel';
import { appendAll, generateLeadHistory } from '../../test/support/leadEvents';
import { openTestApplication, seed, type TestApplication } from '../../test/support/seededApplication';
import { openReadDatabase, readModelProjections } from './application';
import { openEventLog } from './eventLog';
import { copyBesideOnAnotherThread, stageOnAnotherThread } from './stagingThread';
import { longestStall } from '../../test/support/eventLoopStalls';
import { TEST_DATABASE_URL, aSchemaName, dropSchemas } from '../../test/support/postgres';

/**
 * The projection runner's staging thread: the rebuilds in bulk of a long log staged on a second
 * thread (a replay on both, an API's on the other alone), with the rows a rebuild on one thread
 * leaves, on SQLite, on PostgreSQL and on EventStoreDB. "Long" is lowered to 100 events here, so
 * that a small seeded history counts.
 */
/** A seeded history's stores, opened again after the seed, as a replay opens them. */
interface SeededLog {
  seeded: TestApplication;
  store: EventStore & { close(): Promise<void> };
  db: SqlDatabase;
  close(): Promise<void>;
}

const openSeededLog = async (leads: number, seedNumber: number, env?: NodeJS.ProcessEnv): Promise<SeededLog> => {
  const seeded = await openTestApplication({ env });
  await seed(seeded.app, { leads, seed: seedNumber });
  await seeded.close();
  const store = await openEventLog(seeded.config);
  const db = await openReadDatabase(seeded.config.readStore);
  return {
    seeded,
    store,
    db,
    async close() {
      await db.close();
      await store.close();
      await seeded.dispose();
    },
  };
};

let seeded: TestApplication;
let store: EventStore & { close(): Promise<void> };
let db: SqlDatabase;
let onSqlite: SeededLog;

beforeAll(async () => {
  onSqlite = await openSeededLog(120, 3);
  ({ seeded, store, db } = onSqlite);
}, 120_000);

afterAll(async () => {
  await onSqlite?.close();
});

/** The thread of `stageOnAnotherThread`, with what each call asked for and whether it staged. */
const watchedThread = (thread: StageAlongside = stageOnAnotherThread(seeded.config)) => {
  const calls: Array<{ projections: string[]; staged: boolean }> = [];
  const stage: StageAlongside = async (projections, options) => {
    const staged = await thread(projections, options);
    calls.push({ projections: projections.map((projection) => projection.name), staged: staged !== undefined });
    return staged;
  };
  return { stage, calls };
};

/** A staging thread that cannot open the log: its event store's folder would be inside a file. */
const brokenThread = (): StageAlongside =>
  stageOnAnotherThread({ ...seeded.config, eventStore: { kind: 'sqlite', filename: path.join(seeded.dataDir, 'crm.sqlite', 'events.sqlite') } });

const expectEqualToARebuild = async (projections: Projection[] = readModelProjections(), log: SeededLog = onSqlite) => {
  const scratch = await openScratchSpace(log.seeded.config.readStore);
  try {
    const report = await verifyReadModels({ store: log.store, scratch, projections });
    expect(report.problems).toEqual([]);
    expect(report.tables.filter((table) => table.problem || table.missing.count + table.unexpected.count + table.differing.count > 0)).toEqual([]);
    expect(report.tables.length).toBeGreaterThan(10);
    expect(report.ok).toBe(true);
  } finally {
    await scratch.close();
  }
};

/** Starts the runner, lets it catch up, rebuilds every projection, and stops it. */
const replayAll = async (runner: ProjectionRunner) => {
  await runner.start();
  try {
    await runner.whenCaughtUp();
    await runner.rebuild();
  } finally {
    await runner.stop();
  }
};

const bulkNames = () => readModelProjections().filter((projection) => projection.rebuildsInBulk).map((projection) => projection.name);

/**
 * Replays every projection of `log` through `db`, split between this thread and another, and
 * expects the other to have staged its part (the KPI facts among it): not given up, and staged
 * here after all.
 */
const replaySplitBetweenThreads = async (log: SeededLog, db: SqlDatabase = log.db) => {
  const thread = watchedThread(stageOnAnotherThread(log.seeded.config));
  const failures: string[] = [];
  const runner = new ProjectionRunner({
    store: log.store,
    db,
    projections: readModelProjections(),
    sharesThreadWithRequests: false,
    stagingThread: thread.stage,
    stagingThreadFromEvents: 100,
    logger: { error: (...args: unknown[]) => failures.push(args.map(String).join(' ')) },
  });
  await replayAll(runner);
  expect(failures).toEqual([]);
  expect(thread.calls).toHaveLength(1);
  expect(thread.calls[0]!.staged).toBe(true);
  expect(thread.calls[0]!.projections).toContain('kpi-facts');
};

describe("the projection runner's staging thread", () => {
  it('stages a replay on two threads, the heavier part on the other, with the rows of a replay on one', async () => {
    const thread = watchedThread();
    const runner = new ProjectionRunner({ store, db, projections: readModelProjections(), sharesThreadWithRequests: false, stagingThread: thread.stage, stagingThreadFromEvents: 100 });
    await replayAll(runner);
    expect(thread.calls).toHaveLength(1);
    const [{ projections: onThread, staged }] = thread.calls as [(typeof thread.calls)[0]];
    expect(staged).toBe(true);
    // Some on the other thread, the rest on this one: kpi-facts, the heaviest, goes there.
    expect(onThread).toContain('kpi-facts');
    expect(onThread.length).toBeLessThan(bulkNames().length);
    await expectEqualToARebuild();
    const leads = await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM read_leads');
    expect(leads!.n).toBe(120);
  }, 120_000);

  it("stages an API's rebuild beside a new version on the other thread alone", async () => {
    const thread = watchedThread();
    // The leads' read model in a version the read database has not seen: rebuilt beside its rows.
    const projections = readModelProjections().map((projection) => (projection.name === 'leads' ? { ...projection, version: projection.version + 1 } : projection));
    const runner = new ProjectionRunner({ store, db, projections, stagingThread: thread.stage, stagingThreadFromEvents: 100 });
    await runner.start();
    try {
      expect(runner.rebuildingBeside).toEqual(['leads']);
      await runner.whenRebuiltBeside();
      expect(runner.rebuildingBeside).toEqual([]);
    } finally {
      await runner.stop();
    }
    expect(thread.calls).toEqual([{ projections: ['leads'], staged: true }]);
    await expectEqualToARebuild(projections);
    // The rows are the new version's: the runner's next start finds nothing outdated.
    const again = new ProjectionRunner({ store, db, projections, stagingThread: thread.stage, stagingThreadFromEvents: 100 });
    await again.start();
    expect(again.rebuildingBeside).toEqual([]);
    await again.stop();
  }, 120_000);

  it("splits an API's first rebuild (a new read store: it serves nothing yet) between both threads, and not a later one", async () => {
    const thread = watchedThread();
    const fresh = await openReadDatabase({ kind: 'sqlite', filename: path.join(seeded.dataDir, 'fresh-read-store.sqlite') });
    const runner = new ProjectionRunner({ store, db: fresh, projections: readModelProjections(), stagingThread: thread.stage, stagingThreadFromEvents: 100 });
    try {
      await runner.start();
      await runner.whenCaughtUp();
      expect(thread.calls).toHaveLength(1);
      expect(thread.calls[0]!.staged).toBe(true);
      expect(thread.calls[0]!.projections.length).toBeLessThan(bulkNames().length);
      // Caught up, it serves: a rebuild now leaves this thread to the requests.
      await runner.rebuild();
      expect(thread.calls).toHaveLength(2);
      expect([...thread.calls[1]!.projections].sort()).toEqual([...bulkNames()].sort());
      const leads = await fresh.get<{ n: number }>('SELECT COUNT(*) AS n FROM read_leads');
      expect(leads!.n).toBe(120);
    } finally {
      await runner.stop();
      await fresh.close();
    }
  }, 120_000);

  it('stages a short log on the runner\'s thread', async () => {
    const thread = watchedThread();
    // The seeded log holds about a thousand events: short of the default.
    const runner = new ProjectionRunner({ store, db, projections: readModelProjections(), sharesThreadWithRequests: false, stagingThread: thread.stage });
    await runner.start();
    try {
      await runner.rebuild();
    } finally {
      await runner.stop();
    }
    expect(thread.calls).toEqual([]);
    await expectEqualToARebuild();
  }, 120_000);

  it('stages the part of a thread that fails on the runner\'s thread, and says so', async () => {
    const broken = brokenThread();
    const errors: string[] = [];
    const runner = new ProjectionRunner({
      store,
      db,
      projections: readModelProjections(),
      sharesThreadWithRequests: false,
      stagingThread: broken,
      stagingThreadFromEvents: 100,
      logger: { error: (message: string) => errors.push(message) },
    });
    await runner.start();
    try {
      await runner.rebuild();
    } finally {
      await runner.stop();
    }
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^Staging kpi-facts, .* on another thread failed; staging them on this one: /);
    await expectEqualToARebuild();
    const leads = await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM read_leads');
    expect(leads!.n).toBe(120);
  }, 120_000);

  it("counts a replay's events once when its other thread fails and this one stages that part too, reading the log again", async () => {
    const broken = brokenThread();
    const total = await countEvents(store);
    const errors: string[] = [];
    const progress: ReplayProgress[] = [];
    const result = await replayProjections({
      store,
      db,
      projections: readModelProjections(),
      stagingThread: broken,
      stagingThreadFromEvents: 100,
      logger: { error: (message: string) => errors.push(message) },
      onProgress: (step) => progress.push(step),
    });
    expect(errors).toEqual([expect.stringMatching(/^Staging .* on another thread failed; staging them on this one: /)]);
    // Twice the log before: the part here and the failed part both read it on this thread.
    expect(result.events).toBe(total);
    expect(Math.max(...progress.map((step) => step.done))).toBe(total);
    await expectEqualToARebuild();
  }, 120_000);

  /** `npm run verify` of every read model, staged on `stagingThread` too: its report, what it logged, and the furthest its progress went. */
  const verifyStagingOn = async (stagingThread: StageAlongside) => {
    const errors: string[] = [];
    let furthest = 0;
    const scratch = await openScratchSpace(seeded.config.readStore);
    try {
      const report = await verifyReadModels({
        store,
        scratch,
        projections: readModelProjections(),
        stagingThread,
        stagingThreadFromEvents: 100,
        logger: { error: (message: string) => errors.push(message) },
        onProgress: (step) => (furthest = Math.max(furthest, step.done)),
      });
      return { report, errors, furthest };
    } finally {
      await scratch.close();
    }
  };

  it('counts a verification (npm run verify) up to the log when its other thread fails, and says so where told', async () => {
    const total = await countEvents(store);
    const { report, errors, furthest } = await verifyStagingOn(brokenThread());
    expect(report.ok).toBe(true);
    expect(errors).toEqual([expect.stringMatching(/^Staging .* on another thread failed; staging them on this one: /)]);
    expect(furthest).toBe(total);
  }, 120_000);

  it('counts a verification (npm run verify) up to the log when it stages on both threads', async () => {
    const thread = watchedThread();
    const total = await countEvents(store);
    const { report, errors, furthest } = await verifyStagingOn(thread.stage);
    expect(report.ok).toBe(true);
    expect(errors).toEqual([]);
    expect(thread.calls.length).toBeGreaterThan(0);
    expect(furthest).toBe(total);
  }, 120_000);

  it('gives up when told to stop, staging nothing', async () => {
    const stage = stageOnAnotherThread(seeded.config);
    const projections = readModelProjections().filter((projection) => projection.rebuildsInBulk);
    await expect(stage(projections, { stopped: Promise.resolve() })).resolves.toBeUndefined();
    // And stages the log as it is when not.
    const staged = await stage(projections, {});
    try {
      expect(staged?.through).toBe(await store.headPosition());
    } finally {
      staged?.staging.close();
    }
  }, 120_000);

  it('gives up a rebuild beside a new version on the other thread when the API stops meanwhile, the old rows left serving', async () => {
    const thread = watchedThread();
    const versionOfLeads = async () => (await db.get<{ version: number }>("SELECT version FROM projection_checkpoints WHERE name = 'leads'"))!.version;
    const before = await versionOfLeads();
    const projections = readModelProjections().map((projection) => (projection.name === 'leads' ? { ...projection, version: before + 1 } : projection));
    const runner = new ProjectionRunner({ store, db, projections, stagingThread: thread.stage, stagingThreadFromEvents: 100 });
    await runner.start();
    expect(runner.rebuildingBeside).toEqual(['leads']);
    const stopping = performance.now();
    await runner.stop();
    expect(performance.now() - stopping).toBeLessThan(10_000);
    // The thread was told to stop and staged nothing; nothing was switched over.
    expect(thread.calls).toEqual([{ projections: ['leads'], staged: false }]);
    expect(await versionOfLeads()).toBe(before);
    const leads = await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM read_leads');
    expect(leads!.n).toBe(120);
  }, 120_000);

  it("copies an API's rebuild beside a new version on another thread: the drop of the old rows and the copy do not hold the thread that serves", async () => {
    const { readStore } = seeded.config;
    if (readStore.kind !== 'sqlite') throw new Error('a SQLite read store was expected');
    const versionOfTrail = async () => (await db.get<{ version: number }>("SELECT version FROM projection_checkpoints WHERE name = 'audit-events'"))!.version;
    const current = await versionOfTrail();
    const schema = () => db.all("SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name");
    const schemaBefore = await schema();
    const searched = async () => (await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM read_leads_search WHERE read_leads_search MATCH '"example"'`))!.n;
    const searchedBefore = await searched();
    expect(searchedBefore).toBeGreaterThan(0);
    const trail = await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM audit_events');
    // Old rows of about 200 MB, which the switch-over's transaction drops: one statement, which
    // held the thread 250 ms here when the copy ran on it (12 ms at most on another thread).
    await db.transaction((tx) =>
      tx.insertRows(
        'audit_events',
        ['seq', 'stream_id', 'stream_category', 'revision', 'event_type', 'actor', 'recorded_at', 'occurred_at', 'correlation_id'],
        Array.from({ length: 100_000 }, (_, index) => [1e9 + index, `old-${index}`, 'old', 0, 'Old', 'nobody', '2020-01-01T00:00:00.000Z', '2020-01-01T00:00:00.000Z', 'x'.repeat(2000)]),
      ),
    );
    await db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    // Deployed as new versions: the read database holds the ones before.
    await db.run("UPDATE projection_checkpoints SET version = version - 1 WHERE name IN ('audit-events', 'leads')");
    const thread = watchedThread();
    const runner = new ProjectionRunner({
      store,
      db,
      projections: readModelProjections(),
      stagingThread: thread.stage,
      stagingThreadFromEvents: 100,
      copyThread: copyBesideOnAnotherThread(readStore.filename, readModelProjections()),
    });
    const { longestStallMs } = await longestStall(async () => {
      await runner.start();
      try {
        expect([...runner.rebuildingBeside].sort()).toEqual(['audit-events', 'leads']);
        await runner.whenRebuiltBeside();
        expect(runner.rebuildingBeside).toEqual([]);
      } finally {
        await runner.stop();
      }
    });
    expect(longestStallMs).toBeLessThan(100);
    expect(thread.calls.map((call) => ({ ...call, projections: call.projections.sort() }))).toEqual([{ projections: ['audit-events', 'leads'], staged: true }]);
    // The new versions' rows and checkpoints, the old rows gone: those of a rebuild, with every
    // index and trigger (the leads' search index kept in step, and filled).
    expect(await versionOfTrail()).toBe(current);
    expect(await db.get('SELECT COUNT(*) AS n FROM audit_events')).toEqual(trail);
    await expectEqualToARebuild();
    expect(await schema()).toEqual(schemaBefore);
    expect(await searched()).toEqual(searchedBefore);
    expect(await db.get('PRAGMA integrity_check')).toEqual({ integrity_check: 'ok' });
  }, 120_000);

  /** `npm run replay -- --projection audit-events`, staged on `stagingThread` when given: its result and each step of its progress. */
  const replayTrailAlone = async (stagingThread?: StageAlongside) => {
    const done: number[] = [];
    const result = await replayProjections({
      store,
      db,
      projections: readModelProjections(),
      only: 'audit-events',
      ...(stagingThread === undefined ? {} : { stagingThread, stagingThreadFromEvents: 100 }),
      onProgress: (step) => done.push(step.done),
    });
    return { result, done };
  };

  it('rebuilds the audit trail alone in SQL on the other thread (npm run replay -- --projection audit-events): no event read there, the rows of a rebuild', async () => {
    const thread = watchedThread();
    const total = await countEvents(store);
    const { result, done } = await replayTrailAlone(thread.stage);
    expect(thread.calls).toEqual([{ projections: ['audit-events'], staged: true }]);
    expect(result.events).toBe(total);
    // The first page, which tells this thread the log is long; then the events the other thread
    // staged in SQL, read by none, up to the whole log.
    expect(done.at(-1)).toBe(total);
    expect(done.filter((events) => events > 100).length).toBeGreaterThan(0);
    expect(await db.get('SELECT COUNT(*) AS n FROM audit_events')).toEqual({ n: total });
    await expectEqualToARebuild();
  }, 120_000);

  it('tells the progress of the audit trail rebuilt alone in SQL on this thread, up to the whole log', async () => {
    const total = await countEvents(store);
    const { result, done } = await replayTrailAlone();
    expect(result.events).toBe(total);
    expect(done.at(-1)).toBe(total);
    expect(await db.get('SELECT COUNT(*) AS n FROM audit_events')).toEqual({ n: total });
    await expectEqualToARebuild();
  }, 120_000);

  // Last: it leaves the log longer than the read models have taken in.
  it("counts a replay's events on the thread that stages them (npm run replay of one projection, staged on the other thread alone)", async () => {
    const thread = watchedThread();
    const total = await countEvents(store);
    const progress: ReplayProgress[] = [];
    const result = await replayProjections({
      store,
      db,
      projections: readModelProjections(),
      only: 'kpi-facts',
      stagingThread: thread.stage,
      stagingThreadFromEvents: 100,
      onProgress: (step) => progress.push(step),
    });
    // One projection is one part: the other thread stages it, and this one reads only the first page.
    expect(thread.calls).toEqual([{ projections: ['kpi-facts'], staged: true }]);
    expect(result.events).toBe(total);
    expect(progress.at(-1)).toMatchObject({ done: total, total });
    // The page of the threshold, then the other thread's pages (of 500 events, doubling): more than one step.
    expect(progress.length).toBeGreaterThan(2);
    expect(progress.map((step) => step.done)).toEqual([...progress.map((step) => step.done)].sort((a, b) => a - b));
  }, 120_000);

  it('stages a verification (npm run verify) up to the live checkpoints, not past them', async () => {
    const checkpointsBefore = await db.all('SELECT name, position FROM projection_checkpoints ORDER BY name');
    await appendAll(store, generateLeadHistory({ seed: 9, leadCount: 2, eventCount: 6 }));
    const thread = watchedThread();
    const scratch = await openScratchSpace(seeded.config.readStore);
    try {
      const report = await verifyReadModels({ store, scratch, projections: readModelProjections(), stagingThread: thread.stage, stagingThreadFromEvents: 100 });
      expect(thread.calls).toHaveLength(1);
      expect(thread.calls[0]!.staged).toBe(true);
      expect(thread.calls[0]!.projections.length).toBeLessThan(bulkNames().length);
      // The rebuild stopped where the live read models stand, the events after them left out.
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
      expect(await db.all('SELECT name, position FROM projection_checkpoints ORDER BY name')).toEqual(checkpointsBefore);
    } finally {
      await scratch.close();
    }
  }, 120_000);
});

/**
 * On PostgreSQL the two parts of a replay are copied at the same time, each in a transaction of
 * its own (`TransactionOptions.concurrently`): their tables and checkpoints are their own.
 */
describe("the projection runner's staging thread, on PostgreSQL", () => {
  const schema = aSchemaName('staging');
  let onPostgres: SeededLog;

  beforeAll(async () => {
    onPostgres = await openSeededLog(60, 7, { CRM_EVENT_STORE: 'postgres', CRM_READ_STORE: 'postgres', DATABASE_URL: TEST_DATABASE_URL, CRM_PG_SCHEMA: schema });
  }, 120_000);

  afterAll(async () => {
    await onPostgres?.close();
    await dropSchemas(schema);
  });

  it("copies a replay's two parts at the same time, each in a transaction of its own, with the rows of a rebuild", async () => {
    // The read database as the runner sees it, its copies (its long transactions) watched: the
    // first holds its transaction open until the second has begun, which it could not do were
    // the copies one after the other (the first would give up after 20 s, and the replay with it).
    const copies: Array<{ concurrently: boolean | undefined }> = [];
    let secondBegan!: () => void;
    const second = new Promise<void>((resolve) => (secondBegan = resolve));
    const secondOrGiveUp = () =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the second copy never began')), 20_000);
        void second.then(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    const watched: SqlDatabase = {
      ...onPostgres.db,
      transaction: (fn, options) => {
        if (options?.long !== true) return onPostgres.db.transaction(fn, options);
        copies.push({ concurrently: options.concurrently });
        if (copies.length === 2) secondBegan();
        const first = copies.length === 1;
        return onPostgres.db.transaction(async (tx) => {
          if (first) await secondOrGiveUp();
          return fn(tx);
        }, options);
      },
    };
    await replaySplitBetweenThreads(onPostgres, watched);
    expect(copies).toEqual([{ concurrently: true }, { concurrently: true }]);
    await expectEqualToARebuild(readModelProjections(), onPostgres);
    const leads = await onPostgres.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM read_leads');
    expect(leads!.n).toBe(60);
  }, 120_000);
});

/**
 * On a log in EventStoreDB the thread opens its own client to the server and reads `$all` there
 * (system events included, which no projection takes): the protocol model of
 * test/support/eventStoreDbModel.ts serves it, or the server of EVENTSTORE_URL when set.
 */
describe("the projection runner's staging thread, on EventStoreDB", () => {
  let model: EventStoreDbModel | undefined;
  let onEventStoreDb: SeededLog;

  beforeAll(async () => {
    const url = process.env.EVENTSTORE_URL ?? (model = await startEventStoreDbModel({ systemEventEvery: 5 })).url;
    onEventStoreDb = await openSeededLog(60, 5, { CRM_EVENT_STORE: 'eventstoredb', EVENTSTORE_URL: url });
  }, 120_000);

  afterAll(async () => {
    await onEventStoreDb?.close();
    await model?.close();
  });

  it('stages a replay on both threads, the other reading the log from the server on its own client, with the rows of a rebuild', async () => {
    await replaySplitBetweenThreads(onEventStoreDb);
    await expectEqualToARebuild(readModelProjections(), onEventStoreDb);
    const leads = await onEventStoreDb.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM read_leads');
    expect(leads!.n).toBe(60);
  }, 120_000);
});
