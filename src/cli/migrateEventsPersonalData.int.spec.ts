/**
 * Moving a log carries its people's keys, and brings a log written before encryption under
 * erasure: real stores on both sides (a SQLite file written through the API, PostgreSQL).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aSchemaName, dropSchemas, TEST_DATABASE_URL } from '../../test/support/postgres';
import { startTestServer } from '../../test/support/testServer';
import { DATABASE_FILE } from '../composition/config';
import { openKeyStore, protectWithKeys } from '../composition/eventLog';
import { NO_STREAM, type RecordedEvent } from '../core/eventStore';
import { openPostgresEventStore } from '../eventStores/postgres';
import { openSqliteEventStore } from '../eventStores/sqlite';
import { destroyKeys } from '../personalData/keyStore';
import { resolveMasterKey } from '../personalData/masterKey';
import { erasePersonalData } from '../useCases/personalData/erasure';
import { migrateEvents } from './migrateEvents';

const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'migrate-keys-'));
const schemas: string[] = [];
afterAll(async () => {
  fs.rmSync(tempDir, { recursive: true, force: true });
  await dropSchemas(...schemas);
});

const masterKeyOf = (dataDir: string) => resolveMasterKey({ env: {}, dataDir, production: false }).key;
const aPostgresSide = async (masterKey: Buffer) => {
  const schema = aSchemaName('migrate_keys');
  schemas.push(schema);
  const raw = await openPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema });
  const keys = await openKeyStore({ kind: 'postgres', connectionString: TEST_DATABASE_URL, schema }, { key: masterKey });
  return { raw, keys, opened: protectWithKeys(raw, keys) };
};
const aSqliteSide = async (dataDir: string) => {
  const filename = path.join(dataDir, DATABASE_FILE);
  const raw = openSqliteEventStore({ filename });
  const keys = await openKeyStore({ kind: 'sqlite', filename }, { key: masterKeyOf(dataDir) });
  return { raw, keys, opened: protectWithKeys(raw, keys) };
};
const context = (actor: string) => ({
  actor,
  now: new Date(),
  commandId: randomUUID(),
  commandType: 'ErasePersonalData',
  correlationId: randomUUID(),
});
const portable = ({ position: _position, ...event }: RecordedEvent) => event;
const text = (events: readonly unknown[]) => JSON.stringify(events);

let sourceDir: string;
let leadIds: string[];

beforeAll(async () => {
  sourceDir = path.join(tempDir, 'source');
  const api = await startTestServer({ dataDir: sourceDir });
  try {
    leadIds = [];
    for (const lastName of ['Ferrer', 'Soler']) {
      const response = await api.gql(
        `mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`,
        { input: { source: 'WEB_FORM', person: { firstName: 'Núria', lastName, email: `${lastName.toLowerCase()}@mail.example` }, interest: { notes: `call ${lastName} after 5` } } },
      );
      expect(response.errors).toBeUndefined();
      leadIds.push(response.data!.captureLead.lead.id);
    }
  } finally {
    await api.stop();
  }
}, 60_000);

describe('migrating a sealed log with its keys', () => {
  it('lets the target open every event the source opens, and keeps an erased person erased', async () => {
    const source = await aSqliteSide(sourceDir);
    // Erase one of the two people in the source before the move.
    const { erasure } = await erasePersonalData(
      { store: source.opened, sealedStore: source.raw },
      { subjectId: leadIds[1]!, reason: 'asked by e-mail', origin: 'REQUEST' },
      context('dpo'),
    );
    // What the key shredder does as it follows the log (no server runs here).
    await destroyKeys(source.keys.db, erasure.keyIds, new Date().toISOString());
    const target = await aPostgresSide(masterKeyOf(sourceDir));
    try {
      await migrateEvents(source.raw, target.raw, { keys: { source: source.keys, target: target.keys } });

      // Copied as stored: sealed bytes, not plaintext.
      expect((await target.raw.readAll()).map(portable)).toEqual((await source.raw.readAll()).map(portable));
      expect(text(await target.raw.readAll())).not.toContain('ferrer@mail.example');
      // Opened on the other side exactly as on this one.
      const openedSource = (await source.opened.readAll()).map(portable);
      const openedTarget = (await target.opened.readAll()).map(portable);
      expect(openedTarget).toEqual(openedSource);
      expect(text(openedTarget)).toContain('ferrer@mail.example');
      expect(text(openedTarget)).not.toContain('soler@mail.example');
      expect(text(openedTarget)).toContain('"erasedPersonalData":["person","interest.notes"]');
      // The destroyed key travelled as destroyed: no process memory involved.
      const rows = await target.keys.exportWrapped(erasure.keyIds);
      expect(rows.map((row) => row.wrappedKey)).toEqual([null]);
    } finally {
      await Promise.all([source.opened.close(), target.opened.close()]);
    }
  });
});

describe('migrating a log written before encryption', () => {
  it('seals its personal data in the target, under keys that an erasure then destroys', async () => {
    const oldDir = path.join(tempDir, 'old');
    fs.mkdirSync(oldDir);
    const old = openSqliteEventStore({ filename: path.join(oldDir, DATABASE_FILE) });
    const leadId = randomUUID();
    const metadata = {
      actor: 'marta',
      recordedAt: '2024-03-01T10:00:00.000Z',
      occurredAt: '2024-03-01T10:00:00.000Z',
      correlationId: randomUUID(),
      causationId: randomUUID(),
      schemaVersion: 1,
    };
    await old.appendToStream(
      `lead-${leadId}`,
      [
        { id: randomUUID(), type: 'LeadCaptured', data: { leadId, source: 'WEB_FORM', person: { lastName: 'Pujol', email: 'pujol@old.example' } }, metadata },
        { id: randomUUID(), type: 'LeadContactLogged', data: { leadId, channel: 'CALL', outcome: 'REACHED', notes: 'Pujol prefers mornings' }, metadata },
      ],
      { expectedRevision: NO_STREAM },
    );
    const oldKeys = await openKeyStore({ kind: 'sqlite', filename: path.join(oldDir, DATABASE_FILE) }, { key: masterKeyOf(oldDir) });
    const target = await aPostgresSide(masterKeyOf(oldDir));
    try {
      await migrateEvents(old, target.raw, { keys: { source: oldKeys, target: target.keys } });

      const sealed = await target.raw.readAll();
      expect(text(sealed)).not.toContain('Pujol');
      expect(sealed.map((event) => event.id)).toEqual((await old.readAll()).map((event) => event.id));
      expect(text(await target.opened.readAll())).toContain('pujol@old.example');
      expect(text(await target.opened.readAll())).toContain('Pujol prefers mornings');

      const erased = await erasePersonalData(
        { store: target.opened, sealedStore: target.raw },
        { subjectId: leadId, reason: 'art. 17 request', origin: 'REQUEST' },
        context('dpo'),
      );
      expect(erased.unsealedEvents).toBe(0);
      expect(erased.erasure.keyIds).toHaveLength(1);
    } finally {
      await Promise.all([old.close(), oldKeys.db.close(), target.opened.close()]);
    }
  });
});
