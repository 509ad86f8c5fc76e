/**
 * Restatements on a generated history: a month is reported when it ends, and the facts recorded
 * afterwards (conversions of its cohort, closes back-dated into it...) move its figures. Each
 * restatement must start from the figures `kpis` served as known just before it and end at
 * those served as known at its recording, one after the other, until the figures of now: none
 * is missing, none is invented.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readKpis } from '../../projections/kpis/kpiQueries';
import { openApplication, type Application } from '../composition/application';
import { loadConfig } from '../composition/config';
import { instant, type KpiDimension } from '../domain/insights/definitions';
import { generateCrmHistory, type GeneratedSummary } from '../seeding/generator';
import { turnsOf, type TurnTaker } from '../../projections/eventLoopTurns';
import type { SqlDatabase, SqlValue } from '../../projections/sqlDatabase';
import { turnsBeside } from '../../test/support/eventLoopStalls';
import { figureId, figureValues, kpiRestatementPage, kpiRestatements, type KpiRestatementRequest } from './kpiRestatements';

const DAY = 86_400_000;
let dataDir: string;
let app: Application;
let history: GeneratedSummary;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'crm-restatements-'));
  app = await openApplication(loadConfig({ CRM_JWT_SECRET: 'kpi-restatements-secret-long-enough-for-hs256' }, { dataDir }));
  history = await generateCrmHistory(app, { leads: 600, seed: 11 });
  await app.readModels.waitForPosition(history.lastPosition!, 120_000);
}, 300_000);

afterAll(async () => {
  await app?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** A month in the middle of the history, reported `reportedAfter` days after it began. */
const aMonth = (groupBy: KpiDimension[], reportedAfter = 30): KpiRestatementRequest => {
  const from = history.firstAt.getTime() + 0.4 * (history.lastAt.getTime() - history.firstAt.getTime());
  return {
    from: instant(new Date(from)),
    to: instant(new Date(from + 30 * DAY)),
    since: instant(new Date(from + reportedAfter * DAY)),
    groupBy,
    currency: app.pipeline.reportingCurrency,
  };
};

/** Every figure of the compared KPIs, as `kpis` serves them known at that time. */
const figuresKnownAt = async (request: KpiRestatementRequest, knownAt: string | undefined) =>
  figureValues(await readKpis(app.readDb, { ...request, knownAt }, app.pipeline));

const withoutNulls = (figures: Map<string, string | null>) => new Map([...figures].filter(([, value]) => value !== null));

const cases: Array<{ groupBy: KpiDimension[]; reportedAfter: number; moves: string[] }> = [
  // Reported when it ended: its cohort of leads moves on.
  { groupBy: [], reportedAfter: 30, moves: ['LeadContactLogged', 'LeadQualified', 'LeadConverted', 'LeadDisqualified'] },
  // Reported mid-month: its closes move it too; an owner's change moves a lead from one group to another.
  { groupBy: ['SOURCE', 'OWNER'], reportedAfter: 15, moves: ['LeadConverted', 'LeadAssigned', 'OpportunityWon'] },
];

for (const { groupBy, reportedAfter, moves } of cases) {
  it(`lead from the figures known when a month was reported (day ${reportedAfter}) to those of now, each as known then, cut by [${groupBy.join(', ')}]`, async () => {
    const request = aMonth(groupBy, reportedAfter);
    const restatements = await kpiRestatements({ readDb: app.readDb, store: app.store, pipeline: app.pipeline }, request);
    const types = new Set(restatements.map(({ event }) => event.type));
    for (const type of moves) expect(types).toContain(type);

    const running = await figuresKnownAt(request, request.since);
    const checkpoints = new Set(restatements.filter((_, index) => index % 7 === 0).map(({ event }) => event.recordedAt));
    let previous = request.since;
    for (const [index, { event, changes }] of restatements.entries()) {
      expect(event.recordedAt > request.since).toBe(true);
      expect(event.recordedAt >= previous, 'in the order recorded').toBe(true);
      previous = event.recordedAt;
      expect(event.streamId).toMatch(/^(lead|opportunity)-/);
      expect(event.actor).not.toBe('');
      expect(changes.length).toBeGreaterThan(0);
      for (const change of changes) {
        const key = figureId(change);
        expect(running.get(key) ?? null, `${event.type} ${key}`).toBe(change.before);
        expect(change.after).not.toBe(change.before);
        running.set(key, change.after);
      }
      const last = restatements[index + 1]?.event.recordedAt !== event.recordedAt;
      if (last && checkpoints.has(event.recordedAt)) {
        expect(withoutNulls(running)).toEqual(withoutNulls(await figuresKnownAt(request, event.recordedAt)));
      }
    }
    expect(withoutNulls(running)).toEqual(withoutNulls(await figuresKnownAt(request, undefined)));
  });
}

