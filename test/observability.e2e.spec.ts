/**
 * Logs and metrics (README: Logs and metrics): after a few requests, /metrics shows each series
 * with bounded labels and the right counts, and the log has one line per request with its
 * operation, actor, correlation id, duration and result code, and never a token or a variable.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startServer, type RunningServer } from '../src/server';
import { graphqlClient, TEST_SECRET, type GraphQLClient } from './support/testServer';

const CAPTURE = `mutation Capture($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`;
const EMAIL = 'marta.observed@botiga.example';

interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

let server: RunningServer;
let client: GraphQLClient;
let dataDir: string;
let base: string;
const output: string[] = [];
const logLines = () =>
  output
    .join('')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as LogLine);
const requestLines = () => logLines().filter((line) => line.msg === 'graphql request');

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-observability-'));
  server = await startServer({
    port: 0,
    host: '127.0.0.1',
    dataDir,
    env: { CRM_JWT_SECRET: TEST_SECRET, NODE_ENV: 'test', LOG_LEVEL: 'info' },
    logDestination: new Writable({
      write(chunk: Buffer, _encoding, done) {
        output.push(chunk.toString());
        done();
      },
    }),
  });
  client = graphqlClient(server.url);
  base = server.url.replace(/\/graphql$/, '');
});

afterAll(async () => {
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const metricsText = async () => {
  const response = await fetch(`${base}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  return response.text();
};

const sample = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('logs and metrics', () => {
  it('count requests, appends and projection lag with bounded labels, and log one line per request without secrets', async () => {
    const token = await client.token('alice', ['sales']);
    for (const n of [1, 2]) {
      const response = await client.gql(
        CAPTURE,
        { input: { source: 'INBOUND_EMAIL', person: { firstName: 'Marta', lastName: 'Puig', email: `${n}.${EMAIL}` } } },
        { as: 'alice', roles: ['sales'], headers: { 'x-correlation-id': `obs-capture-${n}` } },
      );
      expect(response.errors).toBeUndefined();
    }
    // Refused by the resolvers' authorisation (no token), by the context (a bad token), by validation.
    expect((await client.gql('{ leads { totalCount } }', undefined, { as: null })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const badToken = await client.gql('query Leads { leads { totalCount } }', undefined, {
      as: null,
      headers: { authorization: 'Bearer not.a.token' },
    });
    expect(badToken.status).toBe(401);
    expect((await client.gql('query Probe { noSuchField }')).errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    // Malformed JSON never reaches GraphQL.
    const malformed = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query": ' });
    expect(malformed.status).toBe(400);

    await vi.waitFor(() => expect(requestLines()).toHaveLength(6));
    const text = await metricsText();
    const count = (labels: string) => sample(text, `crm_graphql_request_duration_seconds_count{${labels}}`);
    expect(count('operation="captureLead",type="mutation",result="OK"')).toBe(2);
    expect(count('operation="leads",type="query",result="UNAUTHENTICATED"')).toBe(1);
    expect(count('operation="other",type="unknown",result="UNAUTHENTICATED"')).toBe(1);
    expect(count('operation="other",type="query",result="GRAPHQL_VALIDATION_FAILED"')).toBe(1);
    expect(count('operation="other",type="unknown",result="BAD_REQUEST"')).toBe(1);
    // Only schema root fields (or `other`) ever label a series.
    const operations = new Set([...text.matchAll(/operation="([^"]*)"/g)].map((match) => match[1]));
    expect([...operations].sort()).toEqual(['captureLead', 'leads', 'other']);

    const appends = sample(text, 'crm_event_store_appends_total{store="sqlite",result="ok"}');
    expect(appends).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'crm_event_store_append_duration_seconds_count{store="sqlite"}')).toBe(appends);
    expect(sample(text, 'crm_event_store_appended_events_total{store="sqlite"}')).toBeGreaterThanOrEqual(2);
    for (const projection of ['leads', 'audit-events', 'kpi-facts']) {
      expect(sample(text, `crm_projection_lag_events{projection="${projection}"}`)).toBe(0);
      expect(sample(text, `crm_projection_lag_seconds{projection="${projection}"}`)).toBe(0);
      expect(sample(text, `crm_projection_set_aside{projection="${projection}"}`)).toBe(0);
    }
    expect(sample(text, 'crm_projection_leader')).toBe(1);
    expect(sample(text, 'crm_graphql_subscriptions_active')).toBe(0);
    expect(sample(text, 'crm_http_connections_open')).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);

    const lines = requestLines();
    const captures = lines.filter((line) => line.operation === 'captureLead');
    expect(captures).toHaveLength(2);
    expect(captures[0]).toMatchObject({
      component: 'graphql',
      operation: 'captureLead',
      operationType: 'mutation',
      operationName: 'Capture',
      actor: 'alice',
      correlationId: 'obs-capture-1',
      result: 'OK',
      status: 200,
    });
    expect(typeof captures[0]!.durationMs).toBe('number');
    expect(lines.find((line) => line.status === 401)).toMatchObject({ actor: null, result: 'UNAUTHENTICATED' });
    expect(lines.find((line) => line.result === 'GRAPHQL_VALIDATION_FAILED')).toMatchObject({ actor: 'alice', operation: 'other' });
    // Every request that reached GraphQL has one (a body that is not JSON never gets that far).
    for (const line of lines) expect(typeof line.correlationId).toBe(line.result === 'BAD_REQUEST' ? 'object' : 'string');

    // Never a token, a variable or personal data, anywhere in the log.
    const everything = output.join('');
    expect(everything).not.toContain(token);
    expect(everything).not.toContain('not.a.token');
    expect(everything).not.toContain('Bearer');
    expect(everything).not.toContain(EMAIL);
    expect(everything).not.toContain('Puig');
    expect(everything).not.toContain(TEST_SECRET);

    // The start-up summary names the stores and the port, not the secret.
    expect(logLines().find((line) => line.msg === 'configuration')).toMatchObject({
      eventStore: 'sqlite',
      readStore: 'sqlite',
      port: server.port,
      auth: { hs256: true },
    });
  });

  it('count the reports answered from memory and computed, and the reports held', async () => {
    const before = await metricsText();
    const hits = (text: string) => sample(text, 'crm_report_answers_total{result="hit"}') ?? 0;
    const misses = (text: string) => sample(text, 'crm_report_answers_total{result="miss"}') ?? 0;
    const pipeline = () => client.gql(`{ pipeline(filter: { ownerId: "metrics-owner" }) { count } }`);
    expect((await pipeline()).errors).toBeUndefined();
    expect((await pipeline()).errors).toBeUndefined();
    const after = await metricsText();
    expect(misses(after) - misses(before)).toBe(1);
    expect(hits(after) - hits(before)).toBe(1);
    expect(sample(after, 'crm_report_cache_entries')).toBe((sample(before, 'crm_report_cache_entries') ?? 0) + 1);
  });
});
