import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from './config';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-loglevel-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
const load = (env: NodeJS.ProcessEnv) => loadConfig({ CRM_JWT_SECRET: 'x'.repeat(40), ...env }, { dataDir });

describe('LOG_LEVEL', () => {
  it('is info by default, silent under NODE_ENV=test, and any pino level when set', () => {
    expect(load({}).logLevel).toBe('info');
    expect(load({ NODE_ENV: 'production', CRM_DATA_KEY: 'ab'.repeat(32) }).logLevel).toBe('info');
    expect(load({ NODE_ENV: 'test' }).logLevel).toBe('silent');
    expect(load({ NODE_ENV: 'test', LOG_LEVEL: 'debug' }).logLevel).toBe('debug');
    expect(load({ LOG_LEVEL: 'warn' }).logLevel).toBe('warn');
  });

  it('refuses anything else, naming the variable', () => {
    expect(() => load({ LOG_LEVEL: 'verbose' })).toThrow(
      'Configuration error: LOG_LEVEL must be fatal, error, warn, info, debug, trace, silent; got "verbose"',
    );
  });
});
