/**
 * In a bulk rebuild the KPI facts fold in memory and are written once (see
 * `foldKpiFactsInMemory`). With room for only three leads and three opportunities, so that most
 * are written out early and their later events go through `apply` on the rows written, every
 * fact table and its `_replaced` twin must hold exactly the rows `apply` writes event by event,
 * and the monthly rollups, kept up by `apply` event by event and worked out once from the facts
 * at the end of the fold, the same cells, which are those of the facts.
 */
import { expect, it } from 'vitest';
import { applyAndFold, generatedEventsFor, rowsAsText } from '../../test/support/inMemoryFolds';
import type { SqlDatabase } from '../sqlDatabase';
import { foldKpiFactsInMemory, kpiFactsProjection, replacedTable } from './kpiFactsProjection';
import { expectedRollupRowsAsText, ROLLUP_TABLES, rollupRowsAsText } from './kpiRollups';

const TABLES = [
  ...['kpi_lead_cycles', 'kpi_opportunities', 'kpi_stage_stays'].flatMap((table) => [table, replacedTable(table)]),
  ...ROLLUP_TABLES,
];

/** Every row of every fact table, as text (see `rowsAsText`). */
const snapshot = async (db: SqlDatabase) =>
  Object.fromEntries(await Promise.all(TABLES.map(async (table) => [table, await rowsAsText(db, table)] as const)));

it.each([
  ['room for three leads and three opportunities', 3],
  ['room for every lead and opportunity', 100_000],
])('writes, with %s, the rows apply writes event by event', async (_room, maxHeld) => {
  const events = await generatedEventsFor(kpiFactsProjection, { leads: 60, seed: 4_242 });
  const types = new Set(events.map((event) => event.type));
  for (const type of ['LeadRecycled', 'LeadConverted', 'OpportunityWon', 'OpportunityLost', 'OpportunityStageChanged']) expect(types).toContain(type);

  await applyAndFold(kpiFactsProjection, foldKpiFactsInMemory(maxHeld), events, 7, async (applied, folded) => {
    const rows = await snapshot(applied);
    expect(rows.kpi_lead_cycles!.length).toBeGreaterThan(60);
    expect(rows.kpi_opportunities_replaced!.length).toBeGreaterThan(10);
    expect(rows.kpi_stage_stays_replaced!.length).toBeGreaterThan(10);
    expect(rows.kpi_stays_by_month!.length).toBeGreaterThan(5);
    expect(await rollupRowsAsText(applied)).toEqual(await expectedRollupRowsAsText(applied));
    expect(await snapshot(folded)).toEqual(rows);
  });
}, 120_000);
