/**
 * `npm run bench:ordered-ids`: what time-ordered ids (src/core/ids.ts) save a bulk load of the
 * event log, against random ones, on SQLite and PostgreSQL.
 *
 * Each run appends BENCH_ORDERED_EVENTS (400,000) events shaped like the seed's (300 bytes of
 * data, 260 of metadata) through the store's bulk path, as `npm run seed` does: SQLite in its
 * batches (10,000 events) on a new file with synchronous=NORMAL, PostgreSQL in the seed's batches
 * of 4,000 on a new schema. Streams overlap as leads do: BENCH_ORDERED_ACTIVE_STREAMS (10,000)
 * streams at a time take 5 events each, interleaved, then the next ones start. One way gives
 * streams and events random UUIDs (version 4, as every id was before); the other gives each an
 * id that begins with its simulated time (a stream's start, an event's own), as the seed and the
 * API do now. Both write the same events otherwise. The two ways alternate BENCH_ORDERED_ROUNDS
 * (3) times and the medians are compared: same machine, same run.
 *
 * Env also: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test; PostgreSQL is
 * skipped when unreachable), BENCH_ORDERED_STORES (default sqlite,postgres).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { NO_STREAM, type EventStore, type NewEvent, type StreamAppend } from '../src/core/eventStore';
import { orderedId } from '../src/core/ids';
import { openPostgresEventStore } from '../src/eventStores/postgres';
import { openSqliteEventStore } from '../src/eventStores/sqlite';
import { DEFAULT_BULK_BATCH_EVENTS } from '../src/seeding/bulkWriter';
import { envNumber, median } from './harness';
import { seedShapedEvent } from './seedShapedEvent';

const events = envNumber('BENCH_ORDERED_EVENTS', 400_000, 1);
const rounds = envNumber('BENCH_ORDERED_ROUNDS', 3, 1);
const activeStreams = envNumber('BENCH_ORDERED_ACTIVE_STREAMS', 10_000, 1);
const databaseUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const stores = (process.env.BENCH_ORDERED_STORES ?? 'sqlite,postgres').split(',');
const EVENTS_PER_STREAM = 5;
const START = Date.UTC(2025, 0, 6);
/** Simulated time between two events: a million events over about a year, as the seed's. */
const EVENT_EVERY_MS = 30_000;

type Way = 'random' | 'ordered';

const anEvent = (id: string, streamId: string, at: number): NewEvent =>
  seedShapedEvent({ id, leadId: streamId.slice('lead-'.length), at });

/**
 * The batches of one run, each entry one event. Event n is at START + n * EVENT_EVERY_MS; its
 * stream is one of the `activeStreams` started in its block, and that stream's revision is how
 * many times the block went round them before it.
 */
const batchesOf = (way: Way, batchEvents: number): StreamAppend[][] => {
  const batches: StreamAppend[][] = [];
  const streamIds: string[] = [];
  const block = activeStreams * EVENTS_PER_STREAM;
  let batch: StreamAppend[] = [];
  for (let n = 0; n < events; n++) {
    const at = START + n * EVENT_EVERY_MS;
    const stream = Math.floor(n / block) * activeStreams + (n % activeStreams);
    const revision = Math.floor((n % block) / activeStreams);
    if (revision === 0) streamIds[stream] = `lead-${way === 'ordered' ? orderedId(at, 'stream', stream) : randomUUID()}`;
    const streamId = streamIds[stream]!;
    const id = way === 'ordered' ? orderedId(at, 'event', n) : randomUUID();
    batch.push({ streamId, events: [anEvent(id, streamId, at)], expectedRevision: revision === 0 ? NO_STREAM : revision - 1 });
    if (batch.length === batchEvents) {
      batches.push(batch);
      batch = [];
    }
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
};

/** A store for one run, and what to do once it is measured. */
interface Opened {
  store: EventStore;
  batchEvents: number;
  dispose(): Promise<void>;
}

const openSqlite = async (): Promise<Opened> => {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'crm-bench-ordered-'));
  const store = openSqliteEventStore({ filename: path.join(directory, 'events.sqlite'), synchronous: 'NORMAL' });
  const endBulkLoad = store.bulkLoad.begin();
  return {
    store,
    batchEvents: store.bulkLoad.batchEvents,
    async dispose() {
      endBulkLoad();
      await store.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
};

const openPostgres = async (): Promise<Opened> => {
  const schema = `bench_ordered_${randomUUID().slice(0, 8)}`;
  const store = await openPostgresEventStore({ connectionString: databaseUrl, schema });
  return {
    store,
    batchEvents: DEFAULT_BULK_BATCH_EVENTS,
    async dispose() {
      await store.close();
      const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
      await pool.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
      await pool.end();
    },
  };
};

/** Microseconds per event of one run: every batch appended, one after the other, as the seed does. */
const run = async (open: () => Promise<Opened>, way: Way): Promise<number> => {
  const opened = await open();
  try {
    const batches = batchesOf(way, opened.batchEvents);
    const started = performance.now();
    for (const batch of batches) await opened.store.appendToStreams(batch);
    return ((performance.now() - started) * 1000) / events;
  } finally {
    await opened.dispose();
  }
};

const reachable = async (): Promise<boolean> => {
  const client = new pg.Client({ connectionString: databaseUrl });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
};

const main = async () => {
  const lines: string[] = [];
  for (const name of stores) {
    if (name !== 'sqlite' && name !== 'postgres') throw new Error(`BENCH_ORDERED_STORES lists sqlite or postgres, not ${name}`);
    if (name === 'postgres' && !(await reachable())) {
      lines.push(`  postgres: skipped, ${databaseUrl} is unreachable`);
      continue;
    }
    const open = name === 'sqlite' ? openSqlite : openPostgres;
    const results: Record<Way, number[]> = { random: [], ordered: [] };
    for (let round = 1; round <= rounds; round++) {
      for (const way of ['random', 'ordered'] as const) {
        const usPerEvent = await run(open, way);
        results[way].push(usPerEvent);
        process.stderr.write(`${name}, round ${round}: ${way} ids ${usPerEvent.toFixed(1)} us/event\n`);
      }
    }
    const random = median(results.random);
    const ordered = median(results.ordered);
    lines.push(
      `  ${name.padEnd(8)} random ids ${random.toFixed(1).padStart(6)} us/event (${Math.round(1e6 / random)}/s), ` +
        `time-ordered ${ordered.toFixed(1).padStart(6)} us/event (${Math.round(1e6 / ordered)}/s): ${(random / ordered).toFixed(2)}x the events a second`,
    );
  }
  console.log(
    `Bulk appends of ${events} events, ${activeStreams} streams at a time, random ids against time-ordered ids, medians of ${rounds} rounds:`,
  );
  for (const line of lines) console.log(line);
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
