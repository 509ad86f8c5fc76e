import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SignJWT, UnsecuredJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthenticationError, mintToken, resolveJwtSecret, verifyBearer } from './jwt';

const secret = new TextEncoder().encode('a-test-secret-that-is-long-enough-0123456789');
const now = () => Math.floor(Date.now() / 1000);

function sign(claims: Record<string, unknown>, key = secret, alg = 'HS256') {
  return new SignJWT(claims).setProtectedHeader({ alg }).sign(key);
}

async function refusal(header: string): Promise<string> {
  const error = await verifyBearer(header, secret).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AuthenticationError);
  return (error as Error).message;
}

describe('verifyBearer', () => {
  it('turns a minted token into its actor and roles', async () => {
    const token = await mintToken({ sub: 'alice', roles: ['sales', 'manager'] }, secret);
    await expect(verifyBearer(`Bearer ${token}`, secret)).resolves.toEqual({
      actor: 'alice',
      roles: ['sales', 'manager'],
    });
  });

  it('reads no identity from a request without credentials', async () => {
    await expect(verifyBearer(undefined, secret)).resolves.toBeUndefined();
    await expect(verifyBearer('  ', secret)).resolves.toBeUndefined();
  });

  it('gives an actor without roles when the claim is absent', async () => {
    const token = await sign({ sub: 'bob', exp: now() + 60 });
    await expect(verifyBearer(`Bearer ${token}`, secret)).resolves.toEqual({
      actor: 'bob',
      roles: [],
    });
  });

  it('refuses an expired token', async () => {
    const token = await sign({ sub: 'alice', roles: [], exp: now() - 5 });
    expect(await refusal(`Bearer ${token}`)).toMatch(/expired/);
  });

  it('refuses a token signed with another secret', async () => {
    const other = new TextEncoder().encode('another-secret-that-is-long-enough-987654321');
    const token = await mintToken({ sub: 'alice', roles: ['admin'] }, other);
    expect(await refusal(`Bearer ${token}`)).toMatch(/signature/);
  });

  it('refuses an unsigned token (alg none) and other algorithms', async () => {
    const unsigned = new UnsecuredJWT({ sub: 'mallory', roles: ['admin'] })
      .setExpirationTime('1h')
      .encode();
    expect(await refusal(`Bearer ${unsigned}`)).toMatch(/algorithm "none" not accepted/);
    const hs512 = await sign({ sub: 'alice', exp: now() + 60 }, secret, 'HS512');
    expect(await refusal(`Bearer ${hs512}`)).toMatch(/algorithm "HS512" not accepted/);
  });

  it('refuses a token without sub, with an empty sub, or without exp', async () => {
    expect(await refusal(`Bearer ${await sign({ roles: [], exp: now() + 60 })}`)).toMatch(
      /"sub" is missing/,
    );
    expect(await refusal(`Bearer ${await sign({ sub: ' ', exp: now() + 60 })}`)).toMatch(
      /"sub" must be a non-empty string/,
    );
    expect(await refusal(`Bearer ${await sign({ sub: 'alice' })}`)).toMatch(/"exp" is missing/);
  });

  it('refuses roles that are not an array of strings', async () => {
    const token = await sign({ sub: 'alice', roles: 'admin', exp: now() + 60 });
    expect(await refusal(`Bearer ${token}`)).toMatch(/"roles" must be an array of strings/);
  });

  it('refuses a malformed header or token', async () => {
    const token = await mintToken({ sub: 'alice', roles: [] }, secret);
    expect(await refusal(token)).toMatch(/malformed Authorization header/);
    expect(await refusal(`Basic ${token}`)).toMatch(/malformed Authorization header/);
    expect(await refusal('Bearer not.a.jwt')).toMatch(/malformed token/);
  });
});

describe('resolveJwtSecret', () => {
  const dirs: string[] = [];
  const freshDir = () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'crm-jwt-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  it('creates a private secret file on first start and reuses it afterwards', async () => {
    const dataDir = path.join(freshDir(), 'nested', 'data');
    const first = resolveJwtSecret({ env: {}, dataDir });
    expect(first.source).toBe('generated');
    const file = path.join(dataDir, 'jwt-secret');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toMatch(/^[0-9a-f]{64}$/);

    const second = resolveJwtSecret({ env: {}, dataDir });
    expect(second.source).toBe('file');
    const token = await mintToken({ sub: 'alice', roles: [] }, first.secret);
    await expect(verifyBearer(`Bearer ${token}`, second.secret)).resolves.toMatchObject({
      actor: 'alice',
    });
  });

  it('signs the same tokens when the file content is passed as CRM_JWT_SECRET', async () => {
    const dataDir = freshDir();
    const fromFile = resolveJwtSecret({ env: {}, dataDir });
    const content = readFileSync(path.join(dataDir, 'jwt-secret'), 'utf8').trim();
    const fromEnv = resolveJwtSecret({ env: { CRM_JWT_SECRET: content }, dataDir: freshDir() });
    const token = await mintToken({ sub: 'alice', roles: [] }, fromFile.secret);
    await expect(verifyBearer(`Bearer ${token}`, fromEnv.secret)).resolves.toBeDefined();
  });

  it('prefers CRM_JWT_SECRET and writes no file', () => {
    const dataDir = freshDir();
    const value = 'x'.repeat(32);
    const resolved = resolveJwtSecret({ env: { CRM_JWT_SECRET: value }, dataDir });
    expect(resolved).toEqual({ secret: new TextEncoder().encode(value), source: 'env' });
    expect(() => statSync(path.join(dataDir, 'jwt-secret'))).toThrow(/ENOENT/);
  });

  it('refuses a CRM_JWT_SECRET shorter than 32 bytes, even an empty one', () => {
    const dataDir = freshDir();
    expect(() => resolveJwtSecret({ env: { CRM_JWT_SECRET: 'x'.repeat(31) }, dataDir })).toThrow(
      /CRM_JWT_SECRET is 31 bytes; at least 32/,
    );
    expect(() => resolveJwtSecret({ env: { CRM_JWT_SECRET: '' }, dataDir })).toThrow(
      /CRM_JWT_SECRET is 0 bytes/,
    );
  });

  it('refuses a secret file that is too short', () => {
    const dataDir = freshDir();
    writeFileSync(path.join(dataDir, 'jwt-secret'), 'tooshort\n');
    expect(() => resolveJwtSecret({ env: {}, dataDir })).toThrow(/jwt-secret is 8 bytes/);
  });
});
