/**
 * npm run bench:appends (also a part of npm run bench: --only appends)
 *
 * Events appended per second by each event store alone, in this process, beside a bare INSERT
 * loop on the same database in the same run:
 * - single: BENCH_CONNECTIONS (50) concurrent writers, each appending one event at a time to a
 *   stream of its own with the exact expected revision, as a command handler does;
 * - batch: the same writers, 100 events per append.
 * The bare loop writes the same rows (the same JSON, into a copy of the events table with the
 * same columns, constraints and indexes, without the append-only triggers) with the same
 * concurrency and durability (SQLite: WAL, synchronous=FULL; PostgreSQL: synchronous_commit as
 * configured, `on` by default; both fsync every commit): one autocommit INSERT per event, or one
 * transaction of 100 rows per batch. Each run starts on empty tables (a new file, a new schema).
 *
 * Store and bare runs alternate BENCH_APPENDS_ROUNDS times (default 3) and the median of each
 * is reported: on a small machine the load of everything else drifts more than the difference
 * measured. Env: BENCH_DURATION (seconds measured per run, default 5), BENCH_WARMUP (seconds of
 * load before measuring, default 2), BENCH_CONNECTIONS (writers, default 50), BENCH_PG_POOL
 * (PostgreSQL connections, default 10, pg's default), BENCH_DATABASE_URL (default
 * postgres://postgres@127.0.0.1:5432/test; PostgreSQL rows are skipped if it is unreachable),
 * BENCH_APPENDS_DATABASES (default sqlite,postgres).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { NO_STREAM, type EventStore, type NewEvent } from '../src/core/eventStore';
import { openPostgresEventStore } from '../src/eventStores/postgres';
import { preparedStatement } from '../src/eventStores/postgresConnection';
import { openSqliteEventStore } from '../src/eventStores/sqlite';

export interface AppendsSettings {
  writers: number;
  durationSec: number;
  warmupSec: number;
  /** Store and bare runs alternate this many times; the median of each is reported. */
  rounds: number;
  postgresPoolSize: number;
  databaseUrl: string;
  databases: Array<'sqlite' | 'postgres'>;
}

type Mode = 'single' | 'batch';
const BATCH_SIZE = 100;

export interface AppendsRun {
  database: 'sqlite' | 'postgres';
  mode: Mode;
  writer: 'store' | 'bare INSERT';
  eventsPerSec: number;
  appendsPerSec: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  events: number;
}

export interface AppendsReport {
  /** The median run of each database, mode and writer. */
  runs: AppendsRun[];
  /** Median store events/s divided by median bare INSERT events/s, per database and mode. */
  ratios: Record<string, number>;
  /** Every run, in the order measured. */
  samples: Array<AppendsRun & { round: number }>;
  skipped: string[];
}

/** Something like a LeadCaptured with its metadata: about 600 bytes of JSON per event. */
const anEvent = (n: number): NewEvent => {
  const now = new Date().toISOString();
  const commandId = randomUUID();
  return {
    id: randomUUID(),
    type: 'LeadCaptured',
    data: {
      leadId: randomUUID(),
      source: 'WEB_FORM',
      campaign: 'spring-fair',
      person: { firstName: 'Marta', lastName: `Puig ${n}`, email: `marta.${n}@botiga.example`, phone: '+34 600 000 000' },
      company: { name: 'Botiga Puig', website: 'https://botiga.example' },
      interest: { product: 'Shop refurbishment', estimatedValue: { amount: '18500.00', currency: 'EUR' } },
    },
    metadata: {
      actor: 'auth0|bench',
      recordedAt: now,
      occurredAt: now,
      correlationId: commandId,
      causationId: commandId,
      schemaVersion: 1,
      commandType: 'CaptureLead',
    },
  };
};

/** Writes one append (one event, or a batch) to the writer's own stream at `revision`. */
type Writer = (streamId: string, events: NewEvent[], firstRevision: number) => Promise<void>;

interface Target {
  write: Writer;
  close(): Promise<void>;
}

/**
 * Runs `writers` loops for warm-up plus measurement and counts the appends that completed
 * within the measured window. The clock is read in the loops rather than left to timers:
 * SQLite appends are synchronous, so its loops never give a timer the chance to fire.
 */
async function measure(target: Target, mode: Mode, settings: AppendsSettings) {
  const perAppend = mode === 'single' ? 1 : BATCH_SIZE;
  const measureFrom = performance.now() + settings.warmupSec * 1000;
  const measureUntil = measureFrom + settings.durationSec * 1000;
  let appends = 0;
  const latencies: number[] = [];
  const loop = async () => {
    const streamId = `bench-${randomUUID()}`;
    for (let revision = 0; ; revision += perAppend) {
      const events = Array.from({ length: perAppend }, (_, index) => anEvent(revision + index));
      const started = performance.now();
      await target.write(streamId, events, revision);
      const finished = performance.now();
      if (finished >= measureUntil) return;
      if (finished >= measureFrom) {
        appends++;
        latencies.push(finished - started);
      }
    }
  };
  await Promise.all(Array.from({ length: settings.writers }, loop));
  latencies.sort((a, b) => a - b);
  const percentile = (p: number) => Number((latencies[Math.floor((latencies.length - 1) * p)] ?? 0).toFixed(2));
  return {
    eventsPerSec: Math.round((appends * perAppend) / settings.durationSec),
    appendsPerSec: Math.round(appends / settings.durationSec),
    latencyP50Ms: percentile(0.5),
    latencyP99Ms: percentile(0.99),
    events: appends * perAppend,
  };
}

