/**
 * The read models' SQL sums every amount the Decimal scalar accepts exactly, on SQLite and on
 * PostgreSQL: with whole parts near 10^18, ten amounts already add up past 2^63, where SQLite's
 * integer SUM fails the query ("integer overflow"). Both the pipeline history
 * (`pipeline(asOf)`) and the KPI facts (`salesOutcomes`, `lossReasons`) are fed events directly
 * and compared with the sum worked out in BigInt.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/core/eventStore';
import { fromUnits, toUnits, weightedUnits } from '../../src/domain/opportunities/money';
import type { OpportunityEvent } from '../../src/domain/opportunities/events';
import { DEFAULT_PIPELINE_STAGES, Pipeline } from '../../src/domain/opportunities/pipeline';
import { TEST_DATABASE_URL, aSchemaName, dropSchemas } from '../../test/support/postgres';
import { kpiFactsProjection } from '../kpis/kpiFactsProjection';
import { lossReasons, salesOutcomes } from '../kpis/kpiQueries';
import { openPostgresDatabase } from '../postgresDatabase';
import { openSqliteDatabase, type SqlDatabase } from '../sqlDatabase';
import { pipelineAsOf, pipelineHistoryProjection } from './pipelineHistoryReadModel';

const pipeline = new Pipeline(DEFAULT_PIPELINE_STAGES);

const readStores: Array<[string, () => Promise<{ db: SqlDatabase; dispose(): Promise<void> }>]> = [
  [
    'SQLite',
    async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'crm-large-sums-'));
      const db = openSqliteDatabase(path.join(dir, 'read.sqlite'));
      return { db, dispose: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  ],
  [
    'PostgreSQL',
    async () => {
      const schema = aSchemaName('large_sums');
      const db = await openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema });
      return { db, dispose: () => dropSchemas(schema) };
    },
  ],
];

/** The largest amount, the smallest, and awkward ones between: 36 of them, summing past 2^64 in whole units. */
const AMOUNTS = [
  ...Array.from({ length: 12 }, () => '999999999999999999.99999999'),
  ...Array.from({ length: 12 }, (_, index) => `${987654321098765432n - BigInt(index)}.12345678`),
  '0.00000001',
  '1',
  '500000000000000000.5',
  '999999999.99999999',
  '1000000000',
  '999999999999999999',
  '123456789012345678.9',
  '000000000000000001.10',
  '99.99',
  '1000000000000000.00000001',
  '900000000000000000.00000009',
  '0.1',
];
const exactSum = (amounts: readonly string[]) => fromUnits(amounts.reduce((sum, amount) => sum + toUnits(amount), 0n));

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 5, 9);
const at = (days: number) => new Date(T0 + days * DAY).toISOString();

let db: SqlDatabase;
let dispose: () => Promise<void>;

const applyAll = async (events: Array<{ event: OpportunityEvent; revision: number; day: number }>) => {
  await db.transaction(async (tx) => {
    for (const { event, revision, day } of events) {
      const recorded = {
        ...event,
        id: `${event.data.opportunityId}-${revision}`,
        streamId: `opportunity-${event.data.opportunityId}`,
        revision,
        position: '0',
        metadata: { actor: 'alice', occurredAt: at(day), recordedAt: at(day), correlationId: 'c', causationId: 'c', schemaVersion: 1 },
      } as unknown as RecordedEvent;
      await pipelineHistoryProjection.apply(tx, recorded);
      await kpiFactsProjection.apply(tx, recorded);
    }
  });
};

const opened = (opportunityId: string, amount: string): OpportunityEvent => ({
  type: 'OpportunityOpened',
  data: { opportunityId, accountId: 'acc', name: opportunityId, amount: { amount, currency: 'EUR' }, stage: 'QUALIFICATION', probability: 10 },
});

describe.each(readStores)('sums of the largest amounts on %s', (_name, open) => {
  beforeEach(async () => {
    ({ db, dispose } = await open());
    await pipelineHistoryProjection.setup(db);
    await kpiFactsProjection.setup(db);
  });

  afterEach(async () => {
    await db.close();
    await dispose();
  });

  it('pipeline(asOf) adds them up exactly, weighted too', async () => {
    await applyAll(AMOUNTS.map((amount, index) => ({ event: opened(`o${index}`, amount), revision: 0, day: 0 })));
    const report = await pipelineAsOf(db, pipeline, { asOf: new Date(at(1)) });
    const total = AMOUNTS.reduce((sum, amount) => sum + toUnits(amount), 0n);
    expect(total / 10n ** 10n).toBeGreaterThan(2n ** 64n);
    expect(report.count).toBe(AMOUNTS.length);
    expect(report.amount).toEqual({ amount: exactSum(AMOUNTS), currency: 'EUR' });
    expect(report.weightedAmount).toEqual({ amount: fromUnits(weightedUnits(total, 10)), currency: 'EUR' });
    expect(report.stages.find((stage) => stage.stage === 'QUALIFICATION')!.amount.amount).toBe(exactSum(AMOUNTS));
    // As known before anything was recorded: nothing.
    expect((await pipelineAsOf(db, pipeline, { asOf: new Date(at(1)), knownAt: new Date(at(-1)) })).count).toBe(0);
  });

  it('salesOutcomes and lossReasons add them up exactly', async () => {
    const won = AMOUNTS.filter((_, index) => index % 2 === 0);
    const lost = AMOUNTS.filter((_, index) => index % 2 === 1);
    await applyAll(
      AMOUNTS.flatMap((amount, index) => {
        const opportunityId = `o${index}`;
        const close: OpportunityEvent =
          index % 2 === 0
            ? { type: 'OpportunityWon', data: { opportunityId, accountId: 'acc', amount: { amount, currency: 'EUR' }, stage: 'QUALIFICATION' } }
            : { type: 'OpportunityLost', data: { opportunityId, accountId: 'acc', reason: 'PRICE', competitor: 'Acme', stage: 'QUALIFICATION' } };
        return [
          { event: opened(opportunityId, amount), revision: 0, day: 0 },
          { event: close, revision: 1, day: 2 },
        ];
      }),
    );
    const request = { from: at(0), to: at(3), groupBy: [], currency: 'EUR' };
    const [outcomes] = await salesOutcomes(db, request);
    expect(outcomes).toMatchObject({
      closed: AMOUNTS.length,
      won: won.length,
      lost: lost.length,
      wonAmount: { amount: exactSum(won), currency: 'EUR' },
    });
    const [losses] = await lossReasons(db, request);
    expect(losses).toMatchObject({
      total: lost.length,
      amount: { amount: exactSum(lost), currency: 'EUR' },
      reasons: [{ code: 'PRICE', count: lost.length, amount: { amount: exactSum(lost) } }],
      competitors: [{ competitor: 'Acme', count: lost.length, amount: { amount: exactSum(lost) } }],
      stages: [{ stage: 'QUALIFICATION', count: lost.length, amount: { amount: exactSum(lost) } }],
    });
    // And the pipeline of then, before the closes, still sums all of them.
    expect((await pipelineAsOf(db, pipeline, { asOf: new Date(at(1)) })).amount.amount).toBe(exactSum(AMOUNTS));
  });
});
