/**
 * `npm start` in production with a secret anyone could know: the process stops at once with one
 * line naming the variable. (Each case spawns a process: the other identity settings are
 * checked in src/composition/config.unit.spec.ts.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runMainUntilExit } from './support/childServer';
import { TEST_SECRET } from './support/testServer';

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-identity-start-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** The default docker-compose.yml used to give CRM_JWT_SECRET (it now has none). */
const COMPOSE_EXAMPLE_SECRET = 'dev-only-insecure-jwt-secret-do-not-use-in-production';

/** Every store and identity setting blank, so that the developer's own environment cannot leak in. */
const start = (env: NodeJS.ProcessEnv) =>
  runMainUntilExit({
    CRM_EVENT_STORE: '',
    CRM_READ_STORE: '',
    DATABASE_URL: '',
    EVENTSTORE_URL: '',
    CRM_PG_SCHEMA: '',
    CRM_JWT_JWKS_URL: '',
    CRM_JWT_ISSUER: '',
    CRM_JWT_AUDIENCE: '',
    CRM_JWT_MAX_AGE: '',
    CRM_JWT_ROLES_CLAIM: '',
    PORT: '0',
    HOST: '127.0.0.1',
    CRM_DATA_DIR: dataDir,
    CRM_JWT_SECRET: TEST_SECRET,
    ...env,
  });

describe.concurrent('starting with an identity setting that cannot be trusted', () => {
  it.each([
    [
      'the example secret of docker-compose.yml in production',
      { NODE_ENV: 'production', CRM_JWT_SECRET: COMPOSE_EXAMPLE_SECRET },
      /^Configuration error: CRM_JWT_SECRET is the public example secret, refused with NODE_ENV=production: .*openssl rand -hex 32\)$/,
    ],
    [
      'a short secret in production',
      { NODE_ENV: 'production', CRM_JWT_SECRET: 'changeme-changeme' },
      /^Configuration error: CRM_JWT_SECRET is unusable: .* 17 bytes; at least 32 are required/,
    ],
  ])('%s stops the process with one line naming the variable', { timeout: 60_000 }, async (_case, env, expected) => {
    const { code, stdout, stderr } = await start(env);
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(expected);
    expect(stdout).not.toContain('ready at');
    expect(stderr).not.toContain(COMPOSE_EXAMPLE_SECRET);
  });
});