it('lists nothing for facts recorded after the last one, and nothing that did not move the period', async () => {
  const request = aMonth([]);
  const sources = { readDb: app.readDb, store: app.store, pipeline: app.pipeline };
  expect(await kpiRestatements(sources, { ...request, since: instant(new Date(history.lastAt.getTime() + DAY)) })).toEqual([]);
  // A period before the history began: every later fact is about other periods.
  const before = { ...request, from: '2001-01-01T00:00:00.000Z', to: '2001-02-01T00:00:00.000Z' };
  expect(await kpiRestatements(sources, before)).toEqual([]);
});

it('pages: the pages after each other, each after the cursor of the one before, are the restatements of one page', async () => {
  const request = aMonth(['SOURCE', 'OWNER'], 15);
  const sources = { readDb: app.readDb, store: app.store, pipeline: app.pipeline };
  const whole = await kpiRestatements(sources, request);
  expect(whole.length).toBeGreaterThan(20);
  // Facts recorded at one instant come in stream order: a cursor must tell them apart.
  const instants = whole.map(({ event }) => event.recordedAt);
  expect(new Set(instants).size).toBeLessThan(instants.length);
  const paged = [];
  let after: string | undefined;
  for (let pages = 0; ; pages += 1) {
    expect(pages).toBeLessThan(whole.length);
    const page = await kpiRestatementPage(sources, request, { first: 7, after });
    paged.push(...page.restatements);
    if (!page.hasNextPage) break;
    expect(page.restatements).toHaveLength(7);
    after = page.endCursor;
  }
  expect(paged).toEqual(whole);
});

it('steps aside between slices of its work, so that the requests waiting meanwhile are answered', async () => {
  // The whole history's restatements since its start: every version of every fact, read where the
  // API reads them (the report thread). The other work's turns are counted once the versions have
  // been read: before, the thread is idle, waiting for the report thread.
  const request = { ...aMonth([]), from: instant(history.firstAt), to: instant(new Date(history.lastAt.getTime() + DAY)), since: instant(history.firstAt) };
  const othersServed = async (takeTurn: TurnTaker) => {
    const { result: page, turns } = await turnsBeside(
      (startCounting) => {
        let reads = 0;
        const readDb: SqlDatabase = {
          ...app.reportDb,
          all: async <T>(sql: string, params?: readonly SqlValue[]) => {
            const rows = await app.reportDb.all<T>(sql, params);
            // Both KPI fact tables' versions are in: from here on, the work is this thread's.
            if (++reads === 2) startCounting();
            return rows;
          },
        };
        return kpiRestatementPage({ readDb, store: app.store, pipeline: app.pipeline, takeTurn }, request, { first: 200 });
      },
      { fromStart: false },
    );
    expect(page.restatements).toHaveLength(200);
    return turns;
  };
  // Stepping aside after every step: the other work runs between every two.
  const everyStep = await othersServed(turnsOf(0, 1));
  // Never stepping aside: the other work waits for the whole fold.
  const never = await othersServed(() => undefined);
  expect(never).toBeLessThan(10);
  expect(everyStep).toBeGreaterThan(2_000);
});
