/**
 * The insights part of the bench (`npm run bench -- --only insights`), on a generated history
 * of BENCH_LEADS leads (114,000 by default, 1,004,970 events; seed BENCH_SEED):
 * - how long generating it takes (once: the data directory is kept under bench/.cache and
 *   reused by later runs, which report the first run's time);
 * - seconds to replay every projection from zero (the dataset's read models, all reset at
 *   once; events/s), and to replay the log in memory as the `retrospective` query does;
 * - the p99 latency, over HTTP against the built API (`dist/main.js`, as `npm start` runs
 *   it), of the report queries of issue 11's goal 4 (`kpis` with every section, the loss-reason
 *   KPI alone, `pipeline`, `pipeline(asOf)`, `leads(filter)` by status and owner and by a
 *   search), each alone on BENCH_QUERY_CONNECTIONS connections (1 by default: the latency of one
 *   query, not of a queue), and its largest resident memory meanwhile;
 * - then the same queries in turn on BENCH_CONCURRENT_READERS connections (20) while
 *   BENCH_WRITE_CONNECTIONS (10) capture leads: the readers' p99 during a write load.
 * The API serves a copy of the data set, so the captures leave the cached history as it was.
 */
import { closeSync, cpSync, existsSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openApplication, readModelProjections } from '../src/composition/application';
import { type CrmConfig, loadConfig, DATABASE_FILE } from '../src/composition/config';
import type { EventStore, GlobalPosition } from '../src/core/eventStore';
import { openEventLog, type EventLogOptions } from '../src/composition/eventLog';
import { mintToken } from '../src/identity/jwt';
import { DATA_KEY_FILE } from '../src/personalData/masterKey';
import { replayFacts } from '../src/useCases/replayFacts';
import { generateCrmHistory } from '../src/seeding/generator';
import { stageOnAnotherThread } from '../src/composition/stagingThread';
import { ProjectionRunner, REBUILD_PAGE_SIZE } from '../projections/runner';
import { readWholeLog } from '../projections/tools/storeViews';
import { openSqliteDatabase, type SqlDatabase } from '../projections/sqlDatabase';
import { encodeCursor } from '../projections/pagination';
import { type LoadResult, freePort, graphql, runLoad, startChild } from './harness';
import { DEFAULT_SALES_TEAM } from '../src/seeding/data';
import { BUILT_ENTRY, MAIN_ENTRY, buildOnce, captureLeadBody } from './httpCaptureLead';

export interface InsightsSettings {
  leads: number;
  seed: number;
  connections: number;
  /** Readers, each asking the report queries in turn, during the write load. */
  concurrentReaders: number;
  /** Connections capturing leads meanwhile. */
  writeConnections: number;
  durationSec: number;
  warmupSec: number;
}

export interface Dataset {
  dataDir: string;
  leads: number;
  seed: number;
  events: number;
  generationSeconds: number;
  /** Of `generationSeconds`, those until the last event was stored; the rest are the read models'. Not in a history kept by an older run. */
  writeSeconds?: number;
  /** The simulated period the history covers. */
  firstAt: string;
  lastAt: string;
}

export interface InsightsResult {
  dataset: Dataset & { reused: boolean };
  /** Every projection reset and rebuilt from zero, together. */
  projectionReplay: { seconds: number; eventsPerSecond: number; projections: string[] };
  /** The same log read and parsed in the same pages, personal data left sealed, nothing applied: a rebuild's bound. */
  rawRead: { seconds: number; eventsPerSecond: number };
  /**
   * The API on this data set: from spawn to ready through tsx (which compiles every module as it
   * loads), as tsc emits it (`node dist/src/main.js`: a module per file), and built as `npm start`
   * runs it (`node dist/main.js`, the bundle); the bundle's largest resident memory while the
   * queries ran (they run on it).
   */
  server: {
    readyMs: number;
    modulesReadyMs?: number;
    builtReadyMs?: number;
    peakRssMiB?: number;
    /** The largest resident memory during each part of the queries (each query alone; `under writes`), to see which one sets the peak. */
    peakRssMiBByPhase?: Record<string, number>;
  };
  /**
   * The whole log folded in memory, as `retrospective` does: cut by anything but lists (personal
   * data left sealed), and `byList`, cut by lists (the leads' personal data opened).
   */
  retrospectiveReplay: { seconds: number; eventsPerSecond: number; byList?: { seconds: number; eventsPerSecond: number } };
  /** Per query; `missing` when the API does not offer it. */
  queries: Record<string, LoadResult | { missing: string }>;
  /** The report queries in turn on `readers` connections while `writers` connections capture leads. */
  underWrites?: { readers: number; writers: number; reads: LoadResult; writes: LoadResult };
}

