/**
 * Events are never updated or deleted: no GraphQL mutation, whatever its input, changes or
 * removes a recorded event (each one is run against a seeded log, which must only grow), and no
 * store adapter offers a way to, nor lets raw SQL do it behind its back.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  type GraphQLInputType,
} from 'graphql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConcurrencyConflictError, NO_STREAM, type EventStore, type NewEvent } from '../src/core/eventStore';
import { openEventStoreDbEventStore } from '../src/eventStores/eventStoreDb';
import { createInMemoryEventStore } from '../src/eventStores/inMemory';
import { openPostgresEventStore } from '../src/eventStores/postgres';
import { openSqliteEventStore } from '../src/eventStores/sqlite';
import { buildCrmSchema } from '../src/graphql/schema';
import { generateCrmHistory } from '../src/seeding/generator';
import { aSchemaName, dropSchemas, TEST_DATABASE_URL } from './support/postgres';
import { startTestServer, type TestServer } from './support/testServer';

/** Every member of the port. The line below fails to compile if the port gains one not listed. */
const PORT_MEMBERS = ['name', 'appendsToStreamsAtomically', 'appendToStream', 'appendToStreams', 'readStream', 'readAll', 'subscribeToAll', 'headPosition', 'comparePositions', 'close'] as const;
type Unlisted = Exclude<keyof EventStore, (typeof PORT_MEMBERS)[number]>;
const everyPortMemberIsListed: [Unlisted] extends [never] ? true : Unlisted = true;

const CHANGES_HISTORY = /update|delete|remove|erase|purge|truncate|drop|rewrite|overwrite|replace|amend|edit|set|clear|archive|undo|revert/i;

describe('no GraphQL path changes a recorded event', () => {
  let api: TestServer;
  beforeAll(async () => {
    api = await startTestServer();
    const summary = await generateCrmHistory(api.server.app, { leads: 25, seed: 3 });
    await api.server.app.readModels.waitForPosition(summary.lastPosition!, 60_000);
  }, 120_000);
  afterAll(async () => {
    await api.stop();
  });

  /** Every stored row as the database holds it, all columns, in log order. */
  const snapshot = async (): Promise<string[]> => {
    const { store } = api.server.app;
    if (store.name !== 'sqlite') return (await store.readAll()).map((event) => JSON.stringify(event));
    const db = new Database(path.join(api.dataDir, 'crm.sqlite'), { readonly: true });
    try {
      return db.prepare('SELECT * FROM events ORDER BY global_position').all().map((row) => JSON.stringify(row));
    } finally {
      db.close();
    }
  };

  it('has no mutation meant to edit or delete events, and none that can address one', async () => {
    const mutations = Object.values((await buildCrmSchema()).getMutationType()!.getFields());
    expect(mutations.length).toBeGreaterThan(20);
    for (const mutation of mutations) {
      expect(mutation.name).not.toMatch(/event|history|audit/i);
      // erasePersonalData erases a person's data by destroying the keys it is sealed under: it
      // appends one event and leaves every event as stored (the test below runs it too).
      // removeLeadsFromList takes leads off a list by recording LeadsRemovedFromList, a new fact.
      if (mutation.name !== 'erasePersonalData' && mutation.name !== 'removeLeadsFromList') {
        expect(mutation.name).not.toMatch(/^(delete|remove|erase|purge|truncate|drop|rewrite|overwrite|replace|amend|undo|revert)/i);
      }
      for (const argument of mutation.args) {
        expect(fieldNames(argument.type)).not.toContainEqual(expect.stringMatching(/^(eventId|position|causationId|recordedAt)$/));
      }
    }
  });

  it('leaves every prior event byte for byte as it was, whichever mutation runs, and only appends', async () => {
    const mutations = Object.values((await buildCrmSchema()).getMutationType()!.getFields());
    const ids = await someIds(api);
    const initial = await snapshot();
    expect(initial.length).toBeGreaterThan(100);
    let succeeded = 0;
    for (const mutation of mutations) {
      const before = await snapshot();
      const declared = mutation.args.map((argument) => `$${argument.name}: ${String(argument.type)}`).join(', ');
      const passed = mutation.args.map((argument) => `${argument.name}: $${argument.name}`).join(', ');
      const variables = Object.fromEntries(mutation.args.map((argument) => [argument.name, inputFor(argument.type, ids, argument.name)]));
      const response = await api.gql(`mutation(${declared}) { ${mutation.name}(${passed}) { __typename } }`, variables);
      if (!response.errors) succeeded++;
      const after = await snapshot();
      expect(after.slice(0, before.length), `after ${mutation.name}`).toEqual(before);
    }
    // Most of them really wrote something: the check above is not about failed requests only.
    expect(succeeded).toBeGreaterThan(mutations.length / 2);
    expect((await snapshot()).length).toBeGreaterThan(initial.length + succeeded / 2);
  });
});

