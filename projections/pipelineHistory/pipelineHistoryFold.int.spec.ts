/**
 * In a bulk rebuild the pipeline history folds in memory and writes each version once (see
 * `foldPipelineHistoryInMemory`). With room for only three opportunities, so that most are
 * written out early and their later events go through `apply` on the rows written, the table
 * must hold exactly the rows `apply` writes event by event.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { openApplication } from '../../src/composition/application';
import { loadConfig } from '../../src/composition/config';
import { generateCrmHistory } from '../../src/seeding/generator';
import { openSqliteDatabase, type SqlDatabase } from '../sqlDatabase';
import { foldPipelineHistoryInMemory, pipelineHistoryProjection } from './pipelineHistoryReadModel';

const rowsOf = async (db: SqlDatabase) =>
  (await db.all('SELECT * FROM read_pipeline_history')).map((row) => JSON.stringify(row, (_key, value: unknown) => (typeof value === 'bigint' ? `${value}n` : value))).sort();

it.each([
  ['room for three opportunities', 3],
  ['room for every opportunity', 100_000],
])('writes, with %s, the rows apply writes event by event', async (_room, maxHeld) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-pipeline-fold-'));
  const app = await openApplication(loadConfig({ CRM_JWT_SECRET: 'pipeline-fold-secret-long-enough-for-hs256' }, { dataDir }));
  const applied = openSqliteDatabase(path.join(dataDir, 'applied.db'));
  const folded = openSqliteDatabase(path.join(dataDir, 'folded.db'));
  try {
    await generateCrmHistory(app, { leads: 80, seed: 5_151 });
    const events = (await app.store.readAll()).filter((event) => pipelineHistoryProjection.canHandle.includes(event.type));
    const types = new Set(events.map((event) => event.type));
    for (const type of ['OpportunityOpened', 'OpportunityStageChanged', 'OpportunityWon', 'OpportunityLost', 'OpportunityReopened']) expect(types).toContain(type);

    await pipelineHistoryProjection.setup(applied);
    await applied.transaction(async (tx) => {
      for (const event of events) await pipelineHistoryProjection.apply(tx, event);
    });
    await pipelineHistoryProjection.setup(folded);
    const fold = foldPipelineHistoryInMemory(maxHeld);
    await folded.transaction(async (tx) => {
      for (const [index, event] of events.entries()) {
        await fold.apply(tx, event);
        if (index % 7 === 6) await fold.flush(tx, false);
      }
      await fold.flush(tx, true);
    });

    const rows = await rowsOf(applied);
    // Versions that ended (a stage change, a close) and versions still current are both there.
    expect(rows.filter((row) => row.includes('"valid_to":null')).length).toBeGreaterThan(10);
    expect(rows.filter((row) => !row.includes('"valid_to":null')).length).toBeGreaterThan(10);
    expect(await rowsOf(folded)).toEqual(rows);
  } finally {
    await applied.close();
    await folded.close();
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 120_000);