const CACHE = path.join(__dirname, '.cache');
/** The same build before bundling: tsc's output, one module per source file. */
const MODULES_ENTRY = path.join(__dirname, '..', 'dist', 'src', 'main.js');
export const SECRET = 'bench-insights-secret-that-is-long-enough';

export const log = (message: string) => process.stderr.write(`bench insights: ${message}\n`);
export const seconds = (since: bigint) => Number(process.hrtime.bigint() - since) / 1e9;

export async function benchInsights(settings: InsightsSettings): Promise<InsightsResult> {
  if (!existsSync(MAIN_ENTRY)) throw new Error(`${MAIN_ENTRY} does not exist yet`);
  const { dataset, reused } = await ensureDataset(settings.leads, settings.seed);
  // Through the sealing store, as the server reads it: personal data is opened on the way.
  const config = loadConfig({ CRM_JWT_SECRET: SECRET }, { dataDir: dataset.dataDir });
  const store = await openEventLog(config);
  try {
    const events = await countEvents(store);
    const raw = await readWholeLog(store.sealed, REBUILD_PAGE_SIZE);
    const projectionReplay = await replayProjections(store, openSqliteDatabase(path.join(dataset.dataDir, DATABASE_FILE)), events, config);
    const retrospectiveReplay = await replayRetrospective(store, events);
    const { queries, underWrites, server } = await measureQueries(dataset, settings);
    return {
      dataset: { ...dataset, events, reused },
      projectionReplay,
      rawRead: { seconds: raw.elapsedMs / 1000, eventsPerSecond: (raw.events * 1000) / Math.max(raw.elapsedMs, 1) },
      retrospectiveReplay,
      queries,
      underWrites,
      server,
    };
  } finally {
    await store.close();
  }
}

/** Generates the history through the real command handlers, unless a previous run left it. */
export async function ensureDataset(leads: number, seed: number): Promise<{ dataset: Dataset; reused: boolean }> {
  const dataDir = path.join(CACHE, `insights-${leads}-seed${seed}`);
  const marker = path.join(dataDir, 'generated.json');
  if (existsSync(marker)) return { dataset: { ...(JSON.parse(readFileSync(marker, 'utf8')) as Dataset), dataDir }, reused: true };
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  log(`generating ${leads} leads (seed ${seed}) into ${path.relative(process.cwd(), dataDir)}...`);
  const dataset: Dataset = { dataDir, ...(await generateHistory(loadConfig({ CRM_JWT_SECRET: SECRET }, { dataDir }), leads, seed)) };
  writeFileSync(marker, `${JSON.stringify(dataset, null, 2)}\n`);
  return { dataset, reused: false };
}

/**
 * The history of `leads` leads generated into the stores of `config` (empty: the generator's bulk
 * path), its read models caught up, and how long that took.
 */
export async function generateHistory(config: CrmConfig, leads: number, seed: number): Promise<Omit<Dataset, 'dataDir'>> {
  const started = process.hrtime.bigint();
  const app = await openApplication(config);
  let lastLog = 0;
  let writeSeconds: number | undefined;
  try {
    const summary = await generateCrmHistory(app, {
      leads,
      seed,
      // As `npm run seed`: the read models staged on a second thread while the first generates.
      stageAlongside: stageOnAnotherThread(config),
      onWritten: () => (writeSeconds = seconds(started)),
      onProgress: (p) => {
        if (seconds(started) - lastLog < 30) return;
        lastLog = seconds(started);
        log(`${p.leadsStarted}/${p.leads} leads started, ${p.events} events, ${lastLog.toFixed(0)} s`);
      },
    });
    if (summary.lastPosition !== undefined) await app.readModels.waitForPosition(summary.lastPosition, 3_600_000);
    return {
      leads,
      seed,
      events: summary.events,
      generationSeconds: seconds(started),
      writeSeconds,
      firstAt: summary.firstAt.toISOString(),
      lastAt: summary.lastAt.toISOString(),
    };
  } finally {
    await app.close();
  }
}

