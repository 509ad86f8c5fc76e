/**
 * `npm run import`, run as an operator runs it, on a fresh data directory: a file with good and
 * bad rows, twice; a mapping file; a dry run.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { scoresSettled } from '../../test/support/scoring';
import { openTestApplication, type TestApplication } from '../../test/support/seededApplication';

const run = promisify(execFile);
const cli = (dataDir: string, ...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', path.join(__dirname, 'importLeads.ts'), '--data-dir', dataDir, ...args], {
    env: { ...process.env, CRM_DATA_DIR: '', CRM_EVENT_STORE: '', CRM_READ_STORE: '', CRM_JWT_SECRET: 'x'.repeat(40) },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );

const CSV = `Nombre;Apellidos;Email;Empresa;Origen;Fecha de captura;Notas
Ana;García;ana.garcia@example.com;Botiga Puig;Trade fair;14/03/2024;"Stand 4; wants a demo"
Joan;;joan@example.com;;web form;2024-03-15;
Marta;Soler;not-an-email;Soler SL;WEB_FORM;;
Pere;Vidal;pere@example.com;Vidal i Fills;carrier pigeon;;
;;;Only Company SA;;;
`;

let t: TestApplication;
let file: string;
beforeAll(async () => {
  t = await openTestApplication();
  await t.close();
  file = path.join(t.dataDir, 'fira.csv');
  writeFileSync(file, CSV);
}, 60_000);
afterAll(async () => {
  await t?.dispose();
});

const leadsInDb = async () => {
  const reopened = await openTestApplication({ dataDir: t.dataDir });
  try {
    return await reopened.app.readDb.all<{ id: string; source: string; captured_at: string; person: string | null; company: string | null }>(
      'SELECT id, source, captured_at, person, company FROM read_leads ORDER BY captured_at',
    );
  } finally {
    await reopened.close();
  }
};

describe('npm run import', () => {
  it('a dry run reports what would happen and writes nothing', async () => {
    const { code, stderr } = await cli(t.dataDir, file, '--source', 'OTHER', '--dry-run');
    expect(code).toBe(1);
    expect(stderr).toContain('2 valid, 3 rejected');
    expect(await leadsInDb()).toEqual([]);
  });

  it('imports the good rows with their capture dates, writes the bad ones with row, field and reason, and creates nothing twice', async () => {
    const first = await cli(t.dataDir, file, '--source', 'OTHER', '--campaign', 'fira-2024', '--list', 'Fira 2024');
    expect(first.code, first.stderr).toBe(1);
    expect(first.stderr).toContain('2 created, 0 already imported, 3 rejected');
    const rejected = readFileSync(path.join(t.dataDir, 'fira.rejected.csv'), 'utf8').trim().split('\n');
    expect(rejected[0]).toBe('row,field,reason,Nombre,Apellidos,Email,Empresa,Origen,Fecha de captura,Notas');
    expect(rejected.slice(1).map((line) => line.split(',').slice(0, 2).join(','))).toEqual([
      '3,person.lastName',
      '4,person.email',
      '5,source',
    ]);

    const leads = await leadsInDb();
    expect(leads).toHaveLength(2);
    expect(leads[0]).toMatchObject({ source: 'TRADE_FAIR', captured_at: '2024-03-14T00:00:00.000Z' });
    expect(JSON.parse(leads[0]!.person!)).toMatchObject({ firstName: 'Ana', lastName: 'García', email: 'ana.garcia@example.com' });
    // The row without a source takes the command line's.
    expect(leads[1]).toMatchObject({ source: 'OTHER' });

    const second = await cli(t.dataDir, file, '--source', 'OTHER', '--campaign', 'fira-2024', '--list', 'Fira 2024');
    expect(second.stderr).toContain('0 created, 2 already imported, 3 rejected');
    expect(await leadsInDb()).toHaveLength(2);
  });

  it('takes a mapping file, and refuses one naming a column the file does not have', async () => {
    const csv = path.join(t.dataDir, 'crm-export.csv');
    writeFileSync(csv, 'Contact Surname,Mail,Org\nRoca,roca@example.com,Roca SA\n');
    const mapping = path.join(t.dataDir, 'mapping.json');
    writeFileSync(mapping, JSON.stringify({ 'Contact Surname': 'person.lastName', Mail: 'person.email', Org: 'company.name' }));
    const ok = await cli(t.dataDir, csv, '--mapping', mapping, '--source', 'REFERRAL');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain('1 created');

    writeFileSync(mapping, JSON.stringify({ Phone: 'person.phone' }));
    const bad = await cli(t.dataDir, csv, '--mapping', mapping);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('no column "Phone" in the file');
  });

  it('--skip-duplicates leaves out rows of people already known, and lists them with the rejected rows', async () => {
    const csv = path.join(t.dataDir, 'again.csv');
    writeFileSync(csv, 'Email,Last name,Company\nana.garcia@example.com,García Puig,\nnew.person@example.com,New,\n');
    const { code, stderr } = await cli(t.dataDir, csv, '--source', 'WEB_FORM', '--skip-duplicates');
    expect(code, stderr).toBe(0);
    expect(stderr).toContain('1 created, 0 already imported, 1 duplicates skipped, 0 rejected');
    const listed = readFileSync(path.join(t.dataDir, 'again.rejected.csv'), 'utf8');
    expect(listed).toMatch(/^2,,possible duplicate of lead [0-9a-f-]+ \(same e-mail\),ana\.garcia@example\.com/m);
  });

  it('leaves scoring to the server: the imported leads are scored once each when it next runs', async () => {
    const csv = path.join(t.dataDir, 'to-score.csv');
    writeFileSync(csv, 'Email,Last name\nscore.one@example.com,One\nscore.two@example.com,Two\n');
    const { code, stderr } = await cli(t.dataDir, csv, '--source', 'REFERRAL');
    expect(code, stderr).toBe(0);
    expect(stderr).toContain("scores: the server's lead scorer scores the new leads when it runs");
    const scoresPerLead = () => {
      const db = new Database(path.join(t.dataDir, 'crm.sqlite'), { readonly: true });
      try {
        return db
          .prepare<[], { email: string; scores: number }>(
            `SELECT json_extract(l.person, '$.email') AS email,
                    (SELECT count(*) FROM events e WHERE e.stream_id = 'leadscore-' || l.id AND e.event_type = 'LeadRescored') AS scores
             FROM read_leads l WHERE json_extract(l.person, '$.email') LIKE 'score.%' ORDER BY email`,
          )
          .all();
      } finally {
        db.close();
      }
    };
    expect(scoresPerLead()).toEqual([
      { email: 'score.one@example.com', scores: 0 },
      { email: 'score.two@example.com', scores: 0 },
    ]);
    const server = await openTestApplication({ dataDir: t.dataDir });
    try {
      await scoresSettled(server.app);
    } finally {
      await server.close();
    }
    expect(scoresPerLead()).toEqual([
      { email: 'score.one@example.com', scores: 1 },
      { email: 'score.two@example.com', scores: 1 },
    ]);
  });
});
