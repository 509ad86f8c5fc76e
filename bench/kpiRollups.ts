/**
 * What the KPI rollups save: `npm run bench:kpis`, on the history `npm run bench -- --only
 * insights` generates and keeps (BENCH_LEADS leads, 114,000 by default: about a million events;
 * seed BENCH_SEED), which must exist already. For each request, every KPI section (`readKpis`,
 * the six queries `kpis` runs when every section is asked for) read on the SQLite read database,
 * BENCH_ROUNDS times (40) from the rollups and from the facts alone (`factsOnly`, what the
 * queries read before the rollups) in turn, so that both see the same machine: p50 and p99 of
 * each, and their ratio. In this process, without HTTP or GraphQL: `npm run bench -- --only
 * insights` measures the same report over HTTP.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { KpiDimension } from '../src/domain/insights/definitions';
import { DEFAULT_PIPELINE_STAGES, Pipeline } from '../src/domain/opportunities/pipeline';
import { readKpis, type KpiQuery } from '../projections/kpis/kpiQueries';
import { openSqliteDatabase } from '../projections/sqlDatabase';

const LEADS = Number(process.env.BENCH_LEADS ?? 114_000);
const SEED = Number(process.env.BENCH_SEED ?? 1);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 40);

const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

async function main() {
  const dataDir = path.join(__dirname, '.cache', `insights-${LEADS}-seed${SEED}`);
  const marker = path.join(dataDir, 'generated.json');
  if (!existsSync(marker)) throw new Error(`${dataDir} holds no history yet: run BENCH_LEADS=${LEADS} npm run bench -- --only insights first`);
  const { firstAt, lastAt, events } = JSON.parse(readFileSync(marker, 'utf8')) as { firstAt: string; lastAt: string; events: number };
  const db = openSqliteDatabase(path.join(dataDir, 'crm.sqlite'));
  const pipeline = new Pipeline(DEFAULT_PIPELINE_STAGES);
  const middle = (fraction: number) => new Date(Date.parse(firstAt) + fraction * (Date.parse(lastAt) - Date.parse(firstAt))).toISOString();
  const requests: Array<[string, { from: string; to: string; groupBy: KpiDimension[] }]> = [
    ['whole history, by month', { from: firstAt, to: lastAt, groupBy: ['MONTH'] }],
    ['whole history, by source and owner', { from: firstAt, to: lastAt, groupBy: ['SOURCE', 'OWNER'] }],
    ['mid-month to mid-month, half of it, by campaign', { from: `${middle(0.25).slice(0, 7)}-14T00:00:00.000Z`, to: `${middle(0.75).slice(0, 7)}-17T00:00:00.000Z`, groupBy: ['CAMPAIGN'] }],
  ];
  console.log(`KPI sections read on SQLite, ${events} events (${LEADS} leads), ${ROUNDS} rounds each way, in turn:`);
  try {
    for (const [name, period] of requests) {
      const times = { rollups: [] as number[], facts: [] as number[] };
      for (let round = 0; round < ROUNDS; round++) {
        for (const factsOnly of [false, true]) {
          const request: KpiQuery = { ...period, currency: pipeline.reportingCurrency, factsOnly };
          const start = performance.now();
          await readKpis(db, request, pipeline);
          times[factsOnly ? 'facts' : 'rollups'].push(performance.now() - start);
        }
      }
      const [rollups, facts] = [times.rollups.sort((a, b) => a - b), times.facts.sort((a, b) => a - b)];
      const figures = (sorted: number[]) => `p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms`;
      console.log(
        `  ${name}: rollups ${figures(rollups)}; facts alone ${figures(facts)}; ` +
          `facts / rollups at p50 ${(percentile(facts, 50) / percentile(rollups, 50)).toFixed(1)}x`,
      );
    }
  } finally {
    await db.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
