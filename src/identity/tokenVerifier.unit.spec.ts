import { SignJWT, UnsecuredJWT, type JWTPayload } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mintToken } from './jwt';
import {
  AuthenticationError,
  createTokenVerifier,
  parseClaimPath,
  parseTimeSpan,
  type TokenVerifier,
  type TokenVerifierSettings,
} from './tokenVerifier';

const secret = new TextEncoder().encode('a-test-secret-that-is-long-enough-0123456789');
const now = () => Math.floor(Date.now() / 1000);
const HOUR = 3600;

/** As the server runs by default: HS256 with the secret, tokens at most 12 h old. */
const verifier = (settings: Partial<TokenVerifierSettings> = {}) =>
  createTokenVerifier({ secret, maxTokenAge: '12h', ...settings });

const hs256 = (claims: JWTPayload, key = secret) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(key);
const fresh = (claims: JWTPayload = {}): JWTPayload => ({ sub: 'alice', iat: now(), exp: now() + 60, ...claims });

async function refusal(tokens: TokenVerifier, token: string): Promise<string> {
  const error = await tokens.verify(`Bearer ${token}`).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AuthenticationError);
  return (error as Error).message;
}

describe('createTokenVerifier with the HS256 secret', () => {
  it('accepts what mintToken signs, with the same lifetime as the limit', async () => {
    const token = await mintToken({ sub: 'alice', roles: ['sales'], expiresIn: '12h' }, secret);
    await expect(verifier().verify(`Bearer ${token}`)).resolves.toEqual({ actor: 'alice', roles: ['sales'] });
    expect(verifier().algorithms).toEqual(['HS256']);
  });

  it('refuses a token older than the maximum age, or meant to live longer, or without iat', async () => {
    const tokens = verifier();
    expect(await refusal(tokens, await hs256(fresh({ iat: now() - 13 * HOUR })))).toBe(
      'token too old: issued more than 12h ago',
    );
    expect(await refusal(tokens, await hs256(fresh({ exp: now() + 12 * HOUR + 1 })))).toBe(
      'token lifetime (exp - iat) exceeds the 12h allowed',
    );
    expect(await refusal(tokens, await hs256(fresh({ iat: undefined })))).toBe('token claim "iat" is missing');
    expect(await refusal(tokens, await hs256(fresh({ iat: now() + HOUR })))).toBe('token claim "iat" is in the future');
    expect(await refusal(tokens, await hs256(fresh({ iat: '2025-01-01' as never })))).toMatch(
      /token claim "iat" is invalid/,
    );
    // an issuer's clock a little ahead of ours is fine
    await expect(tokens.verify(`Bearer ${await hs256(fresh({ iat: now() + 30 }))}`)).resolves.toBeDefined();
  });

  it('reads the limit from the settings, and has none when it is undefined', async () => {
    const oneHourOld = await hs256(fresh({ iat: now() - HOUR }));
    expect(await refusal(verifier({ maxTokenAge: '30m' }), oneHourOld)).toBe('token too old: issued more than 30m ago');
    const noIat = await hs256({ sub: 'alice', exp: now() + 60 });
    await expect(verifier({ maxTokenAge: undefined }).verify(`Bearer ${noIat}`)).resolves.toEqual({
      actor: 'alice',
      roles: [],
    });
  });

  it('checks issuer and audience on HS256 tokens too, without repeating them', async () => {
    const tokens = verifier({ issuer: 'https://crm.example.com', audience: 'crm-api' });
    const right = { iss: 'https://crm.example.com', aud: 'crm-api' };
    await expect(tokens.verify(`Bearer ${await hs256(fresh(right))}`)).resolves.toBeDefined();
    await expect(tokens.verify(`Bearer ${await hs256(fresh({ ...right, aud: ['other', 'crm-api'] }))}`)).resolves.toBeDefined();
    expect(await refusal(tokens, await hs256(fresh({ aud: 'crm-api' })))).toBe('token claim "iss" is missing');
    expect(await refusal(tokens, await hs256(fresh({ ...right, iss: 'https://evil.example' })))).toBe(
      'token claim "iss" is not the trusted issuer',
    );
    expect(await refusal(tokens, await hs256(fresh({ ...right, aud: 'billing-api' })))).toBe(
      'token claim "aud" does not name this API',
    );
    const minted = await mintToken({ sub: 'alice', roles: [], ...{ issuer: right.iss, audience: right.aud } }, secret);
    await expect(tokens.verify(`Bearer ${minted}`)).resolves.toBeDefined();
  });

  it('never accepts alg none, another HMAC, or an RS256 token', async () => {
    const tokens = verifier();
    const unsigned = new UnsecuredJWT(fresh({ roles: ['admin'] })).encode();
    expect(await refusal(tokens, unsigned)).toBe('token algorithm "none" not accepted, only HS256');
    const hs512 = await new SignJWT(fresh()).setProtectedHeader({ alg: 'HS512' }).sign(secret);
    expect(await refusal(tokens, hs512)).toBe('token algorithm "HS512" not accepted, only HS256');
    const rs256Header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'k' })).toString('base64url');
    const [, payload] = (await hs256(fresh())).split('.');
    expect(await refusal(tokens, `${rs256Header}.${payload}.c2ln`)).toBe('token algorithm "RS256" not accepted, only HS256');
  });

  it('does not echo a huge alg header', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'X'.repeat(5000) })).toString('base64url');
    const message = await refusal(verifier(), `${header}.e30.c2ln`);
    expect(message.length).toBeLessThan(100);
    expect(message).toMatch(/^token algorithm "X+\.\.\." not accepted/);
  });
});

