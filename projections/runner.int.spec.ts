import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteEventStore, type SqliteEventStore } from '../src/eventStores/sqlite';
import { LEAD_EVENT_TYPES, evolveLead, initialLeadState, type LeadState } from '../src/domain/leads/lead';
import { leadsProjection } from './leads/leadsProjection';
import { getLead } from './leads/leadView';
import type { Projection } from './projection';
import {
  ProjectionRunner,
  ProjectionRunnerStoppedError,
  ReadModelTimeoutError,
  type ProjectionRunnerOptions,
} from './runner';
import { newId } from '../src/core/ids';
import { openSqliteDatabase, type SqlDatabase } from './sqlDatabase';
import { countingStore } from './tools/storeViews';
import { appendAll, appendLeadEvent, generateLeadHistory, temporaryDirectory } from '../test/support/leadEvents';

/** Remembers what it was given, in memory: it shows what a runner applies, not what it keeps. */
const spyProjection = () => {
  const applied: string[] = [];
  const projection: Projection = {
    name: 'spy',
    version: 1,
    canHandle: LEAD_EVENT_TYPES,
    setup: async () => undefined,
    reset: async () => undefined,
    apply: async (_tx, event) => {
      applied.push(event.id);
    },
  };
  return { projection, applied };
};

/** One row per event applied, keyed by event id: applying an event twice fails loudly. */
const ledgerProjection = (options: { failOn?: string } = {}): Projection => ({
  name: 'ledger',
  version: 1,
  canHandle: LEAD_EVENT_TYPES,
  setup: (db) => db.exec('CREATE TABLE IF NOT EXISTS ledger (event_id TEXT PRIMARY KEY)'),
  reset: (db) => db.exec('DROP TABLE IF EXISTS ledger'),
  apply: async (tx, event) => {
    if (event.id === options.failOn) throw new Error('this event breaks the projection');
    await tx.run('INSERT INTO ledger (event_id) VALUES (?)', [event.id]);
  },
});

const leadsSnapshot = (db: SqlDatabase) => db.all<Record<string, unknown>>('SELECT * FROM read_leads ORDER BY id');

