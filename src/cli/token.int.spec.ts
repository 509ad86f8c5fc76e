import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveJwtSecret, verifyBearer } from '../identity/jwt';

const run = promisify(execFile);
const cli = path.join(__dirname, 'token.ts');
const tmp = mkdtempSync(path.join(tmpdir(), 'crm-token-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// Without CRM_JWT_SECRET, so the CLI resolves the secret from the data directory.
const envWithoutSecret = { ...process.env };
delete envWithoutSecret.CRM_JWT_SECRET;

function token(...args: string[]) {
  return run('npx', ['tsx', cli, ...args], { env: envWithoutSecret });
}

describe('npm run token', () => {
  it('prints a token that verifies with the secret file it created', async () => {
    const dataDir = path.join(tmp, 'data');
    const { stdout } = await token('--sub', 'alice', '--roles', 'sales', '--data-dir', dataDir);

    const { secret, source } = resolveJwtSecret({ env: {}, dataDir });
    expect(source).toBe('file');
    await expect(verifyBearer(`Bearer ${stdout.trim()}`, secret)).resolves.toEqual({
      actor: 'alice',
      roles: ['sales'],
    });
  });

  it('exits with 2 and shows usage when --sub is missing', async () => {
    const failure = await token('--roles', 'sales', '--data-dir', path.join(tmp, 'unused')).then(
      () => undefined,
      (error: { code: number; stderr: string; stdout: string }) => error,
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toMatch(/--sub is required[\s\S]*usage: npm run token/);
    expect(failure?.stdout).toBe('');
  });
});
