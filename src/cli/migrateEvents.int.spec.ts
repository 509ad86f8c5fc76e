/**
 * Moving the log to another store: the source is a real SQLite log written through the GraphQL
 * API, the targets are real stores (in-memory, another SQLite file, PostgreSQL).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountsProjection } from '../../projections/accounts/accountsReadModel';
import { contactsProjection } from '../../projections/contacts/contactsReadModel';
import { kpiFactsProjection } from '../../projections/kpis/kpiFactsProjection';
import { leadsProjection } from '../../projections/leads/leadsProjection';
import { opportunitiesProjection } from '../../projections/opportunities/opportunitiesProjection';
import { ProjectionRunner } from '../../projections/runner';
import { openSqliteDatabase } from '../../projections/sqlDatabase';
import { aSchemaName, dropSchemas, TEST_DATABASE_URL } from '../../test/support/postgres';
import { scoresSettled } from '../../test/support/scoring';
import { startTestServer, type TestServer } from '../../test/support/testServer';
import { DATABASE_FILE } from '../composition/config';
import { NO_STREAM, type EventStore, type RecordedEvent } from '../core/eventStore';
import { createInMemoryEventStore } from '../eventStores/inMemory';
import { openPostgresEventStore } from '../eventStores/postgres';
import { openSqliteEventStore } from '../eventStores/sqlite';
import { MigrationConflictError, migrateEvents, type MigrationProgress } from './migrateEvents';

const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'migrate-events-'));
const schemas: string[] = [];
afterAll(async () => {
  fs.rmSync(tempDir, { recursive: true, force: true });
  await dropSchemas(...schemas);
});

const aSqliteFile = () => path.join(tempDir, `${randomUUID()}.sqlite`);
const aPostgresStore = () => {
  const schema = aSchemaName('migrate');
  schemas.push(schema);
  return openPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema });
};

/** What must survive the move: everything but the position, which is the target's own. */
const portable = ({ position: _position, ...event }: RecordedEvent) => event;

const withStores = async <T>(stores: EventStore[], work: () => Promise<T>): Promise<T> => {
  try {
    return await work();
  } finally {
    await Promise.all(stores.map((store) => store.close()));
  }
};

/** A working day of the sales team, over HTTP, so the log holds what the API really writes. */
const recordASalesDay = async (api: TestServer) => {
  const ok = async (query: string, variables: Record<string, unknown> = {}) => {
    const response = await api.gql(query, variables, { as: 'marta' });
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    return response.data!;
  };
  const capture = async (lastName: string, company?: string) =>
    (
      await ok(
        `mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`,
        {
          input: {
            source: 'TRADE_FAIR',
            person: { lastName, email: `${lastName.toLowerCase()}@example.org` },
            ...(company ? { company: { name: company } } : {}),
            interest: { product: 'Terrace', estimatedValue: { amount: '5000.00', currency: 'EUR' } },
            idempotencyKey: `capture-${lastName}`,
          },
        },
      )
    ).captureLead.lead.id as string;

  const won = await capture('Pons', 'Pons Terrasses');
  await ok(`mutation($id: ID!) { logLeadContact(input: { leadId: $id, channel: CALL, outcome: REACHED }) { lead { id } } }`, { id: won });
  await ok(`mutation($id: ID!) { qualifyLead(input: { leadId: $id, rank: SQL }) { lead { id } } }`, { id: won });
  const converted = await ok(
    `mutation($id: ID!) { convertLead(input: { leadId: $id }) { opportunity { id } } }`,
    { id: won },
  );
  const opp = { id: converted.convertLead.opportunity.id };
  const quote = await ok(
    `mutation($id: ID!) { addQuote(input: { opportunityId: $id, amount: { amount: "5200.00", currency: "EUR" },
      validUntil: "2027-02-15", description: "Terrace" }) { quote { id } } }`,
    opp,
  );
  await ok(`mutation($id: ID!, $q: ID!) { changeQuoteStatus(input: { opportunityId: $id, quoteId: $q, status: SENT }) { quote { id } } }`, {
    ...opp,
    q: quote.addQuote.quote.id,
  });
  await ok(`mutation($id: ID!) { closeOpportunity(input: { opportunityId: $id, outcome: WON,
    amount: { amount: "5200.00", currency: "EUR" } }) { opportunity { id } } }`, opp);

  const lost = await capture('Costa');
  await ok(`mutation($id: ID!) { qualifyLead(input: { leadId: $id, rank: SQL }) { lead { id } } }`, { id: lost });
  const grouped = await ok(
    `mutation($id: ID!) { convertLead(input: { leadId: $id, account: { new: { kind: GROUPING, name: "Girona region" } } }) { opportunity { id } } }`,
    { id: lost },
  );
  await ok(`mutation($id: ID!) { closeOpportunity(input: { opportunityId: $id, outcome: LOST, lossReason: "PRICE" }) { opportunity { id } } }`, {
    id: grouped.convertLead.opportunity.id,
  });

  const dropped = await capture('Vidal', 'Vidal SL');
  await ok(`mutation($id: ID!) { disqualifyLead(input: { leadId: $id, reason: "NO_BUDGET" }) { lead { id } } }`, { id: dropped });
};

