import { randomBytes, timingSafeEqual } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SignJWT } from 'jose';
import { createTokenVerifier, MIN_SECRET_BYTES, parseTimeSpan, SECRET_ALGORITHM, type Identity } from './tokenVerifier';

export { AuthenticationError, type Identity } from './tokenVerifier';

const SECRET_FILE = 'jwt-secret';

/**
 * Secrets published in this repository, refused in production (see config.ts). The first was
 * the default of `CRM_JWT_SECRET` in docker-compose.yml, which now has none: anyone who has
 * read the file could mint tokens for a server started with it.
 */
const PUBLIC_EXAMPLE_SECRETS = ['dev-only-insecure-jwt-secret-do-not-use-in-production'];

export function isPublicExampleSecret(secret: Uint8Array): boolean {
  return PUBLIC_EXAMPLE_SECRETS.some((example) => {
    const bytes = new TextEncoder().encode(example);
    return bytes.length === secret.length && timingSafeEqual(bytes, secret);
  });
}

/**
 * Verifies one header against the HS256 secret alone, with no issuer, audience or age rule:
 * for tools and tests. The server builds its verifier once from the configuration instead
 * (`createTokenVerifier` with `config.identity`).
 */
export async function verifyBearer(
  authorizationHeader: string | undefined,
  secret: Uint8Array,
): Promise<Identity | undefined> {
  return createTokenVerifier({ secret }).verify(authorizationHeader);
}

export interface MintOptions {
  sub: string;
  roles: string[];
  /** A jose time span such as '12h', '30m' or '7 days'. */
  expiresIn?: string;
  /** The `iss` and `aud` claims, for a server that checks them (CRM_JWT_ISSUER, CRM_JWT_AUDIENCE). */
  issuer?: string;
  audience?: string;
}

export async function mintToken(
  { sub, roles, expiresIn = '12h', issuer, audience }: MintOptions,
  secret: Uint8Array,
): Promise<string> {
  if (sub.trim() === '') throw new TypeError('sub must be a non-empty string');
  // iat and exp from one reading of the clock, so that the lifetime is exactly expiresIn (a
  // server with CRM_JWT_MAX_AGE=12h refuses a token meant to live one second longer).
  const iat = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ roles })
    .setProtectedHeader({ alg: SECRET_ALGORITHM, typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt(iat)
    .setExpirationTime(iat + parseTimeSpan(expiresIn));
  if (issuer !== undefined) jwt.setIssuer(issuer);
  if (audience !== undefined) jwt.setAudience(audience);
  return jwt.sign(secret);
}

export interface ResolvedSecret {
  secret: Uint8Array;
  source: 'env' | 'generated' | 'file';
}

/**
 * The secret is the UTF-8 text of `CRM_JWT_SECRET` or of `<dataDir>/jwt-secret`, never a
 * decoding of it, so that `CRM_JWT_SECRET=$(cat data/jwt-secret)` signs the same tokens.
 *
 * A variable that is set but empty is refused rather than treated as unset: falling back to a
 * per-machine file would make tokens minted elsewhere fail without saying why.
 */
export function resolveJwtSecret({
  env,
  dataDir,
}: {
  env: NodeJS.ProcessEnv;
  dataDir: string;
}): ResolvedSecret {
  const fromEnv = env.CRM_JWT_SECRET;
  if (fromEnv !== undefined) {
    return { secret: checkLength(fromEnv, 'CRM_JWT_SECRET'), source: 'env' };
  }

  const file = path.join(dataDir, SECRET_FILE);
  const existing = readIfExists(file);
  if (existing !== undefined) {
    return { secret: checkLength(existing.trim(), file), source: 'file' };
  }

  mkdirSync(dataDir, { recursive: true });
  // Written aside then hard-linked into place: the link fails if another process (the server
  // and the token CLI on a first start) got there first, and nobody ever reads half a file.
  const fresh = randomBytes(MIN_SECRET_BYTES).toString('hex');
  const scratch = `${file}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(scratch, `${fresh}\n`, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(scratch, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { secret: checkLength(readFileSync(file, 'utf8').trim(), file), source: 'file' };
  } finally {
    unlinkSync(scratch);
  }
  return { secret: new TextEncoder().encode(fresh), source: 'generated' };
}

function checkLength(value: string, origin: string): Uint8Array {
  const bytes = new TextEncoder().encode(value);
  if (bytes.length < MIN_SECRET_BYTES) {
    throw new Error(
      `JWT secret from ${origin} is ${bytes.length} bytes; at least ${MIN_SECRET_BYTES} are ` +
        'required (generate one with: openssl rand -hex 32)',
    );
  }
  return bytes;
}

function readIfExists(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
