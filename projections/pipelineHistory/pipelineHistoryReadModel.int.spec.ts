import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/core/eventStore';
import type { OpportunityEvent } from '../../src/domain/opportunities/events';
import {
  evolveOpportunity,
  initialOpportunityState,
  type ExistingOpportunity,
  type OpportunityState,
} from '../../src/domain/opportunities/opportunity';
import { Pipeline, DEFAULT_PIPELINE_STAGES } from '../../src/domain/opportunities/pipeline';
import { eventsInWindow } from '../../src/useCases/asOf';
import { TEST_DATABASE_URL, aSchemaName, dropSchemas } from '../../test/support/postgres';
import { summarisePipeline } from '../../src/domain/opportunities/pipelineReport';
import { openPostgresDatabase } from '../postgresDatabase';
import { openSqliteDatabase, type SqlDatabase } from '../sqlDatabase';
import { PIPELINE_CHANGE_TABLES, pipelineChangeRowsAsText, rebuildPipelineChanges } from './pipelineChanges';
import { pipelineAsOf, pipelineHistoryProjection } from './pipelineHistoryReadModel';

const pipeline = new Pipeline(DEFAULT_PIPELINE_STAGES);
const stages = DEFAULT_PIPELINE_STAGES;

type Recorded = OpportunityEvent & Pick<RecordedEvent, 'revision' | 'metadata' | 'streamId'>;

/** The same SQL on both read stores: a fresh database (file or schema) per test. */
const readStores: Array<[string, () => Promise<{ db: SqlDatabase; dispose(): Promise<void> }>]> = [
  [
    'SQLite',
    async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'crm-pipeline-history-'));
      const db = openSqliteDatabase(path.join(dir, 'read.sqlite'));
      return { db, dispose: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  ],
  [
    'PostgreSQL',
    async () => {
      const schema = aSchemaName('pipeline_history');
      const db = await openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema });
      return { db, dispose: () => dropSchemas(schema) };
    },
  ],
];

let db: SqlDatabase;
let dispose: () => Promise<void>;

const apply = (event: Recorded) =>
  db.transaction((tx) => pipelineHistoryProjection.apply(tx, event as unknown as RecordedEvent));

const at = (day: number, hour = 9) => new Date(Date.UTC(2026, 0, day, hour)).toISOString();

const recorded = (
  event: OpportunityEvent,
  revision: number,
  occurredAt: string,
  recordedAt = occurredAt,
): Recorded => ({
  ...event,
  streamId: `opportunity-${event.data.opportunityId}`,
  revision,
  metadata: { actor: 'alice', occurredAt, recordedAt, correlationId: 'c', causationId: 'c', schemaVersion: 1 },
});

const opened = (opportunityId: string, amount: string, stage = 'QUALIFICATION', probability = 10): OpportunityEvent => ({
  type: 'OpportunityOpened',
  data: { opportunityId, accountId: 'acc-1', name: opportunityId, amount: { amount, currency: 'EUR' }, stage, probability },
});

