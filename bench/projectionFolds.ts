/**
 * `npx tsx --max-semi-space-size=128 bench/projectionFolds.ts [leads]` (20,000 by default): what
 * the projections' in-memory folds cost an event, apart from SQL and from reading the log. A
 * rebuild (`npm run replay`, a seed's staging) runs them on every event, so a microsecond here is
 * a second of a million-event rebuild. It generates a history (the seed's bulk path), reads it
 * back once, then times, in alternating rounds: the leads' view (`evolveLeadView`), the pipeline
 * history's entry (`evolvePipelineEntry`) and the KPI facts' fold (`foldKpiFactsInMemory`, on a
 * transaction that runs nothing, its settled rows written at the end). Medians of five rounds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openApplication } from '../src/composition/application';
import { loadConfig } from '../src/composition/config';
import type { RecordedEvent } from '../src/core/eventStore';
import type { OpportunityEvent } from '../src/domain/opportunities/events';
import { generateCrmHistory } from '../src/seeding/generator';
import { evolveLeadView, type RecordedLeadStoryEvent } from '../projections/leads/leadsProjection';
import type { LeadView } from '../projections/leads/leadView';
import { evolvePipelineEntry, type PipelineEntry } from '../projections/pipelineHistory/pipelineHistoryReadModel';
import { foldKpiFactsInMemory, kpiFactsProjection } from '../projections/kpis/kpiFactsProjection';
import type { SqlDatabase } from '../projections/sqlDatabase';
import { median } from './harness';

const ROUNDS = 5;

/** The events of a history of `leads` leads, generated on a store of its own and read back whole. */
const generatedHistory = async (leads: number): Promise<RecordedEvent[]> => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-bench-folds-'));
  const app = await openApplication(loadConfig({ CRM_JWT_SECRET: 'bench-projection-folds-secret-hs256' }, { dataDir }));
  try {
    await generateCrmHistory(app, { leads, seed: 1 });
    return await app.store.readAll();
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
};

/** A transaction that answers every statement with nothing: the fold's own work is what is timed. */
const nothingRun = {
  run: async () => ({ changes: 0 }),
  get: async () => undefined,
  all: async () => [],
  exec: async () => {},
} as unknown as SqlDatabase;

const main = async () => {
  const leads = Number(process.argv[2] ?? 20_000);
  process.stderr.write(`bench folds: generating ${leads} leads...\n`);
  const events = await generatedHistory(leads);
  const leadEvents = events.filter((event) => event.streamId.startsWith('lead-')) as unknown as RecordedLeadStoryEvent[];
  const opportunityEvents = events.filter((event) => event.streamId.startsWith('opportunity-'));
  const kpiEvents = events.filter((event) => kpiFactsProjection.canHandle.includes(event.type));

  const folds: Record<string, { events: number; run: () => Promise<void> | void }> = {
    'leads: evolveLeadView': {
      events: leadEvents.length,
      run: () => {
        const views = new Map<string, LeadView>();
        for (const event of leadEvents) views.set(event.data.leadId, evolveLeadView(views.get(event.data.leadId), event));
      },
    },
    'pipeline history: evolvePipelineEntry': {
      events: opportunityEvents.length,
      run: () => {
        const entries = new Map<string, PipelineEntry | undefined>();
        for (const event of opportunityEvents) {
          const id = (event.data as { opportunityId: string }).opportunityId;
          entries.set(id, evolvePipelineEntry(entries.get(id), event as unknown as OpportunityEvent));
        }
      },
    },
    'KPI facts: foldKpiFactsInMemory, settled rows written': {
      events: kpiEvents.length,
      run: async () => {
        const fold = foldKpiFactsInMemory();
        for (const event of kpiEvents) await fold.apply(nothingRun, event);
        await fold.flush(nothingRun, false);
      },
    },
  };
  const times = new Map<string, number[]>(Object.keys(folds).map((name) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    // Each round in another order, so that none always runs on a heap the one before left behind.
    const names = Object.keys(folds);
    for (const name of round % 2 === 0 ? names : names.reverse()) {
      const began = performance.now();
      await folds[name]!.run();
      times.get(name)!.push(performance.now() - began);
    }
  }
  process.stdout.write(`\n${events.length} events from ${leads} leads; medians of ${ROUNDS} rounds\n`);
  for (const [name, { events: count }] of Object.entries(folds)) {
    const ms = median(times.get(name)!);
    process.stdout.write(`${name.padEnd(58)} ${String(count).padStart(9)} events ${ms.toFixed(0).padStart(7)} ms ${((ms * 1000) / count).toFixed(2).padStart(7)} us/event\n`);
  }
};

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