describe('the sub claim', () => {
  const subject = async (sub: unknown) => verifier().verify(`Bearer ${await hs256(fresh({ sub: sub as string }))}`);
  const refusedSubject = async (sub: unknown) => refusal(verifier(), await hs256(fresh({ sub: sub as string })));

  it('takes letters of any script, emoji and spaces, up to 200 characters', async () => {
    for (const sub of ['Zoë Ωμέγα', '山田太郎', 'محمد', 'auth0|5f7c8ec7c33c6c004bbafe82', '👩‍💻 dev', 'a'.repeat(200), '😀'.repeat(200)]) {
      await expect(subject(sub)).resolves.toMatchObject({ actor: sub });
    }
  });

  it('refuses control characters, invisible characters and lone surrogates', async () => {
    for (const sub of ['alice\nadmin', 'alice\u0000', 'tab\there', 'del\u007f', 'c1\u0085', 'line\u2028sep']) {
      expect(await refusedSubject(sub)).toBe('token claim "sub" must be printable: it holds a control or invisible character');
    }
    for (const sub of ['bidi\u202eecilA', 'zero\u200bwidth', '\ufeffbom']) {
      expect(await refusedSubject(sub)).toMatch(/must be printable/);
    }
    for (const sub of ['lone\ud800', '\udc00lone', 'pair\udc00\ud800']) {
      expect(await refusedSubject(sub)).toBe('token claim "sub" is not well-formed Unicode (lone surrogate)');
    }
  });

  it('refuses more than 200 characters without repeating them', async () => {
    expect(await refusedSubject('a'.repeat(201))).toBe('token claim "sub" is longer than 200 characters');
    const huge = await refusedSubject('x'.repeat(10_000));
    expect(huge).toBe('token claim "sub" is longer than 200 characters');
    expect(await refusedSubject('😀'.repeat(201))).toMatch(/longer than 200/);
  });

  it('keeps refusing a missing, blank or non-string sub', async () => {
    expect(await refusedSubject(undefined)).toBe('token claim "sub" is missing');
    expect(await refusedSubject('  ')).toBe('token claim "sub" must be a non-empty string');
    expect(await refusedSubject('\u200c\u200d')).toBe('token claim "sub" must be a non-empty string');
    expect(await refusal(verifier(), await hs256({ ...fresh(), sub: 42 } as never))).toMatch(/"sub"/);
  });
});

