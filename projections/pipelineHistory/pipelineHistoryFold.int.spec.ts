/**
 * In a bulk rebuild the pipeline history folds in memory and writes each version once (see
 * `foldPipelineHistoryInMemory`). With room for only three opportunities, so that most are
 * written out early and their later events go through `apply` on the rows written, the table
 * must hold exactly the rows `apply` writes event by event.
 */
import { expect, it } from 'vitest';
import { applyAndFold, generatedEventsFor, rowsAsText } from '../../test/support/inMemoryFolds';
import type { SqlDatabase } from '../sqlDatabase';
import { pipelineChangeRowsAsText } from './pipelineChanges';
import { foldPipelineHistoryInMemory, pipelineHistoryProjection } from './pipelineHistoryReadModel';

const rowsOf = (db: SqlDatabase) => rowsAsText(db, 'read_pipeline_history');

it.each([
  ['room for three opportunities', 3],
  ['room for every opportunity', 100_000],
])('writes, with %s, the rows apply writes event by event', async (_room, maxHeld) => {
  const events = await generatedEventsFor(pipelineHistoryProjection, { leads: 80, seed: 5_151 });
  const types = new Set(events.map((event) => event.type));
  for (const type of ['OpportunityOpened', 'OpportunityStageChanged', 'OpportunityWon', 'OpportunityLost', 'OpportunityReopened']) expect(types).toContain(type);

  await applyAndFold(pipelineHistoryProjection, foldPipelineHistoryInMemory(maxHeld), events, 7, async (applied, folded) => {
    const rows = await rowsOf(applied);
    // Versions that ended (a stage change, a close) and versions still current are both there.
    expect(rows.filter((row) => row.includes('"valid_to":null')).length).toBeGreaterThan(10);
    expect(rows.filter((row) => !row.includes('"valid_to":null')).length).toBeGreaterThan(10);
    expect(await rowsOf(folded)).toEqual(rows);
    // And the open pipeline's changes by month and day, moved event by event or worked out at the end.
    const changes = await pipelineChangeRowsAsText(applied);
    expect(changes.length).toBeGreaterThan(10);
    expect(await pipelineChangeRowsAsText(folded)).toEqual(changes);
  });
}, 120_000);