export async function countEvents(store: EventStore): Promise<number> {
  let count = 0;
  let position: GlobalPosition | undefined;
  for (;;) {
    const events = await store.readAll({ fromPosition: position, maxCount: 5000 });
    count += events.length;
    if (events.length < 5000) return count;
    position = events.at(-1)!.position;
  }
}

/**
 * Rebuilds the dataset's own read models, all at once, as a start after every projection's
 * version changed would: the API measured next then starts on read models that are current.
 * `db` is the data set's read database (SQLite file or PostgreSQL schema), closed here; `eventLog`
 * opens the log on the staging thread.
 */
export async function replayProjections(
  store: EventStore,
  db: SqlDatabase,
  events: number,
  eventLog: EventLogOptions,
): Promise<InsightsResult['projectionReplay']> {
  const projections = readModelProjections();
  log(`replaying ${projections.length} projections from zero over ${events} events...`);
  // Without a checkpoint a projection is outdated: the runner resets it and replays the log.
  // Only the read models' checkpoints go, as when their versions change: the key shredder's
  // (which keeps no read model) stays, or the API's start would read the whole log for it.
  await db.run(`DELETE FROM projection_checkpoints WHERE name IN (${projections.map(() => '?').join(', ')})`, projections.map((p) => p.name));
  // As `npm run replay` runs it (goal 3): alone on its thread, which copies one statement per
  // table, and staging on a second thread too.
  const runner = new ProjectionRunner({ store, db, projections, sharesThreadWithRequests: false, stagingThread: stageOnAnotherThread(eventLog) });
  const started = process.hrtime.bigint();
  try {
    await runner.start();
    await runner.whenCaughtUp();
    const elapsed = seconds(started);
    return { seconds: elapsed, eventsPerSecond: events / elapsed, projections: projections.map((p) => p.name) };
  } finally {
    await runner.stop();
    await db.close();
  }
}

export async function replayRetrospective(store: EventStore, events: number): Promise<InsightsResult['retrospectiveReplay']> {
  log('replaying the log in memory (retrospective)...');
  const timed = async (withLists: boolean) => {
    const started = process.hrtime.bigint();
    await replayFacts(store, { withLists });
    const elapsed = seconds(started);
    return { seconds: elapsed, eventsPerSecond: events / elapsed };
  };
  return { ...(await timed(false)), byList: await timed(true) };
}

async function measureQueries(
  dataset: Dataset,
  settings: InsightsSettings,
): Promise<Pick<InsightsResult, 'queries' | 'underWrites' | 'server'>> {
  const { served, start } = await servedCopyOf(dataset);
  const base = served.base;
  try {
    log('building dist/ (npm run build), to time the start of the built API as npm start runs it...');
    buildOnce();
    const throughTsx = await start('API (src/main.ts)', MAIN_ENTRY);
    const tsxReadyMs = throughTsx.readyMs;
    await throughTsx.stop();
    const modules = await start('API (dist/src/main.js)', MODULES_ENTRY);
    const modulesReadyMs = modules.readyMs;
    await modules.stop();
    // The queries, and the memory, on the API as `npm start` runs it: through tsx it also holds
    // the compiler's loader and every module's compiled text.
    const server = await start('API (dist/main.js)', BUILT_ENTRY);
    let peakRssMiB = server.rssMiB();
    const peakRssMiBByPhase: Record<string, number> = {};
    let phase = 'ready';
    const sample = () => {
      const rss = server.rssMiB();
      if (rss === undefined) return;
      if (peakRssMiB === undefined || rss > peakRssMiB) peakRssMiB = rss;
      peakRssMiBByPhase[phase] = Math.max(peakRssMiBByPhase[phase] ?? 0, rss);
    };
    sample();
    const sampler = setInterval(sample, 250);
    const enterPhase = (name: string) => {
      sample();
      phase = name;
    };
    try {
      const measured = await queryServer(`${base}/graphql`, dataset, settings, enterPhase);
      sample();
      return { ...measured, server: { readyMs: tsxReadyMs, modulesReadyMs, builtReadyMs: server.readyMs, peakRssMiB, peakRssMiBByPhase } };
    } finally {
      clearInterval(sampler);
      await server.stop();
    }
  } finally {
    served.remove();
  }
}

