/**
 * Retention on a generated history (SQLite, the real read models): who the policy reaches, that
 * a dry run changes nothing, that a run erases exactly them with the rule recorded, and that
 * converted people and recent leads are kept.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApplication, seed, type TestApplication } from '../../../test/support/seededApplication';
import { scheduleRetention } from '../../composition/retentionSchedule';
import { createLogger } from '../../observability/logger';
import { handleCommand } from '../../core/commandHandler';
import { leadStreamId } from '../../domain/leads/lead';
import { engageContact } from '../engageContact';
import { cutoffBefore, parseRetentionAge, runRetention } from './retention';

let t: TestApplication;
beforeAll(async () => {
  t = await openTestApplication();
  await seed(t.app, { leads: 150, seed: 11 });
}, 120_000);
afterAll(async () => {
  await t?.dispose();
});

const NOW = new Date('2026-06-01T00:00:00Z');
const run = (dryRun: boolean, olderThan = '6m') =>
  runRetention(
    { store: t.app.store, sealedStore: t.app.personalData.sealedStore, readDb: t.app.readDb },
    { olderThan: parseRetentionAge(olderThan), now: NOW, dryRun, context: { actor: 'retention', now: NOW, correlationId: randomUUID() } },
  );
const leadRows = () =>
  t.app.readDb.all<{ id: string; status: string; person: string | null; personal_data_erased: number; disqualified_at: string | null; updated_at: string }>(
    'SELECT id, status, person, personal_data_erased, disqualified_at, updated_at FROM read_leads ORDER BY id',
  );

describe('parseRetentionAge', () => {
  it('reads days, months and years, and counts months on the calendar', () => {
    expect(parseRetentionAge('24m')).toEqual({ text: '24m', months: 24, days: 0 });
    expect(cutoffBefore(new Date('2026-03-31T12:00:00Z'), parseRetentionAge('1m')).toISOString()).toBe('2026-03-03T12:00:00.000Z');
    expect(cutoffBefore(NOW, parseRetentionAge('2y')).toISOString()).toBe('2024-06-01T00:00:00.000Z');
    expect(cutoffBefore(NOW, parseRetentionAge('10d')).toISOString()).toBe('2026-05-22T00:00:00.000Z');
    for (const bad of ['', '12', '0y', '1w', '1.5m']) expect(() => parseRetentionAge(bad)).toThrow(/retention age/);
  });
});

describe('a retention run', () => {
  it('lists in a dry run only people never converted whose every lead is past the cut-off, and changes nothing', async () => {
    const before = await leadRows();
    const head = await t.app.store.headPosition();
    const plan = await run(true);

    expect(plan.planned.length).toBeGreaterThan(5);
    expect(plan.erased).toEqual([]);
    expect(await t.app.store.headPosition()).toEqual(head);
    expect(await leadRows()).toEqual(before);
    const cutoff = plan.cutoff;
    const byId = new Map(before.map((row) => [row.id, row]));
    for (const entry of plan.planned) {
      for (const leadId of entry.leadIds) {
        const row = byId.get(leadId)!;
        expect(['DISQUALIFIED', 'NEW', 'CONTACTED', 'QUALIFIED']).toContain(row.status);
        expect((row.status === 'DISQUALIFIED' ? row.disqualified_at! : row.updated_at) < cutoff).toBe(true);
      }
    }
    // Leads past the cut-off that are kept say why.
    expect(plan.kept.every((entry) => entry.why.length > 0)).toBe(true);
  });

  it('erases exactly the people planned, records the rule, and finds no one the second time', async () => {
    const plan = await run(true);
    const done = await run(false);
    expect(done.erased.map((result) => result.erasure.subjectId)).toEqual(plan.planned.map((entry) => entry.leadId));
    for (const result of done.erased) {
      expect(result.erasure.origin).toBe('RETENTION');
      expect(result.erasure.reason).toContain('more than 6m');
      expect(result.erasure.contactIds).toEqual([]);
    }
    await t.app.readModels.waitForPosition(done.erased.at(-1)!.position!);

    const erased = new Set(plan.planned.flatMap((entry) => entry.leadIds));
    for (const row of await leadRows()) {
      if (erased.has(row.id)) expect(row).toMatchObject({ person: null, personal_data_erased: 1 });
      else expect(row.personal_data_erased).toBe(0);
    }
    // Converted people were never candidates; recent ones neither.
    expect((await leadRows()).some((row) => row.status === 'CONVERTED' && row.person !== null)).toBe(true);

    const again = await run(false);
    expect(again.planned).toEqual([]);
    expect(again.erased).toEqual([]);
  });
});

describe('CRM_RETENTION in the server', () => {
  it("keeps a contact's re-engaged lead past the cut-off: it shares the contact's key, and the person is a customer relationship", async () => {
    const [contact] = await t.app.readDb.all<{ id: string }>('SELECT id FROM read_contacts WHERE personal_data_erased = 0 ORDER BY id LIMIT 1');
    const leadId = randomUUID();
    const at = (iso: string, commandType: string) => ({
      actor: 'mia',
      now: new Date(iso),
      commandId: randomUUID(),
      commandType,
      correlationId: randomUUID(),
    });
    const engaged = await engageContact(t.app, { leadId, contactId: contact!.id, source: 'EMAIL_CAMPAIGN' }, at('2025-01-10T09:00:00Z', 'EngageContact'));
    const disqualified = await handleCommand(
      t.app.store,
      t.app.leadDecider,
      leadStreamId(leadId),
      { type: 'DisqualifyLead', data: { leadId, reason: 'NO_BUDGET' } },
      at('2025-01-20T09:00:00Z', 'DisqualifyLead'),
    );
    await t.app.readModels.waitForPosition(disqualified.position!);
    expect(engaged.revision).toBe(0);

    const plan = await run(true);
    expect(plan.planned.flatMap((entry) => entry.leadIds)).not.toContain(leadId);
    expect(plan.kept).toContainEqual({ leadId, why: 'the person became a contact' });
  });

  it('runs the policy on schedule, logs what it erased (lead ids, never names), and stops cleanly', async () => {
    const own = await openTestApplication();
    try {
      await seed(own.app, { leads: 60, seed: 5 });
      const lines: string[] = [];
      const logger = createLogger({ level: 'info', json: true, destination: { write: (line: string) => void lines.push(line) } });
      const schedule = scheduleRetention(own.app, parseRetentionAge('6m'), logger, { firstAfterMs: 10, everyMs: 60_000 });
      const deadline = Date.now() + 60_000;
      while (!lines.some((line) => line.includes('"component":"retention"')) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await schedule.stop();
      const entry = JSON.parse(lines.find((line) => line.includes('"component":"retention"'))!);
      expect(entry.erased).toBeGreaterThan(0);
      expect(entry.leadIds).toHaveLength(entry.erased);
      const erased = await own.app.readDb.all<{ person: string | null }>(
        `SELECT person FROM read_leads WHERE id IN (${entry.leadIds.map(() => '?').join(', ')})`,
        entry.leadIds,
      );
      expect(erased.every((row) => row.person === null)).toBe(true);
      const names = (await own.app.readDb.all<{ person: string }>('SELECT person FROM read_leads WHERE person IS NOT NULL')).map(
        (row) => JSON.parse(row.person).lastName as string,
      );
      expect(names.length).toBeGreaterThan(0);
      for (const line of lines) for (const name of names) expect(line).not.toContain(`"${name}"`);
    } finally {
      await own.dispose();
    }
  }, 120_000);
});
