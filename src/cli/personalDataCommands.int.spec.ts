/**
 * `npm run export-subject` and `npm run retention`, run as an operator runs them, on a data
 * directory a seeded application wrote.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApplication, seed, type TestApplication } from '../../test/support/seededApplication';

const run = promisify(execFile);
const cli = (name: string, dataDir: string, ...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', path.join(__dirname, `${name}.ts`), '--data-dir', dataDir, ...args], {
    env: { ...process.env, CRM_DATA_DIR: '', CRM_EVENT_STORE: '', CRM_READ_STORE: '', CRM_JWT_SECRET: 'x'.repeat(40) },
    maxBuffer: 64 * 1024 * 1024,
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );

let t: TestApplication;
let converted: { id: string; person: string };
beforeAll(async () => {
  t = await openTestApplication();
  await seed(t.app, { leads: 40, seed: 3 });
  converted = (await t.app.readDb.get<{ id: string; person: string }>(
    "SELECT id, person FROM read_leads WHERE status = 'CONVERTED' AND person IS NOT NULL ORDER BY id LIMIT 1",
  ))!;
  await t.close();
}, 120_000);
afterAll(async () => {
  await t?.dispose();
});

describe('npm run export-subject', () => {
  it('writes every personal value of the person as JSON, with where it came from', async () => {
    const out = path.join(t.dataDir, 'subject.json');
    const { code, stderr } = await cli('exportSubject', t.dataDir, converted.id, '--out', out);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(report.subjectId).toBe(converted.id);
    expect(report.contactIds).toHaveLength(1);
    const person = JSON.parse(converted.person);
    const captured = report.values.find((value: any) => value.eventType === 'LeadCaptured' && value.field === 'person');
    expect(captured).toMatchObject({ value: person, erased: false, sealed: true, streamId: `lead-${converted.id}` });
    expect(captured.actor).toBeTruthy();
    expect(stderr).toMatch(/export-subject: \d+ values from 1 lead\(s\), 1 contact\(s\)/);
  }, 60_000);

  it('says what is wrong: no id, two ids, an unknown id', async () => {
    expect((await cli('exportSubject', t.dataDir)).code).toBe(2);
    expect((await cli('exportSubject', t.dataDir, 'a', 'b')).code).toBe(2);
    const unknown = await cli('exportSubject', t.dataDir, 'no-such-person');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('Lead or contact no-such-person was not found');
  }, 60_000);
});

describe('npm run retention', () => {
  it('lists in a dry run, erases when run, and finds no one the second time', async () => {
    const dry = await cli('retention', t.dataDir, '--disqualified-older-than', '3m', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    const planned = dry.stdout.split('\n').filter((line) => line.startsWith('would erase'));
    expect(planned.length).toBeGreaterThan(0);
    expect(dry.stderr).toMatch(new RegExp(`retention: ${planned.length} would be erased`));

    const real = await cli('retention', t.dataDir, '--disqualified-older-than', '3m');
    expect(real.code, real.stderr).toBe(0);
    expect(real.stdout.split('\n').filter((line) => line.startsWith('erased'))).toHaveLength(planned.length);

    const again = await cli('retention', t.dataDir, '--disqualified-older-than', '3m', '--dry-run');
    expect(again.stdout.split('\n').filter((line) => line.startsWith('would erase'))).toEqual([]);

    // The person of an erased lead reads as erased in an access report.
    const leadId = planned[0]!.split('\t')[1]!;
    const out = path.join(t.dataDir, 'erased.json');
    await cli('exportSubject', t.dataDir, leadId, '--out', out);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(report.erasures).toHaveLength(1);
    expect(report.erasures[0].erasure.origin).toBe('RETENTION');
    expect(report.values.every((value: any) => value.erased && value.value === null)).toBe(true);
  }, 120_000);

  it('refuses a missing or malformed age', async () => {
    expect((await cli('retention', t.dataDir)).code).toBe(2);
    const bad = await cli('retention', t.dataDir, '--disqualified-older-than', 'soon');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--disqualified-older-than: a retention age');
  }, 60_000);
});
