/**
 * The monthly rollups (kpiRollups.ts): `apply` keeps them equal to what the facts add up to,
 * through every change a fact row goes through, and the KPIs served from them, with the facts
 * of the partial months at either end, equal the KPIs from the facts alone, for any period and cut.
 */
import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/core/eventStore';
import { KPI_DIMENSIONS, type KpiDimension } from '../../src/domain/insights/definitions';
import { DEFAULT_PIPELINE_STAGES, Pipeline } from '../../src/domain/opportunities/pipeline';
import { generatedEventsFor } from '../../test/support/inMemoryFolds';
import { temporaryDirectory } from '../../test/support/leadEvents';
import { openSqliteDatabase, type SqlDatabase } from '../sqlDatabase';
import { kpiFactsProjection } from './kpiFactsProjection';
import { periodParts, readKpis, timeInStage } from './kpiQueries';
import { expectedRollupRowsAsText, rebuildRollups, rebuildRollupsInJavaScript, rollupRowsAsText } from './kpiRollups';

/** A fresh SQLite database with the projection's tables, `events` applied one by one. */
const projected = async (events: readonly RecordedEvent[], body: (db: SqlDatabase) => Promise<void>) => {
  const directory = temporaryDirectory();
  const db = openSqliteDatabase(directory.file('kpis.db'));
  try {
    await kpiFactsProjection.setup(db);
    await db.transaction(async (tx) => {
      for (const event of events) await kpiFactsProjection.apply(tx, event);
    });
    await body(db);
  } finally {
    await db.close();
    directory.remove();
  }
};

const PIPELINE = new Pipeline(DEFAULT_PIPELINE_STAGES);
let position = 0;
/** An event as the log hands it to a projection, occurred and recorded at `at`. */
const recorded = (streamId: string, revision: number, type: string, data: object, at: string): RecordedEvent => ({
  id: `event-${++position}`,
  streamId,
  revision,
  position: String(position),
  type,
  data,
  metadata: { actor: 'tester', recordedAt: at, occurredAt: at, correlationId: 'c', causationId: 'c', schemaVersion: 1 },
} as RecordedEvent);

