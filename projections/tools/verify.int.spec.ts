import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readModelProjections } from '../../src/composition/application';
import type { EventStore } from '../../src/core/eventStore';
import { openEventLog } from '../../src/composition/eventLog';
import { openTestApplication, seed, type TestApplication } from '../../test/support/seededApplication';
import { aSchemaName, connectForTest, dropSchemas, TEST_DATABASE_URL } from '../../test/support/postgres';
import { openReadDatabase } from '../../src/composition/application';
import { replayProjections, UnknownProjectionError, type ReplayProgress } from './replay';
import { openScratchSpace } from './scratch';
import { verifyReadModels, type VerifyReport } from './verify';

const run = promisify(execFile);
const cli = (file: string, dataDir: string, ...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', '..', 'src', 'cli', file), '--data-dir', dataDir, ...args], {
    env: { ...process.env, CRM_DATA_DIR: '', CRM_EVENT_STORE: '', CRM_READ_STORE: '' },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );

const tableOf = (report: VerifyReport, name: string) => report.tables.find((table) => table.table === name)!;
const differingTables = (report: VerifyReport) =>
  report.tables
    .filter((table) => table.problem || table.missing.count + table.unexpected.count + table.differing.count > 0)
    .map((table) => table.table);

describe('verify and replay on SQLite', () => {
  /** Enough for the log to span several pages of the runner. */
  const LEADS = 70;
  let opened: TestApplication;
  let store: EventStore;
  let tampered: { leadId: string; quote: { opportunity_id: string; id: string }; seq: number };

  beforeAll(async () => {
    opened = await openTestApplication();
    await seed(opened.app, { leads: LEADS, seed: 5 });
    await opened.close();
    // As `npm run verify` reads it: personal data opened (a rebuild from the sealed log would hold none).
    store = await openEventLog(opened.config);
  }, 60_000);
  afterAll(async () => {
    await store.close();
    await opened.dispose();
  });

  const verify = async () => {
    const scratch = await openScratchSpace(opened.config.readStore);
    try {
      return await verifyReadModels({ store, scratch, projections: readModelProjections() });
    } finally {
      await scratch.close();
    }
  };

  const tamper = () => {
    const db = new Database(path.join(opened.dataDir, 'crm.sqlite'));
    try {
      const leadId = (db.prepare("SELECT id FROM read_leads WHERE status = 'DISQUALIFIED' ORDER BY id").get() as { id: string }).id;
      db.prepare("UPDATE read_leads SET status = 'CONVERTED' WHERE id = ?").run(leadId);
      const quote = db.prepare('SELECT opportunity_id, id FROM read_opportunity_quotes ORDER BY opportunity_id, id').get() as {
        opportunity_id: string;
        id: string;
      };
      db.prepare('DELETE FROM read_opportunity_quotes WHERE opportunity_id = ? AND id = ?').run(quote.opportunity_id, quote.id);
      db.exec(`CREATE TEMP TABLE ghost AS SELECT * FROM read_contacts LIMIT 1;
               UPDATE ghost SET id = 'ghost-contact'; INSERT INTO read_contacts SELECT * FROM ghost;`);
      const seq = (db.prepare("SELECT MAX(seq) AS seq FROM audit_events WHERE event_type = 'LeadConverted'").get() as { seq: number }).seq;
      db.prepare("UPDATE audit_events SET actor = 'mallory' WHERE seq = ?").run(seq);
      tampered = { leadId, quote, seq };
    } finally {
      db.close();
    }
  };

  it('passes on read models that only the projections wrote', async () => {
    const report = await verify();
    expect(report.problems).toEqual([]);
    expect(differingTables(report)).toEqual([]);
    expect(report.ok).toBe(true);
    const head = await store.headPosition();
    expect(Object.values(report.checkpoints)).toEqual(readModelProjections().map(() => head));
    expect(tableOf(report, 'read_leads')).toMatchObject({ liveRows: LEADS, rebuiltRows: LEADS });
  });

  it('finds a changed row, a lost row and a row nobody projected, by key, table by table', async () => {
    tamper();
    const report = await verify();
    expect(report.ok).toBe(false);
    expect(differingTables(report)).toEqual(['audit_events', 'read_contacts', 'read_leads', 'read_opportunity_quotes']);
    expect(tableOf(report, 'read_leads')).toMatchObject({
      liveRows: LEADS,
      rebuiltRows: LEADS,
      differing: { count: 1, keys: [tampered.leadId] },
      missing: { count: 0 },
      unexpected: { count: 0 },
    });
    expect(tableOf(report, 'read_opportunity_quotes').missing).toEqual({
      count: 1,
      keys: [`opportunity_id=${tampered.quote.opportunity_id}, id=${tampered.quote.id}`],
    });
    expect(tableOf(report, 'read_contacts').unexpected).toEqual({ count: 1, keys: ['ghost-contact'] });
    expect(tableOf(report, 'audit_events').differing).toEqual({ count: 1, keys: [String(tampered.seq)] });
  });

  it('replays one projection with progress, then all of them, after which verify passes again', async () => {
    const db = await openReadDatabase(opened.config.readStore);
    try {
      await expect(replayProjections({ store, db, projections: readModelProjections(), only: 'nope' })).rejects.toBeInstanceOf(
        UnknownProjectionError,
      );
      const progress: ReplayProgress[] = [];
      const result = await replayProjections({
        store,
        db,
        projections: readModelProjections(),
        only: 'leads',
        onProgress: (p) => progress.push(p),
      });
      const total = (await store.readAll()).length;
      expect(result).toMatchObject({ projections: ['leads'], events: total });
      expect(progress.at(-1)).toMatchObject({ done: total, total });
      expect(progress.length).toBeGreaterThan(1);

      const afterOne = await verify();
      expect(differingTables(afterOne)).toEqual(['audit_events', 'read_contacts', 'read_opportunity_quotes']);

      await replayProjections({ store, db, projections: readModelProjections() });
    } finally {
      await db.close();
    }
    expect((await verify()).ok).toBe(true);
  }, 60_000);

  it('npm run verify exits 1 and names the keys on a difference, 0 when there is none; npm run replay mends', async () => {
    const clean = await cli('verify.ts', opened.dataDir);
    expect(clean.code).toBe(0);
    expect(clean.stdout).toContain(`ok   read_leads: ${LEADS} live rows, ${LEADS} rebuilt`);

    tamper();
    const dirty = await cli('verify.ts', opened.dataDir);
    expect(dirty.code).toBe(1);
    expect(dirty.stdout).toContain(`DIFF read_leads: ${LEADS} live rows, ${LEADS} rebuilt\n       1 differing: ${tampered.leadId}`);
    expect(dirty.stdout).toContain('DIFFERENCES FOUND');

    const unknown = await cli('replay.ts', opened.dataDir, '--projection', 'nope');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('There is no projection named nope');

    const replayed = await cli('replay.ts', opened.dataDir);
    expect(replayed.code).toBe(0);
    expect(replayed.stderr).toMatch(/replay: \[#+-*\] [\d,]+\/[\d,]+ events, [\d,]+ events\/s/);
    expect(replayed.stderr).toContain(`rebuilt from ${(await store.readAll()).length.toLocaleString('en-US')} events`);
    expect((await cli('verify.ts', opened.dataDir)).code).toBe(0);
  }, 120_000);
});

describe('verify on a PostgreSQL read store', () => {
  const schema = aSchemaName('verify');
  let opened: TestApplication;
  let store: EventStore;
  beforeAll(async () => {
    opened = await openTestApplication({ env: { CRM_READ_STORE: 'postgres', DATABASE_URL: TEST_DATABASE_URL, CRM_PG_SCHEMA: schema } });
    await seed(opened.app, { leads: 15, seed: 9 });
    await opened.close();
    // As `npm run verify` reads it: personal data opened (a rebuild from the sealed log would hold none).
    store = await openEventLog(opened.config);
  }, 60_000);
  afterAll(async () => {
    await store.close();
    await opened.dispose();
    await dropSchemas(schema);
  });

  it('rebuilds into a scratch schema, finds a tampered row, and drops the scratch schema', async () => {
    const check = async () => {
      const scratch = await openScratchSpace(opened.config.readStore);
      try {
        return { report: await verifyReadModels({ store, scratch, projections: readModelProjections() }), scratch: scratch.scratch };
      } finally {
        await scratch.close();
      }
    };
    const clean = await check();
    expect(clean.report.problems).toEqual([]);
    expect(clean.report.ok).toBe(true);
    expect(tableOf(clean.report, 'read_leads')).toMatchObject({ liveRows: 15, rebuiltRows: 15 });

    const client = await connectForTest();
    try {
      const leads = `${pg.escapeIdentifier(schema)}.read_leads`;
      const { rows } = await client.query<{ id: string }>(`SELECT id FROM ${leads} ORDER BY id LIMIT 1`);
      await client.query(`UPDATE ${leads} SET owner_id = 'mallory' WHERE id = $1`, [rows[0]!.id]);
      const dirty = await check();
      expect(dirty.report.ok).toBe(false);
      expect(differingTables(dirty.report)).toEqual(['read_leads']);
      expect(tableOf(dirty.report, 'read_leads').differing.keys).toEqual([rows[0]!.id]);

      const leftovers = await client.query('SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [
        dirty.scratch.replace(/"/g, ''),
      ]);
      expect(leftovers.rowCount).toBe(0);
    } finally {
      await client.end();
    }
  }, 60_000);
});
