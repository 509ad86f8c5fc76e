/**
 * RS256 and ES256 tokens verified against a JSON Web Key Set that the test serves itself on
 * loopback, with keys it generates: rotation, forged keys, algorithm confusion.
 */
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { SignJWT, UnsecuredJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIdentityProvider, type IdentityProvider, type SigningKey } from '../../test/support/identityProvider';
import { AuthenticationError, createTokenVerifier, type TokenVerifier, type TokenVerifierSettings } from './tokenVerifier';

const secret = new TextEncoder().encode('a-test-secret-that-is-long-enough-0123456789');
const now = () => Math.floor(Date.now() / 1000);
const AUDIENCE = 'crm-api';

let idp: IdentityProvider;
let rsa: SigningKey;
let ec: SigningKey;
beforeAll(async () => {
  idp = await startIdentityProvider();
  rsa = await idp.newKey('RS256');
  ec = await idp.newKey('ES256');
  idp.publish(rsa, ec);
});
afterAll(() => idp.close());

/** Trusts the provider (and, when told, the secret) with issuer and audience checks. */
const verifier = (settings: Partial<TokenVerifierSettings> = {}) =>
  createTokenVerifier({
    keySet: { url: new URL(idp.jwksUrl), cooldownMs: 0 },
    issuer: idp.issuer,
    audience: AUDIENCE,
    maxTokenAge: '12h',
    rolesClaim: 'realm_access.roles',
    ...settings,
  });

/** What Keycloak puts in an access token, give or take. */
const claims = (extra: JWTPayload = {}): JWTPayload => ({
  iss: idp.issuer,
  aud: AUDIENCE,
  sub: 'f3c1a2d4-0b7e-4e55-9d1c-7a2b3c4d5e6f',
  iat: now(),
  exp: now() + 300,
  realm_access: { roles: ['sales', 'offline_access'] },
  ...extra,
});

async function refusal(tokens: TokenVerifier, token: string): Promise<string> {
  const error = await tokens.verify(`Bearer ${token}`).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AuthenticationError);
  return (error as Error).message;
}

