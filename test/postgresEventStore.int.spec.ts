/**
 * What the PostgreSQL adapter must get right beyond the contract suite: the order of commits
 * that overtake each other, the table's immutability, migrations racing at start, several
 * processes on one database, and who owns the pool.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  ConcurrencyConflictError,
  NO_STREAM,
  type NewEvent,
  type RecordedEvent,
} from '../src/core/eventStore';
import { openPostgresEventStore, type PostgresEventStore } from '../src/eventStores/postgres';
import { TEST_DATABASE_URL, aSchemaName, connectForTest, dropSchemas } from './support/postgres';
import { subscribedAndCaughtUp } from './support/subscriptions';

const schemas: string[] = [];
const stores: PostgresEventStore[] = [];
afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()));
  await dropSchemas(...schemas);
});

const openStore = async (
  schema: string,
  options: { pollIntervalMs?: number; settleTimeoutMs?: number; pool?: pg.Pool } = {},
) => {
  if (!schemas.includes(schema)) schemas.push(schema);
  const store = await openPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema, ...options });
  stores.push(store);
  return store;
};

const anEvent = (data: unknown = { note: randomUUID() }): NewEvent => ({
  id: randomUUID(),
  type: 'SomethingHappened',
  data,
  metadata: {
    actor: 'tester',
    recordedAt: '2024-05-02T08:30:00.000Z',
    occurredAt: '2024-05-02T08:30:00.000Z',
    correlationId: randomUUID(),
    causationId: randomUUID(),
    schemaVersion: 1,
  },
});

const idsOf = (events: readonly { id: string }[]) => events.map((event) => event.id);

describe('PostgreSQL event store', () => {
  describe('when a transaction that took an earlier position commits after a later one', () => {
    it('neither reads nor delivers the later one first, and skips neither', async () => {
      const schema = aSchemaName('late_commit');
      // The open transaction holds back every reader of the cluster, other test files' too: a
      // short settle wait keeps it short.
      const store = await openStore(schema, { pollIntervalMs: 20, settleTimeoutMs: 100 });
      await store.appendToStream('warm-up', [anEvent()], { expectedRevision: NO_STREAM });
      const headBefore = await store.headPosition();
      const delivered: RecordedEvent[] = [];
      const caughtUp: number[] = [];
      const subscription = store.subscribeToAll({
        fromPosition: headBefore,
        onEvent: (event) => void delivered.push(event),
        onCaughtUp: () => caughtUp.push(delivered.length),
      });
      const slowWriter = await connectForTest();
      try {
        const [early, late] = [anEvent(), anEvent()];
        // A: another writer's append, through the same function, left uncommitted.
        await slowWriter.query('BEGIN');
        await slowWriter.query(
          `SELECT * FROM ${pg.escapeIdentifier(schema)}.append_to_stream($1, -1, $2, $3, $4, $5, $6)`,
          ['stream-a', [early.id], [early.type], [JSON.stringify(early.data)],
            [JSON.stringify(early.metadata)], [early.metadata.recordedAt]],
        );
        // B: appended and committed while A is open.
        await store.appendToStream('stream-b', [late], { expectedRevision: NO_STREAM });

        // The anomaly is real: B's sequence number is the higher, yet B is the one visible.
        const { rows } = await slowWriter.query<{ event_id: string; global_position: string }>(
          `SELECT event_id, global_position FROM ${pg.escapeIdentifier(schema)}.events
           WHERE event_id = ANY($1) ORDER BY global_position`,
          [[early.id, late.id]],
        );
        expect(rows.map((row) => row.event_id)).toEqual([early.id, late.id]);
        expect(idsOf(await store.readAll({ fromPosition: headBefore }))).toEqual([]);
        await vi.waitFor(() => expect(caughtUp.length).toBeGreaterThan(0));
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(delivered).toEqual([]);

        await slowWriter.query('COMMIT');

        await vi.waitFor(() => expect(delivered).toHaveLength(2), { timeout: 5000 });
        expect(idsOf(delivered)).toEqual([early.id, late.id]);
        // Read while held back, without their data (see the readAll statement), then read again whole.
        expect(delivered.map(({ data, metadata }) => ({ data, metadata }))).toEqual([early, late].map(({ data, metadata }) => ({ data, metadata })));
        const read = await store.readAll({ fromPosition: headBefore });
        expect(idsOf(read)).toEqual([early.id, late.id]);
        expect(store.comparePositions(read[0]!.position, read[1]!.position)).toBeLessThan(0);
      } finally {
        await slowWriter.query('ROLLBACK').catch(() => undefined);
        await slowWriter.end();
        await subscription.stop();
      }
    });
  });

  it('orders transaction ids as numbers, not as text, however many digits they have', async () => {
    const schema = aSchemaName('digits');
    const store = await openStore(schema);
    const [nine, ten] = [anEvent(), anEvent()];
    const writer = await connectForTest();
    try {
      // Rows stamped as if written long ago by transactions 10 and 9, in that order: neither the
      // text order ("10" < "9") nor the sequence order may decide.
      for (const [event, transactionId] of [[ten, '10'], [nine, '9']] as const) {
        await writer.query(
          `INSERT INTO ${pg.escapeIdentifier(schema)}.events
             (transaction_id, event_id, stream_id, stream_revision, event_type, data, metadata, recorded_at)
           VALUES ($1, $2, $3, 0, $4, $5, $6, now())`,
          [transactionId, event.id, `stream-${transactionId}`, event.type, JSON.stringify(event.data), JSON.stringify(event.metadata)],
        );
      }
    } finally {
      await writer.end();
    }
    const { position } = await store.appendToStream('stream-now', [anEvent()], { expectedRevision: NO_STREAM });

    const read = await store.readAll();

    expect(read.map((event) => event.streamId)).toEqual(['stream-9', 'stream-10', 'stream-now']);
    expect(await store.headPosition()).toBe(position);
    expect(idsOf(await store.readAll({ fromPosition: read[0]!.position, maxCount: 1 }))).toEqual([ten.id]);
  });

  it('refuses, whoever asks, to update, delete, truncate or overwrite a stored event', async () => {
    const schema = aSchemaName('immutable');
    const store = await openStore(schema);
    await store.appendToStream('lead-1', [anEvent({ amount: '100.00' })], { expectedRevision: NO_STREAM });
    const events = `${pg.escapeIdentifier(schema)}.events`;
    const tamperer = await connectForTest();
    try {
      await expect(tamperer.query(`UPDATE ${events} SET data = '{"amount":"1.00"}'`)).rejects.toThrow(/immutable/);
      await expect(tamperer.query(`DELETE FROM ${events}`)).rejects.toThrow(/immutable/);
      await expect(tamperer.query(`TRUNCATE ${events}`)).rejects.toThrow(/immutable/);
      await expect(
        tamperer.query(
          `INSERT INTO ${events} (event_id, stream_id, stream_revision, event_type, data, metadata, recorded_at)
           SELECT event_id, stream_id, stream_revision, event_type, '{"amount":"1.00"}', metadata, recorded_at
           FROM ${events}
           ON CONFLICT (event_id) DO UPDATE SET data = excluded.data`,
        ),
      ).rejects.toThrow(/immutable/);

      const [stored] = await store.readStream('lead-1');
      expect(stored!.data).toEqual({ amount: '100.00' });
    } finally {
      await tamperer.end();
    }
  });

  it('keeps data exactly, even text that jsonb would refuse', async () => {
    const store = await openStore(aSchemaName('exact'));
    const data = { notes: 'before\u0000after', loneSurrogate: '\ud800', emoji: '🚀' };

    await store.appendToStream('lead-1', [anEvent(data)], { expectedRevision: NO_STREAM });

    expect((await store.readStream('lead-1'))[0]!.data).toStrictEqual(data);
  });

  it('creates its tables once when several processes start on an empty schema at the same time', async () => {
    const schema = aSchemaName('racing_start');

    const [first, second, third] = await Promise.all([openStore(schema), openStore(schema), openStore(schema)]);

    const { position } = await first.appendToStream('lead-1', [anEvent()], { expectedRevision: NO_STREAM });
    expect(idsOf(await second.readStream('lead-1'))).toHaveLength(1);
    const reopened = await openStore(schema);
    const next = await reopened.appendToStream('lead-2', [anEvent()], { expectedRevision: NO_STREAM });
    expect(third.comparePositions(next.position, position)).toBeGreaterThan(0);
  });

  it('reports a conflict when a writer bypassing the stream lock took the revision first', async () => {
    const schema = aSchemaName('bypass');
    const store = await openStore(schema);
    await store.appendToStream('lead-1', [anEvent()], { expectedRevision: NO_STREAM });
    const intruder = await connectForTest();
    try {
      await intruder.query('BEGIN');
      await intruder.query(
        `INSERT INTO ${pg.escapeIdentifier(schema)}.events
           (event_id, stream_id, stream_revision, event_type, data, metadata, recorded_at)
         VALUES ($1, 'lead-1', 1, 'Intruded', '{}', '{}', now())`,
        [randomUUID()],
      );
      const append = store.appendToStream('lead-1', [anEvent()], { expectedRevision: 0 });
      // The append now waits on the unique index for the intruder's outcome.
      await new Promise((resolve) => setTimeout(resolve, 200));
      await intruder.query('COMMIT');

      const error = await append.then(
        () => undefined,
        (rejection: unknown) => rejection,
      );
      expect(error).toBeInstanceOf(ConcurrencyConflictError);
      expect(error).toMatchObject({ expectedRevision: 0, actualRevision: 1 });
      expect((await store.readStream('lead-1')).map((event) => event.type)).toEqual([
        'SomethingHappened',
        'Intruded',
      ]);
    } finally {
      await intruder.query('ROLLBACK').catch(() => undefined);
      await intruder.end();
    }
  });

  it('writes a batch retried concurrently from several processes once, and answers each the same', async () => {
    const schema = aSchemaName('retries');
    const processes = await Promise.all([openStore(schema), openStore(schema), openStore(schema)]);
    const batch = [anEvent(), anEvent()];

    const results = await Promise.all(
      processes.flatMap((store) =>
        [1, 2].map(() => store.appendToStream('lead-1', batch, { expectedRevision: NO_STREAM })),
      ),
    );

    expect(new Set(results.map((result) => JSON.stringify(result))).size).toBe(1);
    expect(idsOf(await processes[0]!.readStream('lead-1'))).toEqual(idsOf(batch));
  });

  describe('a bulk append (a seed, an import, a migration)', () => {
    /**
     * The sequential scans of the events table that `append` makes in a transaction of its own,
     * rolled back: what a batch of the functions the adapter calls reads, counted by PostgreSQL.
     */
    const sequentialScansOf = async (schema: string, append: (client: pg.Client, s: string) => Promise<unknown>): Promise<number> => {
      const client = await connectForTest();
      try {
        await client.query('BEGIN');
        const s = pg.escapeIdentifier(schema);
        await append(client, s);
        const { rows } = await client.query<{ seq_scan: string }>(
          `SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relid = '${s}.events'::regclass`,
        );
        return Number(rows[0]!.seq_scan);
      } finally {
        await client.query('ROLLBACK');
        await client.end();
      }
    };

    it("looks each stream's revision up in its index, by COPY or as arrays, instead of reading the whole log", async () => {
      const schema = aSchemaName('bulk_lookup');
      const store = await openStore(schema);
      // A log of 20,000 events on 4,000 streams, and its statistics, as a seed leaves them.
      const stored = Array.from({ length: 4_000 }, (_, index) => ({
        streamId: `lead-${index}`,
        events: Array.from({ length: 5 }, () => anEvent()),
        expectedRevision: NO_STREAM,
      }));
      await store.appendToStreams(stored);
      const client = await connectForTest();
      await client.query(`ANALYZE ${pg.escapeIdentifier(schema)}.events`);
      await client.end();
      // The next batch: an event for each of 2,000 streams, half of them stored, half new.
      const streams = Array.from({ length: 2_000 }, (_, index) => `lead-${index * 2}`);
      const expected = streams.map((_, index) => (index * 2 < 4_000 ? 4 : -1));
      const counts = streams.map(() => 1);
      const events = streams.map(() => anEvent());
      const columns = [
        events.map((event) => event.id),
        events.map((event) => event.type),
        events.map((event) => JSON.stringify(event.data)),
        events.map((event) => JSON.stringify(event.metadata)),
        events.map((event) => event.metadata.recordedAt),
      ];

      const asArrays = await sequentialScansOf(schema, async (db, s) => {
        const { rows } = await db.query(`SELECT * FROM ${s}.append_to_streams($1, $2, $3, $4, $5, $6, $7, $8)`, [streams, expected, counts, ...columns]);
        expect(rows[0].r_refused).toBeNull();
      });
      const copied = await sequentialScansOf(schema, async (db, s) => {
        await db.query(`SELECT ${s}.lock_streams($1)`, [streams]);
        await db.query('CREATE TEMPORARY TABLE events_to_append (ordinal bigint, id text, type text, data text, metadata text, recorded_at text) ON COMMIT DROP');
        await db.query(
          `INSERT INTO pg_temp.events_to_append SELECT ordinal, id, type, data, metadata, recorded_at
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS e(id, type, data, metadata, recorded_at, ordinal)`,
          columns,
        );
        const { rows } = await db.query(`SELECT * FROM ${s}.append_copied_to_streams($1, $2, $3)`, [streams, expected, counts]);
        expect(rows[0].r_refused).toBeNull();
      });

      expect({ asArrays, copied }).toEqual({ asArrays: 0, copied: 0 });
    });

    it('goes as arrays for a role that may not create temporary tables, and writes every event', async () => {
      // A database of its own: TEMPORARY is revoked from PUBLIC for a whole database.
      const suffix = randomUUID().replace(/-/g, '').slice(0, 12);
      const database = `crm_test_no_temp_${suffix}`;
      const role = `crm_no_temp_${suffix}`;
      const admin = await connectForTest();
      await admin.query(`CREATE DATABASE ${database}`);
      await admin.query(`CREATE ROLE ${role} LOGIN`);
      await admin.query(`REVOKE TEMPORARY ON DATABASE ${database} FROM PUBLIC`);
      await admin.query(`GRANT CONNECT, CREATE ON DATABASE ${database} TO ${role}`);
      const url = new URL(TEST_DATABASE_URL);
      url.username = role;
      url.pathname = `/${database}`;
      try {
        const asRole = new pg.Client({ connectionString: url.toString() });
        await asRole.connect();
        const temporary = await asRole.query('CREATE TEMPORARY TABLE t (x int)').then(() => 'created', (error: pg.DatabaseError) => error.code);
        await asRole.end();
        expect(temporary).toBe('42501');

        const store = await openPostgresEventStore({ connectionString: url.toString(), schema: 'crm', copyFromEvents: 1 });
        try {
          const batches = [0, 1].map((batch) =>
            Array.from({ length: 3 }, (_, index) => ({ streamId: `lead-${batch}-${index}`, events: [anEvent(), anEvent()], expectedRevision: NO_STREAM })),
          );
          for (const batch of batches) await store.appendToStreams(batch);
          const stored = await store.readAll();
          expect(idsOf(stored)).toEqual(idsOf(batches.flat().flatMap((entry) => entry.events)));
        } finally {
          await store.close();
        }
      } finally {
        await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
        await admin.query(`DROP ROLE IF EXISTS ${role}`);
        await admin.end();
      }
    });
  });

  describe('group commit: the appends asked in one turn of the event loop', () => {
    const transactionOf = (position: string) => position.split(':')[0];

    it('are committed in one transaction, each caller answered with its own place', async () => {
      const store = await openStore(aSchemaName('group_commit'));
      const batches = Array.from({ length: 20 }, (_, index) => (index % 3 === 0 ? [anEvent(), anEvent()] : [anEvent()]));

      const results = await Promise.all(
        batches.map((events, index) => store.appendToStream(`lead-${index}`, events, { expectedRevision: NO_STREAM })),
      );

      expect(new Set(results.map((result) => transactionOf(result.position))).size).toBe(1);
      expect(results.map((result) => result.nextExpectedRevision)).toEqual(batches.map((events) => events.length - 1));
      const all = await store.readAll();
      for (const [index, events] of batches.entries()) {
        const stored = all.filter((event) => event.streamId === `lead-${index}`);
        expect(idsOf(stored)).toEqual(idsOf(events));
        expect(results[index]!.position).toBe(stored.at(-1)!.position);
      }
      // A later turn is a transaction of its own.
      const later = await store.appendToStream('lead-0', [anEvent()], { expectedRevision: 1 });
      expect(transactionOf(later.position)).not.toBe(transactionOf(results[0]!.position));
    });

    it('go 256 to a transaction when a turn asks for more, all written', async () => {
      const store = await openStore(aSchemaName('group_many'));
      const events = Array.from({ length: 600 }, () => anEvent());

      const results = await Promise.all(
        events.map((event, index) => store.appendToStream(`lead-${index}`, [event], { expectedRevision: NO_STREAM })),
      );

      const transactions = results.map((result) => transactionOf(result.position));
      expect(new Set(transactions).size).toBe(3);
      expect([0, 255, 256, 511, 512, 599].map((index) => transactions.indexOf(transactions[index]!))).toEqual([0, 0, 256, 256, 512, 512]);
      expect(idsOf(await store.readAll()).sort()).toEqual(idsOf(events).sort());
    });

    it('refuse only the append whose expected revision does not hold: the others are written', async () => {
      const store = await openStore(aSchemaName('group_conflict'));
      await store.appendToStream('taken', [anEvent()], { expectedRevision: NO_STREAM });
      const fine = [anEvent(), anEvent(), anEvent()];

      const outcomes = await Promise.allSettled([
        store.appendToStream('free-1', [fine[0]!], { expectedRevision: NO_STREAM }),
        store.appendToStream('taken', [anEvent()], { expectedRevision: NO_STREAM }),
        store.appendToStream('free-2', [fine[1]!], { expectedRevision: NO_STREAM }),
        store.appendToStream('taken', [anEvent()], { expectedRevision: 5 }),
        store.appendToStream('free-3', [fine[2]!], { expectedRevision: NO_STREAM }),
      ]);

      expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
      expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(ConcurrencyConflictError);
      expect((outcomes[3] as PromiseRejectedResult).reason).toMatchObject({ expectedRevision: 5, actualRevision: 0 });
      for (const [index, event] of fine.entries()) expect(idsOf(await store.readStream(`free-${index + 1}`))).toEqual([event.id]);
      expect(await store.readStream('taken')).toHaveLength(1);
    });

    it('answer a retry with its original place, and write the others beside it', async () => {
      const store = await openStore(aSchemaName('group_retry'));
      const first = [anEvent(), anEvent()];
      const original = await store.appendToStream('lead-1', first, { expectedRevision: NO_STREAM });
      const other = anEvent();

      const [retried, written] = await Promise.all([
        store.appendToStream('lead-1', first, { expectedRevision: NO_STREAM }),
        store.appendToStream('lead-2', [other], { expectedRevision: NO_STREAM }),
      ]);

      expect(retried).toEqual(original);
      expect(idsOf(await store.readStream('lead-1'))).toEqual(idsOf(first));
      expect(written.nextExpectedRevision).toBe(0);
      expect(idsOf(await store.readStream('lead-2'))).toEqual([other.id]);
    });

    it("take a stream's appends in the order asked: the second sees the first", async () => {
      const store = await openStore(aSchemaName('group_same_stream'));
      const [a, b, c] = [anEvent(), anEvent(), anEvent()];

      const outcomes = await Promise.allSettled([
        store.appendToStream('lead-1', [a], { expectedRevision: NO_STREAM }),
        store.appendToStream('lead-1', [b], { expectedRevision: 0 }),
        store.appendToStream('lead-1', [c], { expectedRevision: NO_STREAM }),
        store.appendToStream('lead-2', [anEvent()], { expectedRevision: NO_STREAM }),
      ]);

      expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
      expect(idsOf(await store.readStream('lead-1'))).toEqual([a.id, b.id]);
    });

    it('answer every caller with the error when the database cannot be reached, and nothing is written', async () => {
      const schema = aSchemaName('group_down');
      const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
      const store = await openStore(schema, { pool });
      await pool.end();

      const outcomes = await Promise.allSettled(
        [1, 2, 3].map((index) => store.appendToStream(`lead-${index}`, [anEvent()], { expectedRevision: NO_STREAM })),
      );

      expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected', 'rejected']);
      const reader = await openStore(schema);
      expect(await reader.readAll()).toEqual([]);
    });
  });

  it('wakes a subscription in another process without waiting for its next poll', async () => {
    const schema = aSchemaName('notify');
    const writer = await openStore(schema);
    const reader = await openStore(schema, { pollIntervalMs: 60_000 });
    const { delivered, subscription } = await subscribedAndCaughtUp(reader);
    try {
      // Give the listening connection time to be up: a notification before it is lost.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const events = [anEvent(), anEvent()];

      await writer.appendToStream('lead-1', events, { expectedRevision: NO_STREAM });

      await vi.waitFor(() => expect(delivered).toHaveLength(2), { timeout: 10_000, interval: 5 });
      expect(idsOf(delivered)).toEqual(idsOf(events));
    } finally {
      await subscription.stop();
    }
  });

  it('delivers an append that a transaction appending nothing held back as soon as that transaction ends, not at the next poll', async () => {
    const schema = aSchemaName('held_back');
    const store = await openStore(schema, { pollIntervalMs: 60_000 });
    const { delivered, subscription } = await subscribedAndCaughtUp(store);
    const other = await connectForTest();
    try {
      // Any transaction with an id, a projection's batch or a key stored: it writes no event,
      // so nobody is notified when it ends. Kept short: it holds back every reader of the cluster.
      await other.query('BEGIN');
      await other.query('SELECT pg_current_xact_id()');
      const event = anEvent();
      await store.appendToStream('lead-held', [event], { expectedRevision: NO_STREAM });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(delivered).toEqual([]);

      await other.query('COMMIT');

      // Long before the next poll (a minute away).
      await vi.waitFor(() => expect(idsOf(delivered)).toEqual([event.id]), { timeout: 2_000, interval: 5 });
    } finally {
      await other.query('ROLLBACK').catch(() => undefined);
      await other.end();
      await subscription.stop();
    }
  });

  it('gives subscriptions that share their reads every event, each as its own object, without waiting for a poll', async () => {
    const schema = aSchemaName('shared_reads');
    const store = await openStore(schema, { pollIntervalMs: 60_000 });
    const subscribers = await Promise.all(Array.from({ length: 4 }, () => subscribedAndCaughtUp(store)));
    try {
      // Bursts of appends while the subscriptions read: a read begun before an append must not
      // answer a subscription woken for it, or that subscription sleeps a minute past it.
      const appended: string[] = [];
      for (let burst = 0; burst < 20; burst++) {
        const events = Array.from({ length: 1 + (burst % 4) }, () => anEvent());
        await Promise.all(
          events.map(async (event, index) => {
            await new Promise((resolve) => setTimeout(resolve, index));
            await store.appendToStream(`lead-${burst}-${index}`, [event], { expectedRevision: NO_STREAM });
          }),
        );
        appended.push(...idsOf(events));
        if (burst % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      }

      for (const { delivered } of subscribers) {
        await vi.waitFor(() => expect(delivered).toHaveLength(appended.length), { timeout: 5_000, interval: 5 });
        expect(new Set(idsOf(delivered))).toEqual(new Set(appended));
      }
      const [first, second] = subscribers;
      expect(first!.delivered[0]).toEqual(second!.delivered[0]);
      expect(first!.delivered[0]).not.toBe(second!.delivered[0]);
    } finally {
      await Promise.all(subscribers.map(({ subscription }) => subscription.stop()));
    }
  });

  it('ends the pool it created on close, and leaves a pool it was given to its owner', async () => {
    const schema = aSchemaName('pools');
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
    try {
      const borrowing = await openPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema, pool });
      schemas.push(schema);
      await borrowing.appendToStream('lead-1', [anEvent()], { expectedRevision: NO_STREAM });
      await borrowing.close();
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(schema)}.events`);
      expect(rows).toEqual([{ n: 1 }]);

      const owning = await openPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema });
      expect(await owning.readStream('lead-1')).toHaveLength(1);
      await owning.close();
      await expect(owning.readStream('lead-1')).rejects.toThrow(/after calling end/);
    } finally {
      await pool.end();
    }
  });
});
