/**
 * `npx tsx bench/pipelineHistoryAsOf.ts [opportunities]` (40,000 by default): the latency of
 * `pipelineAsOf` alone, on a SQLite read model filled by the pipeline-history projection with
 * a year of synthetic opportunities (three stage moves and three quotes each, 70 % closed),
 * queried at random dates, half of them also as known at that date. It isolates the query from
 * HTTP and from the data generator; the end-to-end figure is `npm run bench`'s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RecordedEvent } from '../src/core/eventStore';
import { DEFAULT_PIPELINE_STAGES, Pipeline } from '../src/domain/opportunities/pipeline';
import { pipelineAsOf, pipelineHistoryProjection } from '../projections/pipelineHistory/pipelineHistoryReadModel';
import { openSqliteDatabase, type SqlDatabase } from '../projections/sqlDatabase';

const DAY = 86_400_000;
const YEAR_START = Date.UTC(2025, 0, 1);
const SPAN = 365 * DAY;

let seed = 1;
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return seed / 2_147_483_648;
};

const fill = async (db: SqlDatabase, opportunities: number): Promise<number> => {
  let events = 0;
  await db.transaction(async (tx) => {
    for (let index = 0; index < opportunities; index++) {
      const opportunityId = `opp-${index}`;
      let time = YEAR_START + Math.floor(random() * SPAN);
      let revision = 0;
      const apply = (type: string, data: Record<string, unknown>) => {
        events++;
        const at = new Date(time).toISOString();
        const metadata = { actor: 'bench', occurredAt: at, recordedAt: at, correlationId: 'c', causationId: 'c', schemaVersion: 1 };
        const event = { id: `${opportunityId}-${revision}`, streamId: opportunityId, revision: revision++, position: '0', type, data, metadata };
        return pipelineHistoryProjection.apply(tx, event as RecordedEvent);
      };
      const amount = { amount: `${Math.floor(random() * 100_000)}.25`, currency: 'EUR' };
      await apply('OpportunityOpened', {
        opportunityId, accountId: 'acc', name: opportunityId, amount, stage: 'QUALIFICATION', probability: 10, ownerId: `owner-${index % 50}`,
      });
      let stage = 'QUALIFICATION';
      for (const next of DEFAULT_PIPELINE_STAGES.slice(1, 4)) {
        time += Math.floor(random() * 20 * DAY);
        await apply('QuoteAdded', { opportunityId, quoteId: next.code, amount });
        await apply('OpportunityStageChanged', { opportunityId, fromStage: stage, toStage: next.code, probability: next.probability });
        stage = next.code;
      }
      if (random() < 0.7) {
        time += Math.floor(random() * 20 * DAY);
        await apply(random() < 0.5 ? 'OpportunityWon' : 'OpportunityLost', { opportunityId, accountId: 'acc', amount, reason: 'PRICE', stage });
      }
    }
  });
  return events;
};

const percentiles = (times: number[]) => {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!.toFixed(1);
  return `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`;
};

const main = async () => {
  const opportunities = Number(process.argv[2] ?? 40_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'crm-bench-pipeline-'));
  const db = openSqliteDatabase(path.join(dir, 'read.sqlite'));
  try {
    await pipelineHistoryProjection.setup(db);
    const started = Date.now();
    const events = await fill(db, opportunities);
    const versions = await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM read_pipeline_history');
    console.log(`${opportunities} opportunities, ${events} events projected into ${versions!.n} versions in ${Date.now() - started} ms`);

    const pipeline = new Pipeline(DEFAULT_PIPELINE_STAGES);
    const measure = async (runs: number, filter: { ownerId?: string } = {}) => {
      const times: number[] = [];
      for (let run = 0; run < runs; run++) {
        const asOf = new Date(YEAR_START + Math.floor(random() * SPAN * 1.1));
        const started = performance.now();
        await pipelineAsOf(db, pipeline, { asOf, knownAt: random() < 0.5 ? undefined : asOf }, filter);
        times.push(performance.now() - started);
      }
      return percentiles(times);
    };
    await measure(20); // warm-up
    console.log(`pipeline(asOf[, knownAt]): ${await measure(500)}`);
    console.log(`pipeline(asOf[, knownAt]) for one owner of 50: ${await measure(200, { ownerId: 'owner-7' })}`);
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
