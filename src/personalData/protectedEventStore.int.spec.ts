/**
 * The sealing decorator on a real event store (in memory) and a real key store (a SQLite file):
 * what is stored, what is read back, and what an erasure changes, in the log's order.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteDatabase } from '../../projections/sqlDatabase';
import { PersonalDataErasedError } from '../core/errors';
import { NO_STREAM, type EventStore, type NewEvent } from '../core/eventStore';
import { createInMemoryEventStore } from '../eventStores/inMemory';
import { newDataKey } from './cipher';
import { destroyKeys, KeyStore, MissingKeyError, WrongMasterKeyError } from './keyStore';
import { protectEventStore, type ProtectedEventStore } from './protectedEventStore';

const metadata = () => ({
  actor: 'marta',
  recordedAt: '2026-03-01T10:00:00.000Z',
  occurredAt: '2026-03-01T10:00:00.000Z',
  correlationId: randomUUID(),
  causationId: randomUUID(),
  schemaVersion: 1,
});
const event = (type: string, data: Record<string, unknown>): NewEvent => ({ id: randomUUID(), type, data, metadata: metadata() });

let dir: string;
let raw: EventStore;
let keys: KeyStore;
let store: ProtectedEventStore;
const masterKey = newDataKey();

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealed-'));
  raw = createInMemoryEventStore();
  keys = await KeyStore.open(openSqliteDatabase(path.join(dir, 'keys.sqlite'), { synchronous: 'FULL' }), masterKey);
  store = protectEventStore(raw, keys);
});
afterEach(async () => {
  await keys.db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const capture = async (leadId: string, person: Record<string, unknown> = { lastName: 'Roca', email: 'roca@mail.example' }) =>
  store.appendToStream(
    `lead-${leadId}`,
    [event('LeadCaptured', { leadId, source: 'WEB_FORM', person, company: { name: 'Roca SL' }, interest: { product: 'Solar', notes: 'call Roca at 9' } })],
    { expectedRevision: NO_STREAM },
  );

const erase = (subjectId: string, keyIds: string[], leadIds: string[] = [subjectId]) =>
  store.appendToStream(
    `personal-data-${subjectId}`,
    [event('PersonalDataErased', { subjectId, leadIds, contactIds: [], keyIds, origin: 'REQUEST', reason: 'asked' })],
    { expectedRevision: NO_STREAM },
  );

const keyIdOf = async (streamId: string) => ((await raw.readStream(streamId))[0]!.data as { personalData: { keyId: string } }).personalData.keyId;

describe('sealing', () => {
  it('stores personal fields sealed and company data in clear, and reads them back as written', async () => {
    const leadId = randomUUID();
    await capture(leadId);

    const [stored] = await raw.readStream(`lead-${leadId}`);
    const text = JSON.stringify(stored);
    expect(text).not.toContain('Roca"');
    expect(text).not.toContain('roca@mail.example');
    expect(text).not.toContain('call Roca');
    expect(stored!.data).toMatchObject({ leadId, source: 'WEB_FORM', company: { name: 'Roca SL' }, interest: { product: 'Solar' } });
    expect((stored!.data as any).personalData.fields).toEqual(['person', 'interest.notes']);

    const [read] = await store.readStream(`lead-${leadId}`);
    expect(read!.data).toEqual({
      leadId,
      source: 'WEB_FORM',
      person: { lastName: 'Roca', email: 'roca@mail.example' },
      company: { name: 'Roca SL' },
      interest: { product: 'Solar', notes: 'call Roca at 9' },
    });
  });

  it('seals every later event of a stream under its first key, and a contact made from a lead under the lead key', async () => {
    const leadId = randomUUID();
    await capture(leadId);
    await store.appendToStream(`lead-${leadId}`, [event('LeadQualified', { leadId, rank: 'SQL', criteria: {}, notes: 'budget ok' })], {
      expectedRevision: 0,
    });
    const contactId = randomUUID();
    await store.appendToStream(`contact-${contactId}`, [event('ContactCreated', { contactId, lastName: 'Roca', fromLeadId: leadId })], {
      expectedRevision: NO_STREAM,
    });
    const other = protectEventStore(raw, keys); // another process: nothing cached
    await other.appendToStream(
      `opportunity-o1`,
      [event('OpportunityOpened', { opportunityId: 'o1', accountId: 'a', contactId, name: 'Solar', stage: 'NEW', probability: 10 })],
      { expectedRevision: NO_STREAM },
    );
    await other.appendToStream(`opportunity-o1`, [event('ActivityScheduled', { opportunityId: 'o1', activityId: 'x', kind: 'CALL', subject: 'Call Roca' })], {
      expectedRevision: 0,
    });

    const leadKey = await keyIdOf(`lead-${leadId}`);
    const keysOf = async (streamId: string) =>
      (await raw.readStream(streamId)).map((e) => (e.data as any).personalData?.keyId).filter(Boolean);
    expect(await keysOf(`lead-${leadId}`)).toEqual([leadKey, leadKey]);
    expect(await keysOf(`contact-${contactId}`)).toEqual([leadKey]);
    expect(await keysOf(`opportunity-o1`)).toEqual([leadKey, leadKey]);
  });

  it("seals a lead opened for an existing contact under the contact's key, in this process or another, and refuses it once erased", async () => {
    const contactId = randomUUID();
    await store.appendToStream(`contact-${contactId}`, [event('ContactCreated', { contactId, lastName: 'Roca', email: 'roca@mail.example' })], {
      expectedRevision: NO_STREAM,
    });
    const engage = (on: ProtectedEventStore, leadId: string) =>
      on.appendToStream(
        `lead-${leadId}`,
        [event('LeadCaptured', { leadId, contactId, source: 'SOCIAL_MEDIA', person: { lastName: 'Roca', email: 'roca@mail.example' } })],
        { expectedRevision: NO_STREAM },
      );
    const here = randomUUID();
    const elsewhere = randomUUID();
    await engage(store, here);
    await engage(protectEventStore(raw, keys), elsewhere); // another process: nothing cached
    const contactKey = await keyIdOf(`contact-${contactId}`);
    expect(await keyIdOf(`lead-${here}`)).toBe(contactKey);
    expect(await keyIdOf(`lead-${elsewhere}`)).toBe(contactKey);
    // A lead captured as a stranger with the same person gets a key of its own.
    const stranger = randomUUID();
    await capture(stranger, { lastName: 'Roca', email: 'roca@mail.example' });
    expect(await keyIdOf(`lead-${stranger}`)).not.toBe(contactKey);

    await erase(contactId, [contactKey], [here, elsewhere]);
    await destroyKeys(keys.db, [contactKey], '2026-03-02T00:00:00.000Z');
    expect((await store.readStream(`lead-${here}`))[0]!.data).toMatchObject({ person: null, erasedPersonalData: ['person'] });
    await expect(engage(protectEventStore(raw, keys), randomUUID())).rejects.toBeInstanceOf(PersonalDataErasedError);
  });

  it('never seals an event twice, and refuses an altered ciphertext', async () => {
    const leadId = randomUUID();
    await capture(leadId);
    const [stored] = await raw.readStream(`lead-${leadId}`);
    // A sealed event copied to another stream passes as is (what migrate-events does).
    await store.appendToStream(`lead-copy`, [{ ...stored!, id: randomUUID() }], { expectedRevision: NO_STREAM });
    expect((await raw.readStream('lead-copy'))[0]!.data).toEqual(stored!.data);

    const tampered = structuredClone(stored!.data) as any;
    tampered.personalData.sealed = tampered.personalData.sealed.slice(0, -4) + 'AAAA';
    await raw.appendToStream('lead-tampered', [{ ...stored!, id: randomUUID(), data: tampered }], { expectedRevision: NO_STREAM });
    await expect(store.readStream('lead-tampered')).rejects.toThrow(/unable to authenticate/);
  });
});

describe('erasure', () => {
  it('reads the fields of an erased person as null, listed in erasedPersonalData, and leaves the stored bytes alone', async () => {
    const kept = randomUUID();
    const erased = randomUUID();
    await capture(kept, { lastName: 'Mas' });
    await capture(erased);
    const before = JSON.stringify(await raw.readAll());

    await erase(erased, [await keyIdOf(`lead-${erased}`)]);
    await destroyKeys(keys.db, [await keyIdOf(`lead-${erased}`)], new Date().toISOString());

    expect(JSON.stringify((await raw.readAll()).slice(0, 2))).toEqual(before);
    // A fresh process, which knows only the key table.
    const fresh = protectEventStore(raw, await KeyStore.open(keys.db, masterKey));
    const [read] = await fresh.readStream(`lead-${erased}`);
    expect(read!.data).toEqual({
      leadId: erased,
      source: 'WEB_FORM',
      person: null,
      company: { name: 'Roca SL' },
      interest: { product: 'Solar', notes: null },
      erasedPersonalData: ['person', 'interest.notes'],
    });
    expect((await fresh.readStream(`lead-${kept}`))[0]!.data).toMatchObject({ person: { lastName: 'Mas' } });
  });

  it('counts for every event after it in the log, even before the key is destroyed', async () => {
    const leadId = randomUUID();
    await capture(leadId);
    const keyId = await keyIdOf(`lead-${leadId}`);
    // Another process still holding the key writes after the erasure.
    const stale = protectEventStore(raw, await KeyStore.open(keys.db, masterKey));
    await stale.readStream(`lead-${leadId}`);
    await erase(leadId, [keyId]);
    await stale.appendToStream(`lead-${leadId}`, [event('LeadContactLogged', { leadId, channel: 'CALL', outcome: 'REACHED', notes: 'late note' })], {
      expectedRevision: 0,
    });

    // A reader following the log (a projection catching up) sees the late note as erased.
    const follower = protectEventStore(raw, await KeyStore.open(keys.db, masterKey));
    const all = await follower.readAll();
    expect(JSON.stringify(all)).not.toContain('late note');
    expect(all.at(-1)!.data).toMatchObject({ notes: null, erasedPersonalData: ['notes'] });
  });

  it('refuses to record new personal data about an erased person, and accepts the same fact without it', async () => {
    const leadId = randomUUID();
    await capture(leadId);
    const keyId = await keyIdOf(`lead-${leadId}`);
    await erase(leadId, [keyId]);
    await destroyKeys(keys.db, [keyId], new Date().toISOString());

    await expect(
      store.appendToStream(`lead-${leadId}`, [event('LeadDisqualified', { leadId, reason: 'NO_BUDGET', notes: 'said no', statusBefore: 'NEW' })], {
        expectedRevision: 0,
      }),
    ).rejects.toBeInstanceOf(PersonalDataErasedError);
    expect(await raw.readStream(`lead-${leadId}`)).toHaveLength(1);
    await store.appendToStream(`lead-${leadId}`, [event('LeadDisqualified', { leadId, reason: 'NO_BUDGET', statusBefore: 'NEW' })], {
      expectedRevision: 0,
    });
    expect(await raw.readStream(`lead-${leadId}`)).toHaveLength(2);
  });
});

describe('large reads (a rebuild, an export)', () => {
  it('open on the opener thread exactly as one by one: in clear, erased after an erasure in the same page, and refused when altered', async () => {
    const leads = Array.from({ length: 150 }, () => randomUUID());
    for (const [index, leadId] of leads.entries()) await capture(leadId, { lastName: `Roca ${index}`, email: `roca${index}@mail.example` });
    const erasedLead = leads[120]!;
    // Another process, still holding the key, writes a note after the erasure.
    const stale = protectEventStore(raw, await KeyStore.open(keys.db, masterKey));
    await stale.readStream(`lead-${erasedLead}`);
    await erase(erasedLead, [await keyIdOf(`lead-${erasedLead}`)]);
    await stale.appendToStream(`lead-${erasedLead}`, [event('LeadContactLogged', { leadId: erasedLead, channel: 'CALL', outcome: 'REACHED', notes: 'after' })], {
      expectedRevision: 0,
    });

    // A fresh process has sealed nothing itself: every value is opened, 150 of them in one read,
    // here before the thread is ready, there by the thread.
    const cold = protectEventStore(raw, await KeyStore.open(keys.db, masterKey));
    const openedHere = await cold.readAll();
    await cold.close();
    const fresh = protectEventStore(raw, await KeyStore.open(keys.db, masterKey));
    await fresh.warmOpener();
    const all = await fresh.readAll();
    expect(all).toEqual(openedHere);
    expect(all).toHaveLength(152);
    expect(all[7]!.data).toMatchObject({ person: { lastName: 'Roca 7', email: 'roca7@mail.example' }, interest: { notes: 'call Roca at 9' } });
    // Read before the erasure in the log: still in clear (the key was not destroyed here).
    expect(all[120]!.data).toMatchObject({ person: { lastName: 'Roca 120' } });
    expect(all.at(-1)!.data).toMatchObject({ notes: null, erasedPersonalData: ['notes'] });
    // The same events one stream at a time (opened on this thread) read alike.
    expect(await fresh.readStream(`lead-${leads[7]}`)).toEqual([all[7]]);
    // Warmed but not waited for, as a rebuild does: the page goes to a thread still starting,
    // which opens it once it runs.
    const starting = protectEventStore(raw, await KeyStore.open(keys.db, masterKey));
    void starting.warmOpener();
    expect(await starting.readAll()).toEqual(openedHere);
    await starting.close();

    const [stored] = await raw.readStream(`lead-${leads[3]}`);
    const tampered = structuredClone(stored!.data) as any;
    tampered.personalData.sealed = tampered.personalData.sealed.slice(0, -4) + 'AAAA';
    await raw.appendToStream('lead-tampered', [{ ...stored!, id: randomUUID(), data: tampered }], { expectedRevision: NO_STREAM });
    await expect(protectEventStore(raw, await KeyStore.open(keys.db, masterKey)).readAll()).rejects.toThrow(/unable to authenticate/);
    await expect(fresh.readAll()).rejects.toThrow(/unable to authenticate/);
    await fresh.close();
  });

  it('open only the events a reader asks for, erasures in the log counting as ever, and leave the others as stored', async () => {
    const leads = Array.from({ length: 100 }, () => randomUUID());
    for (const [index, leadId] of leads.entries()) {
      await capture(leadId, { lastName: `Roca ${index}`, email: `roca${index}@mail.example` });
      await store.appendToStream(`lead-${leadId}`, [event('LeadContactLogged', { leadId, channel: 'CALL', outcome: 'REACHED', notes: `note ${index}` })], {
        expectedRevision: 0,
      });
    }
    // Another process, still holding the key, writes a note after the erasure.
    const erasedLead = leads[60]!;
    const stale = protectEventStore(raw, await KeyStore.open(keys.db, masterKey));
    await stale.readStream(`lead-${erasedLead}`);
    await erase(erasedLead, [await keyIdOf(`lead-${erasedLead}`)]);
    await stale.appendToStream(`lead-${erasedLead}`, [event('LeadContactLogged', { leadId: erasedLead, channel: 'CALL', outcome: 'REACHED', notes: 'after' })], {
      expectedRevision: 1,
    });

    // Two fresh processes: a reader forgets the keys of an erasure it has read.
    const readerOfAll = protectEventStore(raw, await KeyStore.open(keys.db, masterKey));
    await readerOfAll.warmOpener();
    const everything = await readerOfAll.readAll();
    await readerOfAll.close();
    const reader = protectEventStore(raw, await KeyStore.open(keys.db, masterKey));
    await reader.warmOpener();
    const asked: string[] = [];
    const notesOnly = await reader.readAll({
      opensPersonalDataOf: (type) => {
        asked.push(type);
        return type === 'LeadContactLogged';
      },
    });
    await reader.close();
    const stored = await raw.readAll();

    expect(notesOnly).toHaveLength(202);
    expect(JSON.stringify(notesOnly[2]!.data)).not.toContain('Roca 1');
    expect(notesOnly[3]!.data).toMatchObject({ notes: 'note 1' });
    notesOnly.forEach((read, index) => {
      // Asked for, and the erasure: as every reader reads them; the captures: as stored, sealed.
      if (read.type === 'LeadCaptured') expect(read).toEqual(stored[index]);
      else expect(read).toEqual(everything[index]);
    });
    expect(new Set(asked)).toEqual(new Set(['LeadCaptured', 'LeadContactLogged']));
    expect(notesOnly.at(-1)!.data).toMatchObject({ notes: null, erasedPersonalData: ['notes'] });
  });
});

describe('the key store', () => {
  it('refuses another master key', async () => {
    await expect(KeyStore.open(keys.db, newDataKey())).rejects.toBeInstanceOf(WrongMasterKeyError);
  });

  it('reads data under a key it does not hold as erased, says so once per key, and refuses to copy it', async () => {
    const leadId = randomUUID();
    await capture(leadId);
    // Another database's key store: the events' key is not there.
    const otherDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealed-other-'));
    const other = await KeyStore.open(openSqliteDatabase(path.join(otherDir, 'keys.sqlite')), masterKey);
    try {
      const reported: string[][] = [];
      other.onMissingKeys = (keyIds) => reported.push(keyIds);
      const reader = protectEventStore(raw, other);
      const [read] = await reader.readStream(`lead-${leadId}`);
      expect(read!.data).toMatchObject({ person: null, erasedPersonalData: ['person', 'interest.notes'] });
      await reader.readStream(`lead-${leadId}`);
      expect(reported).toEqual([[await keyIdOf(`lead-${leadId}`)]]);
      await expect(other.copyTo(keys, [await keyIdOf(`lead-${leadId}`)])).rejects.toBeInstanceOf(MissingKeyError);
    } finally {
      await other.db.close();
      fs.rmSync(otherDir, { recursive: true, force: true });
    }
  });

  it('lets another process notice an erasure within a second, whatever it had cached', async () => {
    let now = 1_000_000;
    const elsewhere = await KeyStore.open(keys.db, masterKey, () => now);
    const leadId = randomUUID();
    await capture(leadId);
    const keyId = await keyIdOf(`lead-${leadId}`);
    expect((await elsewhere.keys([keyId])).get(keyId)).toBeInstanceOf(Buffer);

    await destroyKeys(keys.db, [keyId], new Date().toISOString());
    now += 500;
    expect((await elsewhere.keys([keyId])).get(keyId)).toBeInstanceOf(Buffer);
    now += 600;
    expect((await elsewhere.keys([keyId])).get(keyId)).toBeNull();
  });

  it('keeps no trace of a destroyed key in the SQLite file', async () => {
    const leadId = randomUUID();
    await capture(leadId);
    const keyId = await keyIdOf(`lead-${leadId}`);
    const [row] = await keys.exportWrapped([keyId]);
    const wrapped = Buffer.from(row!.wrappedKey!, 'utf8');
    await keys.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    const bytes = () => Buffer.concat(fs.readdirSync(dir).map((file) => fs.readFileSync(path.join(dir, file))));
    expect(bytes().includes(wrapped)).toBe(true);

    await destroyKeys(keys.db, [keyId], new Date().toISOString());
    await keys.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    expect(bytes().includes(wrapped)).toBe(false);
  });
});