const storeWriter =
  (store: EventStore): Writer =>
  async (streamId, events, firstRevision) => {
    await store.appendToStream(streamId, events, {
      expectedRevision: firstRevision === 0 ? NO_STREAM : firstRevision - 1,
    });
  };

const sqliteTargets = (directory: string) => {
  let files = 0;
  const aFile = () => path.join(directory, `appends-${++files}.sqlite`);
  return {
    async store(): Promise<Target> {
      const store = openSqliteEventStore({ filename: aFile() });
      return { write: storeWriter(store), close: () => store.close() };
    },
    async bare(): Promise<Target> {
      const filename = aFile();
      // The adapter creates the table, so the copy has exactly its columns and constraints.
      await openSqliteEventStore({ filename }).close();
      const db = new Database(filename);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      const { sql } = db.prepare<[], { sql: string }>("SELECT sql FROM sqlite_master WHERE name = 'events'").get()!;
      db.exec(sql.replace(/^CREATE TABLE events/, 'CREATE TABLE bare_events'));
      const insert = db.prepare(
        `INSERT INTO bare_events (event_id, stream_id, stream_revision, event_type, data, metadata, recorded_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      );
      const insertAll = db.transaction((streamId: string, events: NewEvent[], firstRevision: number) =>
        events.forEach((event, index) =>
          insert.run(event.id, streamId, firstRevision + index, event.type, JSON.stringify(event.data),
            JSON.stringify(event.metadata), event.metadata.recordedAt),
        ),
      );
      return {
        write: async (streamId, events, firstRevision) => {
          if (events.length === 1) {
            const [event] = events as [NewEvent];
            insert.run(event.id, streamId, firstRevision, event.type, JSON.stringify(event.data),
              JSON.stringify(event.metadata), event.metadata.recordedAt);
          } else {
            insertAll.immediate(streamId, events, firstRevision);
          }
        },
        close: async () => {
          db.close();
        },
      };
    },
  };
};

const postgresTargets = (settings: AppendsSettings, schemas: string[]) => {
  const aPool = () => new pg.Pool({ connectionString: settings.databaseUrl, max: settings.postgresPoolSize });
  const aSchema = () => {
    const schema = `bench_appends_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    schemas.push(schema);
    return schema;
  };
  return {
    async store(): Promise<Target> {
      const pool = aPool();
      const store = await openPostgresEventStore({ connectionString: settings.databaseUrl, schema: aSchema(), pool });
      return {
        write: storeWriter(store),
        close: async () => {
          await store.close();
          await pool.end();
        },
      };
    },
    async bare(): Promise<Target> {
      const pool = aPool();
      const name = aSchema();
      const schema = pg.escapeIdentifier(name);
      // The adapter creates the table, so the copy has exactly its columns and constraints.
      await (await openPostgresEventStore({ connectionString: settings.databaseUrl, schema: name, pool })).close();
      // LIKE ... INCLUDING ALL: the same columns, defaults, identity, constraints and indexes; no triggers.
      await pool.query(`CREATE TABLE ${schema}.bare_events (LIKE ${schema}.events INCLUDING ALL)`);
      const columns = 'event_id, stream_id, stream_revision, event_type, data, metadata, recorded_at';
      const single = preparedStatement(
        `INSERT INTO ${schema}.bare_events (${columns}) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      );
      const batch = preparedStatement(
        `INSERT INTO ${schema}.bare_events (${columns})
         SELECT id, $2, $3 + ordinal - 1, type, data::json, metadata::json, recorded_at::timestamptz
         FROM unnest($1::text[], $4::text[], $5::text[], $6::text[], $7::text[])
           WITH ORDINALITY AS e(id, type, data, metadata, recorded_at, ordinal)`,
      );
      return {
        write: async (streamId, events, firstRevision) => {
          const [event] = events as [NewEvent];
          await pool.query(
            events.length === 1
              ? { ...single, values: [event.id, streamId, firstRevision, event.type, JSON.stringify(event.data),
                  JSON.stringify(event.metadata), event.metadata.recordedAt] }
              : { ...batch, values: [events.map((e) => e.id), streamId, firstRevision, events.map((e) => e.type),
                  events.map((e) => JSON.stringify(e.data)), events.map((e) => JSON.stringify(e.metadata)),
                  events.map((e) => e.metadata.recordedAt)] },
          );
        },
        close: () => pool.end(),
      };
    },
  };
};

const postgresReachable = async (databaseUrl: string): Promise<string | undefined> => {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ setting: string }>("SELECT current_setting('synchronous_commit') AS setting");
    return rows[0]!.setting;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => undefined);
  }
};

export async function benchAppends(settings: AppendsSettings): Promise<AppendsReport> {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'crm-bench-appends-'));
  const schemas: string[] = [];
  const samples: Array<AppendsRun & { round: number }> = [];
  const skipped: string[] = [];
  const sqlite = sqliteTargets(directory);
  const postgres = postgresTargets(settings, schemas);
  const synchronousCommit = await postgresReachable(settings.databaseUrl);
  if (synchronousCommit === undefined) skipped.push(`postgres: ${settings.databaseUrl} is unreachable`);
  else if (synchronousCommit !== 'on') skipped.push(`postgres: note synchronous_commit = ${synchronousCommit}`);

  const databases = [
    { database: 'sqlite' as const, targets: sqlite },
    ...(synchronousCommit === undefined ? [] : [{ database: 'postgres' as const, targets: postgres }]),
  ].filter(({ database }) => settings.databases.includes(database));
  try {
    for (const { database, targets } of databases) {
      for (const mode of ['single', 'batch'] as const) {
        for (let round = 1; round <= settings.rounds; round++) {
          // Alternating which goes first cancels a drift in the machine's load between the two.
          const writers = round % 2 === 1 ? (['store', 'bare INSERT'] as const) : (['bare INSERT', 'store'] as const);
          for (const writer of writers) {
            process.stderr.write(`bench appends: ${database} ${mode} ${writer}, round ${round}...\n`);
            const target = await (writer === 'store' ? targets.store() : targets.bare());
            try {
              samples.push({ database, mode, writer, round, ...(await measure(target, mode, settings)) });
            } finally {
              await target.close();
            }
          }
        }
      }
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
    if (schemas.length > 0) {
      const pool = new pg.Pool({ connectionString: settings.databaseUrl, max: 1 });
      for (const schema of schemas) await pool.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
      await pool.end();
    }
  }
  const runs: AppendsRun[] = [];
  for (const { database, mode, writer } of samples.filter((sample) => sample.round === 1)) {
    const alike = samples
      .filter((s) => s.database === database && s.mode === mode && s.writer === writer)
      .sort((a, b) => a.eventsPerSec - b.eventsPerSec);
    const { round: _round, ...median } = alike[Math.floor((alike.length - 1) / 2)]!;
    runs.push(median);
  }
  const ratios: Record<string, number> = {};
  for (const run of runs.filter((r) => r.writer === 'store')) {
    const bare = runs.find((r) => r.writer === 'bare INSERT' && r.database === run.database && r.mode === run.mode);
    if (bare) ratios[`${run.database} ${run.mode}`] = Number((run.eventsPerSec / bare.eventsPerSec).toFixed(3));
  }
  return { runs, ratios, samples, skipped };
}

export function appendsTable(report: AppendsReport): string {
  const header = ['database', 'mode', 'writer', 'events/s', 'appends/s', 'p50 ms', 'p99 ms', 'store/bare'];
  const rows = report.runs.map((run) => [
    run.database,
    run.mode === 'single' ? 'single event' : `batch of ${BATCH_SIZE}`,
    run.writer,
    String(run.eventsPerSec),
    String(run.appendsPerSec),
    run.latencyP50Ms.toFixed(2),
    run.latencyP99Ms.toFixed(2),
    run.writer === 'store' ? (report.ratios[`${run.database} ${run.mode}`]?.toFixed(3) ?? '') : '',
  ]);
  const cells = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  return cells
    .map((row) => row.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '))
    .join('\n');
}

export function appendsSettingsFromEnv(): AppendsSettings {
  const number = (name: string, fallback: number, min: number) => {
    const raw = process.env[name];
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isFinite(value) || value < min) throw new Error(`${name} must be a number >= ${min}`);
    return value;
  };
  return {
    writers: number('BENCH_CONNECTIONS', 50, 1),
    durationSec: number('BENCH_DURATION', 5, 1),
    warmupSec: number('BENCH_WARMUP', 2, 0),
    rounds: number('BENCH_APPENDS_ROUNDS', 3, 1),
    postgresPoolSize: number('BENCH_PG_POOL', 10, 1),
    databaseUrl: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    databases: (process.env.BENCH_APPENDS_DATABASES ?? 'sqlite,postgres').split(',').map((name) => {
      if (name !== 'sqlite' && name !== 'postgres') throw new Error('BENCH_APPENDS_DATABASES lists sqlite and/or postgres');
      return name;
    }),
  };
}

/** Prints the table and writes bench/results/appends.json. */
export async function runAppendsBench(settings = appendsSettingsFromEnv()): Promise<AppendsReport> {
  const report = await benchAppends(settings);
  console.log(`\n${appendsTable(report)}\n`);
  for (const line of report.skipped) console.log(line);
  const file = path.join(__dirname, 'results', 'appends.json');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        at: new Date().toISOString(),
        machine: { node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model, loadavg: os.loadavg() },
        settings: { ...settings, batchSize: BATCH_SIZE, streams: 'one stream per writer, exact expected revision' },
        ...report,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`written to ${path.relative(process.cwd(), file)}`);
  return report;
}

if (require.main === module) {
  runAppendsBench().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
