/**
 * A set-aside projection seen from every instance sharing one PostgreSQL read database: a
 * write answers once the other projections have it, unless its answer needs the stopped read
 * model (READ_MODEL_STOPPED, the write is recorded); the leader and the followers alike report
 * the failure; the next leader retries it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ANY, type EventStore } from '../../src/core/eventStore';
import { newId } from '../../src/core/ids';
import { LEAD_EVENT_TYPES } from '../../src/domain/leads/lead';
import { openPostgresEventStore, type PostgresEventStore } from '../../src/eventStores/postgres';
import { accountsProjection } from '../accounts/accountsReadModel';
import { leadsProjection } from '../leads/leadsProjection';
import { openPostgresDatabase } from '../postgresDatabase';
import { EVERY_EVENT_TYPE, type Projection } from '../projection';
import { appendAll, appendLeadEvent, generateLeadHistory } from '../../test/support/leadEvents';
import { aSchemaName, dropSchemas, TEST_DATABASE_URL } from '../../test/support/postgres';
import { READ_MODEL_STOPPED, ReadModelStoppedError } from './readModelStoppedError';
import { ReadModels } from './readModels';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const eventually = async (condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
};

/** Fails on the events listed, and on nothing else. */
const failingOn = (name: string, eventIds: ReadonlySet<string>, canHandle: readonly string[]): Projection => ({
  name,
  version: 1,
  canHandle,
  setup: async () => undefined,
  reset: async () => undefined,
  apply: async (_tx, event) => {
    if (eventIds.has(event.id)) throw new Error(`${name} cannot take ${event.id}`);
  },
});

const openAccount = (store: EventStore, accountId: string) =>
  store.appendToStream(
    `account-${accountId}`,
    [
      {
        id: newId(),
        type: 'AccountOpened',
        data: { accountId, kind: 'COMPANY', name: `Account ${accountId}`, ownerId: 'user-alice' },
        metadata: {
          actor: 'user-alice',
          recordedAt: new Date().toISOString(),
          occurredAt: new Date().toISOString(),
          correlationId: 'c',
          causationId: newId(),
          schemaVersion: 1,
        },
      },
    ],
    { expectedRevision: ANY },
  );

describe('ReadModels with a projection set aside, on one PostgreSQL read database', () => {
  it('answers writes the stopped read model does not concern, refuses the others on every instance, and reports it everywhere', async () => {
    const schema = aSchemaName('stopped');
    const store: PostgresEventStore = await openPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema, pollIntervalMs: 20 });
    cleanups.push(async () => {
      await store.close();
      await dropSchemas(schema);
    });
    const history = generateLeadHistory({ seed: 41, leadCount: 4, eventCount: 12 });
    const poison = history[8]!;
    const poisoned = new Set([poison.id]);
    // `ledger` is a read model of lead events; `trail` an index of every event (as the audit trail is).
    const projections = () => [
      leadsProjection,
      accountsProjection,
      failingOn('ledger', poisoned, LEAD_EVENT_TYPES),
      failingOn('trail', poisoned, [EVERY_EVENT_TYPE]),
    ];
    const openInstance = async () => {
      const projectionDb = await openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema });
      const readDb = await openPostgresDatabase({ connectionString: TEST_DATABASE_URL, schema });
      const log: string[] = [];
      const readModels = await ReadModels.open({
        store,
        projectionDb,
        readDb,
        projections: projections(),
        lease: { connectionString: TEST_DATABASE_URL, name: `test:${schema}`, retryIntervalMs: 100 },
        logger: { log: (line: string) => log.push(line), error: (line: string) => log.push(line) },
      });
      let closed = false;
      const close = async () => {
        if (closed) return;
        closed = true;
        await readModels.close();
        await Promise.all([projectionDb.close(), readDb.close()]);
      };
      cleanups.push(close);
      return { readModels, log, close };
    };

    const leader = await openInstance();
    const follower = await openInstance();
    expect([leader.readModels.role, follower.readModels.role]).toEqual(['leader', 'follower']);
    const instances = [leader, follower];
    const before = await appendAll(store, history.slice(0, 8));
    for (const { readModels } of instances) await readModels.waitForPosition(before, 10_000);

    // The write that carries the bad event: recorded, but its read model is stopped on it.
    const { position: poisonPosition } = await appendLeadEvent(store, poison.event, poison);
    for (const { readModels } of instances) {
      const refused = await readModels.waitForPosition(poisonPosition, 10_000).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(ReadModelStoppedError);
      expect((refused as ReadModelStoppedError).extensions).toMatchObject({
        code: READ_MODEL_STOPPED,
        recorded: true,
        position: poisonPosition,
        // The index of every event is stopped too, but no write's answer reads it.
        readModels: [{ name: 'ledger', eventId: poison.id, position: poisonPosition }],
      });
    }

    // A write of another read model answers on both instances, as does one naming what it reads.
    const { position: accountPosition } = await openAccount(store, 'acc-1');
    for (const { readModels } of instances) await readModels.waitForPosition(accountPosition, 10_000);
    const { position: leadPosition } = await appendLeadEvent(store, history[9]!.event, history[9]);
    for (const { readModels } of instances) {
      await expect(readModels.waitForPosition(leadPosition, 10_000)).rejects.toBeInstanceOf(ReadModelStoppedError);
      await readModels.waitForPosition(leadPosition, 10_000, { readModels: ['leads'] });
      await expect(readModels.waitForPosition(leadPosition, 10_000, { readModels: ['leads', 'trail'] })).rejects.toThrow(
        'the read model trail is stopped',
      );
    }

    // Both report it, the follower from the shared table.
    for (const { readModels } of instances) {
      const health = await readModels.health();
      expect(health).toMatchObject({ ready: false, status: 'degraded' });
      expect(health.failedProjections.map(({ name, eventId, position, error, attempts }) => ({ name, eventId, position, error, attempts })).sort((a, b) => a.name.localeCompare(b.name))).toEqual([
        { name: 'ledger', eventId: poison.id, position: poisonPosition, error: `ledger cannot take ${poison.id}`, attempts: 1 },
        { name: 'trail', eventId: poison.id, position: poisonPosition, error: `trail cannot take ${poison.id}`, attempts: 1 },
      ]);
      expect(readModels.isReady()).toBe(false);
    }

    // The next leader retries: still failing, it is set aside again and the rest still serve.
    await leader.close();
    await eventually(() => follower.readModels.role === 'leader', 'the follower leading');
    await eventually(async () => {
      const retried = (await follower.readModels.health()).failedProjections.filter((failure) => failure.attempts === 2);
      return retried.length === 2;
    }, 'both retried and set aside again');
    const health = await follower.readModels.health();
    expect(health).toMatchObject({ role: 'leader', status: 'degraded' });
    expect(health.failedProjections.map((failure) => failure.name).sort()).toEqual(['ledger', 'trail']);
    const { position: laterAccount } = await openAccount(store, 'acc-2');
    await follower.readModels.waitForPosition(laterAccount, 10_000);
  });
});
