/**
 * In a bulk rebuild the leads fold in memory and are written when they leave it (see
 * `foldLeadsInMemory`). With room for only two leads, so that leads are written out and read
 * back again and again, the rows must be those `apply` writes event by event, erasures included.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { NO_STREAM } from '../../src/core/eventStore';
import { newId } from '../../src/core/ids';
import { personalDataStreamId } from '../../src/domain/personalData';
import { DEFAULT_SCORING_RULES } from '../../src/domain/scoring/rules';
import { rescoreLead } from '../../src/useCases/rescoreLead';
import { openSqliteEventStore } from '../../src/eventStores/sqlite';
import { appendAll, generateLeadHistory, temporaryDirectory } from '../../test/support/leadEvents';
import { applyAndFold, batchesOf } from '../../test/support/inMemoryFolds';
import { countedReads } from '../../test/support/countedReads';
import type { RecordedEvent } from '../../src/core/eventStore';
import { TEST_DATABASE_URL, aSchemaName, dropSchemas } from '../../test/support/postgres';
import { openPostgresDatabase } from '../postgresDatabase';
import { openSqliteDatabase, UnexpectedChangesError, type SqlDatabase } from '../sqlDatabase';
import { foldLeadsInMemory, leadsProjection } from './leadsProjection';

const directories: Array<ReturnType<typeof temporaryDirectory>> = [];
afterEach(() => {
  for (const directory of directories.splice(0)) directory.remove();
});

const readLeads = (db: SqlDatabase) => db.all('SELECT * FROM read_leads ORDER BY id');

/** A history of nine leads with two rounds of automatic scores and an erasure among their events. */
const scoredAndErasedHistory = async () => {
  const directory = temporaryDirectory();
  directories.push(directory);
  const store = openSqliteEventStore({ filename: directory.file('events.db') });
  const history = generateLeadHistory({ seed: 31, leadCount: 9, eventCount: 90 });
  const leadIds = [...new Set(history.map(({ event }) => event.data.leadId))];
  // Automatic scores (on the leads' score streams) among the leads' events, as the lead scorer writes them.
  const scoreAll = (round: number) =>
    Promise.all(
      leadIds.map((leadId) =>
        rescoreLead(store, { leadId, reason: 'ALL_OPEN_LEADS', rules: DEFAULT_SCORING_RULES, causationId: `round-${round}`, actor: 'lead-scorer', correlationId: 'c', now: new Date() }),
      ),
    );
  await appendAll(store, history.slice(0, 30));
  await scoreAll(1);
  await appendAll(store, history.slice(30, 60));
  await store.appendToStream(
    personalDataStreamId(leadIds[0]!),
    [
      {
        id: newId(),
        type: 'PersonalDataErased',
        data: { subjectId: leadIds[0]!, leadIds: leadIds.slice(0, 3), contactIds: [], keyIds: [], origin: 'REQUEST', reason: 'asked' },
        metadata: { actor: 'dpo', recordedAt: '2026-01-01T00:00:00.000Z', occurredAt: '2026-01-01T00:00:00.000Z', correlationId: 'e', causationId: 'e', schemaVersion: 1 },
      },
    ],
    { expectedRevision: NO_STREAM },
  );
  await appendAll(store, history.slice(60));
  await scoreAll(2);
  const events = (await store.readAll()).filter((event) => leadsProjection.canHandle.includes(event.type));
  await store.close();
  return { events, leadIds };
};

it('writes, with room for two leads, the rows apply writes event by event, erasures and automatic scores included', async () => {
  const { events, leadIds } = await scoredAndErasedHistory();

  await applyAndFold(leadsProjection, foldLeadsInMemory(2), events, 5, async (applied, folded) => {
    const rows = await readLeads(applied);
    expect(rows).toHaveLength(leadIds.length);
    expect(rows.filter((row) => (row as { personal_data_erased: number }).personal_data_erased === 1)).toHaveLength(3);
    expect(events.filter((event) => event.type === 'LeadRescored').length).toBeGreaterThan(leadIds.length / 2);
    expect(await readLeads(folded)).toEqual(rows);
  });
});

it('writes, a batch at a time, the rows apply writes event by event, whatever the batches', async () => {
  const { events } = await scoredAndErasedHistory();
  for (const size of [2, 5, 13, events.length]) {
    await applyAndFold(leadsProjection, batchesOf(leadsProjection), events, size, async (applied, batched) => {
      expect(await readLeads(batched)).toEqual(await readLeads(applied));
    });
  }
});

