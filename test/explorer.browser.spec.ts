/**
 * The API explorer (`/explorer`, src/explorer/) in a real browser: Debian's Chromium, headless,
 * driven by playwright-core. The page must work with no network but the loopback interface
 * (every other request is refused and recorded: none may be attempted), break no rule of its
 * Content-Security-Policy, start with the header editor ready for a token, and run `{ me { sub } }`
 * with one. A screenshot goes to test/artifacts/ (ignored by git). Skipped only when
 * /usr/bin/chromium is absent (.ci/run installs it).
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/testServer';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) {
  console.warn(`SKIPPED test/explorer.browser.spec.ts: ${CHROMIUM} is absent (install Debian's chromium; .ci/run does).`);
}
const ARTIFACTS = path.join(__dirname, 'artifacts');
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** The text of the CodeMirror editor inside `selector` (GraphiQL 3's editors are CodeMirror 5). */
const editorText = (page: Page, selector: string) =>
  page.$eval(`${selector} .CodeMirror:not(.hidden .CodeMirror)`, (element: any) => element.CodeMirror.getValue() as string);

describe.skipIf(!HAVE_CHROMIUM)('the API explorer, in headless Chromium with no network', () => {
  let api: TestServer;
  let browser: Browser;
  /** Requests the page attempted off the loopback interface (all refused). */
  const offLoopback: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    api = await startTestServer();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await api?.stop();
  });

  it('opens from /graphql, loads the schema, and runs { me { sub } } with a pasted token', async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if ((url.protocol === 'http:' || url.protocol === 'https:') && !LOOPBACK.has(url.hostname)) {
        offLoopback.push(url.href);
        return route.abort('blockedbyclient');
      }
      return route.continue();
    });
    const page = await context.newPage();
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (url.protocol !== 'data:' && !LOOPBACK.has(url.hostname)) offLoopback.push(url.href);
    });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error' || /Content Security Policy/i.test(message.text())) pageErrors.push(message.text());
    });

    // A browser opening the GraphQL endpoint lands on the explorer.
    const response = await page.goto(api.url);
    expect(page.url()).toBe(`${new URL(api.url).origin}/explorer`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("default-src 'none'");

    await page.waitForSelector('.graphiql-container');
    await expect.poll(() => editorText(page, '.graphiql-editor-tool')).toBe('{"Authorization": "Bearer "}');
    await expect(page.textContent('#explorer-hint')).resolves.toContain('npm run token');
    // The schema loaded without a token: the documentation explorer lists the root types.
    await page.click('button[aria-label="Show Documentation Explorer"]');
    await page.waitForSelector('.graphiql-doc-explorer >> text=Query');

    // Paste the token after "Bearer ", as a user would: at the end of the line, before `"}`.
    const token = await api.token('explorer-user', ['sales']);
    await page.click('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror');
    await page.keyboard.press('End');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.insertText(token);
    expect(JSON.parse(await editorText(page, '.graphiql-editor-tool'))).toEqual({ Authorization: `Bearer ${token}` });

    await page.$eval('.graphiql-query-editor .CodeMirror', (element: any) => element.CodeMirror.setValue('{ me { sub } }'));
    await page.click('.graphiql-execute-button');
    await expect.poll(() => editorText(page, '.graphiql-response'), { timeout: 15_000 }).toContain('"sub": "explorer-user"');
    expect(JSON.parse(await editorText(page, '.graphiql-response'))).toEqual({ data: { me: { sub: 'explorer-user' } } });

    await page.screenshot({ path: path.join(ARTIFACTS, 'explorer.png') });
    expect(offLoopback).toEqual([]);
    expect(pageErrors).toEqual([]);
    await context.close();
  }, 90_000);
});
