/**
 * The KPI and pipeline reports answered from memory (projections/reportCache.ts) over HTTP: a
 * report asked again is not computed again, a report asked after a mutation includes it, and
 * the role rules hold for an answer from memory as for a computed one. On PostgreSQL the one
 * instance here leads, and answers from memory as on SQLite; an instance that follows computes
 * every report (test/reportCacheInstances.int.spec.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/support/testServer';

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer();
});
afterAll(() => api.stop());

const HOUR = 3_600_000;
const period = { from: new Date(Date.now() - 24 * HOUR).toISOString(), to: new Date(Date.now() + HOUR).toISOString() };
const FUNNEL = `query($from: DateTime!, $to: DateTime!) { kpis(from: $from, to: $to) { leadFunnel { captured } } }`;
const captured = async (roles?: string[]) => {
  const response = await api.gql(FUNNEL, period, { roles });
  expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
  return response.data!.kpis.leadFunnel[0]?.captured ?? 0;
};
const capture = async (n: number) => {
  const response = await api.gql(`mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`, {
    input: { source: 'WEB_FORM', person: { lastName: `Cached ${n}`, email: `cached-${n}@example.com` } },
  });
  expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
};
const stats = () => api.server.app.reports.stats();
/** The stats after one more ask, answered from memory. */
const afterOneMoreAsk = (before: ReturnType<typeof stats>) => ({ ...before, hits: before.hits + 1 });

describe('reports answered from memory', () => {
  it('answers a KPI again without computing it, and includes each mutation answered before the ask', async () => {
    await capture(1);
    expect(await captured()).toBe(1);
    const before = stats();
    expect(await captured()).toBe(1);
    expect(stats()).toEqual(afterOneMoreAsk(before));

    for (let n = 2; n <= 4; n++) {
      await capture(n);
      expect(await captured()).toBe(n);
    }
  });

  it('keeps answering from memory while writes touch only tables the report does not read', async () => {
    const lead = await api.gql(`mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`, {
      input: { source: 'REFERRAL', person: { lastName: 'Pipeline', email: 'pipeline@example.com' } },
    });
    expect(lead.errors).toBeUndefined();
    const pipeline = () => api.gql(`{ pipeline { count } }`);
    expect((await pipeline()).data!.pipeline.count).toBe(0);
    const before = stats();
    // A capture writes the leads, their KPI facts and the audit trail, not the open pipeline's rollup.
    await capture(5);
    expect((await pipeline()).data!.pipeline.count).toBe(0);
    expect(stats()).toEqual(afterOneMoreAsk(before));
  });

  it('refuses a role the report is closed to, even while the report is in memory', async () => {
    await captured();
    const refused = await api.gql(`{ pipeline { count } }`, {}, { roles: ['privacy_officer'] });
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const marketing = await api.gql(`query($from: DateTime!, $to: DateTime!) { kpis(from: $from, to: $to) { lossReasons { total } } }`, period, {
      roles: ['marketing'],
    });
    expect(marketing.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});
