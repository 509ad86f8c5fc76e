/**
 * The replay of the whole log for a retrospective: on SQLite a page of the log is read
 * synchronously, so without turns of the event loop the thread serving every request waits for
 * the whole replay (13 s on the insights history's million events).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { turnsOf, type TurnTaker } from '../../projections/eventLoopTurns';
import { turnsBeside } from '../../test/support/eventLoopStalls';
import { openApplication, type Application } from '../composition/application';
import { loadConfig } from '../composition/config';
import { generateCrmHistory } from '../seeding/generator';
import { replayFacts } from './replayFacts';

let dataDir: string;
let app: Application;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'crm-replay-facts-'));
  app = await openApplication(loadConfig({ CRM_JWT_SECRET: 'replay-facts-secret-long-enough-for-hs256' }, { dataDir }));
  const history = await generateCrmHistory(app, { leads: 200, seed: 5 });
  await app.readModels.waitForPosition(history.lastPosition!, 60_000);
}, 120_000);

afterAll(async () => {
  await app?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

it('steps aside between slices of the replay, so that the requests waiting meanwhile are answered, and folds the same facts', async () => {
  // Not cut by list: no personal data to open (which may be done on a thread of its own).
  const othersServed = async (takeTurn: TurnTaker) => {
    const { result: facts, turns } = await turnsBeside(() => replayFacts(app.store, { takeTurn, pageSize: 500, withLists: false }));
    return { turns, facts };
  };
  const never = await othersServed(() => undefined);
  const everyEvent = await othersServed(turnsOf(0, 1));
  // The log read page by page from the SQLite file, on this thread: nothing else runs meanwhile.
  expect(never.turns).toBe(0);
  expect(never.facts.eventsReplayed).toBeGreaterThan(1_000);
  expect(everyEvent.turns).toBeGreaterThanOrEqual(everyEvent.facts.eventsReplayed);
  expect(everyEvent.facts).toEqual(never.facts);
});
