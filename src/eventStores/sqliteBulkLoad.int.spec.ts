/**
 * The SQLite store's tuning for a bulk load (the seed's): a bigger page cache while it lasts and
 * the batch size it takes best. Appends and reads are the same during and after it, and ending it
 * is safe at any time (twice, or after the store is closed: the seed's `finally`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { NO_STREAM, type StreamAppend } from '../core/eventStore';
import { newId } from '../core/ids';
import { openSqliteEventStore } from './sqlite';
import { UNGUARDED_BULK_FROM_EVENTS } from './sqliteAppends';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

const aLoad = (streams: number, eventsEach: number): StreamAppend[] =>
  Array.from({ length: streams }, (_, stream) => ({
    streamId: `lead-${stream}`,
    expectedRevision: NO_STREAM,
    events: Array.from({ length: eventsEach }, (__, n) => ({
      id: newId(),
      type: 'LeadNoted',
      data: { n },
      metadata: { actor: 'seed', recordedAt: '2025-01-01T00:00:00.000Z', occurredAt: '2025-01-01T00:00:00.000Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 },
    })),
  }));

describe('the SQLite store in a bulk load', () => {
  it('appends in its batches while tuned, keeps every event after, and ends safely twice and after close', async () => {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-bulk-load-'));
    directories.push(directory);
    const filename = path.join(directory, 'events.sqlite');
    const store = openSqliteEventStore({ filename });
    expect(store.bulkLoad.batchEvents).toBeGreaterThanOrEqual(10_000);
    const end = store.bulkLoad.begin();
    const results = await store.appendToStreams(aLoad(50, 20));
    expect(results).toHaveLength(50);
    end();
    end();
    // After the load, the store goes on as before: a conflicting append is refused, a new one taken.
    await expect(store.appendToStreams(aLoad(1, 1))).rejects.toThrow(/lead-0/);
    await store.appendToStream('lead-0', aLoad(1, 1)[0]!.events, { expectedRevision: 19 });
    expect(await store.readStream('lead-0')).toHaveLength(21);
    const again = store.bulkLoad.begin();
    await store.close();
    expect(() => again()).not.toThrow();
    // Durable as any append: another connection reads every event back.
    const raw = new Database(filename, { readonly: true });
    expect(raw.prepare('SELECT COUNT(*) AS n FROM events').get()).toEqual({ n: 1001 });
    raw.close();
  });

  it('writes a big batch without the trigger that refuses a replacing insert, which every connection finds again once it commits or fails', async () => {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-bulk-load-'));
    directories.push(directory);
    const filename = path.join(directory, 'events.sqlite');
    const store = openSqliteEventStore({ filename });
    const raw = new Database(filename);
    const guarded = () => raw.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'trigger' AND name = 'events_are_never_replaced'").get();
    const replaceAnEvent = () =>
      raw.prepare("INSERT OR REPLACE INTO events SELECT global_position, event_id, stream_id, stream_revision, event_type, '{}', metadata, recorded_at FROM events LIMIT 1").run();
    try {
      const streams = Math.ceil(UNGUARDED_BULK_FROM_EVENTS / 10);
      const end = store.bulkLoad.begin();
      await store.appendToStreams(aLoad(streams, 10));
      // A big batch whose last event reuses a stored id: refused whole, nothing of it kept.
      const load = aLoad(streams, 10).map((append) => ({ ...append, streamId: `${append.streamId}-again` }));
      load.at(-1)!.events.at(-1)!.id = (await store.readStream('lead-0'))[0]!.id;
      await expect(store.appendToStreams(load)).rejects.toThrow();
      end();
      expect(raw.prepare('SELECT COUNT(*) AS n FROM events').get()).toEqual({ n: streams * 10 });
      // After both, the trigger is in the schema and refuses what it refused before.
      expect(guarded()).toEqual({ n: 1 });
      expect(replaceAnEvent).toThrow(/events are immutable: an insert may not replace one/);
    } finally {
      raw.close();
      await store.close();
    }
  });
});
