/**
 * The insights part on PostgreSQL (`npm run bench -- --only insightsPostgres`): issue 11's goals 3
 * and 4 on the other store, on the same generated history as `insights` (BENCH_LEADS leads, seed
 * BENCH_SEED: the generator's events, ids included, are the same on either store).
 * - The history is generated once into a database of its own, `crm_bench_insights_<leads>_seed<seed>`
 *   on the server of DATABASE_URL (the test database's by default), events and read models, and
 *   kept there for later runs, as `insights` keeps its SQLite files under bench/.cache.
 * - Each run works on a copy of it (`CREATE DATABASE … TEMPLATE`, a copy of the files, seconds):
 *   the rebuild and the captures of the write load leave the kept history as it was.
 * - On the copy: the log read and parsed alone (the bound), then every projection rebuilt from zero
 *   (goal 3), then the built API on it, and the report queries of goal 4 alone on one connection
 *   and under a write load, as on SQLite.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { openReadDatabase } from '../src/composition/application';
import { loadConfig } from '../src/composition/config';
import { openEventLog } from '../src/composition/eventLog';
import { REBUILD_PAGE_SIZE } from '../projections/runner';
import { readWholeLog } from '../projections/tools/storeViews';
import { freePort, startChild } from './harness';
import { BUILT_ENTRY, buildOnce } from './httpCaptureLead';
import {
  type Dataset,
  type InsightsResult,
  type InsightsSettings,
  SECRET,
  countEvents,
  ensureDataset,
  generateHistory,
  generationParts,
  log,
  queryLines,
  queryServer,
  replayProjections,
  servedCopyOf,
} from './insights';

export type InsightsPostgresResult = Pick<InsightsResult, 'dataset' | 'projectionReplay' | 'rawRead' | 'queries' | 'underWrites'> & {
  server: { builtReadyMs: number; peakRssMiB?: number };
};

/** The kept history: what it is, and the master key its personal data is sealed under. */
export interface KeptDataset extends Omit<Dataset, 'dataDir'> {
  dataKey: string;
}

const serverUrl = (): string => process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** DATABASE_URL with another database. */
const databaseUrl = (database: string): string => {
  const url = new URL(serverUrl());
  url.pathname = `/${database}`;
  return url.toString();
};

/** The environment an application (this process's or the API's) is configured from, on `database`. */
const environment = (database: string, dataKey: string): NodeJS.ProcessEnv => ({
  CRM_JWT_SECRET: SECRET,
  CRM_EVENT_STORE: 'postgres',
  CRM_READ_STORE: 'postgres',
  DATABASE_URL: databaseUrl(database),
  CRM_DATA_KEY: dataKey,
});

/**
 * A checkpoint of the server, so that what a bulk load, a copy or a rebuild left dirty in
 * PostgreSQL's buffers is written out before a phase is measured, not while. On the run that
 * first generated the history, the checkpointer was still flushing it (7,708 buffers, "checkpoints
 * are occurring too frequently") through the queries: the lead search's p99 was 62 ms, against 2 to
 * 5 ms on the same copy once the flush was done. Needs a superuser or the pg_checkpoint role;
 * without it the phase is measured as before.
 */
const checkpoint = (): Promise<void> =>
  onServer(async (client) => {
    await client.query('CHECKPOINT').catch((error: unknown) => log(`no CHECKPOINT before measuring (${String(error)})`));
  });

