/**
 * What sealing personal data costs one event, apart from everything else: the same captures
 * appended to an in-memory store bare and through the sealing decorator, then read back (as a
 * projection reads them right after the write, and as a rebuild reads them cold). Prints µs per
 * event for each path and the difference.
 *
 *   npx tsx bench/sealing.ts [events, default 20000] [rounds, default 5]
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { openSqliteDatabase } from '../projections/sqlDatabase';
import { NO_STREAM, type EventStore, type NewEvent } from '../src/core/eventStore';
import { createInMemoryEventStore } from '../src/eventStores/inMemory';
import { newDataKey } from '../src/personalData/cipher';
import { KeyStore } from '../src/personalData/keyStore';
import { protectEventStore } from '../src/personalData/protectedEventStore';
import { median } from './harness';

const count = Number(process.argv[2] ?? 20_000);
const rounds = Number(process.argv[3] ?? 5);

const capture = (index: number): NewEvent => {
  const leadId = randomUUID();
  return {
    id: randomUUID(),
    type: 'LeadCaptured',
    data: {
      leadId,
      source: 'WEB_FORM',
      person: { firstName: 'Marta', lastName: `Roca ${index}`, email: `marta.roca${index}@mail.example`, phone: '+34 600 000 000', jobTitle: 'CFO' },
      company: { name: `Roca ${index} SL`, industry: 'Energy' },
      interest: { product: 'Solar', notes: `called at 9, wants a quote ${index}` },
      ownerId: 'marta',
    },
    metadata: {
      actor: 'marta',
      recordedAt: '2026-03-01T10:00:00.000Z',
      occurredAt: '2026-03-01T10:00:00.000Z',
      correlationId: leadId,
      causationId: leadId,
      schemaVersion: 1,
    },
  };
};

const appendAll = async (store: EventStore, events: readonly NewEvent[]): Promise<number> => {
  const start = performance.now();
  for (const event of events) await store.appendToStream(`lead-${(event.data as { leadId: string }).leadId}`, [event], { expectedRevision: NO_STREAM });
  return ((performance.now() - start) * 1000) / events.length;
};
const readAllBack = async (store: EventStore): Promise<number> => {
  const start = performance.now();
  const read = await store.readAll();
  return ((performance.now() - start) * 1000) / read.length;
};

const main = async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealing-bench-'));
  const keys = await KeyStore.open(openSqliteDatabase(path.join(dir, 'keys.sqlite'), { synchronous: 'FULL' }), newDataKey());
  const figures = { bareWrite: [] as number[], sealedWrite: [] as number[], bareRead: [] as number[], warmRead: [] as number[], coldRead: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    const events = Array.from({ length: count }, (_, index) => capture(index));
    const bare = createInMemoryEventStore();
    figures.bareWrite.push(await appendAll(bare, events));
    figures.bareRead.push(await readAllBack(bare));
    const inner = createInMemoryEventStore();
    const sealed = protectEventStore(inner, keys);
    figures.sealedWrite.push(await appendAll(sealed, events));
    // Warm: the decorator still remembers what it sealed last (a projection reading a write back).
    figures.warmRead.push(await readAllBack(sealed));
    // Cold: a new decorator over the same log, as a rebuild after a restart reads it.
    figures.coldRead.push(await readAllBack(protectEventStore(inner, keys)));
  }
  const m = Object.fromEntries(Object.entries(figures).map(([name, values]) => [name, median(values)])) as Record<keyof typeof figures, number>;
  const µs = (value: number) => `${value.toFixed(2)} µs`;
  console.log(`sealing, ${count} captures x ${rounds} rounds (medians, µs per event):`);
  console.log(`  append     bare ${µs(m.bareWrite)}, sealed ${µs(m.sealedWrite)}: sealing adds ${µs(m.sealedWrite - m.bareWrite)}`);
  console.log(`  read warm  bare ${µs(m.bareRead)}, sealed ${µs(m.warmRead)}: adds ${µs(m.warmRead - m.bareRead)} (events this process sealed)`);
  console.log(`  read cold  bare ${µs(m.bareRead)}, sealed ${µs(m.coldRead)}: adds ${µs(m.coldRead - m.bareRead)} (decrypting, as a rebuild)`);
  await keys.db.close();
  fs.rmSync(dir, { recursive: true, force: true });
};

void main();