/**
 * A copy of the data set for an API to serve (the captures of a write load would otherwise grow
 * the cached history run by run), and how to start an API on it, in production mode.
 */
export async function servedCopyOf(dataset: Dataset): Promise<{
  served: { dir: string; base: string; remove(): void };
  start(name: string, entry: string): ReturnType<typeof startChild>;
}> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'crm-bench-insights-'));
  cpSync(dataset.dataDir, dir, { recursive: true });
  // Written to disk before the API starts, so that no fsync of the API pays for writing back the
  // 2 GB of the copy while it is measured. (The stall of 4 to more than 10 s at the first capture
  // that this was first blamed for remained: it was the rebuild's WAL, copied along with the file;
  // a bulk rebuild now checkpoints it, see bulkRebuild.ts.)
  syncFiles(dir);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const start = (name: string, entry: string) =>
    startChild(
      name,
      entry,
      {
        ...process.env,
        NODE_ENV: 'production',
        PORT: String(port),
        CRM_DATA_DIR: dir,
        CRM_JWT_SECRET: SECRET,
        // The master key the data set was generated with (made in its directory, as in development):
        // production refuses to start without one.
        CRM_DATA_KEY: readFileSync(path.join(dataset.dataDir, DATA_KEY_FILE), 'utf8').trim(),
      },
      `${base}/readyz`,
      600_000,
    );
  return { served: { dir, base, remove: () => rmSync(dir, { recursive: true, force: true }) }, start };
}

