/**
 * A stand-in for an identity provider (Keycloak, Auth0...): serves a JSON Web Key Set on
 * loopback and signs tokens with the private halves, so that tests can rotate keys, forge
 * tokens and count how often the key set is fetched.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export type KeyAlgorithm = 'RS256' | 'ES256';

export interface SigningKey {
  alg: KeyAlgorithm;
  kid: string;
  privateKey: CryptoKey;
  /** The public key as published in the key set. */
  jwk: JWK;
}

export interface IdentityProvider {
  /** Where the key set is served: http://127.0.0.1:<port>/certs */
  jwksUrl: string;
  issuer: string;
  /** A fresh key pair; not published until `publish` names it. */
  newKey(alg: KeyAlgorithm, kid?: string): Promise<SigningKey>;
  /** The key set served from now on is exactly these keys (a rotation replaces them). */
  publish(...keys: SigningKey[]): void;
  /** How many times the key set has been fetched. */
  fetches(): number;
  /** Signs the claims as given (nothing added) with `key`, naming its kid unless told otherwise. */
  sign(key: SigningKey, claims: JWTPayload, header?: { kid?: string | undefined }): Promise<string>;
  close(): Promise<void>;
}

export const startIdentityProvider = async (): Promise<IdentityProvider> => {
  let served: JWK[] = [];
  let fetches = 0;
  let counter = 0;
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/certs') {
      fetches += 1;
      res.writeHead(200, { 'content-type': 'application/jwk-set+json' });
      res.end(JSON.stringify({ keys: served }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;

  return {
    jwksUrl: `${base}/certs`,
    issuer: `${base}/realms/crm`,
    async newKey(alg, kid = `${alg.toLowerCase()}-key-${++counter}`) {
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
      return { alg, kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
    },
    publish(...keys) {
      served = keys.map((key) => key.jwk);
    },
    fetches: () => fetches,
    sign(key, claims, header = {}) {
      const kid = 'kid' in header ? header.kid : key.kid;
      return new SignJWT(claims)
        .setProtectedHeader({ alg: key.alg, typ: 'JWT', ...(kid === undefined ? {} : { kid }) })
        .sign(key.privateKey);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};
