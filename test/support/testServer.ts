import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mintToken } from '../../src/identity/jwt';
import { startServer, type RunningServer } from '../../src/server';
import { aSchemaName, dropSchemas, TEST_DATABASE_URL } from './postgres';

export const TEST_SECRET = 'test-secret-that-is-long-enough-for-hs256!';
/** The master key of personal data for test servers run with NODE_ENV=production. */
export const TEST_DATA_KEY = '5e'.repeat(32);

export interface GraphQLResponse<T = Record<string, any>> {
  status: number;
  data?: T;
  errors?: Array<{ message: string; extensions?: Record<string, any> }>;
}

export interface TestServer {
  server: RunningServer;
  url: string;
  dataDir: string;
  token(sub?: string, roles?: string[]): Promise<string>;
  /** POSTs a GraphQL request as a client would, with a token for `as` (and `roles`, admin by default) unless it is null. */
  gql<T = Record<string, any>>(
    query: string,
    variables?: Record<string, unknown>,
    options?: { as?: string | null; roles?: string[]; headers?: Record<string, string> },
  ): Promise<GraphQLResponse<T>>;
  stop(): Promise<void>;
}

const secret = new TextEncoder().encode(TEST_SECRET);

export type GraphQLClient = Pick<TestServer, 'token' | 'gql'>;

/** A client of the server at `url` (in this process or a child), with tokens signed by TEST_SECRET. */
export const graphqlClient = (url: string): GraphQLClient => {
  const tokens = new Map<string, string>();
  // The workflow suites act as an administrator, so that ownership and role rules, which have
  // suites of their own (test/roles.e2e.spec.ts), do not get in their way.
  const token = async (sub = 'alice', roles = ['admin']) => {
    const key = `${sub}|${roles.join(',')}`;
    if (!tokens.has(key)) tokens.set(key, await mintToken({ sub, roles }, secret));
    return tokens.get(key)!;
  };
  return {
    token,
    async gql(query, variables, { as = 'alice', roles, headers = {} } = {}) {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(as === null ? {} : { authorization: `Bearer ${await token(as, roles)}` }),
          ...headers,
        },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await response.json()) as { data?: any; errors?: any[] };
      return { status: response.status, data: body.data ?? undefined, errors: body.errors };
    },
  };
};

/**
 * Where a test server keeps events and read models: the SQLite file in its data directory, or,
 * with CRM_TEST_STORE=postgres (the `postgres` vitest project), a fresh schema of the test
 * database, dropped when the server stops; or, with CRM_TEST_STORE=eventstoredb (the
 * `eventstoredb` project), events on EventStoreDB and read models in the data directory: the
 * server named by EVENTSTORE_URL when set, else a protocol model of its own
 * (test/support/eventStoreDbModel.ts), closed when the server stops.
 */
const testStores = async (): Promise<{ env: NodeJS.ProcessEnv; dispose(): Promise<void> }> => {
  const store = process.env.CRM_TEST_STORE || 'sqlite';
  if (store === 'sqlite') return { env: {}, dispose: async () => undefined };
  if (store === 'eventstoredb') {
    if (process.env.EVENTSTORE_URL) {
      return { env: { CRM_EVENT_STORE: 'eventstoredb', EVENTSTORE_URL: process.env.EVENTSTORE_URL }, dispose: async () => undefined };
    }
    const { startEventStoreDbModel } = await import('./eventStoreDbModel');
    const model = await startEventStoreDbModel({ systemEventEvery: 5 });
    return { env: { CRM_EVENT_STORE: 'eventstoredb', EVENTSTORE_URL: model.url }, dispose: () => model.close() };
  }
  if (store !== 'postgres') throw new Error(`CRM_TEST_STORE must be sqlite, postgres or eventstoredb, got ${store}`);
  const schema = aSchemaName('e2e');
  return {
    env: { CRM_EVENT_STORE: 'postgres', CRM_READ_STORE: 'postgres', DATABASE_URL: TEST_DATABASE_URL, CRM_PG_SCHEMA: schema },
    dispose: () => dropSchemas(schema),
  };
};

/** A real server on a free port with a fresh data directory, as `npm start` would run it. */
export const startTestServer = async (
  options: { dataDir?: string; /** More settings, e.g. CRM_SCORING_FILE. */ env?: NodeJS.ProcessEnv } = {},
): Promise<TestServer> => {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'crm-e2e-'));
  const stores = await testStores();
  const server = await startServer({
    port: 0,
    host: '127.0.0.1',
    dataDir,
    env: {
      CRM_JWT_SECRET: TEST_SECRET,
      NODE_ENV: 'test',
      // Production refuses to start without a master key; the test ones use the development file.
      ...(options.env?.NODE_ENV === 'production' ? { CRM_DATA_KEY: TEST_DATA_KEY } : {}),
      ...stores.env,
      ...options.env,
    },
  }).catch(async (error: unknown) => {
    await stores.dispose();
    throw error;
  });
  return {
    server,
    url: server.url,
    dataDir,
    ...graphqlClient(server.url),
    async stop() {
      await server.close();
      await stores.dispose();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
};