describe('the monthly rollups', () => {
  it('move an opportunity, and its stays already left, to its new owner', async () => {
    const lead = (revision: number, type: string, data: object, at: string) => recorded('lead-l1', revision, type, { leadId: 'l1', ...data }, at);
    const opportunity = (revision: number, type: string, data: object, at: string) =>
      recorded('opportunity-o1', revision, type, { opportunityId: 'o1', ...data }, at);
    const events = [
      lead(0, 'LeadCaptured', { source: 'WEB', campaign: 'spring', ownerId: 'ana' }, '2024-01-10T09:00:00.000Z'),
      lead(1, 'LeadQualified', { rank: 'SQL' }, '2024-01-20T09:00:00.000Z'),
      lead(2, 'LeadConverted', { cycle: 1, accountId: 'a1', contactId: 'c1', opportunityId: 'o1' }, '2024-02-01T09:00:00.000Z'),
      opportunity(0, 'OpportunityOpened', { accountId: 'a1', name: 'Deal', stage: 'QUALIFICATION', probability: 10, ownerId: 'ana',
        amount: { amount: '1000.50', currency: 'EUR' } }, '2024-02-01T09:00:00.000Z'),
      opportunity(1, 'OpportunityStageChanged', { fromStage: 'QUALIFICATION', toStage: 'PREPARING_QUOTE', probability: 50 }, '2024-02-11T09:00:00.000Z'),
      opportunity(2, 'OpportunityDetailsUpdated', { ownerId: 'bea' }, '2024-03-02T09:00:00.000Z'),
      opportunity(3, 'OpportunityLost', { stage: 'PREPARING_QUOTE', reason: 'PRICE', competitor: 'Acme' }, '2024-04-05T09:00:00.000Z'),
      opportunity(4, 'OpportunityReopened', { stage: 'PREPARING_QUOTE' }, '2024-04-20T09:00:00.000Z'),
      opportunity(5, 'OpportunityWon', { stage: 'PREPARING_QUOTE', amount: { amount: '987654321987654321.25', currency: 'EUR' } }, '2024-05-03T09:00:00.000Z'),
    ];
    await projected(events, async (db) => {
      expect(await rollupRowsAsText(db)).toEqual(await expectedRollupRowsAsText(db));
      const request = { from: '2024-01-01T00:00:00.000Z', to: '2025-01-01T00:00:00.000Z', currency: 'EUR' };
      const byOwner = await timeInStage(db, { ...request, groupBy: ['OWNER'] }, PIPELINE);
      // Every stay, the one left in February under ana too, is now bea's.
      expect(byOwner.map((row) => row.group.ownerId)).toEqual(['bea']);
      expect(byOwner[0]!.stages.filter((stage) => stage.stays > 0).map((stage) => [stage.stage, stage.stays])).toEqual([
        ['QUALIFICATION', 1],
        ['PREPARING_QUOTE', 2],
      ]);
      const kpis = await readKpis(db, { ...request, groupBy: ['OWNER', 'MONTH'] }, PIPELINE);
      // The reopen took the loss away; the win counts once, with the amount it was won for, to the
      // cent past 2^53 (which SQLite would hand to JavaScript rounded).
      expect(kpis.lossReasons).toEqual([]);
      expect(kpis.salesOutcomes.map((row) => [row.group.month, row.won, row.wonAmount.amount])).toEqual([['2024-05', 1, '987654321987654321.25']]);
      expect(kpis).toEqual(await readKpis(db, { ...request, groupBy: ['OWNER', 'MONTH'], factsOnly: true }, PIPELINE));
    });
  });

  it('rebuilt from the facts in SQLite, key every cell as apply keys it, whatever the text of its key, and sum as JavaScript does', async () => {
    // Free text that ends up in a cell's key (a campaign, a competitor), with what JSON escapes.
    const odd = 'Feria "Norte" \\ 2024\t\n\u0001\u001f ñ € 😀 \u2028';
    const lead = (id: string, revision: number, type: string, data: object, at: string) => recorded(`lead-${id}`, revision, type, { leadId: id, ...data }, at);
    const opportunity = (revision: number, type: string, data: object, at: string) =>
      recorded('opportunity-o9', revision, type, { opportunityId: 'o9', ...data }, at);
    const events = [
      lead('l7', 0, 'LeadCaptured', { source: 'WEB', campaign: odd, ownerId: 'ana' }, '2024-01-10T09:00:00.000Z'),
      lead('l8', 0, 'LeadCaptured', { source: 'EVENT' }, '2024-01-11T09:00:00.000Z'),
      lead('l8', 1, 'LeadDisqualified', { reason: 'NO_BUDGET' }, '2024-02-01T09:00:00.000Z'),
      lead('l7', 1, 'LeadQualified', { rank: 'SQL' }, '2024-01-20T09:00:00.000Z'),
      lead('l7', 2, 'LeadConverted', { cycle: 1, accountId: 'a9', contactId: 'c9', opportunityId: 'o9' }, '2024-02-01T09:00:00.000Z'),
      opportunity(0, 'OpportunityOpened', { accountId: 'a9', name: 'Deal', stage: 'QUALIFICATION', probability: 10, ownerId: 'ana',
        amount: { amount: '987654321987654321.25', currency: 'EUR' } }, '2024-02-01T09:00:00.000Z'),
      opportunity(1, 'OpportunityStageChanged', { fromStage: 'QUALIFICATION', toStage: 'PREPARING_QUOTE', probability: 50 }, '2024-02-11T09:00:00.000Z'),
      opportunity(2, 'OpportunityLost', { stage: 'PREPARING_QUOTE', reason: 'PRICE', competitor: odd }, '2024-04-05T09:00:00.000Z'),
      // Open, by stage, currency and probability (a number among the key's texts).
      recorded('opportunity-o10', 0, 'OpportunityOpened', { opportunityId: 'o10', accountId: 'a9', name: 'Other', stage: 'QUALIFICATION', probability: 25,
        ownerId: 'bea', amount: { amount: '12.5', currency: 'USD' } }, '2024-03-01T09:00:00.000Z'),
    ];
    await projected(events, async (db) => {
      const kept = await rollupRowsAsText(db);
      expect(kept).toEqual(await expectedRollupRowsAsText(db));
      expect(kept.filter((row) => row.includes('Feria')).length).toBeGreaterThan(3);
      expect(kept.filter((row) => row.startsWith('["kpi_open_by_month_group"')).length).toBe(1);
      for (const rebuild of [rebuildRollups, rebuildRollupsInJavaScript]) {
        await db.transaction((tx) => rebuild(tx));
        expect(await rollupRowsAsText(db)).toEqual(kept);
      }
      // The cells go on from there: a capture in a cell rebuilt in SQLite adds to that cell.
      await db.transaction((tx) => rebuildRollups(tx));
      await db.transaction((tx) => kpiFactsProjection.apply(tx, lead('l10', 0, 'LeadCaptured', { source: 'WEB', campaign: odd, ownerId: 'ana' }, '2024-01-12T09:00:00.000Z')));
      expect(await rollupRowsAsText(db)).toEqual(await expectedRollupRowsAsText(db));
      const funnel = await db.all<{ captured: number }>('SELECT captured FROM kpi_funnel_by_month_group WHERE campaign = ?', [odd]);
      expect(funnel.map((row) => Number(row.captured))).toEqual([2]);
    });
  });

  it('count a capture that comes again once, in the facts and in the rollups', async () => {
    const capture = recorded('lead-l2', 0, 'LeadCaptured', { leadId: 'l2', source: 'WEB', ownerId: 'ana' }, '2024-01-10T09:00:00.000Z');
    const contact = recorded('lead-l2', 1, 'LeadContactLogged', { leadId: 'l2', channel: 'CALL', outcome: 'REACHED' }, '2024-01-11T09:00:00.000Z');
    await projected([capture, contact, capture], async (db) => {
      const request = { from: '2024-01-01T00:00:00.000Z', to: '2024-03-01T00:00:00.000Z', groupBy: [] as KpiDimension[], currency: 'EUR' };
      const [funnel] = (await readKpis(db, request, PIPELINE)).leadFunnel;
      expect([funnel!.captured, funnel!.contacted]).toEqual([1, 1]);
      expect(await rollupRowsAsText(db)).toEqual(await expectedRollupRowsAsText(db));
    });
  });

  it('count captures applied as a batch like captures applied one by one; a batch with one that comes again fails whole, and event by event counts it once', async () => {
    const captures = Array.from({ length: 45 }, (_, index) =>
      recorded(`lead-b${index}`, 0, 'LeadCaptured', { leadId: `b${index}`, source: index % 3 === 0 ? 'WEB' : 'EVENT', ownerId: index % 2 ? 'ana' : 'bea',
        ...(index % 5 === 0 ? { contactId: `c${index}` } : {}) }, `2024-0${1 + (index % 3)}-1${index % 10}T09:00:00.000Z`));
    const contact = recorded('lead-b1', 1, 'LeadContactLogged', { leadId: 'b1', channel: 'CALL', outcome: 'REACHED' }, '2024-03-20T09:00:00.000Z');
    // 41 captures, a contact, then 2 more captures and 2 delivered again: runs of 41 (32 + 8 + 1) and 4 rows.
    const batches = [[...captures.slice(0, 41), contact], [...captures.slice(41), captures[3]!, captures[40]!]];
    const request = { from: '2024-01-01T00:00:00.000Z', to: '2024-06-01T00:00:00.000Z', groupBy: ['SOURCE', 'OWNER', 'ORIGIN', 'MONTH'] as KpiDimension[], currency: 'EUR' };
    const directory = temporaryDirectory();
    const db = openSqliteDatabase(directory.file('kpis.db'));
    try {
      await kpiFactsProjection.setup(db);
      await db.transaction((tx) => kpiFactsProjection.applyBatch!(tx, batches[0]!));
      // The batch's captures are written without reading them back: one already there fails the
      // batch on the table's key, nothing of it kept, and the runner applies it event by event.
      const rollupsBefore = await rollupRowsAsText(db);
      await expect(db.transaction((tx) => kpiFactsProjection.applyBatch!(tx, batches[1]!))).rejects.toThrow(/UNIQUE constraint failed: kpi_lead_cycles/);
      expect(await rollupRowsAsText(db)).toEqual(rollupsBefore);
      for (const event of batches[1]!) await db.transaction((tx) => kpiFactsProjection.apply(tx, event));
      expect(await rollupRowsAsText(db)).toEqual(await expectedRollupRowsAsText(db));
      const batched = await readKpis(db, request, PIPELINE);
      expect(batched.leadFunnel.reduce((sum, row) => sum + row.captured, 0)).toBe(45);
      await projected(batches.flat(), async (oneByOne) => {
        expect(batched).toEqual(await readKpis(oneByOne, request, PIPELINE));
        expect(await rollupRowsAsText(db)).toEqual(await rollupRowsAsText(oneByOne));
      });
    } finally {
      await db.close();
      directory.remove();
    }
  });

  it('serve, with the facts of the partial months, the KPIs the facts alone give, for any period and cut', async () => {
    const events = await generatedEventsFor(kpiFactsProjection, { leads: 300, seed: 31 });
    const times = events.map((event) => event.metadata.occurredAt).sort();
    const first = Date.parse(times[0]!);
    const last = Date.parse(times.at(-1)!);
    const at = (fraction: number) => new Date(first + fraction * (last - first)).toISOString();
    const year = times[0]!.slice(0, 4);
    const periods = [
      { from: at(0), to: new Date(last + 1).toISOString() },
      { from: at(0.2), to: at(0.7) },
      { from: `${year}-01-01T00:00:00.000Z`, to: `${Number(year) + 2}-01-01T00:00:00.000Z` },
      { from: `${at(0.3).slice(0, 7)}-01T00:00:00.000Z`, to: at(0.8) },
      { from: at(0.5), to: at(0.52) },
      { from: `${at(0.4).slice(0, 7)}-03T00:00:00.000Z`, to: `${at(0.6).slice(0, 7)}-27T12:00:00.000Z` },
      { from: `${at(0.4).slice(0, 7)}-20T00:00:00.000Z`, to: `${at(0.6).slice(0, 7)}-09T00:00:00.000Z` },
      // Within a month it mostly covers: the month's cells less the facts outside the period.
      { from: `${at(0.5).slice(0, 7)}-02T06:00:00.000Z`, to: `${at(0.5).slice(0, 7)}-27T18:00:00.000Z` },
      { from: `${at(0.3).slice(0, 7)}-01T00:00:00.000Z`, to: `${at(0.3).slice(0, 7)}-25T00:00:00.000Z` },
    ];
    const cuts: KpiDimension[][] = [[], ['MONTH'], ['SOURCE', 'OWNER'], ['CAMPAIGN', 'ORIGIN', 'MONTH'], KPI_DIMENSIONS.filter((d) => d !== 'LIST')];
    await projected(events, async (db) => {
      const rollups = await rollupRowsAsText(db);
      expect(rollups).toEqual(await expectedRollupRowsAsText(db));
      // Worked out a few facts at a time, as a rebuild does page by page on a large history: the same.
      expect(await expectedRollupRowsAsText(db, 7)).toEqual(rollups);
      for (const period of periods) {
        for (const groupBy of cuts) {
          const request = { ...period, groupBy, currency: 'EUR' };
          const rolledUp = await readKpis(db, request, PIPELINE);
          expect(rolledUp, JSON.stringify(request)).toEqual(await readKpis(db, { ...request, factsOnly: true }, PIPELINE));
        }
      }
      const whole = await readKpis(db, { ...periods[0]!, groupBy: [], currency: 'EUR' }, PIPELINE);
      expect(whole.leadFunnel[0]!.captured).toBeGreaterThan(300);
      expect(whole.salesOutcomes[0]!.won).toBeGreaterThan(0);
    });
  }, 120_000);
});

