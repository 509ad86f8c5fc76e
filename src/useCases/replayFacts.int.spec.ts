/**
 * The replay of the whole log for a retrospective: on SQLite a page of the log is read
 * synchronously, so without turns of the event loop the thread serving every request waits for
 * the whole replay (13 s on the insights history's million events).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { turnsOf, type TurnTaker } from '../../projections/eventLoopTurns';
import { turnsBeside } from '../../test/support/eventLoopStalls';
import { openTestApplication, seed, type TestApplication } from '../../test/support/seededApplication';
import { replayFacts } from './replayFacts';

let opened: TestApplication;

beforeAll(async () => {
  opened = await openTestApplication();
  await seed(opened.app, { leads: 200, seed: 5 });
}, 120_000);

afterAll(() => opened?.dispose());

it('steps aside between slices of the replay, so that the requests waiting meanwhile are answered, and folds the same facts', async () => {
  // Not cut by list: no personal data to open (which may be done on a thread of its own).
  const othersServed = async (takeTurn: TurnTaker) => {
    const { result: facts, turns } = await turnsBeside(() => replayFacts(opened.app.store, { takeTurn, pageSize: 500, withLists: false }));
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
