/**
 * Bearer tokens into identities, verified with whatever the configuration trusts: an HS256
 * secret (tokens this deployment mints itself), the JSON Web Key Set of an identity provider
 * (RS256 and ES256 tokens from Keycloak, Auth0, Entra ID...), or both.
 *
 * Each algorithm has exactly one source of keys: HS256 is checked only against the secret and
 * RS256/ES256 only against the key set, so a public key can never be used as an HMAC secret
 * (the classic key-confusion attack), and `none` is never accepted.
 */
import { webcrypto } from 'node:crypto';
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from 'jose';
import { BoundedMap } from '../core/boundedMap';

export interface Identity {
  actor: string;
  roles: string[];
}

/** A bearer token was presented but cannot be trusted; the message says why. */
export class AuthenticationError extends Error {
  override readonly name = 'AuthenticationError';
}

export const SECRET_ALGORITHM = 'HS256';
/** RFC 7518 §3.2: an HS256 key at least as long as the hash. */
export const MIN_SECRET_BYTES = 32;
export const KEY_SET_ALGORITHMS = ['RS256', 'ES256'] as const;

/** How long a token may live when nothing else is configured (CRM_JWT_MAX_AGE). */
export const DEFAULT_MAX_TOKEN_AGE = '12h';
/** Where the roles are when nothing else is configured (CRM_JWT_ROLES_CLAIM). */
export const DEFAULT_ROLES_CLAIM = 'roles';
/** The longest `sub` accepted, in characters (code points). */
export const MAX_SUBJECT_LENGTH = 200;
/** How far in the future an `iat` may be: the issuer's clock may run a little ahead of ours. */
export const ISSUED_AT_LEEWAY_SECONDS = 60;

export interface KeySetSettings {
  /** The identity provider's JWKS endpoint (http or https). */
  url: URL;
  /** An unknown `kid` fetches the set again, at most once per this many ms. Default 30 s. */
  cooldownMs?: number;
  /** A fetch that takes longer fails. Default 5 s. */
  timeoutMs?: number;
  /** The set is fetched again when older than this, even if every `kid` is known. Default 10 min. */
  cacheMaxAgeMs?: number;
}

export interface TokenVerifierSettings {
  /** The HS256 secret; absent when only the identity provider's keys are trusted. */
  secret?: Uint8Array;
  /** The identity provider's key set, for RS256 and ES256 tokens. */
  keySet?: KeySetSettings;
  /** When set, the `iss` claim must equal it (for every algorithm). */
  issuer?: string;
  /** When set, the `aud` claim must be or contain it (for every algorithm). */
  audience?: string;
  /**
   * A jose time span ('12h', '30 minutes'): every token must carry `iat`, may not have been
   * issued longer ago than this, and may not be meant to live longer (`exp - iat`). Undefined:
   * no limit, `iat` optional.
   */
  maxTokenAge?: string;
  /** The claim holding the roles: a dotted path such as 'realm_access.roles' (see parseClaimPath). */
  rolesClaim?: string;
}

export interface TokenVerifier {
  /**
   * The identity a request's `Authorization` header proves; undefined when it sends no
   * credentials (a blank header counts as absent), so that the caller decides what an
   * anonymous request may do. Throws AuthenticationError for a token that cannot be trusted.
   */
  verify(authorizationHeader: string | undefined): Promise<Identity | undefined>;
  /** The algorithms accepted, in the order of the settings: HS256, then RS256 and ES256. */
  readonly algorithms: readonly string[];
}

/**
 * Builds the verifier once, at start: the secret is imported as a key once, and the key set is
 * fetched on first use, then cached (jose's remote JWK set: fetched again when older than
 * `cacheMaxAgeMs`, or when a token names a `kid` it does not hold, which is how a key rotation
 * at the provider is picked up, at most once per `cooldownMs`).
 *
 * Claims: `sub` and `exp` are required; `sub` must be printable and at most 200 characters. A
 * token without the roles claim is an actor with no roles (absence grants nothing), but a roles
 * claim of the wrong shape is refused: it means a broken issuer, and guessing could grant or
 * drop permissions silently.
 */
