/**
 * Erasing 100 people out of a generated data set (what `npm run seed` writes), through the API,
 * and proving what issue 10 promises: no plaintext of theirs anywhere in the database (the raw
 * bytes of the SQLite file and its WAL, or a pg_dump of the PostgreSQL schema), every KPI and
 * pipeline answer unchanged, their conversions still traceable (ids, actors, times), the event
 * log unchanged but for the added erasures, and a rebuild from zero equal to the live read models.
 * Runs on SQLite and, in the postgres project, on PostgreSQL.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openScratchSpace } from '../projections/tools/scratch';
import { verifyReadModels } from '../projections/tools/verify';
import { readModelProjections } from '../src/composition/application';
import { DATABASE_FILE } from '../src/composition/config';
import type { RecordedEvent } from '../src/core/eventStore';
import { searchKey } from '../src/core/normalize';
import { generateCrmHistory } from '../src/seeding/generator';
import { TEST_DATABASE_URL } from './support/postgres';
import { startTestServer, type TestServer } from './support/testServer';
import { KPI_SELECTION } from './support/kpiSelection';

const ON_POSTGRES = process.env.CRM_TEST_STORE === 'postgres';
const PEOPLE = 100;

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer();
  const app = api.server.app;
  const summary = await generateCrmHistory(app, { leads: 320, seed: 2026 });
  await app.readModels.waitForPosition(summary.lastPosition!, 120_000);
}, 300_000);
afterAll(async () => {
  await api?.stop();
});

const ok = async <T = any>(query: string, variables: Record<string, unknown> = {}, roles = ['admin']): Promise<T> => {
  const response = await api.gql<T>(query, variables, { as: 'dpo', roles });
  expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
  return response.data!;
};

const PERIOD = { from: '2024-01-01T00:00:00Z', to: '2028-01-01T00:00:00Z' };
const PIPELINE_FIELDS = `count amount { amount currency } weightedAmount { amount currency }
  stages { stage count amount { amount } weightedAmount { amount } }`;

/** Every figure an analyst reads: KPIs whole and cut four ways, the pipeline now and as of two dates. */
const figures = async () => {
  const kpis: unknown[] = [];
  for (const groupBy of [[], ['SOURCE'], ['OWNER'], ['CAMPAIGN', 'MONTH']]) {
    kpis.push(
      (await ok(`query($from: DateTime!, $to: DateTime!, $groupBy: [KpiDimension!]) {
        kpis(from: $from, to: $to, groupBy: $groupBy) { ${KPI_SELECTION} } }`, { ...PERIOD, groupBy })).kpis,
    );
  }
  const pipelines: unknown[] = [];
  for (const asOf of [null, '2025-06-30T00:00:00Z', '2026-01-31T00:00:00Z']) {
    pipelines.push((await ok(`query($asOf: DateTime) { pipeline(asOf: $asOf) { ${PIPELINE_FIELDS} } }`, { asOf })).pipeline);
  }
  return { kpis, pipelines };
};

const TRACE = `query($leadId: ID!) { conversionTrace(leadId: $leadId) {
  lead { id status conversion { accountId contactId opportunityId convertedAt convertedBy } }
  account { id name kind } contact { id } opportunity { id name status }
  conversion { id streamId revision position type recordedAt occurredAt actor correlationId causationId }
  events { id streamId revision position type recordedAt occurredAt actor correlationId causationId } } }`;

/** The log as stored, row by row, in global order. */
const storedLog = async (): Promise<RecordedEvent[]> => api.server.app.personalData.sealedStore.readAll();

