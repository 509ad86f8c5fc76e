/**
 * An operator with a wrong setting runs `npm start`: the process must stop at once with one
 * line naming the variable to fix, and a failing exit code, not a stack trace.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runMainUntilExit } from './support/childServer';
import { TEST_SECRET } from './support/testServer';

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-config-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** Every store setting blank, so that the developer's own environment cannot leak in. */
const start = (env: NodeJS.ProcessEnv) =>
  runMainUntilExit({
    CRM_EVENT_STORE: '',
    CRM_READ_STORE: '',
    DATABASE_URL: '',
    EVENTSTORE_URL: '',
    CRM_PG_SCHEMA: '',
    PORT: '0',
    HOST: '127.0.0.1',
    CRM_DATA_DIR: dataDir,
    CRM_JWT_SECRET: TEST_SECRET,
    ...env,
  });

describe.concurrent('starting with a wrong setting', () => {
  it.each([
    [
      'a store that needs a URL without it',
      { CRM_EVENT_STORE: 'postgres' },
      /^Configuration error: DATABASE_URL is required when CRM_EVENT_STORE=postgres$/,
    ],
    [
      'an unknown store',
      { CRM_READ_STORE: 'mongodb' },
      /^Configuration error: CRM_READ_STORE must be sqlite, postgres; got "mongodb"$/,
    ],
    [
      'a malformed URL',
      { CRM_EVENT_STORE: 'eventstoredb', EVENTSTORE_URL: 'localhost:2113' },
      /^Configuration error: EVENTSTORE_URL must look like esdb:\/\/host:2113/,
    ],
    [
      'a database nobody listens for',
      { CRM_READ_STORE: 'postgres', DATABASE_URL: 'postgres://postgres:secret-pw@127.0.0.1:1/test' },
      /^Configuration error: DATABASE_URL cannot reach PostgreSQL at 127\.0\.0\.1:1\/test: .*ECONNREFUSED/,
    ],
    [
      'a database that does not exist on a reachable server',
      { CRM_EVENT_STORE: 'postgres', DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/crm_no_such_database' },
      /^Configuration error: DATABASE_URL cannot reach PostgreSQL at 127\.0\.0\.1:5432\/crm_no_such_database: database "crm_no_such_database" does not exist$/,
    ],
    [
      'an EventStoreDB nobody listens for',
      { CRM_EVENT_STORE: 'eventstoredb', EVENTSTORE_URL: 'esdb://127.0.0.1:1?tls=false' },
      /^Configuration error: EVENTSTORE_URL cannot reach EventStoreDB at 127\.0\.0\.1:1: .*ECONNREFUSED/,
    ],
    [
      'a JWT secret too short to sign with',
      { CRM_JWT_SECRET: 'changeme' },
      /^Configuration error: CRM_JWT_SECRET is unusable: .* 8 bytes; at least 32 are required/,
    ],
  ])('%s stops the process with one line naming the variable', { timeout: 60_000 }, async (_case, env, expected) => {
    const { code, stdout, stderr } = await start(env);
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(expected);
    expect(stderr).not.toContain('secret-pw');
    expect(stdout).not.toContain('ready at');
  });
});