describe('ProjectionRunner', () => {
  let directory: ReturnType<typeof temporaryDirectory>;
  let store: SqliteEventStore;
  const cleanups: Array<() => Promise<void>> = [];

  beforeEach(() => {
    directory = temporaryDirectory();
    store = openSqliteEventStore({ filename: directory.file('crm.db'), pollIntervalMs: 20 });
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await store.close();
    directory.remove();
  });

  /** A process's read side: its own connection to the events' file, and a runner. */
  const readSide = (projections: Projection[], options: Partial<ProjectionRunnerOptions> = {}) => {
    const db = openSqliteDatabase(store.filename);
    const runner = new ProjectionRunner({ store, db, projections, ...options });
    const shutDown = async () => {
      await runner.stop();
      await db.close();
    };
    cleanups.push(shutDown);
    return { db, runner, shutDown };
  };

  it('carries on after batches that none of its projections handles', async () => {
    const { projection, applied } = spyProjection();
    const { runner } = readSide([projection]);
    await runner.start();
    await runner.whenCaughtUp();
    const unrelated = await store.appendToStream(
      'elsewhere-1',
      [
        {
          id: newId(),
          type: 'SomethingElseHappened',
          data: {},
          metadata: {
            actor: 'a',
            recordedAt: '2026-01-01T00:00:00.000Z',
            occurredAt: '2026-01-01T00:00:00.000Z',
            correlationId: 'c',
            causationId: 'c',
            schemaVersion: 1,
          },
        },
      ],
      { expectedRevision: 'no_stream' },
    );
    await runner.waitForPosition(unrelated.position);
    const history = generateLeadHistory({ seed: 3, leadCount: 2, eventCount: 5 });
    await runner.waitForPosition(await appendAll(store, history));
    expect(applied).toHaveLength(history.length);
    expect(runner.lastError).toBeUndefined();
  });

  it('stores the checkpoint of a projection that had nothing to take from a whole catch-up, so a restart reads nothing again', async () => {
    const rare: Projection = { ...spyProjection().projection, name: 'erasures-only', canHandle: ['SomethingRareHappened'] };
    const history = generateLeadHistory({ seed: 5, leadCount: 3, eventCount: 40 });
    const head = await appendAll(store, history);
    // The lead ledger is up to date; the other projection is new (or was just reset).
    const before = readSide([ledgerProjection()]);
    await before.runner.start();
    await before.runner.waitForPosition(head);
    await before.shutDown();

    const first = readSide([ledgerProjection(), rare]);
    await first.runner.start();
    await first.runner.whenCaughtUp();
    await first.shutDown();

    let read = 0;
    const db = openSqliteDatabase(store.filename);
    const again = new ProjectionRunner({ store: countingStore(store, (events) => (read += events)), db, projections: [ledgerProjection(), rare] });
    cleanups.push(async () => {
      await again.stop();
      await db.close();
    });
    await again.start();
    await again.whenCaughtUp();
    expect(read).toBe(0);
  });

  it('reads the log once to rebuild in bulk, not again for a projection reset beside that takes none of its events', async () => {
    const rareEvent = (type: string) => ({
      id: newId(),
      type,
      data: {},
      metadata: { actor: 'a', recordedAt: '2026-01-01T00:00:00.000Z', occurredAt: '2026-01-01T00:00:00.000Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 },
    });
    const rare = spyProjection();
    const erasures: Projection = { ...rare.projection, name: 'erasures-only', canHandle: ['SomethingRareHappened'] };
    const history = generateLeadHistory({ seed: 6, leadCount: 20, eventCount: 300 });
    const head = await appendAll(store, history);
    /** A runner started on the read models as they are, then asked to rebuild them all: the events the rebuild read. */
    const rebuildReading = async () => {
      let read = 0;
      let counting = false;
      const db = openSqliteDatabase(store.filename);
      const runner = new ProjectionRunner({ store: countingStore(store, (events) => counting && (read += events)), db, projections: [leadsProjection, erasures] });
      const stop = async () => {
        await runner.stop();
        await db.close();
      };
      cleanups.push(stop);
      await runner.start();
      await runner.whenCaughtUp();
      counting = true;
      await runner.rebuild();
      const positions = runner.positions();
      await stop();
      return { read, positions };
    };

    // Both reset: the leads rebuilt in bulk, the other moved along with them, the log read once.
    const { read, positions } = await rebuildReading();
    expect(read).toBe(history.length);
    expect(positions).toEqual([
      { name: 'leads', position: head },
      { name: 'erasures-only', position: head },
    ]);
    expect(rare.applied).toEqual([]);

    // With an event it takes in the log, it replays the log as before, and takes it.
    const taken = rareEvent('SomethingRareHappened');
    await store.appendToStream('elsewhere-1', [taken], { expectedRevision: 'no_stream' });
    const again = await rebuildReading();
    expect(rare.applied).toEqual([taken.id, taken.id]);
    expect(again.read).toBeGreaterThan(history.length);
  });

  it('projects live exactly what a rebuild from zero projects', async () => {
    const { db, runner } = readSide([leadsProjection], { batchSize: 64 });
    await runner.start();
    await runner.whenCaughtUp();
    const history = generateLeadHistory({ seed: 7, leadCount: 40, eventCount: 300 });

    // Appended while the runner projects: the appends share the file with its transactions.
    await runner.waitForPosition(await appendAll(store, history));
    const live = await leadsSnapshot(db);

    const expected = new Map<string, LeadState>();
    for (const { event } of history) {
      expected.set(event.data.leadId, evolveLead(expected.get(event.data.leadId) ?? initialLeadState(), event));
    }
    expect(live).toHaveLength(expected.size);
    expect(new Set(live.map((row) => row.status)).size).toBeGreaterThanOrEqual(3);
    for (const row of live) {
      const state = expected.get(row.id as string) as Exclude<LeadState, { status: 'NONE' }>;
      expect(row).toMatchObject({
        status: state.status,
        rank: state.rank,
        cycle: state.cycle,
        contact_attempts: state.contactAttempts,
        owner_id: state.ownerId ?? null,
      });
    }

    // Damage the model, so that a rebuild which replayed nothing could not pass.
    await db.run("DELETE FROM read_leads WHERE status = 'NEW'");
    await db.run("UPDATE read_leads SET cycle = 99, search_text = ''");
    await runner.rebuild();

    expect(await leadsSnapshot(db)).toEqual(live);
  });

  it('applies nothing while a bulk load is written, then rebuilds from the log what following it live would have', async () => {
    const live = readSide([leadsProjection], { batchSize: 64 });
    await live.runner.start();
    const history = generateLeadHistory({ seed: 11, leadCount: 30, eventCount: 200 });
    await live.runner.waitForPosition(await appendAll(store, history.slice(0, 50)));
    const spy = spyProjection();
    const { db, runner } = readSide([leadsProjection, spy.projection], { batchSize: 64 });
    await runner.start();
    await runner.waitForPosition((await store.headPosition())!);
    const before = spy.applied.length;

    const written = await runner.rebuildAfter(async () => {
      const position = await appendAll(store, history.slice(50));
      // The live runner would have taken these in long ago: this one rests.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(spy.applied.length).toBe(before);
      return position;
    });
    await runner.waitForPosition(written);
    await live.runner.waitForPosition(written);

    expect(await leadsSnapshot(db)).toEqual(await leadsSnapshot(live.db));
    // Rebuilt: every event applied once more from the first, not only the load.
    expect(spy.applied).toHaveLength(before + 200);
  });

  it('rebuilds only the projection it is asked to', async () => {
    const spy = spyProjection();
    const { db, runner } = readSide([leadsProjection, spy.projection]);
    await runner.start();
    const history = generateLeadHistory({ seed: 3, leadCount: 5, eventCount: 20 });
    await runner.waitForPosition(await appendAll(store, history));
    await db.run('DELETE FROM read_leads');

    await runner.rebuild('leads');

    expect(spy.applied).toHaveLength(20);
    expect((await leadsSnapshot(db)).length).toBeGreaterThan(0);
    await expect(runner.rebuild('no-such-projection')).rejects.toThrow('no-such-projection');
  });

  it('resumes from its checkpoint after a restart, without applying anything twice', async () => {
    const history = generateLeadHistory({ seed: 11, leadCount: 8, eventCount: 30 });
    const first = readSide([leadsProjection, ledgerProjection()]);
    expect(first.runner.isCaughtUp()).toBe(false);
    await first.runner.start();
    await first.runner.whenCaughtUp();
    expect(first.runner.isCaughtUp()).toBe(true);
    await first.runner.waitForPosition(await appendAll(store, history.slice(0, 20)));
    await first.shutDown();

    await appendAll(store, history.slice(20));
    const spy = spyProjection();
    const second = readSide([leadsProjection, ledgerProjection(), spy.projection]);
    await second.runner.start();
    await second.runner.whenCaughtUp();

    // The spy is new, so it replays everything; the ledger would fail on a second insert.
    expect(spy.applied).toEqual(history.map(({ id }) => id));
    const ledger = await second.db.all<{ event_id: string }>('SELECT event_id FROM ledger');
    expect(ledger.map((row) => row.event_id).sort()).toEqual(history.map(({ id }) => id).sort());
    const checkpoints = await second.db.all<{ name: string; position: string }>(
      'SELECT name, position FROM projection_checkpoints ORDER BY name',
    );
    const head = await store.headPosition();
    expect(checkpoints).toEqual([
      { name: 'leads', position: head },
      { name: 'ledger', position: head },
      { name: 'spy', position: head },
    ]);
  });

  it('sets aside a projection that cannot apply an event, the others go on, and a restart applies it exactly once', async () => {
    const history = generateLeadHistory({ seed: 5, leadCount: 3, eventCount: 6 });
    const poisonId = history[3]!.id;
    const logged: unknown[][] = [];
    const broken = readSide([leadsProjection, ledgerProjection({ failOn: poisonId })], {
      logger: { error: (...args: unknown[]) => logged.push(args) },
    });
    await broken.runner.start();
    const reached = await appendAll(store, history.slice(0, 3));
    await broken.runner.waitForPosition(reached);
    const { position: poisonPosition } = await appendLeadEvent(store, history[3]!.event, history[3]);
    const last = await appendAll(store, history.slice(4));

    // The leads keep up; the wait tells that the ledger is stopped short of the position.
    const stopped = await broken.runner.waitForPosition(last, 2000);
    expect(stopped).toMatchObject([
      { failure: { name: 'ledger', eventId: poisonId, position: poisonPosition, error: 'this event breaks the projection' }, checkpoint: reached },
    ]);
    expect(broken.runner.lastError).toBeUndefined();
    expect(broken.runner.failures).toHaveLength(1);
    expect(String(logged[0]?.[0])).toContain(poisonId);
    // Nothing of the failed event reached the ledger; the leads have every event.
    expect(await broken.db.get('SELECT 1 AS found FROM ledger WHERE event_id = ?', [poisonId])).toBeUndefined();
    const leadId = history[5]!.event.data.leadId;
    expect((await getLead(broken.db, leadId))?.revision).toBe(history.filter(({ event }) => event.data.leadId === leadId).length - 1);
    await broken.shutDown();

    const fixed = readSide([leadsProjection, ledgerProjection()]);
    await fixed.runner.start();
    await fixed.runner.whenCaughtUp();

    const ledger = await fixed.db.all<{ event_id: string }>('SELECT event_id FROM ledger');
    expect(ledger.map((row) => row.event_id).sort()).toEqual(history.map(({ id }) => id).sort());
    expect(fixed.runner.lastError).toBeUndefined();
    expect(fixed.runner.failures).toEqual([]);
    expect(await fixed.runner.waitForPosition(last)).toEqual([]);
  });

  it('waits for a position until it is projected, and gives up after the timeout', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const gated: Projection = {
      ...spyProjection().projection,
      name: 'gated',
      apply: () => gate,
    };
    const { db, runner } = readSide([leadsProjection, gated]);
    await runner.start();
    await runner.whenCaughtUp();
    const [captured] = generateLeadHistory({ seed: 1, leadCount: 1, eventCount: 1 });
    const { position } = await appendLeadEvent(store, captured!.event, captured);

    const timedOut = runner.waitForPosition(position, 50);
    await expect(timedOut).rejects.toBeInstanceOf(ReadModelTimeoutError);
    await expect(timedOut).rejects.toThrow(`position ${position} within 50 ms`);

    const waiting = runner.waitForPosition(position, 5000);
    open();
    await waiting;
    expect(await getLead(db, captured!.event.data.leadId)).toBeDefined();
  });

  it('refuses to wait once stopped', async () => {
    const { runner } = readSide([leadsProjection]);
    await runner.start();
    const [captured] = generateLeadHistory({ seed: 2, leadCount: 1, eventCount: 1 });
    await runner.stop();
    const { position } = await appendLeadEvent(store, captured!.event, captured);

    await expect(runner.waitForPosition(position)).rejects.toBeInstanceOf(ProjectionRunnerStoppedError);
  });

  it('builds a new version of a projection beside the old rows, which serve until it replaces them at once, while the others follow live', async () => {
    const history = generateLeadHistory({ seed: 21, leadCount: 20, eventCount: 120 });
    await appendAll(store, history.slice(0, 100));
    const old = readSide([leadsProjection, ledgerProjection()]);
    await old.runner.start();
    await old.runner.whenCaughtUp();
    await old.db.run("UPDATE read_leads SET status = 'OLD VERSION'");
    const oldRows = await leadsSnapshot(old.db);
    await old.shutDown();

    // The new version's rebuild waits at its first event until the test lets it go on.
    let letGo!: () => void;
    const gate = new Promise<void>((resolve) => (letGo = resolve));
    let waiting = true;
    const newVersion: Projection = {
      ...leadsProjection,
      version: leadsProjection.version + 1,
      // Applied event by event in the bulk rebuild too, so that the gate holds it.
      foldInMemory: undefined,
      apply: async (tx, event) => {
        if (waiting) await gate;
        await leadsProjection.apply(tx, event);
      },
    };
    const { db, runner } = readSide([newVersion, ledgerProjection()]);
    await runner.start();
    expect(runner.rebuildingBeside).toEqual(['leads']);
    // Writes go on, the other projections take them, and nobody waits for the one being built.
    const later = await appendAll(store, history.slice(100));
    await runner.waitForPosition(later);
    expect(await db.get('SELECT COUNT(*) AS n FROM ledger')).toEqual({ n: 120 });
    // The old rows serve meanwhile, as they were.
    expect(await leadsSnapshot(db)).toEqual(oldRows);

    waiting = false;
    letGo();
    await runner.whenRebuiltBeside();
    expect(runner.rebuildingBeside).toEqual([]);
    const rebuiltBeside = await leadsSnapshot(db);
    expect(rebuiltBeside.some((row) => row.status === 'OLD VERSION')).toBe(false);
    // The whole log is in, the writes made during the build too: what a reset and replay gives.
    await runner.rebuild('leads');
    expect(await leadsSnapshot(db)).toEqual(rebuiltBeside);
    expect(await db.get("SELECT version FROM projection_checkpoints WHERE name = 'leads'")).toEqual({ version: newVersion.version });
  });

  it('leaves a rebuild beside the old rows unfinished when stopped (the next start builds it again), and gives way to a rebuild asked for', async () => {
    await appendAll(store, generateLeadHistory({ seed: 22, leadCount: 15, eventCount: 90 }));
    const old = readSide([leadsProjection]);
    await old.runner.start();
    await old.runner.whenCaughtUp();
    const oldRows = await leadsSnapshot(old.db);
    await old.shutDown();
    const gated = () => {
      let letGo!: () => void;
      const gate = new Promise<void>((resolve) => (letGo = resolve));
      const projection: Projection = {
        ...leadsProjection,
        version: leadsProjection.version + 1,
        foldInMemory: undefined,
        apply: async (tx, event) => {
          await gate;
          await leadsProjection.apply(tx, event);
        },
      };
      return { projection, letGo };
    };

    // Stopped mid-build: the old rows and the old version's checkpoint stay.
    const first = gated();
    const stopped = readSide([first.projection]);
    await stopped.runner.start();
    const stopping = stopped.runner.stop();
    first.letGo();
    await stopping;
    expect(await leadsSnapshot(stopped.db)).toEqual(oldRows);
    expect(await stopped.db.get("SELECT version FROM projection_checkpoints WHERE name = 'leads'")).toEqual({ version: leadsProjection.version });
    await stopped.shutDown();

    // A rebuild asked for meanwhile takes over; the one beside gives up its copy.
    const second = gated();
    const { db, runner } = readSide([second.projection]);
    await runner.start();
    expect(runner.rebuildingBeside).toEqual(['leads']);
    const rebuilding = runner.rebuild('leads');
    second.letGo();
    await rebuilding;
    await runner.whenRebuiltBeside();
    expect(runner.rebuildingBeside).toEqual([]);
    expect(runner.failures).toEqual([]);
    const rows = await leadsSnapshot(db);
    expect(rows.map((row) => row.id)).toEqual(oldRows.map((row) => row.id));
    expect(await db.get("SELECT version FROM projection_checkpoints WHERE name = 'leads'")).toEqual({ version: second.projection.version });
  });

  it('rebuilds a projection whose version changed, and only then', async () => {
    const history = generateLeadHistory({ seed: 9, leadCount: 4, eventCount: 12 });
    await appendAll(store, history);
    const damage = async () => {
      const side = readSide([leadsProjection]);
      await side.runner.start();
      await side.runner.whenCaughtUp();
      await side.db.run("UPDATE read_leads SET status = 'DAMAGED'");
      await side.shutDown();
    };
    const statuses = async (projection: Projection) => {
      const side = readSide([projection]);
      await side.runner.start();
      await side.runner.whenCaughtUp();
      const rows = await side.db.all<{ status: string }>('SELECT DISTINCT status FROM read_leads');
      await side.shutDown();
      return rows.map((row) => row.status);
    };

    await damage();
    expect(await statuses(leadsProjection)).toEqual(['DAMAGED']);
    expect(await statuses({ ...leadsProjection, version: leadsProjection.version + 1 })).not.toContain('DAMAGED');
  });
});
