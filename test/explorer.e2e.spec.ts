/**
 * The API explorer (src/explorer/): GraphiQL served by the API itself at /explorer, every file
 * from this origin, in development by default and in production only with CRM_EXPLORER=on; a
 * browser opening /graphql is sent there, and GraphQL requests are answered as before.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigurationError, loadConfig } from '../src/composition/config';
import { startTestServer, TEST_DATA_KEY, TEST_SECRET, type TestServer } from './support/testServer';

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

const expectedType = (file: string) =>
  file.endsWith('.js') ? /^text\/javascript; charset=utf-8$/ : file.endsWith('.css') ? /^text\/css; charset=utf-8$/ : /^$/;

/** Every src= and href= of the page. */
const referencesOf = (html: string) => [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((match) => match[1]!);

describe('the API explorer in development', () => {
  let api: TestServer;
  let origin: string;

  beforeAll(async () => {
    api = await startTestServer();
    origin = new URL(api.url).origin;
  });
  afterAll(() => api?.stop());

  it('answers an HTML page that loads GraphiQL from this origin only, under a CSP forbidding other origins', async () => {
    const response = await fetch(`${origin}/explorer`, { headers: { accept: BROWSER_ACCEPT } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = response.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain("connect-src 'self';");
    // Only keywords, 'self' and data: URLs: no host, no scheme that reaches elsewhere.
    for (const directive of csp.split(';')) {
      for (const source of directive.trim().split(/\s+/).slice(1)) expect(source).toMatch(/^('[a-z-]+'|data:)$/);
    }
    const html = await response.text();
    expect(html).toContain('<div id="graphiql" data-endpoint="/graphql">');
    expect(html).toContain('npm run token');
    expect(html).not.toMatch(/https?:\/\//);
    const references = referencesOf(html);
    expect(references).toEqual(
      expect.arrayContaining([
        '/explorer/assets/graphiql.min.css',
        '/explorer/assets/react.production.min.js',
        '/explorer/assets/react-dom.production.min.js',
        '/explorer/assets/graphiql.min.js',
        '/explorer/assets/explorer.js',
      ]),
    );
    for (const reference of references) expect(reference).toMatch(/^(\/explorer\/assets\/[\w.-]+|data:,)$/);
  });

  it('serves each file the page names, with its content type', async () => {
    const html = await (await fetch(`${origin}/explorer`)).text();
    const assets = referencesOf(html).filter((reference) => reference.startsWith('/'));
    expect(assets.length).toBeGreaterThanOrEqual(6);
    for (const asset of assets) {
      const response = await fetch(`${origin}${asset}`);
      expect(response.status, asset).toBe(200);
      expect(response.headers.get('content-type'), asset).toMatch(expectedType(asset));
      expect(response.headers.get('x-content-type-options'), asset).toBe('nosniff');
      expect((await response.arrayBuffer()).byteLength, asset).toBeGreaterThan(100);
    }
    const graphiql = await fetch(`${origin}/explorer/assets/graphiql.min.js`);
    expect(await graphiql.text()).toContain('createGraphiQLFetcher');
    const script = await (await fetch(`${origin}/explorer/assets/explorer.js`)).text();
    expect(script).toContain('{\\"Authorization\\": \\"Bearer \\"}');
    // The schema GraphiQL is given (its own introspection query is over the cost limit).
    const schema = await fetch(`${origin}/explorer/assets/schema.json`);
    expect(schema.status).toBe(200);
    expect(schema.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const { data } = (await schema.json()) as { data: { __schema: { queryType: { name: string }; types: Array<{ name: string }> } } };
    expect(data.__schema.queryType.name).toBe('Query');
    expect(data.__schema.types.map((type) => type.name)).toEqual(expect.arrayContaining(['Lead', 'Opportunity']));
    expect((await fetch(`${origin}/explorer/assets/nothing.js`)).status).toBe(404);
    expect((await fetch(`${origin}/explorer/assets/..%2Fpackage.json`)).status).toBe(404);
  });

  it('sends a browser opening /graphql to the explorer, and no Apollo landing page', async () => {
    const response = await fetch(api.url, { headers: { accept: BROWSER_ACCEPT }, redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('/explorer');
  });

  it('leaves GraphQL requests as they were: JSON POSTs, and GETs with a query', async () => {
    const token = await api.token('dev', ['admin']);
    const post = await fetch(api.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: BROWSER_ACCEPT, authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: '{ me { sub } }' }),
    });
    expect(post.status).toBe(200);
    expect(post.headers.get('content-type')).toMatch(/^application\/(graphql-response\+)?json/);
    expect(await post.json()).toEqual({ data: { me: { sub: 'dev' } } });

    // Apollo's CSRF prevention wants a header on GETs; a browser's Accept does not turn it into the page.
    const get = await fetch(`${api.url}?query=${encodeURIComponent('{ me { sub } }')}`, {
      headers: { accept: BROWSER_ACCEPT, authorization: `Bearer ${token}`, 'apollo-require-preflight': 'true' },
      redirect: 'manual',
    });
    expect(get.status).toBe(200);
    expect(await get.json()).toEqual({ data: { me: { sub: 'dev' } } });

    const anonymous = await api.gql('{ me { sub } }', {}, { as: null });
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('lets GraphiQL load the schema before a token is pasted (introspection without a token)', async () => {
    const answer = await api.gql('{ __schema { queryType { name } } }', {}, { as: null });
    expect(answer.errors).toBeUndefined();
    expect(answer.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
  });
});

describe('the API explorer in production', () => {
  const PRODUCTION = { NODE_ENV: 'production', LOG_LEVEL: 'silent' };

  it('is not served unless CRM_EXPLORER=on, and /graphql shows no landing page', async () => {
    const api = await startTestServer({ env: PRODUCTION });
    try {
      const origin = new URL(api.url).origin;
      expect((await fetch(`${origin}/explorer`, { headers: { accept: BROWSER_ACCEPT } })).status).toBe(404);
      expect((await fetch(`${origin}/explorer/assets/graphiql.min.js`)).status).toBe(404);
      const page = await fetch(api.url, { headers: { accept: BROWSER_ACCEPT }, redirect: 'manual' });
      expect(page.status).not.toBe(302);
      expect(await page.text()).not.toMatch(/apollographql|<script/i);
      expect((await api.gql('{ me { sub } }', {}, { as: 'ops', roles: ['admin'] })).data).toEqual({ me: { sub: 'ops' } });
    } finally {
      await api.stop();
    }
  });

  it('is served with CRM_EXPLORER=on', async () => {
    const api = await startTestServer({ env: { ...PRODUCTION, CRM_EXPLORER: 'on' } });
    try {
      const origin = new URL(api.url).origin;
      const page = await fetch(`${origin}/explorer`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('/explorer/assets/graphiql.min.js');
      expect((await fetch(`${origin}/explorer/assets/graphiql.min.js`)).status).toBe(200);
    } finally {
      await api.stop();
    }
  });

  it('can be turned off in development with CRM_EXPLORER=off', async () => {
    const api = await startTestServer({ env: { CRM_EXPLORER: 'off' } });
    try {
      expect((await fetch(`${new URL(api.url).origin}/explorer`)).status).toBe(404);
    } finally {
      await api.stop();
    }
  });
});

describe('CRM_EXPLORER', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-explorer-config-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
  const explorer = (env: NodeJS.ProcessEnv) => loadConfig({ CRM_JWT_SECRET: TEST_SECRET, ...env }, { dataDir }).explorer;

  it('is on by default, off by default in production, and on or off when set', () => {
    expect(explorer({})).toBe(true);
    expect(explorer({ NODE_ENV: 'production', CRM_DATA_KEY: TEST_DATA_KEY })).toBe(false);
    expect(explorer({ NODE_ENV: 'production', CRM_DATA_KEY: TEST_DATA_KEY, CRM_EXPLORER: 'on' })).toBe(true);
    expect(explorer({ CRM_EXPLORER: 'off' })).toBe(false);
  });

  it('refuses anything but on and off, naming the variable', () => {
    for (const value of ['yes', 'true', 'ON', '1']) {
      expect(() => explorer({ CRM_EXPLORER: value })).toThrow(ConfigurationError);
      expect(() => explorer({ CRM_EXPLORER: value })).toThrow(/^Configuration error: CRM_EXPLORER must be on or off/);
    }
  });
});
