/**
 * Opening the SQLite store on a file another connection is writing to. A thread that waits in
 * SQLite's busy handler waits asleep: if the connection holding the write lock needs that thread
 * to finish its transaction (the projections' thread of an API in the same process does), both
 * wait until the busy timeout, and the open fails with "database is locked".
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { NO_STREAM } from '../core/eventStore';
import { openSqliteEventStore } from './sqlite';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

const aFile = (): string => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-sqlite-open-'));
  directories.push(directory);
  return path.join(directory, 'events.sqlite');
};

const LEAD_NOTED = {
  type: 'LeadNoted',
  data: { n: 1 },
  metadata: { actor: 'a', recordedAt: '2025-01-01T00:00:00.000Z', occurredAt: '2025-01-01T00:00:00.000Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 },
};

describe('opening the SQLite store', () => {
  it('on a file whose write lock another connection holds, reads at once without waiting for the lock', async () => {
    const filename = aFile();
    const first = openSqliteEventStore({ filename });
    await first.appendToStream('lead-1', [{ id: 'e-1', ...LEAD_NOTED }], { expectedRevision: NO_STREAM });
    const writer = new Database(filename);
    writer.exec('BEGIN IMMEDIATE');
    try {
      const started = performance.now();
      const second = openSqliteEventStore({ filename });
      try {
        expect((await second.readStream('lead-1')).map((event) => event.id)).toEqual(['e-1']);
      } finally {
        await second.close();
      }
      // The busy timeout is 5 s: an open that waited for the lock would take that long, then fail.
      expect(performance.now() - started).toBeLessThan(1_000);
    } finally {
      writer.exec('ROLLBACK');
      writer.close();
      await first.close();
    }
  });

  it('makes again a trigger that keeps the log append-only if the file lost it', async () => {
    const filename = aFile();
    await openSqliteEventStore({ filename }).close();
    const raw = new Database(filename);
    raw.exec('DROP TRIGGER events_are_never_deleted');
    raw.close();

    const store = openSqliteEventStore({ filename });
    try {
      await store.appendToStream('lead-1', [{ id: 'e-1', ...LEAD_NOTED }], { expectedRevision: NO_STREAM });
      const again = new Database(filename);
      try {
        expect(() => again.exec('DELETE FROM events')).toThrow(/events are immutable: DELETE refused/);
      } finally {
        again.close();
      }
    } finally {
      await store.close();
    }
  });
});