describe('tokens of an identity provider, verified against its key set', () => {
  it('accepts RS256 and ES256 tokens and reads the roles from realm_access.roles', async () => {
    const tokens = verifier();
    expect(tokens.algorithms).toEqual(['RS256', 'ES256']);
    for (const key of [rsa, ec]) {
      await expect(tokens.verify(`Bearer ${await idp.sign(key, claims())}`)).resolves.toEqual({
        actor: 'f3c1a2d4-0b7e-4e55-9d1c-7a2b3c4d5e6f',
        roles: ['sales', 'offline_access'],
      });
    }
  });

  it('fetches the key set once for many tokens', async () => {
    const before = idp.fetches();
    const tokens = verifier({ keySet: { url: new URL(idp.jwksUrl) } });
    for (let i = 0; i < 5; i += 1) {
      await tokens.verify(`Bearer ${await idp.sign(i % 2 ? rsa : ec, claims())}`);
    }
    expect(idp.fetches() - before).toBe(1);
  });

  it('refuses the wrong issuer or audience', async () => {
    const tokens = verifier();
    expect(await refusal(tokens, await idp.sign(rsa, claims({ iss: 'https://other.example/realms/crm' })))).toBe(
      'token claim "iss" is not the trusted issuer',
    );
    expect(await refusal(tokens, await idp.sign(rsa, claims({ aud: 'account' })))).toBe('token claim "aud" does not name this API');
    expect(await refusal(tokens, await idp.sign(rsa, claims({ aud: undefined })))).toBe('token claim "aud" is missing');
  });

  it('refuses tokens too old or meant to live too long, and expired ones', async () => {
    const tokens = verifier();
    expect(await refusal(tokens, await idp.sign(ec, claims({ iat: now() - 13 * 3600 })))).toBe(
      'token too old: issued more than 12h ago',
    );
    expect(await refusal(tokens, await idp.sign(ec, claims({ exp: now() + 30 * 86400 })))).toBe(
      'token lifetime (exp - iat) exceeds the 12h allowed',
    );
    expect(await refusal(tokens, await idp.sign(ec, claims({ exp: now() - 1 })))).toBe('token expired');
    expect(await refusal(tokens, await idp.sign(ec, claims({ iat: undefined })))).toBe('token claim "iat" is missing');
  });

  it('refuses a token signed by a key that is not in the key set', async () => {
    const tokens = verifier();
    const stranger = await idp.newKey('RS256');
    expect(await refusal(tokens, await idp.sign(stranger, claims()))).toBe(
      "no key of the identity provider's key set matches the token",
    );
    // the same, claiming the kid of a published key
    expect(await refusal(tokens, await idp.sign(stranger, claims(), { kid: rsa.kid }))).toBe('bad token signature');
    const strangerEc = await idp.newKey('ES256');
    expect(await refusal(tokens, await idp.sign(strangerEc, claims(), { kid: ec.kid }))).toBe('bad token signature');
  });

  it('refuses HS256 when only the key set is trusted, even signed with the public key as secret', async () => {
    const tokens = verifier();
    const hs256 = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256' }).sign(secret);
    expect(await refusal(tokens, hs256)).toBe('token algorithm "HS256" not accepted, only RS256, ES256');
    // the key-confusion attack: the public key (which anyone can fetch) used as an HMAC secret
    const publicPem = createPublicKey({ key: rsa.jwk as JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
    const confused = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'HS256', kid: rsa.kid })
      .sign(new TextEncoder().encode(publicPem));
    expect(await refusal(tokens, confused)).toMatch(/algorithm "HS256" not accepted/);
    // with the secret trusted too, HS256 is checked against the secret only
    expect(await refusal(verifier({ secret }), confused)).toBe('bad token signature');
  });

  it('refuses RS256 and ES256 when only the secret is trusted', async () => {
    const tokens = createTokenVerifier({ secret, maxTokenAge: '12h' });
    expect(await refusal(tokens, await idp.sign(rsa, claims()))).toBe('token algorithm "RS256" not accepted, only HS256');
    expect(await refusal(tokens, await idp.sign(ec, claims()))).toBe('token algorithm "ES256" not accepted, only HS256');
  });

  it('accepts both kinds when both are trusted', async () => {
    const tokens = verifier({ secret });
    expect(tokens.algorithms).toEqual(['HS256', 'RS256', 'ES256']);
    const hs256 = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256' }).sign(secret);
    await expect(tokens.verify(`Bearer ${hs256}`)).resolves.toMatchObject({ roles: ['sales', 'offline_access'] });
    await expect(tokens.verify(`Bearer ${await idp.sign(rsa, claims())}`)).resolves.toBeDefined();
  });

  it('never accepts alg none', async () => {
    for (const tokens of [verifier(), verifier({ secret })]) {
      const unsigned = new UnsecuredJWT(claims({ realm_access: { roles: ['admin'] } })).encode();
      expect(await refusal(tokens, unsigned)).toMatch(/^token algorithm "none" not accepted/);
    }
  });

  it('refuses a sub with a control character or 10,000 characters, without echoing it', async () => {
    const tokens = verifier();
    expect(await refusal(tokens, await idp.sign(rsa, claims({ sub: 'alice\u0007' })))).toMatch(/"sub" must be printable/);
    const message = await refusal(tokens, await idp.sign(rsa, claims({ sub: 'x'.repeat(10_000) })));
    expect(message).toBe('token claim "sub" is longer than 200 characters');
  });

  it('fetches the key set again for an unknown kid after a key rotation', async () => {
    const provider = await startIdentityProvider();
    try {
      const before = await provider.newKey('RS256', 'before');
      provider.publish(before);
      const tokens = createTokenVerifier({ keySet: { url: new URL(provider.jwksUrl), cooldownMs: 0 } });
      const sign = (key: SigningKey) => provider.sign(key, { sub: 'alice', exp: now() + 60 });
      await expect(tokens.verify(`Bearer ${await sign(before)}`)).resolves.toMatchObject({ actor: 'alice' });
      expect(provider.fetches()).toBe(1);

      const after = await provider.newKey('ES256', 'after');
      provider.publish(after); // rotated: the old key is withdrawn
      await expect(tokens.verify(`Bearer ${await sign(after)}`)).resolves.toMatchObject({ actor: 'alice' });
      expect(provider.fetches()).toBe(2);
      await expect(tokens.verify(`Bearer ${await sign(after)}`)).resolves.toBeDefined();
      expect(provider.fetches()).toBe(2);

      expect(await refusal(tokens, await sign(before))).toBe("no key of the identity provider's key set matches the token");
    } finally {
      await provider.close();
    }
  });

  it('does not fetch again within the cooldown, so unknown kids cannot flood the provider', async () => {
    const provider = await startIdentityProvider();
    try {
      const known = await provider.newKey('ES256');
      provider.publish(known);
      const tokens = createTokenVerifier({ keySet: { url: new URL(provider.jwksUrl), cooldownMs: 60_000 } });
      const sign = (key: SigningKey) => provider.sign(key, { sub: 'alice', exp: now() + 60 });
      await tokens.verify(`Bearer ${await sign(known)}`);
      const unknown = await provider.newKey('ES256');
      for (let i = 0; i < 5; i += 1) {
        expect(await refusal(tokens, await sign(unknown))).toMatch(/no key of the identity provider's key set/);
      }
      expect(provider.fetches()).toBe(1);
    } finally {
      await provider.close();
    }
  });

  it('says so when the key set cannot be fetched', async () => {
    const provider = await startIdentityProvider();
    const key = await provider.newKey('RS256');
    const url = new URL(provider.jwksUrl);
    await provider.close();
    const tokens = createTokenVerifier({ keySet: { url, timeoutMs: 2_000 } });
    expect(await refusal(tokens, await provider.sign(key, { sub: 'alice', exp: now() + 60 }))).toBe(
      "cannot verify the token now: the identity provider's signing keys cannot be fetched",
    );
    const notFound = createTokenVerifier({ keySet: { url: new URL('/nothing-here', idp.jwksUrl) } });
    expect(await refusal(notFound, await idp.sign(rsa, claims()))).toMatch(/signing keys cannot be fetched/);
  });
});