let sourceFile: string;
let sourceLog: RecordedEvent[];

beforeAll(async () => {
  const dataDir = path.join(tempDir, 'source');
  const api = await startTestServer({ dataDir });
  try {
    await recordASalesDay(api);
    // The scores the lead scorer records after the day's facts are part of the log copied.
    await scoresSettled(api.server.app);
  } finally {
    await api.stop();
  }
  sourceFile = path.join(dataDir, DATABASE_FILE);
  const source = openSqliteEventStore({ filename: sourceFile });
  sourceLog = await withStores([source], () => source.readAll());
}, 60_000);

describe.each([
  ['the in-memory store', async () => createInMemoryEventStore()],
  ['another SQLite file', async () => openSqliteEventStore({ filename: aSqliteFile() })],
  ['PostgreSQL', aPostgresStore],
])('migrating from SQLite to %s', (_name, openTarget) => {
  it('copies every event in global order with its id, stream, revision, type, data and metadata', async () => {
    const source = openSqliteEventStore({ filename: sourceFile });
    const target = await openTarget();
    await withStores([source, target], async () => {
      const progress: MigrationProgress[] = [];

      const result = await migrateEvents(source, target, { pageSize: 7, onProgress: (p) => progress.push(p) });

      expect(result).toMatchObject({ copied: sourceLog.length, skipped: 0 });
      expect(progress.at(-1)).toEqual(result);
      const copied = await target.readAll();
      expect(copied.map(portable)).toEqual(sourceLog.map(portable));
      for (const streamId of new Set(sourceLog.map((event) => event.streamId))) {
        expect((await target.readStream(streamId)).map(portable)).toEqual(
          (await source.readStream(streamId)).map(portable),
        );
      }
      const positions = copied.map((event) => event.position);
      expect([...positions].sort((a, b) => target.comparePositions(a, b))).toEqual(positions);
    });
  });
});

describe('the source log', () => {
  it('is a real one: several streams, several event types, and metadata on every event', () => {
    expect(new Set(sourceLog.map((event) => event.streamId.split('-')[0])).size).toBeGreaterThanOrEqual(4);
    expect(new Set(sourceLog.map((event) => event.type)).size).toBeGreaterThanOrEqual(8);
    // Every fact is marta's, but what the lead scorer recorded after them (the rules it scores with,
    // the scores), as in any real log.
    const byScorer = new Set(['LeadRescored', 'ScoringRulesPublished']);
    const actors = sourceLog.filter((event) => event.metadata.actor !== (byScorer.has(event.type) ? 'lead-scorer' : 'marta'));
    expect(actors.map((event) => [event.type, event.metadata.actor])).toEqual([]);
    expect(sourceLog.some((event) => event.type === 'LeadRescored')).toBe(true);
    expect(sourceLog.some((event) => event.metadata.idempotencyKey === 'capture-Pons')).toBe(true);
  });
});

describe('an interrupted migration', () => {
  it('copies only what is missing when run again, and ends with the same log', async () => {
    const source = openSqliteEventStore({ filename: sourceFile });
    const target = openSqliteEventStore({ filename: aSqliteFile() });
    await withStores([source, target], async () => {
      let appends = 0;
      const crash = new Error('power cut');
      const failingAfterFiveAppends: EventStore = {
        ...target,
        appendToStream: async (...args) => {
          if (++appends > 5) throw crash;
          return target.appendToStream(...args);
        },
      };
      await expect(migrateEvents(source, failingAfterFiveAppends, { pageSize: 4 })).rejects.toBe(crash);
      const before = (await target.readAll()).length;
      expect(before).toBeGreaterThan(0);
      expect(before).toBeLessThan(sourceLog.length);

      const resumed = await migrateEvents(source, target);

      expect(resumed).toMatchObject({ copied: sourceLog.length - before, skipped: before });
      expect((await target.readAll()).map(portable)).toEqual(sourceLog.map(portable));
      expect(await migrateEvents(source, target)).toMatchObject({ copied: 0, skipped: sourceLog.length });
    });
  });

  it.each([
    ['another event where the source has one', (first: RecordedEvent) => [first.streamId, randomUUID()] as const],
    ['a stream the source does not have', () => [`lead-${randomUUID()}`, randomUUID()] as const],
  ])('refuses a target holding %s, and copies nothing', async (_case, foreign) => {
    const source = openSqliteEventStore({ filename: sourceFile });
    const target = openSqliteEventStore({ filename: aSqliteFile() });
    await withStores([source, target], async () => {
      const [streamId, id] = foreign(sourceLog[0]!);
      await target.appendToStream(streamId, [{ ...sourceLog[0]!, id }], { expectedRevision: NO_STREAM });

      const error = await migrateEvents(source, target).catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(MigrationConflictError);
      expect((error as Error).message).toContain(`stream ${streamId} holds event ${id} at revision 0`);
      expect(await target.readAll()).toHaveLength(1);
    });
  });
});

