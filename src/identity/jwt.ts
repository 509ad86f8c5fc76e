import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SignJWT, decodeProtectedHeader, errors, jwtVerify } from 'jose';

export interface Identity {
  actor: string;
  roles: string[];
}

/** A bearer token was presented but cannot be trusted; the message says why. */
export class AuthenticationError extends Error {
  override readonly name = 'AuthenticationError';
}

const ALGORITHM = 'HS256';
const MIN_SECRET_BYTES = 32;
const SECRET_FILE = 'jwt-secret';

/**
 * Returns undefined when no credentials were sent, so that the caller decides what an
 * anonymous request may do. A blank header counts as absent: some clients send one when they
 * hold no token.
 *
 * A token without a `roles` claim is an actor with no roles (absence grants nothing), but a
 * `roles` claim of the wrong shape is refused: it means a broken issuer, and guessing could
 * grant or drop permissions silently.
 */
export async function verifyBearer(
  authorizationHeader: string | undefined,
  secret: Uint8Array,
): Promise<Identity | undefined> {
  if (authorizationHeader === undefined || authorizationHeader.trim() === '') return undefined;
  const match = /^Bearer +([^\s]+) *$/i.exec(authorizationHeader);
  if (!match) {
    throw new AuthenticationError('malformed Authorization header: expected "Bearer <token>"');
  }
  const token = match[1]!;

  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, secret, {
      algorithms: [ALGORITHM],
      requiredClaims: ['exp', 'sub'],
    }));
  } catch (error) {
    throw new AuthenticationError(explain(error, token), { cause: error });
  }

  const { sub, roles = [] } = payload;
  if (typeof sub !== 'string' || sub.trim() === '') {
    throw new AuthenticationError('token claim "sub" must be a non-empty string');
  }
  if (!Array.isArray(roles) || !roles.every((role) => typeof role === 'string')) {
    throw new AuthenticationError('token claim "roles" must be an array of strings');
  }
  return { actor: sub, roles };
}

function explain(error: unknown, token: string): string {
  if (error instanceof errors.JWTExpired) return 'token expired';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'bad token signature';
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return `token algorithm ${JSON.stringify(headerAlg(token))} not accepted, only ${ALGORITHM}`;
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    return error.reason === 'missing'
      ? `token claim "${error.claim}" is missing`
      : `token claim "${error.claim}" is invalid: ${error.message}`;
  }
  return 'malformed token';
}

function headerAlg(token: string): unknown {
  try {
    return decodeProtectedHeader(token).alg;
  } catch {
    return undefined;
  }
}

export interface MintOptions {
  sub: string;
  roles: string[];
  /** A jose time span such as '12h', '30m' or '7 days'. */
  expiresIn?: string;
}

export async function mintToken(
  { sub, roles, expiresIn = '12h' }: MintOptions,
  secret: Uint8Array,
): Promise<string> {
  if (sub.trim() === '') throw new TypeError('sub must be a non-empty string');
  return new SignJWT({ roles })
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(secret);
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
