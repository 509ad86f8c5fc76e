/**
 * The KPI fact tables and queries are portable: projected into PostgreSQL, they serve the same
 * figures as the replay, now and as known at past dates, on a small generated history with lead
 * lists and re-engaged contacts (the leads and lead lists read models projected there too, for
 * the cuts by LIST); and the pipeline of now from the rollups equals the one summed from the
 * opportunities read model, projected there too.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openApplication, type Application } from '../../src/composition/application';
import { loadConfig } from '../../src/composition/config';
import { KPI_DIMENSIONS, instant, type KpiDimension } from '../../src/domain/insights/definitions';
import { replayFacts } from '../../src/useCases/replayFacts';
import { kpisFromFacts } from '../../src/useCases/replayKpis';
import { generateCrmHistory, type GeneratedSummary } from '../../src/seeding/generator';
import { addListsAndEngagements } from '../../test/support/listsAndEngagements';
import { TEST_DATABASE_URL, aSchemaName, dropSchemas } from '../../test/support/postgres';
import { leadListsProjection } from '../leadLists/leadListsProjection';
import { leadsProjection } from '../leads/leadsProjection';
import { opportunitiesProjection } from '../opportunities/opportunitiesProjection';
import { pipelineSummary } from '../opportunities/opportunitiesQueries';
import { openPostgresDatabase } from '../postgresDatabase';
import { ProjectionRunner } from '../runner';
import type { SqlDatabase } from '../sqlDatabase';
import { kpiFactsProjection } from './kpiFactsProjection';
import { openPipeline, readKpis } from './kpiQueries';
import { expectedRollupRowsAsText, rollupRowsAsText } from './kpiRollups';

const schema = aSchemaName('kpis');
let dataDir: string;
let app: Application;
let history: GeneratedSummary;
let postgres: SqlDatabase;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'crm-kpis-pg-'));
  app = await openApplication(loadConfig({ CRM_JWT_SECRET: 'kpi-postgres-secret-long-enough-for-hs256' }, { dataDir }));
  history = await generateCrmHistory(app, { leads: 400, seed: 7 });
  await app.readModels.waitForPosition(history.lastPosition!, 120_000);
  await addListsAndEngagements(app, { seed: 7, listsAt: new Date(history.lastAt.getTime() + 86_400_000) });
  postgres = await openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema });
  const runner = new ProjectionRunner({ store: app.store, db: postgres, projections: [kpiFactsProjection, leadsProjection, leadListsProjection, opportunitiesProjection] });
  await runner.start();
  await runner.whenCaughtUp();
  await runner.stop();
}, 300_000);

afterAll(async () => {
  await postgres?.close();
  await app?.close();
  await dropSchemas(schema);
  rmSync(dataDir, { recursive: true, force: true });
});

it('keeps in PostgreSQL the monthly rollups that the facts add up to', async () => {
  const rows = await rollupRowsAsText(postgres);
  expect(rows.length).toBeGreaterThan(100);
  expect(rows).toEqual(await expectedRollupRowsAsText(postgres));
});

it('serves from PostgreSQL the figures the replay computes, for every KPI and cut', async () => {
  const facts = await replayFacts(app.store);
  const period = { from: instant(history.firstAt), to: instant(new Date(history.lastAt.getTime() + 1)) };
  // Whole months alone, from the rollups (the period above has partial months at either end).
  const months = { from: `${period.from.slice(0, 7)}-01T00:00:00.000Z`, to: `${period.to.slice(0, 7)}-01T00:00:00.000Z` };
  const cuts: KpiDimension[][] = [[], ['SOURCE'], ['OWNER', 'MONTH'], ['LIST'], ['ORIGIN'], ['LIST', 'ORIGIN', 'MONTH'], [...KPI_DIMENSIONS]];
  const asked: Array<[KpiDimension[], { from: string; to: string }]> = [...cuts.map((cut) => [cut, period] as [KpiDimension[], typeof period]), [['MONTH', 'SOURCE'], months]];
  for (const [groupBy, span] of asked) {
    const request = { ...span, groupBy, currency: app.pipeline.reportingCurrency };
    const served = await readKpis(postgres, request, app.pipeline);
    expect(served.lossReasons.length).toBeGreaterThan(0);
    // Cut by list or origin, there is something to cut: several lists, and re-engaged contacts.
    if (groupBy.includes('LIST')) expect(new Set(served.leadFunnel.map((row) => row.group.listId)).size).toBeGreaterThan(5);
    if (groupBy.includes('ORIGIN')) expect(served.leadFunnel.some((row) => row.group.origin === 'RE_ENGAGED')).toBe(true);
    expect(served).toEqual(kpisFromFacts(facts, request, app.pipeline));
  }
});

it('serves from PostgreSQL the figures as known at past dates, as the replay of the events recorded by then', async () => {
  const period = { from: instant(history.firstAt), to: instant(new Date(history.lastAt.getTime() + 1)) };
  const span = history.lastAt.getTime() - history.firstAt.getTime();
  for (const fraction of [0.3, 0.7]) {
    const knownAt = instant(new Date(history.firstAt.getTime() + fraction * span));
    const facts = await replayFacts(app.store, { knownAt });
    for (const groupBy of [[], [...KPI_DIMENSIONS]] as KpiDimension[][]) {
      const request = { ...period, groupBy, currency: app.pipeline.reportingCurrency };
      const served = await readKpis(postgres, { ...request, knownAt }, app.pipeline);
      expect(served.salesOutcomes.length).toBeGreaterThan(0);
      expect(served).toEqual(kpisFromFacts(facts, request, app.pipeline));
    }
  }
});

it('serves from PostgreSQL the pipeline of now from the rollups, as summed from every open opportunity', async () => {
  const owners = await postgres.all<{ owner_id: string }>(`SELECT DISTINCT owner_id FROM read_opportunities WHERE status = 'OPEN' AND owner_id IS NOT NULL`);
  expect(owners.length).toBeGreaterThan(1);
  const whole = await openPipeline(postgres, app.pipeline);
  expect(whole.count).toBeGreaterThan(5);
  for (const filter of [{}, { currency: 'USD' }, ...owners.map((row) => ({ ownerId: row.owner_id }))]) {
    expect(await openPipeline(postgres, app.pipeline, filter), JSON.stringify(filter)).toEqual(await pipelineSummary(postgres, app.pipeline, filter));
  }
});
