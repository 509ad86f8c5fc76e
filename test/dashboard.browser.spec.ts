/**
 * The analyst dashboard (`/dashboard`, src/dashboard/) in a real browser: Debian's Chromium,
 * headless, driven by playwright-core, against a server seeded with a few hundred generated
 * leads. Every chart's numbers (the data table beside it, each cell's data-value) must be what the
 * API answers to the same query; every request must stay on the loopback origin. Screenshots go to
 * test/artifacts/ (ignored by git). Skipped only when /usr/bin/chromium is absent (.ci/run installs it).
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seed } from './support/seededApplication';
import { startTestServer, type TestServer } from './support/testServer';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) {
  console.warn(`SKIPPED test/dashboard.browser.spec.ts: ${CHROMIUM} is absent (install Debian's chromium; .ci/run does).`);
}
const ARTIFACTS = path.join(__dirname, 'artifacts');
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

type Table = Record<string, Record<string, string>>;
type Cuts = { source?: string; campaign?: string; ownerId?: string };

const day = (date: string) => `${date}T00:00:00.000Z`;
const endOfDay = (date: string) => `${date}T23:59:59.999Z`;
const text = (value: unknown) => (value === null || value === undefined ? '' : String(value));

describe.skipIf(!HAVE_CHROMIUM)('the analyst dashboard, in headless Chromium', () => {
  let api: TestServer;
  let origin: string;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  /** Every request a page attempted that was not to the loopback interface (all refused). */
  const offLoopback: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    api = await startTestServer();
    await seed(api.server.app, { leads: 300, seed: 14 });
    origin = new URL(api.url).origin;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await api?.stop();
  });

  const analystGql = async (query: string, variables: Record<string, unknown>) => {
    const answer = await api.gql(query, variables, { as: 'ann', roles: ['analyst'] });
    expect(answer.errors).toBeUndefined();
    return answer.data!;
  };

  const openDashboard = async (roles: string[]): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    contexts.push(context);
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (LOOPBACK.has(url.hostname)) return route.continue();
      offLoopback.push(url.href);
      return route.abort('blockedbyclient');
    });
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
    const response = await page.goto(`${origin}/dashboard`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("default-src 'none'");
    await page.fill('#token', await api.token('ann', roles));
    await page.click('#sign-in button[type=submit]');
    await page.waitForSelector('body[data-loaded="1"]');
    return page;
  };

  /** Sets the filters, applies them and waits for every section to be drawn again. */
  const apply = async (page: Page, filters: { from?: string; to?: string; asOf?: string; knownAt?: string } & Cuts) => {
    const fields: Array<[string, string | undefined]> = [['#from', filters.from], ['#to', filters.to], ['#as-of', filters.asOf], ['#known-at', filters.knownAt]];
    for (const [selector, value] of fields) if (value !== undefined) await page.fill(selector, value);
    if (filters.source !== undefined) await page.selectOption('#source', filters.source);
    if (filters.campaign !== undefined) await page.selectOption('#campaign', filters.campaign);
    if (filters.ownerId !== undefined) await page.selectOption('#owner', filters.ownerId);
    const loaded = Number(await page.getAttribute('body', 'data-loaded'));
    await page.click('#filters button[type=submit]');
    await page.waitForSelector(`body[data-loaded="${loaded + 1}"]`);
  };

  const table = (page: Page, section: string): Promise<Table> =>
    page.$$eval(`section[data-section="${section}"] tr[data-key]`, (rows: any[]) =>
      Object.fromEntries(
        rows.map((row) => [
          row.getAttribute('data-key'),
          Object.fromEntries([...row.querySelectorAll('td')].map((cell: any) => [cell.getAttribute('data-field'), cell.getAttribute('data-value')])),
        ]),
      ),
    );

  const KPI_FIELDS = `
    leadFunnel { group { source campaign ownerId month } captured contacted reachedMql reachedSql converted disqualified conversionRatio contactRate mqlRate sqlRate }
    disqualificationReasons { group { source campaign ownerId month } reasons { reason { code } count share } }
    lossReasons { group { source campaign ownerId month }
      reasons { reason { code } count share amount { amount } amountShare }
      competitors { competitor count share amount { amount } amountShare }
      stages { stage count share amount { amount } amountShare } }`;

  /** What the dashboard should show, asked of the API directly (kpis, or retrospective with knownAt). */
  const expectedTables = async (period: { from: string; to: string; knownAt?: string; asOf?: string }, cuts: Cuts = {}) => {
    const groupBy = [cuts.source && 'SOURCE', cuts.campaign && 'CAMPAIGN', cuts.ownerId && 'OWNER'].filter(Boolean);
    const matches = ({ group }: { group: Cuts }) =>
      (!cuts.source || group.source === cuts.source) && (!cuts.campaign || group.campaign === cuts.campaign) && (!cuts.ownerId || group.ownerId === cuts.ownerId);
    const knownAt = period.knownAt ? endOfDay(period.knownAt) : undefined;
    const asOf = period.asOf ? endOfDay(period.asOf) : undefined;
    const field = knownAt ? 'retrospective(from: $from, to: $to, groupBy: $groupBy, knownAt: $knownAt)' : 'kpis(from: $from, to: $to, groupBy: $groupBy)';
    const query = `query ($from: DateTime!, $to: DateTime!, $groupBy: [KpiDimension!], $months: [KpiDimension!], $knownAt: DateTime, $asOf: DateTime, $filter: PipelineFilter) {
      totals: ${field} { ${KPI_FIELDS} }
      monthly: ${field.replace('$groupBy', '$months')} { salesOutcomes { group { source campaign ownerId month } won lost winRate averageSalesCycleDays } }
      pipeline(asOf: $asOf, knownAt: $knownAt, filter: $filter) { stages { stage count amount { amount } weightedAmount { amount } } }
    }`;
    const data = await analystGql(query, {
      from: day(period.from),
      to: day(period.to),
      groupBy,
      months: [...groupBy, 'MONTH'],
      knownAt,
      asOf,
      filter: cuts.ownerId ? { ownerId: cuts.ownerId } : null,
    });
    const funnel = data.totals.leadFunnel.find(matches);
    const losses = data.totals.lossReasons.find(matches);
    const slices = (list: any[], key: (slice: any) => string) =>
      Object.fromEntries(list.map((s) => [key(s), { count: text(s.count), share: text(s.share), amount: s.amount.amount, amountShare: text(s.amountShare) }]));
    return {
      funnel: Object.fromEntries(
        ['captured', 'contacted', 'reachedMql', 'reachedSql', 'converted', 'disqualified', 'contactRate', 'mqlRate', 'sqlRate', 'conversionRatio'].map((key) => [key, { value: text(funnel[key]) }]),
      ),
      disqualifications: Object.fromEntries(
        (data.totals.disqualificationReasons.find(matches)?.reasons ?? []).map((r: any) => [r.reason.code, { count: text(r.count), share: text(r.share) }]),
      ),
      lossReasons: slices(losses?.reasons ?? [], (s) => s.reason.code),
      lossCompetitors: slices(losses?.competitors ?? [], (s) => s.competitor ?? '(none)'),
      lossStages: slices(losses?.stages ?? [], (s) => s.stage),
      outcomes: Object.fromEntries(
        data.monthly.salesOutcomes
          .filter(matches)
          .map((r: any) => [r.group.month, { won: text(r.won), lost: text(r.lost), winRate: text(r.winRate), averageSalesCycleDays: text(r.averageSalesCycleDays) }]),
      ),
      pipeline: Object.fromEntries(
        data.pipeline.stages.map((s: any) => [s.stage, { count: text(s.count), amount: s.amount.amount, weightedAmount: s.weightedAmount.amount }]),
      ),
    } as Record<string, Table>;
  };

  const SECTIONS = ['funnel', 'disqualifications', 'lossReasons', 'lossCompetitors', 'lossStages', 'outcomes', 'pipeline'];

  const expectPageToShow = async (page: Page, expected: Record<string, Table>) => {
    for (const section of SECTIONS) {
      expect(await page.getAttribute(`section[data-section="${section}"]`, 'data-state'), section).toBe('ready');
      expect(await table(page, section), section).toEqual(expected[section]);
    }
  };

  it('shows, chart by chart, the numbers the API gives for the same period, cut, as-of and known-at dates', async () => {
    const page = await openDashboard(['analyst']);
    expect(await page.textContent('#who')).toContain('ann (analyst)');

    const year = { from: '2025-01-01', to: '2026-01-01' };
    await apply(page, year);
    const wholeYear = await expectedTables(year);
    expect(Number(wholeYear.funnel.captured.value)).toBeGreaterThan(100);
    expect(Object.keys(wholeYear.lossReasons).length).toBeGreaterThan(0);
    expect(Object.keys(wholeYear.outcomes).length).toBeGreaterThan(3);
    await expectPageToShow(page, wholeYear);
    // One chart per section, drawn by the locally served Chart.js.
    expect(await page.locator('section[data-section] canvas').count()).toBe(SECTIONS.length);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-year.png'), fullPage: true });

    // Another period: other figures, still the API's.
    const spring = { from: '2025-04-01', to: '2025-07-01' };
    await apply(page, spring);
    const springTables = await expectedTables(spring);
    expect(springTables.funnel.captured).not.toEqual(wholeYear.funnel.captured);
    await expectPageToShow(page, springTables);
    expect((await table(page, 'funnel')).captured).not.toEqual(wholeYear.funnel.captured);

    // As of mid-2025: the pipeline as it stood then.
    await apply(page, { ...year, asOf: '2025-06-30' });
    const asOf = await expectedTables({ ...year, asOf: '2025-06-30' });
    expect(asOf.pipeline).not.toEqual(wholeYear.pipeline);
    await expectPageToShow(page, asOf);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-as-of.png'), fullPage: true });

    // Known at mid-2025 too: the KPIs replayed from the events recorded by then.
    await apply(page, { ...year, asOf: '2025-06-30', knownAt: '2025-06-30' });
    const knownAt = await expectedTables({ ...year, asOf: '2025-06-30', knownAt: '2025-06-30' });
    expect(knownAt.funnel.converted).not.toEqual(wholeYear.funnel.converted);
    await expectPageToShow(page, knownAt);
    expect(await page.getAttribute('section[data-section="funnel"]', 'data-source')).toBe('retrospective');

    // Cut by an owner and a source offered by the page: the API's row for that group.
    await page.fill('#as-of', '');
    await page.fill('#known-at', '');
    const owners = await page.$$eval('#owner option', (options: any[]) => options.map((o) => o.value as string).filter(Boolean));
    const sources = await page.$$eval('#source option', (options: any[]) => options.map((o) => o.value as string).filter(Boolean));
    expect(owners.length).toBeGreaterThan(1);
    expect(sources.length).toBeGreaterThan(1);
    const cuts = { ownerId: owners[0], source: sources[0] };
    await apply(page, { ...year, ...cuts });
    const cut = await expectedTables(year, cuts);
    expect(cut.funnel.captured).not.toEqual(wholeYear.funnel.captured);
    await expectPageToShow(page, cut);

    expect(offLoopback).toEqual([]);
    expect(pageErrors).toEqual([]);
  }, 120_000);

  it("draws a converted lead's conversion trace as a timeline of the API's events", async () => {
    const page = await openDashboard(['analyst']);
    const { leads } = await analystGql('{ leads(filter: { status: CONVERTED }, first: 1) { edges { node { id } } } }', {});
    const leadId = leads.edges[0].node.id;
    const { conversionTrace } = await analystGql(
      'query ($leadId: ID!) { conversionTrace(leadId: $leadId) { conversion { id } events { id type } } }',
      { leadId },
    );
    await page.fill('#trace-lead', leadId);
    await page.click('#trace-form button[type=submit]');
    await page.waitForSelector('section[data-section="trace"][data-state="ready"]');
    const drawn = await page.$$eval('section[data-section="trace"] .timeline li', (items: any[]) =>
      items.map((item) => ({ id: item.getAttribute('data-event-id'), type: item.getAttribute('data-type') })),
    );
    expect(drawn).toEqual(conversionTrace.events.map(({ id, type }: { id: string; type: string }) => ({ id, type })));
    expect(await page.getAttribute('.timeline li.decision', 'data-event-id')).toBe(conversionTrace.conversion.id);
    expect(await page.locator('.timeline li.caused').count()).toBeGreaterThan(0);
    await page.locator('section[data-section="trace"]').screenshot({ path: path.join(ARTIFACTS, 'dashboard-trace.png') });
    expect(offLoopback).toEqual([]);
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('says FORBIDDEN, section by section, where the token\'s roles may not read', async () => {
    const page = await openDashboard(['marketing']);
    // marketing reads the lead sections of kpis, not the sales figures nor the pipeline.
    expect(await page.getAttribute('section[data-section="funnel"]', 'data-state')).toBe('ready');
    for (const section of ['lossReasons', 'outcomes', 'pipeline']) {
      const message = page.locator(`section[data-section="${section}"] .error`);
      expect(await message.getAttribute('data-code'), section).toBe('FORBIDDEN');
      expect(await message.textContent()).toMatch(/^FORBIDDEN: your token's roles may not read this/);
    }
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-forbidden.png'), fullPage: true });
    expect(offLoopback).toEqual([]);
  }, 60_000);

  it('keeps the token for the session only, and a bad token is refused', async () => {
    const page = await openDashboard(['analyst']);
    expect(await page.evaluate(() => (globalThis as any).localStorage.length)).toBe(0);
    await page.reload();
    await page.waitForSelector('body[data-loaded="1"]'); // signed in again from sessionStorage
    await page.click('#sign-out');
    await page.waitForSelector('#sign-in:not([hidden])');
    await page.fill('#token', 'not-a-token');
    await page.click('#sign-in button[type=submit]');
    // (no waitForFunction: the page's CSP forbids the eval it polls with)
    await page.locator('#who', { hasText: /^UNAUTHENTICATED/ }).waitFor();
    expect(await page.isHidden('#dashboard')).toBe(true);
  }, 60_000);
});
