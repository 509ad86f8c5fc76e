/**
 * `npm start` runs `dist/main.js`, the one-file bundle `npm run build` makes (scripts/bundle.mjs),
 * not the source the other suites run through tsx. This builds it for real and checks that it
 * serves what the source serves: the schema with the metadata its decorators left, input
 * validation, personal data sealed and opened again, the reports' thread, the dashboard's files,
 * the explorer, the metrics; once in production (JSON logs, as the Docker image runs it) and once
 * in development (readable logs through pino-pretty, which the bundle leaves in node_modules).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILT_ENTRY, startChildServer, type ChildServer } from './support/childServer';
import { graphqlClient, TEST_DATA_KEY, type GraphQLClient } from './support/testServer';

const ROOT = path.join(__dirname, '..');
const dataDirs: string[] = [];
const servers: ChildServer[] = [];

beforeAll(() => {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'pipe' });
}, 300_000);

afterAll(async () => {
  for (const server of servers) server.kill('SIGKILL');
  await Promise.all(servers.map((server) => server.exited));
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

const startBuilt = async (env: NodeJS.ProcessEnv): Promise<ChildServer & { api: GraphQLClient; origin: string }> => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-built-'));
  dataDirs.push(dataDir);
  const server = await startChildServer(dataDir, env, 'built');
  servers.push(server);
  return { ...server, api: graphqlClient(server.url), origin: new URL(server.url).origin };
};

const CAPTURE = `mutation($email: String!) { captureLead(input: { source: TRADE_FAIR,
  person: { firstName: "Núria", lastName: "Vidal", email: $email }, company: { name: "Bundled SL" },
  interest: { product: "Facade", estimatedValue: { amount: "9000", currency: "EUR" } } }) { lead { id } } }`;

describe('the bundle npm start runs', () => {
  it('is one file beside what tsc emits', () => {
    expect(existsSync(BUILT_ENTRY)).toBe(true);
  });

  it('serves captures, reads, validation, reports, the dashboard and the metrics in production', async () => {
    const server = await startBuilt({ NODE_ENV: 'production', CRM_DATA_KEY: TEST_DATA_KEY, CRM_EXPLORER: 'on' });
    const { api, origin } = server;

    const captured = await api.gql(CAPTURE, { email: 'nuria@bundled.example' });
    expect(captured.errors).toBeUndefined();
    const id = captured.data!.captureLead.lead.id as string;
    const lead = await api.gql(`query($id: ID!) { lead(id: $id) { status source person { firstName lastName email } company { name } } }`, { id });
    expect(lead.data!.lead).toEqual({
      status: 'NEW',
      source: 'TRADE_FAIR',
      person: { firstName: 'Núria', lastName: 'Vidal', email: 'nuria@bundled.example' },
      company: { name: 'Bundled SL' },
    });

    const invalid = await api.gql(CAPTURE, { email: 'not an address' });
    expect(invalid.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const unknownField = await api.gql(`{ leads { totalCount nope } }`);
    expect(unknownField.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');

    const kpis = await api.gql(`{ kpis(from: "2000-01-01T00:00:00Z", to: "2100-01-01T00:00:00Z") { leadFunnel { captured } } }`);
    expect(kpis.errors).toBeUndefined();
    expect(kpis.data!.kpis.leadFunnel).toEqual([{ captured: 1 }]);
    // Asked again, an operation runs compiled: graphql-jit, bundled without the JSON serialiser it
    // loads but we do not use (scripts/unusedJsonSerializer.cjs).
    expect(await api.gql(`{ kpis(from: "2000-01-01T00:00:00Z", to: "2100-01-01T00:00:00Z") { leadFunnel { captured } } }`)).toEqual(kpis);
    const leadAgain = await api.gql(`query($id: ID!) { lead(id: $id) { status source person { firstName lastName email } company { name } } }`, { id });
    expect(leadAgain).toEqual(lead);

    // Persisted queries: Apollo keys them by the query's SHA-256, computed in the bundle by node's
    // crypto (scripts/nodeCreateHash.cjs), which must agree with a client's.
    const persisted = `{ leads { totalCount } }`;
    const byHash = async (sha256Hash: string, query?: string) => {
      const response = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await api.token()}` },
        body: JSON.stringify({ query, extensions: { persistedQuery: { version: 1, sha256Hash } } }),
      });
      return { status: response.status, ...((await response.json()) as { data?: unknown; errors?: Array<{ message: string; extensions?: { code?: string } }> }) };
    };
    const hash = createHash('sha256').update(persisted).digest('hex');
    expect((await byHash(hash)).errors).toEqual([{ message: 'PersistedQueryNotFound', extensions: { code: 'PERSISTED_QUERY_NOT_FOUND' } }]);
    expect(await byHash(hash, persisted)).toEqual({ status: 200, data: { leads: { totalCount: 1 } } });
    expect(await byHash(hash)).toEqual({ status: 200, data: { leads: { totalCount: 1 } } });
    // A hash that does not match the text is the client's fault: 400, BAD_REQUEST (Apollo alone says INTERNAL_SERVER_ERROR).
    const mismatched = await byHash(`${hash.startsWith('0') ? '1' : '0'}${hash.slice(1)}`, persisted);
    expect(mismatched.status).toBe(400);
    expect(mismatched.errors).toEqual([{ message: 'provided sha does not match query', extensions: { code: 'BAD_REQUEST' } }]);

    const dashboard = await fetch(`${origin}/dashboard/`);
    expect(dashboard.status).toBe(200);
    expect(await dashboard.text()).toContain('<html');
    const explorer = await fetch(`${origin}/explorer`);
    expect(explorer.status).toBe(200);
    const metrics = await fetch(`${origin}/metrics`);
    expect(await metrics.text()).toMatch(/^crm_graphql_request_duration_seconds_count\{operation="captureLead",type="mutation",result="OK"\} 1$/m);

    // Production logs JSON lines: no pretty printer.
    const lines = server.output().split('\n').filter((line) => line.startsWith('{'));
    expect(lines.some((line) => (JSON.parse(line) as { msg?: string }).msg?.startsWith('CRM GraphQL API ready'))).toBe(true);
  });

  it('logs readable lines in development', async () => {
    const server = await startBuilt({ NODE_ENV: 'development' });
    const captured = await server.api.gql(CAPTURE, { email: 'dev@bundled.example' });
    expect(captured.errors).toBeUndefined();
    expect(server.output()).toMatch(/INFO.*CRM GraphQL API ready at http:\/\/127\.0\.0\.1/);
  });
});
