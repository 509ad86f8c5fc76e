import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProjectionRunner, type StageAlongside } from '../../projections/runner';
import type { SqlDatabase } from '../../projections/sqlDatabase';
import { openScratchSpace } from '../../projections/tools/scratch';
import { verifyReadModels } from '../../projections/tools/verify';
import { startEventStoreDbModel, type EventStoreDbModel } from '../../test/support/eventStoreDbModel';
import { openTestApplication, seed, type TestApplication } from '../../test/support/seededApplication';
import type { EventStore } from '../core/eventStore';
import { openReadDatabase, readModelProjections } from './application';
import { openEventLog } from './eventLog';
import { stageOnAnotherThread } from './stagingThread';

/**
 * The staging thread on a log in EventStoreDB: the thread opens its own client to the server and
 * reads `$all` there (system events included, which no projection takes). The protocol model of
 * test/support/eventStoreDbModel.ts serves it, or the server of EVENTSTORE_URL when set. "Long"
 * is lowered to 100 events, as in stagingThread.int.spec.ts.
 */
let model: EventStoreDbModel | undefined;
let seeded: TestApplication;
let store: EventStore & { close(): Promise<void> };
let db: SqlDatabase;

beforeAll(async () => {
  const url = process.env.EVENTSTORE_URL ?? (model = await startEventStoreDbModel({ systemEventEvery: 5 })).url;
  seeded = await openTestApplication({ env: { CRM_EVENT_STORE: 'eventstoredb', EVENTSTORE_URL: url } });
  await seed(seeded.app, { leads: 60, seed: 5 });
  await seeded.close();
  store = await openEventLog(seeded.config);
  db = await openReadDatabase(seeded.config.readStore);
}, 120_000);

afterAll(async () => {
  await db?.close();
  await store?.close();
  await seeded?.dispose();
  await model?.close();
});

describe("the projection runner's staging thread, on EventStoreDB", () => {
  it('stages a replay on both threads, the other reading the log from the server on its own client, with the rows of a rebuild', async () => {
    const calls: Array<{ projections: string[]; staged: boolean }> = [];
    const thread = stageOnAnotherThread(seeded.config);
    const watched: StageAlongside = async (projections, options) => {
      const staged = await thread(projections, options);
      calls.push({ projections: projections.map((projection) => projection.name), staged: staged !== undefined });
      return staged;
    };
    const failures: string[] = [];
    const runner = new ProjectionRunner({
      store,
      db,
      projections: readModelProjections(),
      sharesThreadWithRequests: false,
      stagingThread: watched,
      stagingThreadFromEvents: 100,
      logger: { error: (...args: unknown[]) => failures.push(args.map(String).join(' ')) },
    });
    await runner.start();
    try {
      await runner.whenCaughtUp();
      await runner.rebuild();
    } finally {
      await runner.stop();
    }
    // Staged there, not given up and staged here after all.
    expect(failures).toEqual([]);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.staged).toBe(true);
    expect(calls[0]!.projections).toContain('kpi-facts');
    const scratch = await openScratchSpace(seeded.config.readStore);
    try {
      const report = await verifyReadModels({ store, scratch, projections: readModelProjections() });
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
    } finally {
      await scratch.close();
    }
    const leads = await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM read_leads');
    expect(leads!.n).toBe(60);
  }, 120_000);
});
