/**
 * Scoring over HTTP: rules from CRM_SCORING_FILE, scores recorded on the lead on demand
 * (scoreLead), re-scoring when the rules change (a restart with a new file, then a background
 * job), and past scores recomputed from their version. The automatic scores between these have a
 * suite of their own (freshScores.e2e.spec.ts); here the lead scorer rests until it is shown.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aSchemaName, dropSchemas } from '../../../test/support/postgres';
import { scoresSettled } from '../../../test/support/scoring';
import { startTestServer, type TestServer } from '../../../test/support/testServer';

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-scoring-e2e-'));
// Restarts must find the same events: on PostgreSQL that means naming the schema ourselves.
const schema = process.env.CRM_TEST_STORE === 'postgres' ? aSchemaName('scoring') : undefined;

const rulesFile = (name: string, rules: unknown) => {
  const file = path.join(dataDir, name);
  writeFileSync(file, JSON.stringify(rules));
  return file;
};
const V1 = {
  version: 'v1',
  rules: [
    { id: 'referral', label: 'Referral', points: 20, when: { source: ['REFERRAL'] } },
    { id: 'boss', points: 15, when: { jobTitleKeywords: ['ceo'] } },
    { id: 'reached', points: 10, count: { action: 'CONTACT', outcomes: ['REACHED'], max: 3 } },
    { id: 'quote', points: 25, count: { action: 'QUOTE_REQUESTED' } },
  ],
};
const V2 = { ...V1, version: 'v2', rules: [{ ...V1.rules[0], points: 50 }, ...V1.rules.slice(1)] };

const serverWith = (rules: unknown, name: string) =>
  startTestServer({
    dataDir,
    env: { CRM_SCORING_FILE: rulesFile(name, rules), ...(schema ? { CRM_PG_SCHEMA: schema } : {}) },
  });

let api: TestServer;
beforeAll(async () => {
  api = await serverWith(V1, 'v1.json');
});
afterAll(async () => {
  await api.stop();
  if (schema) await dropSchemas(schema);
  rmSync(dataDir, { recursive: true, force: true });
});

const LEAD_FIELDS = 'id revision status score scoredWithRulesVersion scoredAt scoreBreakdown { ruleId label points count } quoteRequests';
const ok = async (query: string, variables: Record<string, unknown>) => {
  const response = await api.gql(query, variables);
  expect(response.errors).toBeUndefined();
  return Object.values(response.data!)[0] as any;
};
const capture = async (input: Record<string, unknown>) =>
  (await ok(`mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`, {
    input: { campaign: 'scoring-e2e', ...input },
  })).lead.id as string;
const reach = (leadId: string) =>
  ok(`mutation($input: LogLeadContactInput!) { logLeadContact(input: $input) { lead { id } } }`, {
    input: { leadId, channel: 'CALL', outcome: 'REACHED' },
  });
const SCORE = `mutation($input: ScoreLeadInput!) { scoreLead(input: $input) { lead { ${LEAD_FIELDS} } } }`;
const RESCORE = 'mutation { rescoreOpenLeads { job { id } } }';
const JOB = 'query($id: ID!) { scoringJob(id: $id) { status rulesVersion examined rescored unchanged skipped } }';
/** Starts a re-scoring job and follows it until it is done. */
const rescoreOpenLeads = async () => {
  const { job } = await ok(RESCORE, {});
  for (const deadline = Date.now() + 30_000; ; ) {
    const state = await ok(JOB, { id: job.id });
    if (state.status !== 'RUNNING' || Date.now() > deadline) {
      await scoresSettled(api.server.app);
      return state;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};
const REPRODUCE = `query($leadId: ID!, $at: DateTime) { reproduceScore(leadId: $leadId, at: $at) {
  rulesVersion scoredAt recordedScore reproducedScore matches automatic basedOnRevision reproducedBreakdown { ruleId points count } } }`;
const HISTORY = 'query($id: ID!) { history(streamId: $id) { type data recordedAt } }';
const historyOf = async (streamId: string) => (await ok(HISTORY, { id: streamId })) as Array<Record<string, any>>;

describe('lead scoring', () => {
  let hot: string;
  let cold: string;
  let closed: string;

  beforeAll(async () => {
    // scoreLead alone first: the lead scorer would score these leads as soon as they change.
    await api.server.app.leadScorer()!.stop();
    hot = await capture({ source: 'REFERRAL', person: { lastName: 'Mas', jobTitle: 'CEO & founder' } });
    await reach(hot);
    await reach(hot);
    await ok(`mutation($input: LogQuoteRequestInput!) { logQuoteRequest(input: $input) { lead { quoteRequests } } }`, {
      input: { leadId: hot, notes: 'Wants a price for two shops' },
    });
    cold = await capture({ source: 'COLD_OUTREACH', person: { lastName: 'Gil' } });
    closed = await capture({ source: 'REFERRAL', person: { lastName: 'Bosch' } });
    await ok(`mutation($input: DisqualifyLeadInput!) { disqualifyLead(input: $input) { lead { id } } }`, {
      input: { leadId: closed, reason: 'NO_NEED' },
    });
  });

  it('scores a lead with the configured rules and shows why', async () => {
    const { lead } = await ok(SCORE, { input: { leadId: hot } });
    expect(lead).toMatchObject({
      score: 20 + 15 + 2 * 10 + 25,
      scoredWithRulesVersion: 'v1',
      quoteRequests: 1,
      scoreBreakdown: [
        { ruleId: 'referral', label: 'Referral', points: 20, count: null },
        { ruleId: 'boss', label: null, points: 15, count: null },
        { ruleId: 'reached', label: null, points: 20, count: 2 },
        { ruleId: 'quote', label: null, points: 25, count: 1 },
      ],
    });
    const scored = (await historyOf(`lead-${hot}`)).at(-1)!;
    expect(scored).toMatchObject({ type: 'LeadScored', data: { leadId: hot, score: 80, rulesVersion: 'v1' } });

    // The same rules and the same lead: nothing new is recorded.
    const again = await ok(SCORE, { input: { leadId: hot } });
    expect(again.lead).toMatchObject({ score: 80, revision: lead.revision });
    expect(await historyOf(`lead-${hot}`)).toHaveLength(5);
  });

  it('keeps the definition of the rules version on the scoring-rules stream', async () => {
    const published = await historyOf('scoring-rules');
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ type: 'ScoringRulesPublished', data: { version: 'v1', rules: V1 } });
    const rules = await ok('{ scoringRules { version definition } }', {});
    expect(rules).toEqual({ version: 'v1', definition: V1 });
  });

  it('refuses to score a disqualified lead', async () => {
    const response = await api.gql(SCORE, { input: { leadId: closed } });
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_TRANSITION', state: 'DISQUALIFIED' });
  });

  it('re-scores every open lead in a background job, once per rules version', async () => {
    expect(await rescoreOpenLeads()).toEqual({ status: 'SUCCEEDED', rulesVersion: 'v1', examined: 2, rescored: 1, unchanged: 1, skipped: 0 });
    expect(await rescoreOpenLeads()).toEqual({ status: 'SUCCEEDED', rulesVersion: 'v1', examined: 2, rescored: 0, unchanged: 2, skipped: 0 });
    const coldLead = await ok(`query($id: ID!) { lead(id: $id) { ${LEAD_FIELDS} } }`, { id: cold });
    // On the lead's score stream, not its own: its revision stays.
    expect(coldLead).toMatchObject({ revision: 0, score: 0, scoredWithRulesVersion: 'v1', scoreBreakdown: [] });
    expect((await historyOf(`leadscore-${cold}`)).map((event) => event.type)).toEqual(['LeadRescored']);
  });

  it('the lead scorer, started again, finds every fact scored: the latest scores already are its own', async () => {
    const app = api.server.app;
    const before = (await ok('{ auditTrail(first: 0) { totalCount } }', {})).totalCount;
    await app.leadScorer()!.start();
    await scoresSettled(app);
    expect((await ok('{ auditTrail(first: 0) { totalCount } }', {})).totalCount).toBe(before);
  });

  it('filters and sorts leads by score', async () => {
    const LIST = `query($filter: LeadFilter, $orderBy: LeadOrder, $first: Int, $after: String) {
      leads(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
        totalCount edges { node { id score } } pageInfo { hasNextPage endCursor } } }`;
    const atLeast50 = await ok(LIST, { filter: { campaign: 'scoring-e2e', minScore: 50 } });
    expect(atLeast50.edges.map((edge: any) => edge.node)).toEqual([{ id: hot, score: 80 }]);

    const firstPage = await ok(LIST, { filter: { campaign: 'scoring-e2e' }, orderBy: 'SCORE', first: 2 });
    expect(firstPage.edges.map((edge: any) => edge.node)).toEqual([{ id: hot, score: 80 }, { id: cold, score: 0 }]);
    const secondPage = await ok(LIST, {
      filter: { campaign: 'scoring-e2e' },
      orderBy: 'SCORE',
      first: 2,
      after: firstPage.pageInfo.endCursor,
    });
    expect(secondPage).toMatchObject({ totalCount: 3, edges: [{ node: { id: closed, score: null } }], pageInfo: { hasNextPage: false } });
  });

  it('after a rules change, re-scores with the new version and still reproduces the old scores', async () => {
    const v1Score = (await historyOf(`lead-${hot}`)).at(-1)!;
    await api.stop();
    api = await serverWith(V2, 'v2.json');

    expect(await rescoreOpenLeads()).toEqual({ status: 'SUCCEEDED', rulesVersion: 'v2', examined: 2, rescored: 2, unchanged: 0, skipped: 0 });
    const hotLead = await ok(`query($id: ID!) { lead(id: $id) { ${LEAD_FIELDS} } }`, { id: hot });
    expect(hotLead).toMatchObject({ score: 50 + 15 + 20 + 25, scoredWithRulesVersion: 'v2' });
    expect((await historyOf('scoring-rules')).map((event) => event.data.version)).toEqual(['v1', 'v2']);

    // The job's score, automatic, computed from the lead's last revision.
    expect(await ok(REPRODUCE, { leadId: hot })).toMatchObject({
      rulesVersion: 'v2',
      recordedScore: 110,
      reproducedScore: 110,
      matches: true,
      automatic: true,
      basedOnRevision: 4,
    });
    expect(await ok(REPRODUCE, { leadId: hot, at: v1Score.recordedAt })).toEqual({
      rulesVersion: 'v1',
      scoredAt: v1Score.recordedAt,
      recordedScore: 80,
      reproducedScore: 80,
      matches: true,
      automatic: false,
      basedOnRevision: 3,
      reproducedBreakdown: [
        { ruleId: 'referral', points: 20, count: null },
        { ruleId: 'boss', points: 15, count: null },
        { ruleId: 'reached', points: 20, count: 2 },
        { ruleId: 'quote', points: 25, count: 1 },
      ],
    });
    expect((await ok('query { scoringRules(version: "v1") { definition } }', {})).definition).toEqual(V1);
    expect(await ok(REPRODUCE, { leadId: closed })).toBeNull();
  });

  it('refuses to start with changed rules under a version that already gave scores', async () => {
    await api.stop();
    const changedV1 = { ...V2, version: 'v1' };
    await expect(serverWith(changedV1, 'changed-v1.json')).rejects.toThrow(/version v1 was already used/);
    api = await serverWith(V2, 'v2.json');
  });
});