describe.each(readStores)('pipeline history on %s', (_name, open) => {
  beforeEach(async () => {
    ({ db, dispose } = await open());
    await pipelineHistoryProjection.setup(db);
  });

  afterEach(async () => {
    await db.close();
    await dispose();
  });

  it('answers the four questions about a close back-dated into the past', async () => {
    // Opened on the 1st, moved on the 5th, closed as won on the 10th but only recorded on the 12th.
    const history = [
      recorded(opened('o1', '1000.00'), 0, at(1)),
      recorded(
        { type: 'OpportunityStageChanged', data: { opportunityId: 'o1', fromStage: 'QUALIFICATION', toStage: 'PREPARING_QUOTE', probability: 50 } },
        1,
        at(5),
      ),
      recorded(
        { type: 'OpportunityWon', data: { opportunityId: 'o1', accountId: 'acc-1', amount: { amount: '1000.00', currency: 'EUR' }, stage: 'PREPARING_QUOTE' } },
        2,
        at(10),
        at(12),
      ),
    ];
    for (const event of history) await apply(event);
    const weighted = async (window: { asOf?: Date; knownAt?: Date }) => (await pipelineAsOf(db, pipeline, window)).weightedAmount.amount;

    // As of the 11th, as we know now: already won, out of the pipeline.
    expect(await weighted({ asOf: new Date(at(11)) })).toBe('0.00');
    // As of the 11th, as we knew it on the 11th: still open at 50 %.
    expect(await weighted({ asOf: new Date(at(11)), knownAt: new Date(at(11)) })).toBe('500.00');
    // Everything recorded by the 11th: open; by the 12th: closed.
    expect(await weighted({ knownAt: new Date(at(11)) })).toBe('500.00');
    expect(await weighted({ knownAt: new Date(at(12)) })).toBe('0.00');
    // Before the move, at 10 %; before the opening, nothing.
    expect(await weighted({ asOf: new Date(at(4)) })).toBe('100.00');
    expect((await pipelineAsOf(db, pipeline, { asOf: new Date(at(1, 8)) })).count).toBe(0);
  });

  it('answers from the versions while the tables of its changes are not there yet (the old version serving)', async () => {
    await apply(recorded(opened('o1', '1000.00'), 0, at(1)));
    await apply(recorded(opened('o2', '250.00'), 0, at(3)));
    const asOf = { asOf: new Date(at(2)) };
    const fromChanges = await pipelineAsOf(db, pipeline, asOf);
    expect(fromChanges.amount.amount).toBe('1000.00');
    await db.exec(PIPELINE_CHANGE_TABLES.map((table) => `DROP TABLE ${table};`).join('\n'));
    expect(await pipelineAsOf(db, pipeline, asOf)).toEqual(fromChanges);
    // The connection is not left in a failed state: the next statement runs.
    expect((await pipelineAsOf(db, pipeline, { asOf: new Date(at(4)) })).amount.amount).toBe('1250.00');
  });

  it('applies each event once, even when handed it again', async () => {
    const first = recorded(opened('o1', '10.00'), 0, at(1));
    const move = recorded(
      { type: 'OpportunityStageChanged', data: { opportunityId: 'o1', fromStage: 'QUALIFICATION', toStage: 'NEGOTIATION', probability: 90 } },
      1,
      at(2),
    );
    for (const event of [first, move, first, move]) await apply(event);
    expect(await db.all('SELECT seq FROM read_pipeline_history ORDER BY seq')).toEqual([{ seq: 0 }, { seq: 1 }]);
  });

  it('keeps one version per change of what the report reads, not per event', async () => {
    await apply(recorded(opened('o1', '10.00'), 0, at(1)));
    await apply(recorded({ type: 'QuoteAdded', data: { opportunityId: 'o1', quoteId: 'q1', amount: { amount: '9.00', currency: 'EUR' } } }, 1, at(2)));
    await apply(recorded({ type: 'ActivityScheduled', data: { opportunityId: 'o1', activityId: 'a1', kind: 'CALL', subject: 'Call' } }, 2, at(3)));
    await apply(recorded({ type: 'OpportunityDetailsUpdated', data: { opportunityId: 'o1', name: 'renamed' } }, 3, at(4)));
    expect(await db.all('SELECT COUNT(*) AS n FROM read_pipeline_history')).toEqual([{ n: 1 }]);
  });

  it('sums the largest amounts exactly, beyond what a double holds', async () => {
    await apply(recorded(opened('o1', '999999999999999999.99999999'), 0, at(1)));
    await apply(recorded(opened('o2', '0.00000001'), 0, at(2)));
    const report = await pipelineAsOf(db, pipeline, { asOf: new Date(at(3)) });
    expect(report).toMatchObject({
      count: 2,
      amount: { amount: '1000000000000000000.00', currency: 'EUR' },
      weightedAmount: { amount: '100000000000000000.00', currency: 'EUR' },
    });
  });

  it.each([
    ['hours', 3_600_000],
    // Months apart: the pipeline of now as of a time comes from the changes by month, by day and of its day.
    ['days', 86_400_000],
  ])('equals folding each stream up to the window, for every window, on generated histories, facts %s apart', async (_unit, unitMs) => {
    const streams = generateHistories(40, 7, unitMs);
    // Interleaved across streams, as the global log would deliver them.
    const log = streams.flat().sort((a, b) => a.metadata.recordedAt.localeCompare(b.metadata.recordedAt));
    for (const event of log) await apply(event);

    const times = [...new Set(log.flatMap((event) => [event.metadata.occurredAt, event.metadata.recordedAt]))].sort();
    const probes = [undefined, ...times.filter((_, index) => index % 11 === 0), new Date(Date.parse(times[0]!) - 1).toISOString()];
    let compared = 0;
    for (const asOf of probes) {
      for (const knownAt of probes.filter((_, index) => index % 5 === 0)) {
        const window = { asOf: asOf ? new Date(asOf) : undefined, knownAt: knownAt ? new Date(knownAt) : undefined };
        const open = streams
          .map((stream) => eventsInWindow(stream, window).reduce<OpportunityState>(evolveOpportunity, initialOpportunityState()))
          .filter((state): state is ExistingOpportunity => state.status === 'OPEN');
        const expected = summarisePipeline(
          open.map((state) => ({
            stage: state.stage,
            amount: state.amount?.amount ?? null,
            currency: state.amount?.currency ?? null,
            probability: state.probability,
          })),
          pipeline,
        );
        expect(await pipelineAsOf(db, pipeline, window)).toEqual(expected);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(100);
    // The changes kept event by event are those worked out from the versions.
    const changes = await pipelineChangeRowsAsText(db);
    expect(changes.length).toBeGreaterThan(unitMs > 3_600_000 ? 40 : 10);
    expect(changes).toEqual(await pipelineChangeRowsAsText(db, true));
    await db.transaction((tx) => rebuildPipelineChanges(tx));
    expect(await pipelineChangeRowsAsText(db)).toEqual(changes);
  });
});

/** Deterministic histories whose times never go backwards in a stream, with back-dated facts. */
const generateHistories = (count: number, seed: number, unitMs = 3_600_000): Recorded[][] => {
  let state = seed;
  const random = () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const start = Date.UTC(2026, 0, 1);
  return Array.from({ length: count }, (_, index) => {
    const id = `o${index}`;
    let recordedAt = start + Math.floor(random() * 10) * unitMs;
    let occurredAt = recordedAt;
    let opportunity = initialOpportunityState() as ExistingOpportunity;
    const events: Recorded[] = [];
    const push = (event: OpportunityEvent) => {
      events.push(recorded(event, events.length, new Date(occurredAt).toISOString(), new Date(recordedAt).toISOString()));
      opportunity = evolveOpportunity(opportunity, event) as ExistingOpportunity;
    };
    const stage = pick(stages);
    push(opened(id, `${Math.floor(random() * 100_000)}.${Math.floor(random() * 100)}`, stage.code, stage.probability));
    for (let step = 0; step < 8; step++) {
      recordedAt += Math.floor(random() * 48) * unitMs;
      // Half the facts are back-dated, never before the previous one.
      occurredAt = random() < 0.5 ? recordedAt : occurredAt + Math.floor(random() * (recordedAt - occurredAt + 1));
      if (opportunity.status !== 'OPEN') {
        push({ type: 'OpportunityReopened', data: { opportunityId: id, accountId: 'acc-1', reason: 'back', previousStatus: opportunity.status, stage: opportunity.stage } });
        continue;
      }
      const roll = random();
      if (roll < 0.35) {
        const next = pick(stages.filter((s) => s.code !== opportunity.stage || stages.length === 1));
        push({ type: 'OpportunityStageChanged', data: { opportunityId: id, fromStage: opportunity.stage, toStage: next.code, probability: next.probability } });
      } else if (roll < 0.5) {
        push({ type: 'OpportunityDetailsUpdated', data: { opportunityId: id, amount: { amount: `${Math.floor(random() * 5000)}.5`, currency: 'EUR' }, probability: Math.floor(random() * 101) } });
      } else if (roll < 0.65) {
        push({ type: 'QuoteAdded', data: { opportunityId: id, quoteId: `q${step}`, amount: { amount: '1.00', currency: 'EUR' } } });
      } else if (roll < 0.8) {
        push({ type: 'OpportunityWon', data: { opportunityId: id, accountId: 'acc-1', amount: { amount: '777.77', currency: 'EUR' }, stage: opportunity.stage } });
      } else {
        push({ type: 'OpportunityLost', data: { opportunityId: id, accountId: 'acc-1', reason: 'PRICE', stage: opportunity.stage } });
      }
    }
    return events;
  });
};
