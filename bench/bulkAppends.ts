/**
 * `npm run bench:bulk-appends`: what a seed's batch costs the SQLite event store, alone in its
 * group commit (as the seed's bulk path always is: it sends the next batch once the last is
 * stored) and sharing it with another append (each call then runs in a savepoint of its own).
 *
 * Each run appends BENCH_BULK_EVENTS (200,000) events, about 5 to a stream and shaped like the
 * seed's (300 bytes of data, 260 of metadata), in batches of the store's bulk size (10,000) with
 * the store tuned for a bulk load, as `npm run seed` does, into a new file with
 * synchronous=NORMAL. The two ways alternate BENCH_BULK_ROUNDS (3) times, and the medians are
 * compared: same machine, same run.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NO_STREAM, type NewEvent, type StreamAppend } from '../src/core/eventStore';
import { openSqliteEventStore } from '../src/eventStores/sqlite';
import { envNumber, median } from './harness';
import { seedShapedEvent } from './seedShapedEvent';

const events = envNumber('BENCH_BULK_EVENTS', 200_000, 1);
const rounds = envNumber('BENCH_BULK_ROUNDS', 3, 1);
const EVENTS_PER_STREAM = 5;

const anEvent = (n: number): NewEvent =>
  seedShapedEvent({ id: randomUUID(), leadId: randomUUID(), at: Date.UTC(2025, 0, 6) + n * 60_000 });

/** The batches of one run: each entry one event, on streams of EVENTS_PER_STREAM events. */
const batchesOf = (batchEvents: number): StreamAppend[][] => {
  const batches: StreamAppend[][] = [];
  const streams = Array.from({ length: Math.ceil(events / EVENTS_PER_STREAM) }, () => `lead-${randomUUID()}`);
  let batch: StreamAppend[] = [];
  // Streams interleaved, as the seed's stories are: each event goes to the next stream in turn.
  for (let n = 0; n < events; n++) {
    const stream = n % streams.length;
    const revision = Math.floor(n / streams.length);
    batch.push({ streamId: streams[stream]!, events: [anEvent(n)], expectedRevision: revision === 0 ? NO_STREAM : revision - 1 });
    if (batch.length === batchEvents) {
      batches.push(batch);
      batch = [];
    }
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
};

type Way = 'alone' | 'shared';

/** Microseconds per event of one run: every batch appended, alone or beside a one-event append. */
const run = async (way: Way): Promise<number> => {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'crm-bench-bulk-'));
  const store = openSqliteEventStore({ filename: path.join(directory, 'events.sqlite'), synchronous: 'NORMAL' });
  const endBulkLoad = store.bulkLoad.begin();
  try {
    const batches = batchesOf(store.bulkLoad.batchEvents);
    const started = performance.now();
    for (const batch of batches) {
      const appended = store.appendToStreams(batch);
      // Requested in the same turn, it shares the batch's group commit.
      if (way === 'shared') await store.appendToStream(`beside-${randomUUID()}`, [anEvent(0)], { expectedRevision: NO_STREAM });
      await appended;
    }
    return ((performance.now() - started) * 1000) / events;
  } finally {
    endBulkLoad();
    await store.close();
    rmSync(directory, { recursive: true, force: true });
  }
};

const main = async () => {
  const results: Record<Way, number[]> = { alone: [], shared: [] };
  for (let round = 1; round <= rounds; round++) {
    for (const way of ['shared', 'alone'] as const) {
      const usPerEvent = await run(way);
      results[way].push(usPerEvent);
      process.stderr.write(`round ${round}: ${way} ${usPerEvent.toFixed(1)} us/event\n`);
    }
  }
  const alone = median(results.alone);
  const shared = median(results.shared);
  console.log(`SQLite bulk appends, ${events} events in batches of the store's bulk size, medians of ${rounds} rounds:`);
  console.log(`  a batch alone in its commit (no savepoint):      ${alone.toFixed(1)} us/event, ${Math.round(1e6 / alone)} events/s`);
  console.log(`  a batch sharing its commit (in a savepoint):     ${shared.toFixed(1)} us/event, ${Math.round(1e6 / shared)} events/s`);
  console.log(`  alone / shared, events per second:               ${(shared / alone).toFixed(2)}x`);
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
