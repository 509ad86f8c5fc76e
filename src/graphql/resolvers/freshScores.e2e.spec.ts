/**
 * Scores that are never stale (issue 13, part 5), over HTTP: the lead scorer scores a lead again
 * after each fact its rules read, without anyone calling scoreLead, on a stream of the lead's own
 * (its revision does not move), exactly once per change across restarts and redos; and
 * rescoreOpenLeads starts a background job that a client follows to SUCCEEDED.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aSchemaName, dropSchemas } from '../../../test/support/postgres';
import { scoresSettled } from '../../../test/support/scoring';
import { startTestServer, type TestServer } from '../../../test/support/testServer';

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-fresh-scores-e2e-'));
// Restarts must find the same events: on PostgreSQL that means naming the schema ourselves.
const schema = process.env.CRM_TEST_STORE === 'postgres' ? aSchemaName('fresh_scores') : undefined;

const V1 = {
  version: 'v1',
  rules: [
    { id: 'referral', label: 'Referral', points: 20, when: { source: ['REFERRAL'] } },
    { id: 'boss', points: 15, when: { jobTitleKeywords: ['ceo'] } },
    { id: 'reached', points: 10, count: { action: 'CONTACT', outcomes: ['REACHED'], max: 3 } },
    { id: 'bounced', points: -5, count: { action: 'CONTACT', outcomes: ['BOUNCED'] } },
  ],
};
const V2 = { ...V1, version: 'v2', rules: [{ ...V1.rules[0], points: 50 }, ...V1.rules.slice(1)] };

const serverWith = (rules: unknown) => {
  const file = path.join(dataDir, `${(rules as { version: string }).version}.json`);
  writeFileSync(file, JSON.stringify(rules));
  return startTestServer({ dataDir, env: { CRM_SCORING_FILE: file, ...(schema ? { CRM_PG_SCHEMA: schema } : {}) } });
};

let api: TestServer;
beforeAll(async () => {
  api = await serverWith(V1);
});
afterAll(async () => {
  await api.stop();
  if (schema) await dropSchemas(schema);
  rmSync(dataDir, { recursive: true, force: true });
});

const settled = () => scoresSettled(api.server.app);
const ok = async (query: string, variables: Record<string, unknown> = {}, as?: { as: string; roles: string[] }) => {
  const response = await api.gql(query, variables, as);
  expect(response.errors).toBeUndefined();
  return Object.values(response.data!)[0] as any;
};
const codeOf = (response: { errors?: Array<{ extensions?: Record<string, any> }> }) => response.errors?.[0]?.extensions?.code;

const CAMPAIGN = 'fresh-scores';
const LEAD_FIELDS = 'id revision status score scoredWithRulesVersion scoredAt scoreBreakdown { ruleId points count } updatedAt';
const CAPTURE = `mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { ${LEAD_FIELDS} } } }`;
const CONTACT = `mutation($input: LogLeadContactInput!) { logLeadContact(input: $input) { lead { ${LEAD_FIELDS} } } }`;
const UPDATE = `mutation($input: UpdateLeadDetailsInput!) { updateLeadDetails(input: $input) { lead { ${LEAD_FIELDS} } } }`;
const ASSIGN = `mutation($input: AssignLeadInput!) { assignLead(input: $input) { lead { ${LEAD_FIELDS} } } }`;
const DISQUALIFY = `mutation($input: DisqualifyLeadInput!) { disqualifyLead(input: $input) { lead { id } } }`;
const LEAD = `query($id: ID!, $knownAt: DateTime) { lead(id: $id, knownAt: $knownAt) { ${LEAD_FIELDS} } }`;
const HISTORY = `query($id: ID!) { history(streamId: $id) { id type data actor causationId correlationId revision recordedAt } }`;
const JOB_FIELDS = 'id status rulesVersion startedBy startedAt finishedAt total examined rescored unchanged skipped error';
const RESCORE = `mutation($input: RescoreOpenLeadsInput) { rescoreOpenLeads(input: $input) { job { ${JOB_FIELDS} } rulesVersion } }`;
const JOB = `query($id: ID!) { scoringJob(id: $id) { ${JOB_FIELDS} } }`;
const EVENT_COUNT = '{ auditTrail(first: 0) { totalCount } }';

const capture = async (input: Record<string, unknown>) => (await ok(CAPTURE, { input: { campaign: CAMPAIGN, ...input } })).lead;
const contact = (leadId: string, outcome = 'REACHED', extra: Record<string, unknown> = {}) =>
  ok(CONTACT, { input: { leadId, channel: 'CALL', outcome, ...extra } });
const leadOf = async (id: string, knownAt?: string) => (await ok(LEAD, { id, knownAt })) as Record<string, any>;
const historyOf = async (streamId: string): Promise<Array<Record<string, any>>> => {
  const response = await api.gql(HISTORY, { id: streamId });
  // A lead never scored automatically has no score stream.
  if (codeOf(response) === 'NOT_FOUND') return [];
  expect(response.errors).toBeUndefined();
  return response.data!.history;
};
const eventCount = async () => (await ok(EVENT_COUNT)).totalCount as number;

/** Follows a job until it is no longer RUNNING. */
const finished = async (id: string, as?: { as: string; roles: string[] }) => {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const job = await ok(JOB, { id }, as);
    if (job.status !== 'RUNNING' || Date.now() > deadline) return job;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

/** The first lead the suite scores: followed through both parts. */
let hot: Record<string, any>;

describe('the lead scorer', () => {
  it('scores move when a contact is reached, without anyone calling scoreLead, and the lead keeps its revision', async () => {
    hot = await capture({ source: 'REFERRAL', person: { lastName: 'Mas' } });
    await settled();
    expect(await leadOf(hot.id)).toMatchObject({ revision: 0, score: 20, scoredWithRulesVersion: 'v1', scoreBreakdown: [{ ruleId: 'referral', points: 20, count: null }] });

    const contacted = await contact(hot.id);
    // The mutation answers the lead as its own write left it: the score follows it, in the background.
    expect(contacted.lead).toMatchObject({ revision: 1, score: 20 });
    await settled();
    const moved = await leadOf(hot.id);
    expect(moved).toMatchObject({
      revision: 1,
      score: 30,
      scoreBreakdown: [
        { ruleId: 'referral', points: 20, count: null },
        { ruleId: 'reached', points: 10, count: 1 },
      ],
      // An automatic score is no fact of the lead's: retention still sees it untouched since the contact.
      updatedAt: contacted.lead.updatedAt,
    });

    // The scores are facts of the lead's score stream, each caused by the fact it follows.
    const leadEvents = await historyOf(`lead-${hot.id}`);
    expect(leadEvents.map((event) => event.type)).toEqual(['LeadCaptured', 'LeadContactLogged']);
    const scores = await historyOf(`leadscore-${hot.id}`);
    expect(scores).toMatchObject([
      { type: 'LeadRescored', actor: 'lead-scorer', causationId: leadEvents[0]!.id, correlationId: leadEvents[0]!.correlationId, data: { score: 20, rulesVersion: 'v1', basedOnRevision: 0 } },
      { type: 'LeadRescored', actor: 'lead-scorer', causationId: leadEvents[1]!.id, correlationId: leadEvents[1]!.correlationId, data: { score: 30, rulesVersion: 'v1', basedOnRevision: 1 } },
    ]);

    // A client holding revision 1 still writes with it.
    const next = await contact(hot.id, 'BOUNCED', { expectedRevision: 1 });
    expect(next.lead.revision).toBe(2);
    await settled();
    expect((await leadOf(hot.id)).score).toBe(25);
    // As it was known before the bounce: the score of then.
    expect((await leadOf(hot.id, scores[1]!.recordedAt)).score).toBe(30);
  });

  it('scores move when details change, and nothing is recorded for a fact no rule reads', async () => {
    const before = (await historyOf(`leadscore-${hot.id}`)).length;
    await ok(ASSIGN, { input: { leadId: hot.id, ownerId: 'alice' } });
    await ok(UPDATE, { input: { leadId: hot.id, interest: { product: 'Shelving' } } });
    await settled();
    expect(await historyOf(`leadscore-${hot.id}`)).toHaveLength(before);

    await ok(UPDATE, { input: { leadId: hot.id, person: { lastName: 'Mas', jobTitle: 'CEO' } } });
    await settled();
    expect(await leadOf(hot.id)).toMatchObject({ revision: 5, score: 40 });
    expect(await historyOf(`leadscore-${hot.id}`)).toHaveLength(before + 1);
  });

  it('leads(orderBy: SCORE) follows the automatic scores', async () => {
    const cold = await capture({ source: 'COLD_OUTREACH', person: { lastName: 'Gil' } });
    const warm = await capture({ source: 'REFERRAL', person: { lastName: 'Bosch' } });
    await settled();
    const LIST = `query { leads(filter: { campaign: "${CAMPAIGN}" }, orderBy: SCORE) { edges { node { id score } } } }`;
    expect((await ok(LIST)).edges.map((edge: any) => edge.node)).toEqual([
      { id: hot.id, score: 40 },
      { id: warm.id, score: 20 },
      { id: cold.id, score: 0 },
    ]);
    for (let call = 0; call < 3; call++) await contact(cold.id);
    await contact(cold.id);
    await settled();
    // Three reached at most count: 30, still below the boss's 40 and above the referral's 20.
    expect((await ok(LIST)).edges.map((edge: any) => edge.node)).toEqual([
      { id: hot.id, score: 40 },
      { id: cold.id, score: 30 },
      { id: warm.id, score: 20 },
    ]);
  });

  it('reproduces an automatic score from the lead revision it was computed from', async () => {
    const REPRODUCE = `query($leadId: ID!) { reproduceScore(leadId: $leadId) { rulesVersion recordedScore reproducedScore matches automatic basedOnRevision } }`;
    expect(await ok(REPRODUCE, { leadId: hot.id })).toEqual({
      rulesVersion: 'v1',
      recordedScore: 40,
      reproducedScore: 40,
      matches: true,
      automatic: true,
      basedOnRevision: 5,
    });
  });

  it('records nothing twice: a redo from an older checkpoint, and a restart', async () => {
    const app = api.server.app;
    const countBefore = await eventCount();
    const scoresBefore = await historyOf(`leadscore-${hot.id}`);
    // The scorer forgets where it was and follows the whole log again.
    const scorer = app.leadScorer()!;
    await scorer.stop();
    await app.readDb.run(`DELETE FROM process_checkpoints WHERE name = 'lead-scorer'`);
    await scorer.start();
    await settled();
    expect(await eventCount()).toBe(countBefore);
    expect(await historyOf(`leadscore-${hot.id}`)).toEqual(scoresBefore);

    await api.stop();
    api = await serverWith(V1);
    await settled();
    expect(await eventCount()).toBe(countBefore);
    expect(await leadOf(hot.id)).toMatchObject({ revision: 5, score: 40 });
  });

  it('does not score a lead disqualified before its turn came, and scores it again once recycled', async () => {
    const scorer = api.server.app.leadScorer()!;
    await scorer.stop();
    const gone = await capture({ source: 'REFERRAL', person: { lastName: 'Roig' } });
    await ok(DISQUALIFY, { input: { leadId: gone.id, reason: 'NO_NEED' } });
    await scorer.start();
    await settled();
    expect(await historyOf(`leadscore-${gone.id}`)).toEqual([]);
    expect((await leadOf(gone.id)).score).toBeNull();

    await ok(`mutation($input: RecycleLeadInput!) { recycleLead(input: $input) { lead { id } } }`, {
      input: { leadId: gone.id, source: 'COLD_OUTREACH' },
    });
    await settled();
    expect(await historyOf(`leadscore-${gone.id}`)).toMatchObject([{ data: { score: 0, basedOnRevision: 2 } }]);
    expect((await leadOf(gone.id)).score).toBe(0);
  });
});

describe('re-scoring every open lead, in the background', () => {
  let jobId: string;
  let open: string[];

  it('answers at once with the job, which reaches SUCCEEDED with its counts', async () => {
    await api.stop();
    api = await serverWith(V2);
    await settled();
    // New rules score no fact twice: followed again from the start, the log's facts all have theirs.
    const countBefore = await eventCount();
    const scorer = api.server.app.leadScorer()!;
    await scorer.stop();
    await api.server.app.readDb.run(`DELETE FROM process_checkpoints WHERE name = 'lead-scorer'`);
    await scorer.start();
    await settled();
    expect(await eventCount()).toBe(countBefore);

    const LIST = `query { leads(filter: { status: NEW }, first: 200) { edges { node { id } } } }`;
    const CONTACTED = `query { leads(filter: { status: CONTACTED }, first: 200) { edges { node { id } } } }`;
    open = [...(await ok(LIST)).edges, ...(await ok(CONTACTED)).edges].map((edge: any) => edge.node.id).sort();
    expect(open.length).toBeGreaterThanOrEqual(4);

    const started = await ok(RESCORE, { input: { idempotencyKey: 'rules-v2' } });
    // Answered before any work: the job, its total, nothing examined yet.
    expect(started).toMatchObject({
      rulesVersion: 'v2',
      job: { status: 'RUNNING', rulesVersion: 'v2', startedBy: 'alice', total: open.length, examined: 0, finishedAt: null },
    });
    jobId = started.job.id;
    // The same key answers the same job.
    expect((await ok(RESCORE, { input: { idempotencyKey: 'rules-v2' } })).job.id).toBe(jobId);

    const job = await finished(jobId);
    expect(job).toMatchObject({ status: 'SUCCEEDED', total: open.length, examined: open.length, rescored: open.length, unchanged: 0, skipped: 0, error: null });
    expect(Date.parse(job.finishedAt)).toBeGreaterThanOrEqual(Date.parse(job.startedAt));
    await settled();
    for (const id of open) expect((await leadOf(id)).scoredWithRulesVersion).toBe('v2');
    const jobScore = (await historyOf(`leadscore-${open[0]}`)).at(-1)!;
    expect(jobScore).toMatchObject({ type: 'LeadRescored', actor: 'alice', causationId: jobId, data: { rulesVersion: 'v2' } });
  });

  it('a second job finds nothing to change and records nothing', async () => {
    const before = await eventCount();
    const started = await ok(RESCORE);
    expect(started.job.id).not.toBe(jobId);
    expect(await finished(started.job.id)).toMatchObject({ status: 'SUCCEEDED', examined: open.length, rescored: 0, unchanged: open.length });
    await settled();
    expect(await eventCount()).toBe(before);
  });

  it('a job its process left running is taken up again from where it stopped; one of other rules fails', async () => {
    const app = api.server.app;
    const now = new Date().toISOString();
    const insert = `INSERT INTO scoring_jobs (id, status, rules_version, started_by, correlation_id, started_at, updated_at,
      total, examined, rescored, unchanged, skipped, last_lead_id) VALUES (?, 'RUNNING', ?, 'sam', 'c-1', ?, ?, ?, 1, 0, 1, 0, ?)`;
    // As a process that died after its first page (one lead) left it.
    await app.readDb.run(insert, ['00000000-0000-4000-8000-0000000000a1', 'v2', now, now, open.length, open[0]!]);
    const resumed = await finished('00000000-0000-4000-8000-0000000000a1');
    expect(resumed).toMatchObject({ status: 'SUCCEEDED', startedBy: 'sam', examined: open.length, rescored: 0, unchanged: open.length, skipped: 0 });

    await app.readDb.run(insert, ['00000000-0000-4000-8000-0000000000a2', 'v1', now, now, open.length, open[0]!]);
    const stale = await finished('00000000-0000-4000-8000-0000000000a2');
    expect(stale).toMatchObject({ status: 'FAILED', examined: 1 });
    expect(stale.error).toMatch(/rules changed to version v2/);
  });

  it('sales_manager and admin start and follow jobs; no other role does', async () => {
    const manager = { as: 'sam', roles: ['sales_manager'] };
    expect((await ok(JOB, { id: jobId }, manager)).startedBy).toBe('alice');
    const own = await ok(RESCORE, {}, manager);
    expect(await finished(own.job.id, manager)).toMatchObject({ status: 'SUCCEEDED', startedBy: 'sam' });
    for (const role of ['sales', 'marketing', 'analyst', 'auditor', 'privacy_officer']) {
      const asRole = { as: `someone-${role}`, roles: [role] };
      const read = await api.gql(JOB, { id: jobId }, asRole);
      expect(codeOf(read), `${role} reads a job`).toBe('FORBIDDEN');
      expect(read.errors![0]!.extensions!.requiredRoles).toEqual(['sales_manager', 'admin']);
      expect(codeOf(await api.gql(RESCORE, {}, asRole)), `${role} starts a job`).toBe('FORBIDDEN');
    }
    expect(await api.gql(JOB, { id: '00000000-0000-4000-8000-00000000ffff' })).toMatchObject({ data: { scoringJob: null } });
  });

  it('the audit trail finds the automatic scores, with the request that caused them', async () => {
    const AUDIT = `query($filter: AuditFilter) { auditTrail(filter: $filter, first: 200) { totalCount edges { node { type streamId } } } }`;
    const scores = await ok(AUDIT, { filter: { entity: 'LEAD_SCORE' } });
    expect(scores.totalCount).toBeGreaterThan(0);
    expect(scores.edges.every((edge: any) => edge.node.type === 'LeadRescored' && edge.node.streamId.startsWith('leadscore-'))).toBe(true);
    const contacted = (await historyOf(`lead-${hot.id}`)).find((event) => event.type === 'LeadContactLogged')!;
    const byRequest = await ok(AUDIT, { filter: { correlationId: contacted.correlationId } });
    expect(byRequest.edges.map((edge: any) => edge.node.type)).toEqual(['LeadContactLogged', 'LeadRescored']);
  });
});

