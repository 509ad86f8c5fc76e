/**
 * A real server that trusts only an identity provider's key set (served by the test on
 * loopback, as Keycloak would serve it), spoken to over HTTP like any client.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './support/childServer';
import { startIdentityProvider, type IdentityProvider, type SigningKey } from './support/identityProvider';
import { startTestServer, TEST_SECRET, type TestServer } from './support/testServer';

const AUDIENCE = 'crm-api';
const SUB = 'f3c1a2d4-0b7e-4e55-9d1c-7a2b3c4d5e6f';
const now = () => Math.floor(Date.now() / 1000);

let idp: IdentityProvider;
let rsa: SigningKey;
let ec: SigningKey;
let api: TestServer;
beforeAll(async () => {
  idp = await startIdentityProvider();
  rsa = await idp.newKey('RS256');
  ec = await idp.newKey('ES256');
  idp.publish(rsa, ec);
  api = await startTestServer({
    env: {
      CRM_JWT_SECRET: '', // only the identity provider is trusted
      CRM_JWT_JWKS_URL: idp.jwksUrl,
      CRM_JWT_ISSUER: idp.issuer,
      CRM_JWT_AUDIENCE: AUDIENCE,
      CRM_JWT_ROLES_CLAIM: 'realm_access.roles',
    },
  });
});
afterAll(async () => {
  await api?.stop();
  await idp?.close();
});

const claims = (extra: JWTPayload = {}): JWTPayload => ({
  iss: idp.issuer,
  aud: AUDIENCE,
  sub: SUB,
  iat: now(),
  exp: now() + 300,
  realm_access: { roles: ['sales', 'admin'] },
  ...extra,
});

const post = async (token: string, query: string, variables?: Record<string, unknown>) => {
  const response = await fetch(api.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: any; errors?: Array<{ message: string; extensions?: any }> };
  return { status: response.status, ...body };
};

const CAPTURE = `mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id capturedBy } } }`;
const LEAD = `query($id: ID!) { lead(id: $id) { id capturedBy } }`;
const input = {
  source: 'INBOUND_EMAIL',
  person: { firstName: 'Marta', lastName: 'Puig', email: 'marta@botiga-puig.example' },
  company: { name: 'Botiga Puig' },
};

describe('a server trusting an identity provider', () => {
  it('runs a mutation with an RS256 token and a query with an ES256 token, as the token subject', async () => {
    const captured = await post(await idp.sign(rsa, claims()), CAPTURE, { input });
    expect(captured.errors).toBeUndefined();
    const lead = captured.data.captureLead.lead;
    expect(lead.capturedBy).toBe(SUB);

    const read = await post(await idp.sign(ec, claims()), LEAD, { id: lead.id });
    expect(read.errors).toBeUndefined();
    expect(read.data.lead).toEqual({ id: lead.id, capturedBy: SUB });
  });

  it.each([
    ['another audience', () => idp.sign(rsa, claims({ aud: 'account' })), 'token claim "aud" does not name this API'],
    ['another issuer', () => idp.sign(ec, claims({ iss: 'https://evil.example' })), 'token claim "iss" is not the trusted issuer'],
    [
      'a key the provider never published',
      async () => idp.sign(await idp.newKey('RS256'), claims(), { kid: rsa.kid }),
      'bad token signature',
    ],
    [
      'an HS256 token, even signed with the test secret',
      () => new SignJWT(claims()).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(TEST_SECRET)),
      'token algorithm "HS256" not accepted, only RS256, ES256',
    ],
    ['a token issued 13 hours ago', () => idp.sign(rsa, claims({ iat: now() - 13 * 3600 })), 'token too old: issued more than 12h ago'],
    ['a sub with a control character', () => idp.sign(rsa, claims({ sub: 'alice\r\nadmin' })), 'token claim "sub" must be printable'],
    ['a sub of 10,000 characters', () => idp.sign(rsa, claims({ sub: 'x'.repeat(10_000) })), 'token claim "sub" is longer than 200 characters'],
  ])('answers UNAUTHENTICATED (401) to %s', async (_case, token, reason) => {
    const response = await post(await token(), CAPTURE, { input });
    expect(response.status).toBe(401);
    expect(response.data ?? undefined).toBeUndefined();
    expect(response.errors).toHaveLength(1);
    expect(response.errors![0]!.extensions?.code).toBe('UNAUTHENTICATED');
    expect(response.errors![0]!.message).toContain(`Invalid bearer token: ${reason}`);
    expect(response.errors![0]!.message.length).toBeLessThan(200);
  });
});

describe('starting against an identity provider', () => {
  it('refuses to start when the key set cannot be fetched', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-idp-'));
    try {
      const nobody = await freePort();
      await expect(startTestServer({ dataDir, env: { CRM_JWT_JWKS_URL: `http://127.0.0.1:${nobody}/certs` } })).rejects.toThrow(
        `Configuration error: CRM_JWT_JWKS_URL cannot fetch a JSON Web Key Set from http://127.0.0.1:${nobody}/certs: connect ECONNREFUSED`,
      );
      await expect(
        startTestServer({ dataDir, env: { CRM_JWT_JWKS_URL: new URL('/nothing-here', idp.jwksUrl).href } }),
      ).rejects.toThrow(/CRM_JWT_JWKS_URL cannot fetch a JSON Web Key Set from .*\/nothing-here: HTTP 404$/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