it('reads and writes a batch of more leads than one statement takes, and takes an event it already holds once', async () => {
  const history = generateLeadHistory({ seed: 35, leadCount: 150, eventCount: 1000 });
  expect(new Set(history.map(({ event }) => event.data.leadId)).size).toBeGreaterThan(64);
  const directory = temporaryDirectory();
  directories.push(directory);
  const store = openSqliteEventStore({ filename: directory.file('events.db') });
  await appendAll(store, history);
  const events = (await store.readAll()).filter((event) => leadsProjection.canHandle.includes(event.type));
  await store.close();
  // All at once: more than 64 new leads (two reads). By halves: a second batch of more than 64
  // leads read back. By 41 (32 + 8 + 1): chunks of three sizes written.
  const leadOf = (event: RecordedEvent) => (event.data as { leadId: string }).leadId;
  const half = Math.ceil(events.length / 2);
  const seenFirst = new Set(events.slice(0, half).map(leadOf));
  expect(new Set(events.slice(half).map(leadOf).filter((id) => seenFirst.has(id))).size).toBeGreaterThan(64);
  for (const size of [events.length, half, 41]) {
    // Each batch also holds the batch before it again, as after a crash between commit and checkpoint.
    await applyAndFold(leadsProjection, batchesOf(leadsProjection), events, size, async (applied, batched) => {
      const rows = await readLeads(applied);
      expect(rows).toHaveLength(new Set(history.map(({ event }) => event.data.leadId)).size);
      expect(await readLeads(batched)).toEqual(rows);
    });
  }
  await applyAndFold(leadsProjection, batchesOf(leadsProjection), [...events.slice(0, 60), ...events.slice(30, 90), ...events.slice(90)], 60, async (_applied, batched) => {
    const once = openSqliteDatabase(directory.file('once.db'));
    try {
      await leadsProjection.setup(once);
      await once.transaction(async (tx) => {
        for (const event of events) await leadsProjection.apply(tx, event);
      });
      expect(await readLeads(batched)).toEqual(await readLeads(once));
    } finally {
      await once.close();
    }
  });
});

/** The PostgreSQL schemas the batch tests made, dropped after them. */
const schemas: string[] = [];
afterAll(() => dropSchemas(...schemas));
/** A read database on `dialect`: SQLite in memory, or a PostgreSQL schema of its own. */
const openOn = async (dialect: 'sqlite' | 'postgres'): Promise<SqlDatabase> => {
  if (dialect === 'sqlite') return openSqliteDatabase(':memory:');
  const schema = aSchemaName('leads_batches');
  schemas.push(schema);
  return openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema });
};

describe('the automatic scores of leads a batch has no other event of', () => {

  for (const dialect of ['sqlite', 'postgres'] as const) {
    it(`are written to their rows' score columns alone, as apply writes them, on ${dialect}`, async () => {
      const { events } = await scoredAndErasedHistory();
      // The scores apart: batches of nothing but scores, of leads whose rows are there already.
      const scores = events.filter((event) => event.type === 'LeadRescored');
      const ordered = [...events.filter((event) => event.type !== 'LeadRescored'), ...scores];
      await applyAndFold(leadsProjection, batchesOf(leadsProjection), ordered, ordered.length, async (applied) => {
        const db = await openOn(dialect);
        try {
          await leadsProjection.setup(db);
          const facts = ordered.length - scores.length;
          await db.transaction((tx) => leadsProjection.applyBatch!(tx, ordered.slice(0, facts)));
          for (let start = facts; start < ordered.length; start += 7) {
            await db.transaction((tx) => leadsProjection.applyBatch!(tx, ordered.slice(start, start + 7)));
          }
          expect(await readLeads(db)).toEqual(await readLeads(applied));
        } finally {
          await db.close();
        }
      });
    });

    it(`fail the batch with a score of a lead never captured, writing nothing; event by event, the first such score fails, on ${dialect}`, async () => {
      const { events } = await scoredAndErasedHistory();
      const db = await openOn(dialect);
      try {
        await leadsProjection.setup(db);
        const captured = events.filter((event) => event.type !== 'LeadRescored');
        await db.transaction((tx) => leadsProjection.applyBatch!(tx, captured));
        const before = await readLeads(db);
        const score = events.find((event) => event.type === 'LeadRescored')!;
        const stranger = (revision: number, position: string): RecordedEvent => ({
          ...score,
          id: newId(),
          revision,
          position,
          data: { ...(score.data as object), leadId: 'never-captured' },
        });
        const first = stranger(0, 'first');
        const batch = [events.find((event) => event.type === 'LeadRescored' && event !== score)!, first, stranger(1, 'second')];
        // Checked where the scores are written (no answer to wait for in a batch holding writes):
        // the batch fails whole; the runner then applies it event by event, which names the score.
        const failing = db.transaction((tx) => leadsProjection.applyBatch!(tx, batch), { holdWrites: true });
        await expect(failing).rejects.toBeInstanceOf(UnexpectedChangesError);
        await expect(failing).rejects.toThrow(/never captured/);
        expect(await readLeads(db)).toEqual(before);
        const failed: RecordedEvent[] = [];
        for (const event of batch) {
          await db.transaction((tx) => leadsProjection.apply(tx, event)).catch((error: unknown) => {
            expect(String(error)).toContain('never captured');
            failed.push(event);
          });
        }
        expect(failed[0]).toBe(first);
      } finally {
        await db.close();
      }
    });
  }
});