describe('no store adapter changes a recorded event', () => {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'crm-immutable-'));
  const pgSchema = aSchemaName('immutable');
  afterAll(async () => {
    rmSync(directory, { recursive: true, force: true });
    await dropSchemas(pgSchema);
  });

  it('offers nothing but appends and reads in the port', () => {
    expect(everyPortMemberIsListed).toBe(true);
    expect(PORT_MEMBERS.filter((member) => CHANGES_HISTORY.test(member))).toEqual([]);
  });

  const adapters: Array<[string, () => Promise<EventStore>]> = [
    ['in-memory', async () => createInMemoryEventStore()],
    ['sqlite', async () => openSqliteEventStore({ filename: path.join(directory, 'events.sqlite') })],
    ['postgres', () => openPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema: pgSchema })],
  ];

  it.each(adapters)('%s: has no method that could change history, and a re-append changes nothing', async (_name, open) => {
    const store = await open();
    try {
      expect(methodsOf(store).filter((method) => CHANGES_HISTORY.test(method))).toEqual([]);
      const streamId = `ledger-${randomUUID()}`;
      const original = anEvent({ amount: '100.00' });
      await store.appendToStream(streamId, [original], { expectedRevision: NO_STREAM });
      const [stored] = await store.readStream(streamId);

      // The same id again with other data: taken as a retry of the first append, or refused.
      await store.appendToStream(streamId, [{ ...original, data: { amount: '1.00' } }], { expectedRevision: NO_STREAM }).catch((error) => {
        expect(error).toBeInstanceOf(ConcurrencyConflictError);
      });
      await expect(
        store.appendToStream(`ledger-${randomUUID()}`, [{ ...original, data: { amount: '2.00' } }], { expectedRevision: NO_STREAM }),
      ).rejects.toBeInstanceOf(ConcurrencyConflictError);
      await expect(store.appendToStream(streamId, [anEvent({ amount: '3.00' })], { expectedRevision: NO_STREAM })).rejects.toBeInstanceOf(
        ConcurrencyConflictError,
      );
      await store.appendToStream(streamId, [anEvent({ amount: '4.00' })], { expectedRevision: 0 });

      const after = await store.readStream(streamId);
      expect(after[0]).toEqual(stored);
      expect(after.map((event) => (event.data as { amount: string }).amount)).toEqual(['100.00', '4.00']);
    } finally {
      await store.close();
    }
  });

  it('eventstoredb: has no method that could change history', async () => {
    const store = openEventStoreDbEventStore({ connectionString: 'esdb://127.0.0.1:2113?tls=false' });
    try {
      expect(methodsOf(store).sort()).toEqual([...PORT_MEMBERS].filter((member) => member !== 'name' && member !== 'appendsToStreamsAtomically').sort());
    } finally {
      await store.close();
    }
  });

  it('sqlite: the database itself refuses UPDATE, DELETE and a replacing INSERT on events', async () => {
    const filename = path.join(directory, 'raw.sqlite');
    const store = openSqliteEventStore({ filename });
    await store.appendToStream('ledger-raw', [anEvent({ amount: '100.00' })], { expectedRevision: NO_STREAM });
    const [stored] = await store.readStream('ledger-raw');
    await store.close();

    const db = new Database(filename);
    try {
      expect(() => db.prepare("UPDATE events SET data = '{}'").run()).toThrow(/immutable/);
      expect(() => db.prepare('DELETE FROM events').run()).toThrow(/immutable/);
      expect(() =>
        db.prepare("INSERT OR REPLACE INTO events SELECT global_position, event_id, stream_id, stream_revision, event_type, '{}', metadata, recorded_at FROM events").run(),
      ).toThrow(/immutable/);
    } finally {
      db.close();
    }
    const reopened = openSqliteEventStore({ filename });
    expect(await reopened.readStream('ledger-raw')).toEqual([stored]);
    await reopened.close();
  });

  it('postgres: the database itself refuses UPDATE, DELETE and TRUNCATE on events', async () => {
    const store = await openPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema: pgSchema });
    await store.appendToStream('ledger-raw', [anEvent({ amount: '100.00' })], { expectedRevision: NO_STREAM });
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      const events = `${pg.escapeIdentifier(pgSchema)}.events`;
      await expect(client.query(`UPDATE ${events} SET data = '{}'`)).rejects.toThrow(/immutable/);
      await expect(client.query(`DELETE FROM ${events}`)).rejects.toThrow(/immutable/);
      await expect(client.query(`TRUNCATE ${events}`)).rejects.toThrow(/immutable/);
      expect((await store.readStream('ledger-raw')).map((event) => event.data)).toEqual([{ amount: '100.00' }]);
    } finally {
      await client.end();
      await store.close();
    }
  });
});