describe('the roles claim', () => {
  const roles = async (claims: JWTPayload, rolesClaim?: string) =>
    verifier({ rolesClaim }).verify(`Bearer ${await hs256(fresh(claims))}`);

  it('reads a dotted path such as Keycloak realm roles', async () => {
    const keycloak = { realm_access: { roles: ['sales', 'offline_access'] }, roles: ['admin'] };
    await expect(roles(keycloak, 'realm_access.roles')).resolves.toEqual({
      actor: 'alice',
      roles: ['sales', 'offline_access'],
    });
    await expect(roles({ resource_access: { 'crm-api': { roles: ['manager'] } } }, 'resource_access.crm-api.roles')).resolves.toMatchObject({
      roles: ['manager'],
    });
  });

  it('reads a namespaced claim whole', async () => {
    await expect(roles({ 'https://crm.example.com/roles': ['sales'] }, 'https://crm.example.com/roles')).resolves.toMatchObject({
      roles: ['sales'],
    });
  });

  it('gives no roles when the path is absent anywhere, and refuses a wrong shape', async () => {
    await expect(roles({}, 'realm_access.roles')).resolves.toMatchObject({ roles: [] });
    await expect(roles({ realm_access: {} }, 'realm_access.roles')).resolves.toMatchObject({ roles: [] });
    // a roles claim at the top level is not the one configured
    await expect(roles({ roles: ['admin'] }, 'realm_access.roles')).resolves.toMatchObject({ roles: [] });
    for (const claims of [{ realm_access: 'admin' }, { realm_access: ['admin'] }, { realm_access: { roles: 'admin' } }, { realm_access: { roles: [1] } }]) {
      expect(await refusal(verifier({ rolesClaim: 'realm_access.roles' }), await hs256(fresh(claims)))).toBe(
        'token claim "realm_access.roles" must be an array of strings',
      );
    }
  });

  it('never reads inherited properties', async () => {
    await expect(roles({}, 'constructor.prototype')).resolves.toMatchObject({ roles: [] });
    await expect(roles({ realm_access: {} }, 'realm_access.__proto__')).resolves.toMatchObject({ roles: [] });
  });
});

describe('settings', () => {
  it('parses jose time spans into seconds', () => {
    expect(parseTimeSpan('12h')).toBe(43_200);
    expect(parseTimeSpan('30 minutes')).toBe(1_800);
    expect(parseTimeSpan('7d')).toBe(604_800);
    expect(parseTimeSpan('1.5 hours')).toBe(5_400);
    for (const bad of ['', '12', 'forever', '-1h', '0s', '2 hours ago', '+1h', '1h30m']) {
      expect(() => parseTimeSpan(bad)).toThrow(TypeError);
    }
  });

  it('parses claim paths', () => {
    expect(parseClaimPath('roles')).toEqual(['roles']);
    expect(parseClaimPath('realm_access.roles')).toEqual(['realm_access', 'roles']);
    expect(parseClaimPath('https://crm.example.com/roles')).toEqual(['https://crm.example.com/roles']);
    for (const bad of ['', ' ', '.roles', 'roles.', 'a..b']) expect(() => parseClaimPath(bad)).toThrow(TypeError);
  });

  it('needs a secret or a key set', () => {
    expect(() => createTokenVerifier({})).toThrow(/needs a secret, a key set, or both/);
    expect(() => createTokenVerifier({ secret: new Uint8Array(31) })).toThrow(/at least 32 bytes/);
  });
});

describe('a token verified once', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is accepted again without a new signature check, and refused once it expires or grows too old', async () => {
    vi.useFakeTimers({ now: new Date('2026-06-01T10:00:00Z'), toFake: ['Date'] });
    const tokens = verifier({ maxTokenAge: '30m' });
    const token = await hs256(fresh({ exp: now() + 20 * 60 }));
    await expect(tokens.verify(`Bearer ${token}`)).resolves.toEqual({ actor: 'alice', roles: [] });
    vi.setSystemTime(new Date('2026-06-01T10:19:00Z'));
    await expect(tokens.verify(`Bearer ${token}`)).resolves.toEqual({ actor: 'alice', roles: [] });
    vi.setSystemTime(new Date('2026-06-01T10:20:00Z'));
    expect(await refusal(tokens, token)).toMatch(/exp/);

    // The maximum age counts from iat, on every use.
    vi.setSystemTime(new Date('2026-06-01T11:00:00Z'));
    const long = await hs256(fresh({ exp: now() + 25 * 60 }));
    await tokens.verify(`Bearer ${long}`);
    const older = createTokenVerifier({ secret, maxTokenAge: '10m' });
    await expect(older.verify(`Bearer ${long}`)).rejects.toThrow(/lifetime/);
  });

  it('never lets a token that differs by one character ride on it', async () => {
    const tokens = verifier();
    const token = await hs256(fresh());
    await tokens.verify(`Bearer ${token}`);
    const [header, payload, signature] = token.split('.');
    const other = `${header}.${payload}.${signature!.slice(0, -2)}${signature!.endsWith('AA') ? 'BA' : 'AA'}`;
    expect(await refusal(tokens, other)).toMatch(/signature/);
    const forged = `${header}.${Buffer.from(JSON.stringify({ ...fresh(), sub: 'mallory' })).toString('base64url')}.${signature}`;
    expect(await refusal(tokens, forged)).toMatch(/signature/);
  });
});
