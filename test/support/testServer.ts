import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mintToken } from '../../src/identity/jwt';
import { startServer, type RunningServer } from '../../src/server';

export const TEST_SECRET = 'test-secret-that-is-long-enough-for-hs256!';

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
  /** POSTs a GraphQL request as a client would, with a token for `as` unless it is null. */
  gql<T = Record<string, any>>(
    query: string,
    variables?: Record<string, unknown>,
    options?: { as?: string | null; headers?: Record<string, string> },
  ): Promise<GraphQLResponse<T>>;
  stop(): Promise<void>;
}

const secret = new TextEncoder().encode(TEST_SECRET);

/** A real server on a free port with a fresh data directory, as `npm start` would run it. */
export const startTestServer = async (options: { dataDir?: string } = {}): Promise<TestServer> => {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'crm-e2e-'));
  const server = await startServer({
    port: 0,
    host: '127.0.0.1',
    dataDir,
    env: { CRM_JWT_SECRET: TEST_SECRET, NODE_ENV: 'test' },
  });
  const tokens = new Map<string, string>();
  const token = async (sub = 'alice', roles = ['sales']) => {
    const key = `${sub}|${roles.join(',')}`;
    if (!tokens.has(key)) tokens.set(key, await mintToken({ sub, roles }, secret));
    return tokens.get(key)!;
  };
  return {
    server,
    url: server.url,
    dataDir,
    token,
    async gql(query, variables, { as = 'alice', headers = {} } = {}) {
      const response = await fetch(server.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(as === null ? {} : { authorization: `Bearer ${await token(as)}` }),
          ...headers,
        },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await response.json()) as { data?: any; errors?: any[] };
      return { status: response.status, data: body.data ?? undefined, errors: body.errors };
    },
    async stop() {
      await server.close();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
};