/** Everything the database holds, as bytes: the SQLite file with its WAL, or a dump of the schema. */
const databaseBytes = async (): Promise<Buffer> => {
  if (ON_POSTGRES) {
    const schema = (await api.server.app.readDb.get<{ schema: string }>('SELECT current_schema() AS schema'))!.schema;
    const { stdout } = await promisify(execFile)('pg_dump', ['--dbname', TEST_DATABASE_URL, '--schema', schema, '--data-only'], {
      maxBuffer: 512 * 1024 * 1024,
      encoding: 'buffer',
    });
    return stdout as unknown as Buffer;
  }
  const file = path.join(api.dataDir, DATABASE_FILE);
  return Buffer.concat(
    [file, `${file}-wal`, `${file}-shm`, `${file}-journal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f)),
  );
};

/** The forms in which a person's identifying data would be stored: e-mail, phone, name as JSON and as search text. */
const tracesOf = (person: { firstName?: string | null; lastName?: string | null; email?: string | null; phone?: string | null }): string[] =>
  [
    person.email,
    person.email ? searchKey(person.email) : undefined,
    person.phone,
    person.firstName && person.lastName ? `"firstName":"${person.firstName}","lastName":"${person.lastName}"` : undefined,
    person.firstName && person.lastName ? searchKey(`${person.firstName} ${person.lastName}`) : undefined,
  ].filter((trace): trace is string => Boolean(trace));

/** For a failure message: in which table and column each trace sits, or that it is only in free space. */
const whereStored = async (traces: string[]): Promise<string[]> => {
  const db = api.server.app.readDb;
  const tables = ON_POSTGRES
    ? (await db.all<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()")).map((t) => t.name)
    : (await db.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")).map((t) => t.name);
  const places: string[] = [];
  for (const trace of traces) {
    const where: string[] = [];
    for (const table of tables) {
      const rows = await db.all<Record<string, unknown>>(`SELECT * FROM "${table}"`);
      for (const row of rows) {
        for (const [column, value] of Object.entries(row)) {
          if (value !== null && String(value).includes(trace)) where.push(`${table}.${column}`);
        }
      }
    }
    if (where.length === 0 && !ON_POSTGRES) {
      const file = path.join(api.dataDir, DATABASE_FILE);
      for (const part of [file, `${file}-wal`, `${file}-shm`].filter((f) => fs.existsSync(f))) {
        const content = fs.readFileSync(part);
        const at = content.indexOf(Buffer.from(trace, 'utf8'));
        if (at >= 0) where.push(`free space of ${path.basename(part)} at ${at} (page ${Math.floor(at / 4096)}): ${JSON.stringify(content.subarray(Math.max(0, at - 300), at + 200).toString('latin1').replace(/[^\x20-\x7e]/g, '.'))}`);
      }
    }
    places.push(`${trace} in ${where.length > 0 ? [...new Set(where)].join(', ') : 'free space only'}`);
  }
  return places;
};

describe(`erasing ${PEOPLE} people of a generated data set`, () => {
  it('leaves no plaintext of theirs, every figure and trace as it was, the log unchanged but for the erasures, and a rebuild equal to the live read models', async () => {
    const app = api.server.app;
    const leads = await app.readDb.all<{ id: string; status: string }>('SELECT id, status FROM read_leads ORDER BY id');
    // Converted people first (contacts, opportunities, traces), then disqualified and open ones.
    const rank = (status: string) => ['CONVERTED', 'DISQUALIFIED'].indexOf(status) + 1 || 3;
    const chosen = [...leads].sort((a, b) => rank(a.status) - rank(b.status) || a.id.localeCompare(b.id));
    expect(leads.filter((lead) => lead.status === 'CONVERTED').length).toBeGreaterThan(30);

    const beforeFigures = await figures();
    const beforeLog = await storedLog();
    const opened = await app.store.readAll();

    // Erase until 100 different people are gone (two leads of one person count once).
    const erasedLeads = new Set<string>();
    const erasedContacts = new Set<string>();
    const converted: string[] = [];
    const tracesBefore = new Map<string, any>();
    let people = 0;
    for (const lead of chosen) {
      if (people === PEOPLE) break;
      if (erasedLeads.has(lead.id)) continue;
      if (lead.status === 'CONVERTED') {
        converted.push(lead.id);
        tracesBefore.set(lead.id, (await ok(TRACE, { leadId: lead.id })).conversionTrace);
      }
      const { erasePersonalData: erasure } = await ok(
        `mutation($input: ErasePersonalDataInput!) { erasePersonalData(input: $input) { alreadyErased leadIds contactIds } }`,
        { input: { subjectId: lead.id, reason: 'GDPR art. 17 request' } },
        ['privacy_officer'],
      );
      expect(erasure.alreadyErased).toBe(false);
      erasure.leadIds.forEach((id: string) => erasedLeads.add(id));
      erasure.contactIds.forEach((id: string) => erasedContacts.add(id));
      people += 1;
    }
    expect(people).toBe(PEOPLE);
    expect(converted.length).toBeGreaterThan(30);

    // What identified them, from the events as they were readable before; minus what another,
    // surviving person shares (the generator reuses first and last names).
    const streamsOf = (ids: Set<string>, prefix: string) => new Set([...ids].map((id) => `${prefix}${id}`));
    const erasedStreams = new Set([...streamsOf(erasedLeads, 'lead-'), ...streamsOf(erasedContacts, 'contact-')]);
    const peopleIn = (events: RecordedEvent[]) =>
      events.flatMap((event) => {
        const data = event.data as any;
        return [data.person, data.newContact, event.type.startsWith('Contact') ? data : undefined].filter(Boolean);
      });
    const survivors = opened.filter((e) => !erasedStreams.has(e.streamId));
    // A trace inside a survivor's own (Miguel Martín inside "miguel martinez") is theirs to keep.
    const survivorText = [JSON.stringify(survivors), ...peopleIn(survivors).flatMap(tracesOf)].join('\n');
    const erasedTraces = new Set(
      peopleIn(opened.filter((e) => erasedStreams.has(e.streamId)))
        .flatMap(tracesOf)
        .filter((trace) => !survivorText.includes(trace)),
    );
    expect(erasedTraces.size).toBeGreaterThan(150);

    // (Each erasure ended with the same compaction; a server may have written since.)
    await app.personalData.afterErasure();
    const bytes = await databaseBytes();
    // The search itself works: a survivor's e-mail is found.
    const survivor = peopleIn(opened.filter((e) => !erasedStreams.has(e.streamId))).find((p) => p.email)!;
    expect(bytes.includes(Buffer.from(survivor.email, 'utf8'))).toBe(true);
    const found = [...erasedTraces].filter((trace) => bytes.includes(Buffer.from(trace, 'utf8')));
    expect(await whereStored(found)).toEqual([]);

    // Every figure identical.
    expect(await figures()).toEqual(beforeFigures);

    // Their conversions still traceable: ids, actors, times; only the contact's person is gone.
    for (const leadId of converted) {
      const after = (await ok(TRACE, { leadId })).conversionTrace;
      expect(after).toEqual(tracesBefore.get(leadId));
    }

    // The log: every event that was there, unchanged; the only new ones are the erasures.
    const afterLog = await storedLog();
    const added = afterLog.slice(beforeLog.length);
    expect(afterLog.slice(0, beforeLog.length)).toEqual(beforeLog);
    expect(added.map((event) => event.type)).toEqual(Array(PEOPLE).fill('PersonalDataErased'));
    if (!ON_POSTGRES) {
      const db = new Database(path.join(api.dataDir, DATABASE_FILE), { readonly: true });
      try {
        const rows = db.prepare('SELECT COUNT(*) AS n FROM events WHERE event_type <> ?').get('PersonalDataErased') as { n: number };
        expect(rows.n).toBe(beforeLog.length);
      } finally {
        db.close();
      }
    } else {
      const client = new Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      try {
        const schema = (await app.readDb.get<{ schema: string }>('SELECT current_schema() AS schema'))!.schema;
        const { rows } = await client.query(`SELECT COUNT(*)::int AS n FROM "${schema}".events WHERE event_type <> 'PersonalDataErased'`);
        expect(rows[0].n).toBe(beforeLog.length);
      } finally {
        await client.end();
      }
    }

    // A rebuild from zero gives the live read models, row for row.
    const readStore = ON_POSTGRES
      ? { kind: 'postgres' as const, connectionString: TEST_DATABASE_URL, schema: (await app.readDb.get<{ schema: string }>('SELECT current_schema() AS schema'))!.schema }
      : { kind: 'sqlite' as const, filename: path.join(api.dataDir, DATABASE_FILE) };
    const scratch = await openScratchSpace(readStore);
    try {
      const report = await verifyReadModels({ store: app.store, scratch, projections: readModelProjections() });
      expect(report.problems).toEqual([]);
      expect(report.tables.filter((table) => table.missing.count + table.unexpected.count + table.differing.count > 0 || table.problem)).toEqual([]);
      expect(report.ok).toBe(true);
    } finally {
      await scratch.close();
    }
  }, 600_000);
});
