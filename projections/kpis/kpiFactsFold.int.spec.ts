/**
 * In a bulk rebuild the KPI facts fold in memory and are written once (see
 * `foldKpiFactsInMemory`). With room for only three leads and three opportunities, so that most
 * are written out early and their later events go through `apply` on the rows written, every
 * fact table and its `_replaced` twin must hold exactly the rows `apply` writes event by event.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { openApplication } from '../../src/composition/application';
import { loadConfig } from '../../src/composition/config';
import { generateCrmHistory } from '../../src/seeding/generator';
import { openSqliteDatabase, type SqlDatabase } from '../sqlDatabase';
import { foldKpiFactsInMemory, kpiFactsProjection, replacedTable } from './kpiFactsProjection';

const TABLES = ['kpi_lead_cycles', 'kpi_opportunities', 'kpi_stage_stays'].flatMap((table) => [table, replacedTable(table)]);

/** Every row of every fact table, as text (integers past 2^53 included), in an order of the values alone. */
const snapshot = async (db: SqlDatabase) =>
  Object.fromEntries(
    await Promise.all(
      TABLES.map(async (table) => [table, (await db.all(`SELECT * FROM ${table}`)).map((row) => JSON.stringify(row, (_key, value: unknown) => (typeof value === 'bigint' ? `${value}n` : value))).sort()] as const),
    ),
  );

it.each([
  ['room for three leads and three opportunities', 3],
  ['room for every lead and opportunity', 100_000],
])('writes, with %s, the rows apply writes event by event', async (_room, maxHeld) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-kpi-fold-'));
  const app = await openApplication(loadConfig({ CRM_JWT_SECRET: 'kpi-fold-secret-long-enough-for-hs256' }, { dataDir }));
  const applied = openSqliteDatabase(path.join(dataDir, 'applied.db'));
  const folded = openSqliteDatabase(path.join(dataDir, 'folded.db'));
  try {
    await generateCrmHistory(app, { leads: 60, seed: 4_242 });
    const events = (await app.store.readAll()).filter((event) => kpiFactsProjection.canHandle.includes(event.type));
    const types = new Set(events.map((event) => event.type));
    for (const type of ['LeadRecycled', 'LeadConverted', 'OpportunityWon', 'OpportunityLost', 'OpportunityStageChanged']) expect(types).toContain(type);

    await kpiFactsProjection.setup(applied);
    await applied.transaction(async (tx) => {
      for (const event of events) await kpiFactsProjection.apply(tx, event);
    });
    await kpiFactsProjection.setup(folded);
    const fold = foldKpiFactsInMemory(maxHeld);
    await folded.transaction(async (tx) => {
      for (const [index, event] of events.entries()) {
        await fold.apply(tx, event);
        if (index % 7 === 6) await fold.flush(tx, false);
      }
      await fold.flush(tx, true);
    });

    const rows = await snapshot(applied);
    expect(rows.kpi_lead_cycles!.length).toBeGreaterThan(60);
    expect(rows.kpi_opportunities_replaced!.length).toBeGreaterThan(10);
    expect(rows.kpi_stage_stays_replaced!.length).toBeGreaterThan(10);
    expect(await snapshot(folded)).toEqual(rows);
  } finally {
    await applied.close();
    await folded.close();
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 120_000);