const onServer = async <T>(work: (client: Client) => Promise<T>): Promise<T> => {
  const client = new Client({ connectionString: serverUrl() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
};

/**
 * A copy of the kept history (`CREATE DATABASE … TEMPLATE`, seconds) for an API to serve, as
 * `servedCopyOf` gives one of the SQLite history: the captures of a write load leave the kept
 * history as it was. `environment` configures an application on the copy (this process's, for the
 * rebuild); `start` starts the API on it, in production mode.
 */
export async function servedPostgresCopyOf(dataset: KeptDataset): Promise<{
  served: { base: string; dataDir: string; environment: NodeJS.ProcessEnv; remove(): Promise<void> };
  start(name: string, entry: string): ReturnType<typeof startChild>;
}> {
  const copy = `crm_bench_served_${randomBytes(4).toString('hex')}`;
  log(`copying the kept history into the database ${copy}...`);
  await onServer((client) => client.query(`CREATE DATABASE ${copy} TEMPLATE ${keptDatabase(dataset.leads, dataset.seed)}`));
  await checkpoint();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-bench-insights-pg-'));
  const env = environment(copy, dataset.dataKey);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const start = (name: string, entry: string) =>
    startChild(name, entry, { ...process.env, ...env, NODE_ENV: 'production', PORT: String(port), CRM_DATA_DIR: dataDir }, `${base}/readyz`, 600_000);
  const remove = async () => {
    rmSync(dataDir, { recursive: true, force: true });
    await onServer((client) => client.query(`DROP DATABASE IF EXISTS ${copy} WITH (FORCE)`));
  };
  return { served: { base, dataDir, environment: env, remove }, start };
}

/**
 * The insights history of `store` (`BENCH_STORE`: sqlite, the default, or postgres), generated
 * when missing, and a copy of it for an API to serve: what the benches that query a served history
 * without rebuilding it (`bench:memory`, `bench:readers`) start from, on either store.
 */
export async function servedHistory(
  store: string,
  leads: number,
  seed: number,
): Promise<{ dataset: Dataset; base: string; start(name: string, entry: string): ReturnType<typeof startChild>; remove(): Promise<void> }> {
  if (store === 'postgres') {
    const { dataset } = await ensurePostgresDataset(leads, seed);
    const { served, start } = await servedPostgresCopyOf(dataset);
    return { dataset: { ...dataset, dataDir: served.dataDir }, base: served.base, start, remove: served.remove };
  }
  if (store !== 'sqlite') throw new Error(`BENCH_STORE is sqlite or postgres, not ${store}`);
  const { dataset } = await ensureDataset(leads, seed);
  const { served, start } = await servedCopyOf(dataset);
  return { dataset, base: served.base, start, remove: async () => served.remove() };
}

export async function benchInsightsPostgres(settings: InsightsSettings): Promise<InsightsPostgresResult> {
  const { dataset, reused } = await ensurePostgresDataset(settings.leads, settings.seed);
  const { served, start } = await servedPostgresCopyOf(dataset);
  const { dataDir } = served;
  try {
    const config = loadConfig(served.environment, { dataDir });
    const store = await openEventLog(config);
    let rebuild: Pick<InsightsResult, 'projectionReplay' | 'rawRead'> & { events: number };
    try {
      const events = await countEvents(store);
      log(`reading and parsing the ${events} events alone...`);
      const raw = await readWholeLog(store.sealed, REBUILD_PAGE_SIZE);
      const projectionReplay = await replayProjections(store, await openReadDatabase(config.readStore), events, config);
      rebuild = { events, projectionReplay, rawRead: { seconds: raw.elapsedMs / 1000, eventsPerSecond: (raw.events * 1000) / Math.max(raw.elapsedMs, 1) } };
    } finally {
      await store.close();
    }
    log('building dist/ (npm run build) to serve the queries as npm start does...');
    buildOnce();
    // The rebuild's writes flushed before the queries are measured, as the copy's were before the rebuild.
    await checkpoint();
    const server = await start('API on PostgreSQL (dist/main.js)', BUILT_ENTRY);
    let peakRssMiB = server.rssMiB();
    const sampler = setInterval(() => {
      const rss = server.rssMiB();
      if (rss !== undefined && (peakRssMiB === undefined || rss > peakRssMiB)) peakRssMiB = rss;
    }, 250);
    try {
      const measured = await queryServer(`${served.base}/graphql`, { ...dataset, dataDir }, settings, () => undefined);
      return {
        dataset: { ...dataset, dataDir, events: rebuild.events, reused },
        projectionReplay: rebuild.projectionReplay,
        rawRead: rebuild.rawRead,
        ...measured,
        server: { builtReadyMs: server.readyMs, peakRssMiB },
      };
    } finally {
      clearInterval(sampler);
      await server.stop();
    }
  } finally {
    await served.remove();
  }
}

const keptDatabase = (leads: number, seed: number) => `crm_bench_insights_${leads}_seed${seed}`;

/**
 * Generates the history into its kept database through the generator's bulk path, as `npm run
 * seed` does, unless an earlier run finished doing so (its description is then in the database).
 */
export async function ensurePostgresDataset(leads: number, seed: number): Promise<{ dataset: KeptDataset; reused: boolean }> {
  const database = keptDatabase(leads, seed);
  const kept = await onServer(async (client) => {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) return undefined;
    const db = new Client({ connectionString: databaseUrl(database) });
    await db.connect();
    try {
      const found = await db.query<{ description: KeptDataset }>('SELECT description FROM bench_dataset').catch(() => undefined);
      return found?.rows[0]?.description;
    } finally {
      await db.end();
    }
  });
  if (kept !== undefined) return { dataset: kept, reused: true };
  // Absent, or left unfinished by a run that was stopped: generated again from nothing.
  await onServer(async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${database}`);
  });
  const dataKey = randomBytes(32).toString('hex');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-bench-insights-pg-'));
  log(`generating ${leads} leads (seed ${seed}) into the PostgreSQL database ${database}...`);
  let dataset: KeptDataset;
  try {
    dataset = { ...(await generateHistory(loadConfig(environment(database, dataKey), { dataDir }), leads, seed)), dataKey };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  const db = new Client({ connectionString: databaseUrl(database) });
  await db.connect();
  try {
    await db.query('CREATE TABLE bench_dataset (description jsonb NOT NULL)');
    await db.query('INSERT INTO bench_dataset (description) VALUES ($1)', [JSON.stringify(dataset)]);
  } finally {
    await db.end();
  }
  return { dataset, reused: false };
}

/** A few lines for the console. */
export function formatInsightsPostgres(result: InsightsPostgresResult): string {
  const { dataset, projectionReplay, rawRead, server } = result;
  return [
    `on PostgreSQL: history of ${dataset.leads} leads, ${dataset.events} events, ` +
      `generated in ${dataset.generationSeconds.toFixed(0)} s${generationParts(dataset)}${dataset.reused ? ' (by an earlier run; reused)' : ''}`,
    `replay of every projection from zero: ${projectionReplay.seconds.toFixed(1)} s, ${projectionReplay.eventsPerSecond.toFixed(0)} events/s; ` +
      `reading and parsing the log alone: ${rawRead.eventsPerSecond.toFixed(0)} events/s`,
    `API on it: ready ${(server.builtReadyMs / 1000).toFixed(2)} s after spawn (built), ` +
      `resident memory up to ${server.peakRssMiB === undefined ? '?' : server.peakRssMiB.toFixed(0)} MiB while queried`,
    ...queryLines(result.queries, result.underWrites),
  ].join('\n');
}
