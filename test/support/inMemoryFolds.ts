/**
 * For the tests of the projections that fold in memory in a bulk rebuild (`foldInMemory`): the
 * same events applied to two fresh SQLite databases, one through `apply` event by event, the other
 * through the fold, so that a test compares what each left.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { InMemoryFold, Projection } from '../../projections/projection';
import { openSqliteDatabase, type SqlDatabase } from '../../projections/sqlDatabase';
import { openApplication } from '../../src/composition/application';
import { loadConfig } from '../../src/composition/config';
import type { RecordedEvent } from '../../src/core/eventStore';
import { generateCrmHistory } from '../../src/seeding/generator';
import { temporaryDirectory } from './leadEvents';

/** The events of a seeded history (`npm run seed`'s generator) that the projection handles. */
export const generatedEventsFor = async (projection: Projection, options: { leads: number; seed: number }): Promise<RecordedEvent[]> => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-fold-history-'));
  const app = await openApplication(loadConfig({ CRM_JWT_SECRET: 'fold-test-secret-long-enough-for-hs256' }, { dataDir }));
  try {
    await generateCrmHistory(app, options);
    return (await app.store.readAll()).filter((event) => projection.canHandle.includes(event.type));
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
};

/**
 * Applies `events` through `projection.apply` into one database and through `fold` into another
 * (flushed after every `flushEvery` events, as after a page, and at the end), both in a temporary
 * directory, and hands both to `compare`; removes them afterwards.
 */
export const applyAndFold = async (
  projection: Projection,
  fold: InMemoryFold,
  events: readonly RecordedEvent[],
  flushEvery: number,
  compare: (applied: SqlDatabase, folded: SqlDatabase) => Promise<void>,
): Promise<void> => {
  const directory = temporaryDirectory();
  const applied = openSqliteDatabase(directory.file('applied.db'));
  const folded = openSqliteDatabase(directory.file('folded.db'));
  try {
    await projection.setup(applied);
    await applied.transaction(async (tx) => {
      for (const event of events) await projection.apply(tx, event);
    });
    await projection.setup(folded);
    await folded.transaction(async (tx) => {
      for (const [index, event] of events.entries()) {
        await fold.apply(tx, event);
        if (index % flushEvery === flushEvery - 1) await fold.flush(tx, false);
      }
      await fold.flush(tx, true);
    });
    await compare(applied, folded);
  } finally {
    await applied.close();
    await folded.close();
    directory.remove();
  }
};

/**
 * A projection's `applyBatch` as a fold, for `applyAndFold`: the events between two flushes go in
 * as one batch, as the runner gives them.
 */
export const batchesOf = (projection: Projection): InMemoryFold => {
  let pending: RecordedEvent[] = [];
  return {
    apply: async (_tx, event) => void pending.push(event),
    flush: async (tx) => {
      const batch = pending;
      pending = [];
      if (batch.length > 0) await projection.applyBatch!(tx, batch);
    },
  };
};

/**
 * Every row of a table as JSON text (integers past 2^53, which come back as bigint, written
 * `123n`), sorted: rows compare by their values alone, whatever order the two databases keep.
 */
export const rowsAsText = async (db: SqlDatabase, table: string): Promise<string[]> =>
  (await db.all(`SELECT * FROM ${table}`)).map((row) => JSON.stringify(row, (_key, value: unknown) => (typeof value === 'bigint' ? `${value}n` : value))).sort();
