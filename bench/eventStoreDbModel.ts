/**
 * npx tsx bench/eventStoreDbModel.ts
 *
 * Events per second through the EventStoreDB adapter and the real `@eventstore/db-client`, on
 * the protocol model of test/support/eventStoreDbModel.ts in this process. These figures measure
 * the client and the adapter (its read before and after each append, gRPC, protobuf), NOT an
 * EventStoreDB server: the model keeps everything in memory and writes nothing to disk.
 * - append single: BENCH_CONNECTIONS (10) writers, each appending one event at a time to a stream
 *   of its own with the exact expected revision, as a command handler does;
 * - append batched: the same writers, 100 events per append;
 * - read stream: whole 100-event streams read back; read all: `$all` paged 500 at a time.
 * Each for the batch append the client prefers and the plain append of servers that do not
 * advertise it. Env: BENCH_DURATION (seconds per run, default 3).
 */
import { randomUUID } from 'node:crypto';
import { NO_STREAM, type EventStore, type NewEvent } from '../src/core/eventStore';
import { openEventStoreDbEventStore } from '../src/eventStores/eventStoreDb';
import { startEventStoreDbModel } from '../test/support/eventStoreDbModel';

const DURATION_MS = Number(process.env.BENCH_DURATION ?? 3) * 1000;
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);

const anEvent = (index: number): NewEvent => ({
  id: randomUUID(),
  type: 'LeadContactLogged',
  data: { index, channel: 'CALL', outcome: 'REACHED', notes: 'Called back about the quote' },
  metadata: {
    actor: 'bench',
    recordedAt: new Date().toISOString(),
    occurredAt: new Date().toISOString(),
    correlationId: randomUUID(),
    causationId: randomUUID(),
    schemaVersion: 1,
  },
});

const appendLoop = async (store: EventStore, perAppend: number) => {
  const deadline = Date.now() + DURATION_MS;
  let events = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      const streamId = `bench-${randomUUID()}`;
      let revision: number | typeof NO_STREAM = NO_STREAM;
      while (Date.now() < deadline) {
        const batch = Array.from({ length: perAppend }, (_, index) => anEvent(index));
        revision = (await store.appendToStream(streamId, batch, { expectedRevision: revision })).nextExpectedRevision;
        events += perAppend;
      }
    }),
  );
  return events / ((performance.now() - started) / 1000);
};

const readLoops = async (store: EventStore) => {
  const streams: string[] = [];
  for (let index = 0; index < 20; index++) {
    const streamId = `read-${randomUUID()}`;
    await store.appendToStream(streamId, Array.from({ length: 100 }, (_, i) => anEvent(i)), { expectedRevision: NO_STREAM });
    streams.push(streamId);
  }
  let deadline = Date.now() + DURATION_MS;
  let started = performance.now();
  let read = 0;
  for (let index = 0; Date.now() < deadline; index++) read += (await store.readStream(streams[index % streams.length]!)).length;
  const stream = read / ((performance.now() - started) / 1000);
  deadline = Date.now() + DURATION_MS;
  started = performance.now();
  read = 0;
  while (Date.now() < deadline) {
    let position: string | undefined;
    for (;;) {
      const page = await store.readAll({ fromPosition: position, maxCount: 500 });
      read += page.length;
      if (page.length < 500 || Date.now() >= deadline) break;
      position = page.at(-1)!.position;
    }
  }
  return { stream, all: read / ((performance.now() - started) / 1000) };
};

const main = async () => {
  const rows: Record<string, string | number>[] = [];
  for (const advertiseBatchAppend of [true, false]) {
    const model = await startEventStoreDbModel({ advertiseBatchAppend });
    const store = openEventStoreDbEventStore({ connectionString: model.url });
    try {
      const path = advertiseBatchAppend ? 'BatchAppend' : 'Append';
      rows.push({ path, measure: 'append single (events/s)', value: Math.round(await appendLoop(store, 1)) });
      rows.push({ path, measure: 'append batched x100 (events/s)', value: Math.round(await appendLoop(store, 100)) });
      const reads = await readLoops(store);
      rows.push({ path, measure: 'read stream (events/s)', value: Math.round(reads.stream) });
      rows.push({ path, measure: 'read $all (events/s)', value: Math.round(reads.all) });
    } finally {
      await store.close();
      await model.close();
    }
  }
  console.log('EventStoreDB adapter + client on the protocol model (not the server), in one process');
  console.table(rows);
};

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