export function createTokenVerifier(settings: TokenVerifierSettings): TokenVerifier {
  const rolesPath = parseClaimPath(settings.rolesClaim ?? DEFAULT_ROLES_CLAIM);
  const rolesName = rolesPath.join('.');
  const maxAge = settings.maxTokenAge === undefined ? undefined : parseTimeSpan(settings.maxTokenAge);

  if (settings.secret && settings.secret.length < MIN_SECRET_BYTES) {
    throw new TypeError(`an HS256 secret needs at least ${MIN_SECRET_BYTES} bytes`);
  }
  const secretKey = settings.secret && importHmacKey(settings.secret);
  const keySet = settings.keySet && remoteKeySet(settings.keySet);
  const algorithms = [...(secretKey ? [SECRET_ALGORITHM] : []), ...(keySet ? KEY_SET_ALGORITHMS : [])];
  if (algorithms.length === 0) throw new TypeError('a token verifier needs a secret, a key set, or both');

  // jose refuses an algorithm outside `algorithms` before it asks for a key.
  const keyFor: JWTVerifyGetKey = (header, token) =>
    header.alg === SECRET_ALGORITHM ? secretKey! : keySet!(header, token);
  const options: JWTVerifyOptions = {
    algorithms,
    requiredClaims: ['exp', 'sub', ...(maxAge === undefined ? [] : ['iat'])],
    ...(settings.issuer === undefined ? {} : { issuer: settings.issuer }),
    ...(settings.audience === undefined ? {} : { audience: settings.audience }),
  };

  /**
   * Tokens verified, by their text: a client sends the same token with every request, and the
   * signature check (a WebCrypto job) was a tenth of a capture's cost. An entry is used only while
   * the token's time claims still hold (exp, nbf, the maximum age), re-checked on every use. Only
   * tokens signed with our own secret: one signed by the identity provider's key set is checked
   * every time, so a key it withdraws stops its tokens at once. Bounded: the oldest entry goes first.
   */
  const verified = new BoundedMap<string, VerifiedToken>(MAX_VERIFIED_TOKENS);
  const remember = (token: string, payload: JWTPayload, identity: Identity, ownSecret: boolean) => {
    if (!ownSecret) return;
    verified.set(token, { identity, payload });
  };
  const stillValid = ({ payload }: VerifiedToken): boolean => {
    const seconds = Math.floor(Date.now() / 1000);
    if (typeof payload.exp === 'number' && seconds >= payload.exp) return false;
    if (typeof payload.nbf === 'number' && seconds < payload.nbf) return false;
    if (maxAge !== undefined) {
      try {
        checkAge(payload, maxAge, settings.maxTokenAge!);
      } catch {
        return false;
      }
    }
    return true;
  };

  return {
    algorithms,
    async verify(authorizationHeader) {
      if (authorizationHeader === undefined || authorizationHeader.trim() === '') return undefined;
      const match = /^Bearer +([^\s]+) *$/i.exec(authorizationHeader);
      if (!match) {
        throw new AuthenticationError('malformed Authorization header: expected "Bearer <token>"');
      }
      const token = match[1]!;

      // A token already verified is the same token: only its time claims can have changed.
      const known = verified.get(token);
      if (known && stillValid(known)) return known.identity;
      verified.delete(token);

      let payload: JWTPayload;
      let protectedHeader: { alg?: string };
      try {
        ({ payload, protectedHeader } = await jwtVerify(token, keyFor, options));
      } catch (error) {
        throw new AuthenticationError(explain(error, token, algorithms), { cause: error });
      }
      if (maxAge !== undefined) checkAge(payload, maxAge, settings.maxTokenAge!);
      const identity = { actor: checkSubject(payload.sub), roles: readRoles(payload, rolesPath, rolesName) };
      remember(token, payload, identity, protectedHeader.alg === SECRET_ALGORITHM);
      return identity;
    },
  };
}

const MAX_VERIFIED_TOKENS = 10_000;

interface VerifiedToken {
  identity: Identity;
  payload: JWTPayload;
}

/** Imported once: jose would otherwise import the raw bytes again for every token. */
function importHmacKey(secret: Uint8Array): Promise<webcrypto.CryptoKey> {
  const key = webcrypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  key.catch(() => undefined); // surfaces at the first verification, not as an unhandled rejection
  return key;
}

/** Raised when the key set cannot be fetched: the provider's trouble, not the token's. */
class KeySetUnavailable extends Error {}

function remoteKeySet(settings: KeySetSettings): JWTVerifyGetKey {
  const keySet = createRemoteJWKSet(settings.url, {
    cooldownDuration: settings.cooldownMs ?? 30_000,
    timeoutDuration: settings.timeoutMs ?? 5_000,
    cacheMaxAge: settings.cacheMaxAgeMs ?? 10 * 60_000,
  });
  return async (header, token) => {
    try {
      return await keySet(header, token);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) throw error;
      throw new KeySetUnavailable('key set unavailable', { cause: error });
    }
  };
}

function checkAge(payload: JWTPayload, maxAgeSeconds: number, maxAgeText: string): void {
  // jose has checked that iat (required) and exp are numbers, and that exp is in the future.
  const iat = payload.iat!;
  const now = Math.floor(Date.now() / 1000);
  if (iat > now + ISSUED_AT_LEEWAY_SECONDS) {
    throw new AuthenticationError('token claim "iat" is in the future');
  }
  if (now - iat > maxAgeSeconds) {
    throw new AuthenticationError(`token too old: issued more than ${maxAgeText} ago`);
  }
  if (payload.exp! - iat > maxAgeSeconds) {
    throw new AuthenticationError(`token lifetime (exp - iat) exceeds the ${maxAgeText} allowed`);
  }
}

