/**
 * What a cut by lead list or origin costs: `npx tsx bench/kpiDimensions.ts`, on a generated
 * history of BENCH_LEADS leads (10,000 by default, seed 11) with the lead lists and re-engaged
 * contacts of test/support/listsAndEngagements.ts (4 static lists, 6 dynamic ones). Reports the
 * median of BENCH_ROUNDS (5) runs of every KPI served by the read models (`readKpis`, the six
 * queries `kpis` runs when every section is asked for) without a cut, by SOURCE, LIST, ORIGIN and
 * [LIST, MONTH], on SQLite and, with BENCH_POSTGRES=1, on PostgreSQL (the test database: the
 * KPI, leads and lead lists read models projected into a schema of their own, dropped after);
 * then the replay of `retrospective`, and its in-memory cut.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openApplication } from '../src/composition/application';
import { loadConfig } from '../src/composition/config';
import { instant, type KpiDimension } from '../src/domain/insights/definitions';
import { generateCrmHistory } from '../src/seeding/generator';
import { replayFacts } from '../src/useCases/replayFacts';
import { kpisFromFacts } from '../src/useCases/replayKpis';
import { readKpis } from '../projections/kpis/kpiQueries';
import { kpiFactsProjection } from '../projections/kpis/kpiFactsProjection';
import { leadListsProjection } from '../projections/leadLists/leadListsProjection';
import { leadsProjection } from '../projections/leads/leadsProjection';
import { openPostgresDatabase } from '../projections/postgresDatabase';
import { ProjectionRunner } from '../projections/runner';
import type { SqlDatabase } from '../projections/sqlDatabase';
import { addListsAndEngagements } from '../test/support/listsAndEngagements';
import { TEST_DATABASE_URL, aSchemaName, dropSchemas } from '../test/support/postgres';

const LEADS = Number(process.env.BENCH_LEADS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CUTS: KpiDimension[][] = [[], ['SOURCE'], ['LIST'], ['ORIGIN'], ['LIST', 'MONTH']];

const median = async (label: string, run: () => unknown, rounds = ROUNDS) => {
  const ms: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const start = performance.now();
    await run();
    ms.push(performance.now() - start);
  }
  ms.sort((a, b) => a - b);
  console.log(`${label.padEnd(44)} ${ms[Math.floor(rounds / 2)]!.toFixed(1).padStart(8)} ms  (min ${ms[0]!.toFixed(1)}, max ${ms.at(-1)!.toFixed(1)})`);
};

const main = async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-kpi-dimensions-'));
  const app = await openApplication(loadConfig({ CRM_JWT_SECRET: 'bench-kpi-dimensions-secret-for-hs256' }, { dataDir }));
  try {
    const history = await generateCrmHistory(app, { leads: LEADS, seed: 11 });
    await app.readModels.waitForPosition(history.lastPosition!, 600_000);
    const added = await addListsAndEngagements(app, { seed: 11, listsAt: new Date(history.lastAt.getTime() + 86_400_000) });
    await app.readModels.waitForPosition(added.lastPosition!, 600_000);
    console.log(`${LEADS} leads, ${added.engaged} re-engaged, lists ${JSON.stringify(added.lists)}`);
    const period = { from: instant(history.firstAt), to: instant(new Date(history.lastAt.getTime() + 1)) };
    const served = async (name: string, db: SqlDatabase) => {
      for (const groupBy of CUTS) {
        await median(`${name} readKpis [${groupBy.join(', ')}]`, () => readKpis(db, { ...period, groupBy, currency: 'EUR' }, app.pipeline));
      }
    };
    await served('SQLite', app.readDb);
    if (process.env.BENCH_POSTGRES === '1') {
      const schema = aSchemaName('benchkpi');
      const postgres = await openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema });
      try {
        const runner = new ProjectionRunner({ store: app.store, db: postgres, projections: [kpiFactsProjection, leadsProjection, leadListsProjection] });
        await runner.start();
        await runner.whenCaughtUp();
        await runner.stop();
        await served('PostgreSQL', postgres);
      } finally {
        await postgres.close();
        await dropSchemas(schema);
      }
    }
    let facts = await replayFacts(app.store);
    await median('replayFacts', async () => void (facts = await replayFacts(app.store)), 3);
    await median('replayFacts (knownAt: now)', () => replayFacts(app.store, { knownAt: instant(new Date()) }), 3);
    for (const groupBy of [[], ['LIST']] as KpiDimension[][]) {
      await median(`kpisFromFacts [${groupBy.join(', ')}]`, () => kpisFromFacts(facts, { ...period, groupBy, currency: 'EUR' }, app.pipeline));
    }
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
};

void main();