describe('the rows a batch reads before it folds', () => {
  /** The batch applied in a transaction of its own; the values of the reads of the leads' rows (their ids). */
  const applyCounting = async (db: SqlDatabase, batch: readonly RecordedEvent[]): Promise<string> =>
    db.transaction(async (tx) => {
      const { handle, statements, values } = countedReads(tx);
      await leadsProjection.applyBatch!(handle, batch);
      return statements.flatMap((sql, index) => (/\bread_leads\b/.test(sql) ? values[index]!.map(String) : [])).join(' ');
    });
  const leadOf = (event: RecordedEvent) => (event.data as { leadId: string }).leadId;

  for (const dialect of ['sqlite', 'postgres'] as const) {
    it(`reads no row for the leads it opens, and only the rows of the others, on ${dialect}`, async () => {
      const { events } = await scoredAndErasedHistory();
      const captures = events.filter((event) => event.type === 'LeadCaptured');
      expect(captures.length).toBeGreaterThan(3);
      expect(captures.every((event) => event.revision === 0)).toBe(true);
      const [early, late] = [captures.slice(0, 3), captures.slice(3)];
      const lateLeads = new Set(late.map(leadOf));
      // The first batch opens three leads; the second opens the others and carries on the first three.
      const first = early;
      const second = events.filter((event) => !first.includes(event) && event.type !== 'LeadRescored' && event.type !== 'PersonalDataErased');
      const db = await openOn(dialect);
      try {
        await leadsProjection.setup(db);
        expect(await applyCounting(db, first)).toBe('');
        const read = await applyCounting(db, second);
        for (const event of early) expect(read).toContain(leadOf(event));
        for (const leadId of lateLeads) expect(read).not.toContain(leadId);
        const once = await openOn('sqlite');
        try {
          await leadsProjection.setup(once);
          await once.transaction(async (tx) => {
            for (const event of [...first, ...second]) await leadsProjection.apply(tx, event);
          });
          expect(await readLeads(db)).toEqual(await readLeads(once));
        } finally {
          await once.close();
        }
      } finally {
        await db.close();
      }
    });

    it(`keeps a row already further on in its stream when a batch opens its lead again, on ${dialect}`, async () => {
      const { events } = await scoredAndErasedHistory();
      const leadEvents = events.filter((event) => event.type !== 'LeadRescored' && event.type !== 'PersonalDataErased');
      const leadId = leadOf(leadEvents.find((event) => leadEvents.filter((other) => leadOf(other) === leadOf(event)).length > 3)!);
      const story = leadEvents.filter((event) => leadOf(event) === leadId);
      const db = await openOn(dialect);
      try {
        await leadsProjection.setup(db);
        await db.transaction((tx) => leadsProjection.applyBatch!(tx, story));
        const whole = await readLeads(db);
        expect(whole).toEqual([expect.objectContaining({ id: leadId, revision: story[story.length - 1]!.revision })]);
        // Its capture and the next event again, as a batch delivered twice would bring them.
        expect(await applyCounting(db, story.slice(0, 2))).toBe('');
        expect(await readLeads(db)).toEqual(whole);
      } finally {
        await db.close();
      }
    });
  }
});