/** Any script, but nothing invisible or that could forge a line in a log or a report. */
const NOT_PRINTABLE = /[\p{Cc}\p{Zl}\p{Zp}]|(?![\u200c\u200d])\p{Cf}/u;
/** Something other than white space and zero-width joiners. */
const VISIBLE = /[^\s\u200c\u200d]/u;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * The actor recorded on every event: a string of at most 200 characters (code points), with at
 * least one visible character, and without control characters (C0, C1, DEL), invisible format
 * characters (bidi overrides, zero-width space, BOM; the zero-width (non-)joiners that some
 * scripts and emoji need are fine), line or paragraph separators, or lone surrogates. Letters
 * of any script are fine. The refusal never repeats the value.
 */
function checkSubject(sub: unknown): string {
  if (typeof sub !== 'string' || !VISIBLE.test(sub)) {
    throw new AuthenticationError('token claim "sub" must be a non-empty string');
  }
  // length counts UTF-16 units, at least as many as code points: only count the long ones
  if (sub.length > MAX_SUBJECT_LENGTH && [...sub].length > MAX_SUBJECT_LENGTH) {
    throw new AuthenticationError(`token claim "sub" is longer than ${MAX_SUBJECT_LENGTH} characters`);
  }
  if (LONE_SURROGATE.test(sub)) {
    throw new AuthenticationError('token claim "sub" is not well-formed Unicode (lone surrogate)');
  }
  if (NOT_PRINTABLE.test(sub)) {
    throw new AuthenticationError('token claim "sub" must be printable: it holds a control or invisible character');
  }
  return sub;
}

function readRoles(payload: JWTPayload, path: readonly string[], name: string): string[] {
  let value: unknown = payload;
  for (const segment of path) {
    if (value === undefined) break;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new AuthenticationError(`token claim "${name}" must be an array of strings`);
    }
    value = Object.hasOwn(value, segment) ? (value as Record<string, unknown>)[segment] : undefined;
  }
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((role) => typeof role === 'string')) {
    throw new AuthenticationError(`token claim "${name}" must be an array of strings`);
  }
  return value;
}

/**
 * The segments of a roles claim path: 'roles', 'realm_access.roles' (Keycloak realm roles),
 * 'resource_access.crm-api.roles' (Keycloak client roles). A name that starts with http:// or
 * https:// is one claim, not a path: the namespaced claims Auth0 requires, such as
 * 'https://crm.example.com/roles'. Throws a TypeError for an empty name or an empty segment.
 */
export function parseClaimPath(text: string): string[] {
  if (text.trim() === '') throw new TypeError('must name a claim, e.g. roles or realm_access.roles');
  if (/^https?:\/\//.test(text)) return [text];
  const segments = text.split('.');
  if (segments.some((segment) => segment.trim() === '')) {
    throw new TypeError(`must be claim names joined by dots, e.g. realm_access.roles; got ${JSON.stringify(text)}`);
  }
  return segments;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31557600 };
const TIME_SPAN = /^(\d+|\d+\.\d+) ?(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w|years?|yrs?|y)$/i;

/**
 * A positive jose time span ('90s', '30m', '12h', '7 days', '1.5 hours'; the units jose's
 * `setExpirationTime` understands) in whole seconds. Throws a TypeError for anything else.
 */
export function parseTimeSpan(text: string): number {
  const match = TIME_SPAN.exec(text.trim());
  const seconds = match ? Math.round(parseFloat(match[1]!) * UNITS[match[2]![0]!.toLowerCase()]!) : NaN;
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new TypeError(`must be a time span such as 12h, 30m or 7 days; got ${JSON.stringify(text)}`);
  }
  return seconds;
}

function explain(error: unknown, token: string, algorithms: readonly string[]): string {
  if (error instanceof KeySetUnavailable) {
    return "cannot verify the token now: the identity provider's signing keys cannot be fetched";
  }
  if (error instanceof errors.JWKSNoMatchingKey) return "no key of the identity provider's key set matches the token";
  if (error instanceof errors.JWKSMultipleMatchingKeys) {
    return 'token header has no "kid" and several keys of the key set could have signed it';
  }
  if (error instanceof errors.JWTExpired) return 'token expired';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'bad token signature';
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return `token algorithm ${describeAlg(token)} not accepted, only ${algorithms.join(', ')}`;
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === 'missing') return `token claim "${error.claim}" is missing`;
    if (error.claim === 'iss') return 'token claim "iss" is not the trusted issuer';
    if (error.claim === 'aud') return 'token claim "aud" does not name this API';
    return `token claim "${error.claim}" is invalid: ${error.message}`;
  }
  return 'malformed token';
}

/** The header's `alg`, quoted, and cut short: it comes from whoever sent the token. */
function describeAlg(token: string): string {
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    alg = undefined;
  }
  const text = JSON.stringify(alg) ?? 'undefined';
  return text.length > 24 ? `${text.slice(0, 20)}..."` : text;
}