const anEvent = (data: { amount: string }): NewEvent => ({
  id: randomUUID(),
  type: 'PaymentRecorded',
  data,
  metadata: {
    actor: 'auditor',
    recordedAt: new Date().toISOString(),
    occurredAt: new Date().toISOString(),
    correlationId: randomUUID(),
    causationId: randomUUID(),
    schemaVersion: 1,
  },
});

/** Function members of an adapter, its class's methods included. */
const methodsOf = (store: object): string[] => {
  const names = new Set<string>();
  for (let layer = store; layer && layer !== Object.prototype; layer = Object.getPrototypeOf(layer)) {
    for (const name of Object.getOwnPropertyNames(layer)) {
      if (name !== 'constructor' && typeof (store as Record<string, unknown>)[name] === 'function') names.add(name);
    }
  }
  return [...names];
};

/** Every input field name reachable from a type, nested inputs included. */
const fieldNames = (type: GraphQLInputType, seen = new Set<string>()): string[] => {
  const named = getNamedType(type);
  if (!isInputObjectType(named) || seen.has(named.name)) return [];
  seen.add(named.name);
  return Object.values(named.getFields()).flatMap((field) => [field.name, ...fieldNames(field.type, seen)]);
};

type KnownIds = Record<string, string>;

/** Ids of seeded entities, for inputs that name one: an open lead, an open opportunity... */
const someIds = async (api: TestServer): Promise<KnownIds> => {
  const db = api.server.app.readDb;
  const one = async (sql: string) => (await db.get<{ id: string }>(sql))?.id ?? randomUUID();
  const opportunityId = await one("SELECT id FROM read_opportunities WHERE status = 'OPEN' ORDER BY id");
  const leadId = await one("SELECT id FROM read_leads WHERE status IN ('CONTACTED', 'QUALIFIED') ORDER BY id");
  return {
    leadId,
    // erasePersonalData: the same lead's person (crypto-shredding must leave the stored events as they were).
    subjectId: leadId,
    opportunityId,
    accountId: await one('SELECT id FROM read_accounts ORDER BY id'),
    existingAccountId: await one("SELECT id FROM read_accounts WHERE kind = 'GROUPING' ORDER BY id"),
    contactId: await one('SELECT id FROM read_contacts ORDER BY id'),
    quoteId: await one(`SELECT id FROM read_opportunity_quotes WHERE opportunity_id = '${opportunityId}'`),
    activityId: await one(`SELECT id FROM read_opportunity_activities WHERE opportunity_id = '${opportunityId}'`),
  };
};

/** Values a client would plausibly send for fields of these names. */
const PLAUSIBLE: Record<string, unknown> = {
  reason: 'NO_NEED',
  lossReason: 'PRICE',
  stage: 'VISIT_PENDING',
  rank: 'SQL',
  outcome: 'WON',
  kind: 'COMPANY',
  status: 'SENT',
  channel: 'CALL',
  currency: 'EUR',
  amount: '1500.00',
};

/** A value for every required field (and nothing else), the way the schema describes it. */
const inputFor = (type: GraphQLInputType, ids: KnownIds, fieldName = 'input'): unknown => {
  if (isNonNullType(type)) return inputFor(type.ofType, ids, fieldName);
  if (isListType(type)) return [inputFor(type.ofType, ids, fieldName)];
  if (isInputObjectType(type)) {
    const fields = Object.values(type.getFields()).filter((field) => isNonNullType(field.type));
    return Object.fromEntries(fields.map((field) => [field.name, inputFor(field.type, ids, field.name)]));
  }
  if (fieldName in ids) return ids[fieldName];
  if (isEnumType(type)) {
    const values = type.getValues().map((value) => value.name);
    return values.includes(PLAUSIBLE[fieldName] as string) ? PLAUSIBLE[fieldName] : values[0];
  }
  if (fieldName in PLAUSIBLE) return PLAUSIBLE[fieldName];
  switch (type.name) {
    case 'Int':
    case 'Float':
      return 1;
    case 'Boolean':
      return true;
    case 'DateTime':
      return new Date().toISOString();
    case 'Decimal':
      return '1500.00';
    case 'JSON':
      return {};
    default:
      return `immutability check ${fieldName}`;
  }
};