/** Flushes every file of a directory to disk. */
function syncFiles(dir: string): void {
  for (const name of readdirSync(dir)) {
    const fd = openSync(path.join(dir, name), 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/** A GraphQL request's body: the query and its variables. */
interface Request {
  query: string;
  variables?: Record<string, string>;
}

/**
 * The report queries of goal 4, on the generated history: each the same request over and over
 * (as a dashboard asks it; the API answers the KPI and pipeline reports from memory while nothing
 * they read has changed), and the KPI and pipeline(asOf) reports also with a period end or date
 * one millisecond later at each request, which the API computes every time. The dates are
 * variables, as a client sends them: a query text of its own per request would also fill the
 * server's cache of parsed queries.
 */
export const reportQueries = (dataset: Dataset): Record<string, (n: number) => Request> => {
  const middle = new Date((Date.parse(dataset.firstAt) + Date.parse(dataset.lastAt)) / 2).toISOString();
  const later = (at: string, n: number) => new Date(Date.parse(at) + n + 1).toISOString();
  const period = `from: "${dataset.firstAt}", to: $to, groupBy: [MONTH]`;
  const stages = 'stages { stage count amount { amount } weightedAmount { amount } }';
  const slice = 'count share amount { amount } amountShare';
  const lossReasons = `lossReasons { group { month } total amount { amount } reasons { reason { code } ${slice} }
          competitors { competitor ${slice} } stages { stage ${slice} } }`;
  const leads = 'totalCount edges { node { id status source ownerId rank score person { lastName email } company { name } } }';
  const lossQuery = `query($to: DateTime!) { kpis(${period}) { ${lossReasons} } }`;
  const kpisQuery = `query($to: DateTime!) { kpis(${period}) {
        leadFunnel { group { month } captured contacted reachedMql reachedSql converted disqualified conversionRatio }
        disqualificationReasons { group { month } total reasons { count share } }
        salesOutcomes { group { month } closed won lost winRate wonAmount { amount } averageSalesCycleDays }
        pipelineValue { group { month } pipeline { count amount { amount } weightedAmount { amount } } }
        timeInStage { group { month } stages { stage stays averageDays } }
        ${lossReasons} } }`;
  const asOfQuery = `query($asOf: DateTime!) { pipeline(asOf: $asOf) { count amount { amount } weightedAmount { amount } ${stages} } }`;
  return {
    'loss-reason KPI (whole history, by month)': () => ({ query: lossQuery, variables: { to: dataset.lastAt } }),
    'kpis, every section (whole history, by month)': () => ({ query: kpisQuery, variables: { to: dataset.lastAt } }),
    pipeline: () => ({ query: `{ pipeline { count amount { amount } weightedAmount { amount } ${stages} } }` }),
    'pipeline(asOf)': () => ({ query: asOfQuery, variables: { asOf: middle } }),
    'leads(filter: status, owner)': () => ({
      query: `{ leads(filter: { status: QUALIFIED, ownerId: "${DEFAULT_SALES_TEAM[2]}" }, first: 20) { ${leads} } }`,
    }),
    'leads(filter: search)': () => ({ query: `{ leads(filter: { search: "garcia" }, first: 20) { ${leads} } }` }),
    'loss-reason KPI (whole history, by month), computed each time': (n) => ({
      query: lossQuery,
      variables: { to: later(dataset.lastAt, n) },
    }),
    'kpis, every section (whole history, by month), computed each time': (n) => ({
      query: kpisQuery,
      variables: { to: later(dataset.lastAt, n) },
    }),
    'pipeline(asOf), computed each time': (n) => ({ query: asOfQuery, variables: { asOf: later(middle, n) } }),
    // A page of the search from a later instant at each ask (a cursor of the list's own form):
    // a page a client pages to, never remembered, beside a count that is.
    'leads(filter: search), computed each time': (n) => ({
      query: `query($after: String) { leads(filter: { search: "garcia" }, first: 20, after: $after) { ${leads} } }`,
      variables: { after: encodeCursor([later(middle, n), 'ffffffff-ffff-ffff-ffff-ffffffffffff']) },
    }),
  };
};

/**
 * The query phases, in this order: each report query alone on `settings.connections`, then the
 * readers under writes. `enterPhase` hears each phase's name as it starts (the memory benches
 * sample the API's resident memory by phase).
 */
export async function queryServer(
  url: string,
  dataset: Dataset,
  settings: InsightsSettings,
  enterPhase: (name: string) => void,
): Promise<Pick<InsightsResult, 'queries' | 'underWrites'>> {
  const token = await mintToken({ sub: 'bench', roles: ['sales', 'sales_manager'] }, new TextEncoder().encode(SECRET));
  const headers = { authorization: `Bearer ${token}` };
  const queries: InsightsResult['queries'] = {};
  const offered: Request[] = [];
  for (const [name, requestOf] of Object.entries(reportQueries(dataset))) {
    const request = requestOf(0);
    const probe = await graphql(url, request.query, headers, request.variables);
    if (probe.errors !== undefined) {
      queries[name] = { missing: JSON.stringify(probe.errors).slice(0, 300) };
      continue;
    }
    if (!name.endsWith('computed each time')) offered.push(request);
    log(`${name}: ${settings.warmupSec}s warm-up + ${settings.durationSec}s on ${settings.connections} connection(s)...`);
    enterPhase(name);
    let asked = 1;
    const body = () => JSON.stringify(requestOf(asked++));
    const load = { connections: settings.connections, durationSec: settings.durationSec };
    if (settings.warmupSec > 0) await runLoad(url, headers, body, { ...load, durationSec: settings.warmupSec });
    queries[name] = await runLoad(url, headers, body, load);
  }
  if (offered.length === 0 || settings.concurrentReaders === 0) return { queries };
  const { concurrentReaders: readers, writeConnections: writers, durationSec } = settings;
  log(`${readers} readers asking the report queries in turn while ${writers} connections capture leads, ${durationSec}s...`);
  enterPhase(UNDER_WRITES);
  const readBody = (n: number) => JSON.stringify(offered[n % offered.length]);
  const [reads, writes] = await Promise.all([
    runLoad(url, headers, readBody, { connections: readers, durationSec }),
    runLoad(url, headers, (n) => captureLeadBody('insights', n), { connections: writers, durationSec }),
  ]);
  return { queries, underWrites: { readers, writers, reads, writes } };
}

export const UNDER_WRITES = 'report queries under writes';

/** How the generation's time parts: the writing, then the read models (goal 5 counts both). */
export const generationParts = (dataset: Pick<Dataset, 'generationSeconds' | 'writeSeconds'>): string =>
  dataset.writeSeconds === undefined
    ? ''
    : ` (the events written in ${dataset.writeSeconds.toFixed(0)} s, the read models ready ${(dataset.generationSeconds - dataset.writeSeconds).toFixed(0)} s after)`;

/** A few lines for the console. */
export function formatInsights(result: InsightsResult): string {
  const { dataset, projectionReplay, rawRead, retrospectiveReplay, queries, server } = result;
  const span = `${dataset.firstAt.slice(0, 10)} to ${dataset.lastAt.slice(0, 10)}`;
  const lines = [
    `history: ${dataset.leads} leads, ${dataset.events} events (${span}), ` +
      `generated in ${dataset.generationSeconds.toFixed(0)} s${generationParts(dataset)}${dataset.reused ? ' (by an earlier run; reused)' : ''}`,
    `replay of every projection from zero (${projectionReplay.projections.join(', ')}): ` +
      `${projectionReplay.seconds.toFixed(1)} s, ${projectionReplay.eventsPerSecond.toFixed(0)} events/s; ` +
      `reading and parsing the log alone: ${rawRead.eventsPerSecond.toFixed(0)} events/s`,
    `API on this history: ready ${(server.readyMs / 1000).toFixed(2)} s after spawn through tsx` +
      `${server.modulesReadyMs === undefined ? '' : `, ${(server.modulesReadyMs / 1000).toFixed(2)} s as tsc emits it (node dist/src/main.js)`}` +
      `${server.builtReadyMs === undefined ? '' : `, ${(server.builtReadyMs / 1000).toFixed(2)} s built (node dist/main.js, as npm start)`}, ` +
      `resident memory up to ${server.peakRssMiB === undefined ? '?' : server.peakRssMiB.toFixed(0)} MiB while queried`,
    `retrospective replay in memory: ${retrospectiveReplay.seconds.toFixed(1)} s, ` +
      `${retrospectiveReplay.eventsPerSecond.toFixed(0)} events/s` +
      (retrospectiveReplay.byList === undefined
        ? ''
        : `; cut by lead list (the leads' personal data opened): ${retrospectiveReplay.byList.seconds.toFixed(1)} s, ` +
          `${retrospectiveReplay.byList.eventsPerSecond.toFixed(0)} events/s`),
  ];
  if (server.peakRssMiBByPhase) {
    const phases = Object.entries(server.peakRssMiBByPhase).map(([name, rss]) => `${name} ${rss.toFixed(0)}`);
    lines.push(`API resident memory at its largest, MiB, by part: ${phases.join('; ')}`);
  }
  lines.push(...queryLines(queries, result.underWrites));
  return lines.join('\n');
}

/** A line per report query, then the readers under writes, if measured. */
export function queryLines(queries: InsightsResult['queries'], underWrites: InsightsResult['underWrites']): string[] {
  const figures = (load: LoadResult) =>
    `p99 ${load.latencyP99Ms} ms, p50 ${load.latencyP50Ms} ms, ${load.requestsPerSec.toFixed(0)} req/s, ` +
    `${load.totalResponses} responses, ${load.non2xx + load.errorResponses + load.socketErrors} failed` +
    (load.socketErrors > 0 ? ` (${load.socketErrors} without an answer: refused or timed out)` : '') +
    (load.failures === undefined ? '' : `; first failures: ${load.failures.join(' | ')}`);
  const lines: string[] = [];
  for (const [name, load] of Object.entries(queries)) {
    lines.push('missing' in load ? `${name}: not offered by the API (${load.missing})` : `${name}: ${figures(load)}`);
  }
  if (underWrites) {
    const { readers, writers, reads, writes } = underWrites;
    lines.push(`the report queries in turn on ${readers} connections: ${figures(reads)}`);
    lines.push(`  meanwhile captureLead on ${writers} connections: ${figures(writes)}`);
  }
  return lines;
}

export const insightsSettingsFromEnv = (envNumber: (name: string, fallback: number, min: number) => number): InsightsSettings => ({
  // 1,004,970 events: goals 4 and 6 are set at a million events.
  leads: envNumber('BENCH_LEADS', 114_000, 1),
  seed: envNumber('BENCH_SEED', 1, 0),
  connections: envNumber('BENCH_QUERY_CONNECTIONS', 1, 1),
  concurrentReaders: envNumber('BENCH_CONCURRENT_READERS', 20, 0),
  writeConnections: envNumber('BENCH_WRITE_CONNECTIONS', 10, 1),
  durationSec: envNumber('BENCH_DURATION', 10, 1),
  warmupSec: envNumber('BENCH_WARMUP', 5, 0),
});