describe('read models rebuilt on the target', () => {
  const projections = () => [
    leadsProjection,
    opportunitiesProjection,
    accountsProjection,
    contactsProjection,
    kpiFactsProjection,
  ];

  /**
   * Every read-model row, per table; checkpoints by name and version, and a lead's row without the
   * position of its latest score, as positions differ between stores.
   */
  const rebuildReadModels = async (store: EventStore) => {
    const db = openSqliteDatabase(aSqliteFile());
    const runner = new ProjectionRunner({ store, db, projections: projections() });
    try {
      await runner.start();
      await runner.whenCaughtUp();
      await runner.stop();
      const tables = await db.all<{ name: string }>(
        `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`,
      );
      const contents: Record<string, string[]> = {};
      for (const { name } of tables) {
        const sql = name === 'projection_checkpoints' ? 'SELECT name, version FROM projection_checkpoints' : `SELECT * FROM "${name}"`;
        contents[name] = (await db.all<Record<string, unknown>>(sql))
          .map(({ score_position: _scorePosition, ...row }) => JSON.stringify(row))
          .sort();
      }
      return contents;
    } finally {
      await db.close();
    }
  };

  it('gives the same rows in every table as a rebuild on the source', async () => {
    const source = openSqliteEventStore({ filename: sourceFile });
    const target = await aPostgresStore();
    await withStores([source, target], async () => {
      await migrateEvents(source, target);

      const fromSource = await rebuildReadModels(source);
      const fromTarget = await rebuildReadModels(target);

      expect(Object.keys(fromSource)).toEqual(expect.arrayContaining(['read_leads', 'read_opportunities', 'read_accounts', 'read_contacts']));
      expect(Object.values(fromSource).flat().length).toBeGreaterThan(20);
      expect(fromTarget).toEqual(fromSource);
    });
  });
});

describe('npm run migrate-events', () => {
  const run = promisify(execFile);
  const cli = path.join(__dirname, 'migrateEvents.ts');
  const migrate = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    run('npx', ['tsx', cli, ...args], { env: { ...process.env, ...env } }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );

  it('copies the SQLite log named by --from-url to the PostgreSQL of DATABASE_URL and CRM_PG_SCHEMA', async () => {
    const schema = aSchemaName('migrate_cli');
    schemas.push(schema);

    const { code, stdout, stderr } = await migrate(['--from', 'sqlite', '--from-url', sourceFile, '--to', 'postgres'], {
      DATABASE_URL: TEST_DATABASE_URL,
      CRM_PG_SCHEMA: schema,
    });

    expect(code, stderr).toBe(0);
    expect(stdout).toContain(`Copied ${sourceLog.length} events from sqlite to postgres`);
    const target = await openPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema });
    await withStores([target], async () => {
      expect((await target.readAll()).map(portable)).toEqual(sourceLog.map(portable));
    });
  });

  it('explains in one line what is wrong with its arguments or settings', async () => {
    const unknownStore = await migrate(['--from', 'mysql', '--to', 'sqlite']);
    expect(unknownStore.code).toBe(2);
    expect(unknownStore.stderr).toContain('--from must be sqlite, postgres, eventstoredb; got "mysql"');

    const sameStore = await migrate(['--from', 'sqlite', '--to', 'sqlite'], { CRM_DATA_DIR: path.dirname(sourceFile) });
    expect(sameStore.code).toBe(2);
    expect(sameStore.stderr).toContain('--to names the same store as --from');

    const noSource = await migrate(['--from', 'sqlite', '--to', 'sqlite', '--to-url', aSqliteFile()], {
      CRM_DATA_DIR: path.join(tempDir, 'nothing-here'),
    });
    expect(noSource.code).toBe(1);
    expect(noSource.stderr).toContain('CRM_DATA_DIR has no SQLite event store at');

    const noUrl = await migrate(['--from', 'sqlite', '--to', 'eventstoredb'], { EVENTSTORE_URL: '' });
    expect(noUrl.code).toBe(1);
    expect(noUrl.stderr).toContain('EVENTSTORE_URL is required');
  });
});