describe('a period, for the rollups', () => {
  it('is months, and the facts of the partial months at either end added, or taken away where fewer', () => {
    expect(periodParts('2024-01-15T10:00:00.000Z', '2024-04-10T00:00:00.000Z')).toEqual({
      months: { from: '2024-01', to: '2024-04' },
      edges: [
        { from: '2024-01-01T00:00:00.000Z', to: '2024-01-15T10:00:00.000Z', sign: -1 },
        { from: '2024-04-01T00:00:00.000Z', to: '2024-04-10T00:00:00.000Z', sign: 1 },
      ],
    });
    expect(periodParts('2024-01-01T00:00:00.000Z', '2024-03-25T00:00:00.000Z')).toEqual({
      months: { from: '2024-01', to: '2024-04' },
      edges: [{ from: '2024-03-25T00:00:00.000Z', to: '2024-04-01T00:00:00.000Z', sign: -1 }],
    });
    expect(periodParts('2024-11-01T00:00:00.000Z', '2025-02-01T00:00:00.000Z')).toEqual({ months: { from: '2024-11', to: '2025-02' }, edges: [] });
    expect(periodParts('2024-12-31T23:00:00.000Z', '2025-02-01T00:00:00.000Z')).toEqual({
      months: { from: '2025-01', to: '2025-02' },
      edges: [{ from: '2024-12-31T23:00:00.000Z', to: '2025-01-01T00:00:00.000Z', sign: 1 }],
    });
  });

  it('is its month less the facts outside it, within a month that it mostly covers', () => {
    // A month up to now, as a report by month computes its last month.
    expect(periodParts('2024-03-01T00:00:00.000Z', '2024-03-23T08:55:10.705Z')).toEqual({
      months: { from: '2024-03', to: '2024-04' },
      edges: [{ from: '2024-03-23T08:55:10.705Z', to: '2024-04-01T00:00:00.000Z', sign: -1 }],
    });
    expect(periodParts('2024-12-02T00:00:00.000Z', '2024-12-30T00:00:00.000Z')).toEqual({
      months: { from: '2024-12', to: '2025-01' },
      edges: [
        { from: '2024-12-01T00:00:00.000Z', to: '2024-12-02T00:00:00.000Z', sign: -1 },
        { from: '2024-12-30T00:00:00.000Z', to: '2025-01-01T00:00:00.000Z', sign: -1 },
      ],
    });
  });

  it('is its facts alone within a month it covers half of or less, or across two months mostly outside it', () => {
    const alone = (from: string, to: string) => ({ edges: [{ from, to, sign: 1 }] });
    expect(periodParts('2024-03-01T00:00:00.000Z', '2024-03-16T00:00:00.000Z')).toEqual(alone('2024-03-01T00:00:00.000Z', '2024-03-16T00:00:00.000Z'));
    expect(periodParts('2024-03-10T00:00:00.000Z', '2024-03-12T00:00:00.000Z')).toEqual(alone('2024-03-10T00:00:00.000Z', '2024-03-12T00:00:00.000Z'));
    expect(periodParts('2024-01-20T00:00:00.000Z', '2024-02-10T00:00:00.000Z')).toEqual(alone('2024-01-20T00:00:00.000Z', '2024-02-10T00:00:00.000Z'));
  });
});
