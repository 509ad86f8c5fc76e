/**
 * The whole configuration, read from the environment once at start and checked before anything
 * is opened: a wrong setting stops the process with one line naming the variable, instead of a
 * stack trace from deep inside a driver minutes later.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { ReadStoreConfig } from '../../projections/sqlDatabase';
import { parseBackdateLimitDays } from '../core/backdating';
import type { EventStore } from '../core/eventStore';
import { type Pipeline } from '../domain/opportunities/pipeline';
import { type ReasonCatalogs } from '../domain/reasons';
import { type ScoringRules } from '../domain/scoring/rules';
import { openEventStore, type EventStoreConfig } from '../eventStores/open';
import { isPublicExampleSecret, resolveJwtSecret, type ResolvedSecret } from '../identity/jwt';
import {
  DEFAULT_MAX_TOKEN_AGE,
  DEFAULT_ROLES_CLAIM,
  parseClaimPath,
  parseTimeSpan,
  type TokenVerifierSettings,
} from '../identity/tokenVerifier';
import { LOG_LEVELS, type LogLevel } from '../observability/logLevels';
import { resolveMasterKey, type ResolvedMasterKey } from '../personalData/masterKey';
import { parseRetentionAge, type RetentionAge } from '../useCases/personalData/retention';
import { loadPipeline, loadReasonCatalogs, loadScoringRules } from './configFiles';


export interface CrmConfig {
  port: number;
  host: string;
  dataDir: string;
  /** Which bearer tokens are trusted (see `identity`); `createTokenVerifier` takes it as is. */
  identity: IdentityConfig;
  catalogs: ReasonCatalogs;
  pipeline: Pipeline;
  /** The largest accepted request body, in the notation of express.json (`1mb`, `500kb`). */
  maxBody: string;
  /** NODE_ENV=production: no internal details or stack traces in responses. */
  production: boolean;
  /** CRM_EXPLORER: GraphiQL at /explorer; on by default, off by default in production. */
  explorer: boolean;
  eventStore: EventStoreConfig;
  readStore: ReadStoreConfig;
  /** How many days back a business fact may be dated (CRM_BACKDATE_LIMIT_DAYS). */
  backdateLimitDays: number;
  /**
   * A subscriber is disconnected as too slow once a notification has waited longer than
   * CRM_SUBSCRIPTION_MAX_LAG seconds (default 30) for it, or CRM_SUBSCRIPTION_QUEUE (default
   * 10000) are waiting.
   */
  subscriptionQueue: number;
  subscriptionMaxLagMs: number;
  /** The lead scoring rules in use (CRM_SCORING_FILE, or the built-in ones). */
  scoringRules: ScoringRules;
  /** LOG_LEVEL: info by default, silent when NODE_ENV=test (tests stay quiet). */
  logLevel: LogLevel;
  /** CRM_DATA_KEY: wraps every person's data key (see README, "Personal data"). */
  dataKey: ResolvedMasterKey;
  /** CRM_RETENTION (e.g. 24m): the server erases, daily, people only ever leads and untouched that long. */
  retention?: RetentionAge;
}

export interface IdentityConfig extends TokenVerifierSettings {
  /** Where the HS256 secret came from: a generated or file secret is the development one. */
  secretSource?: ResolvedSecret['source'];
}

/** Values a caller fixes itself (tests pick a free port and a temporary data directory). */
export interface ConfigOverrides {
  port?: number;
  host?: string;
  dataDir?: string;
}

/** A setting that cannot work; the message is one line and starts with the variable's name. */
export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`Configuration error: ${variable} ${problem}`.replace(/\s*\n\s*/g, ' ').trim());
  }
}

/** The SQLite file of the embedded stores, inside the data directory. */
export const DATABASE_FILE = 'crm.sqlite';

const EVENT_STORES = ['sqlite', 'postgres', 'eventstoredb'] as const;
const READ_STORES = ['sqlite', 'postgres'] as const;
const BODY_SIZE = /^\d+(\.\d+)?\s*(b|kb|mb|gb)?$/i;
/** PostgreSQL folds unquoted names to lower case and cuts them at 63 bytes. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Parses and checks every setting; opens nothing but the data directory. */
export const loadConfig = (env: NodeJS.ProcessEnv, overrides: ConfigOverrides = {}): CrmConfig => {
  const dataDir = overrides.dataDir ?? path.resolve(env.CRM_DATA_DIR || 'data');
  const eventStoreKind = oneOf(env, 'CRM_EVENT_STORE', EVENT_STORES);
  const readStoreKind = oneOf(env, 'CRM_READ_STORE', READ_STORES);
  const sqliteFile = path.join(dataDir, DATABASE_FILE);

  const postgresUrl = (requiredBy: string) => url(env, 'DATABASE_URL', requiredBy, ['postgres:', 'postgresql:']);
  const schema = env.CRM_PG_SCHEMA || 'public';
  if ((eventStoreKind === 'postgres' || readStoreKind === 'postgres') && !SCHEMA_NAME.test(schema)) {
    throw new ConfigurationError(
      'CRM_PG_SCHEMA',
      `must be a lower-case SQL name (letters, digits, _; at most 63), got ${JSON.stringify(schema)}`,
    );
  }

  const eventStore: EventStoreConfig =
    eventStoreKind === 'postgres'
      ? { kind: 'postgres', connectionString: postgresUrl('CRM_EVENT_STORE=postgres'), schema }
      : eventStoreKind === 'eventstoredb'
        ? {
            kind: 'eventstoredb',
            connectionString: eventStoreDbUrl(env),
          }
        : { kind: 'sqlite', filename: sqliteFile };
  const readStore: ReadStoreConfig =
    readStoreKind === 'postgres'
      ? { kind: 'postgres', connectionString: postgresUrl('CRM_READ_STORE=postgres'), schema }
      : { kind: 'sqlite', filename: sqliteFile };

  if (eventStore.kind === 'sqlite' || readStore.kind === 'sqlite') {
    try {
      mkdirSync(dataDir, { recursive: true });
    } catch (error) {
      throw new ConfigurationError('CRM_DATA_DIR', `cannot be created at ${dataDir}: ${messageOf(error)}`);
    }
  }

  const maxBody = env.CRM_MAX_BODY || '1mb';
  if (!BODY_SIZE.test(maxBody)) {
    throw new ConfigurationError('CRM_MAX_BODY', `must be a size such as 1mb or 500kb, got ${JSON.stringify(maxBody)}`);
  }

  return {
    port: overrides.port ?? port(env),
    host: overrides.host ?? (env.HOST || '0.0.0.0'),
    dataDir,
    identity: identity(env, dataDir),
    catalogs: fromFile('CRM_REASONS_FILE', env.CRM_REASONS_FILE, loadReasonCatalogs),
    pipeline: fromFile('CRM_PIPELINE_FILE', env.CRM_PIPELINE_FILE, loadPipeline),
    scoringRules: fromFile('CRM_SCORING_FILE', env.CRM_SCORING_FILE, loadScoringRules),
    backdateLimitDays: backdateLimitDays(env),
    subscriptionQueue: wholeSetting(env, 'CRM_SUBSCRIPTION_QUEUE', 10_000, 1, 1_000_000),
    subscriptionMaxLagMs: wholeSetting(env, 'CRM_SUBSCRIPTION_MAX_LAG', 30, 1, 3_600) * 1000,
    maxBody,
    production: env.NODE_ENV === 'production',
    explorer: explorer(env),
    logLevel: logLevel(env),
    eventStore,
    readStore,
    dataKey: dataKey(env, dataDir),
    ...retention(env),
  };
};

const retention = (env: NodeJS.ProcessEnv): { retention?: RetentionAge } => {
  const value = env.CRM_RETENTION;
  if (!value || value === 'off') return {};
  try {
    return { retention: parseRetentionAge(value) };
  } catch (error) {
    throw new ConfigurationError('CRM_RETENTION', `${messageOf(error)}, or off`);
  }
};

const dataKey = (env: NodeJS.ProcessEnv, dataDir: string): ResolvedMasterKey => {
  try {
    return resolveMasterKey({ env, dataDir, production: env.NODE_ENV === 'production' });
  } catch (error) {
    throw new ConfigurationError('CRM_DATA_KEY', messageOf(error).replace(/^CRM_DATA_KEY\s*/, ''));
  }
};

/**
 * Connects once to every server the configuration names, so that a wrong host, password or
 * database stops the start at once. A server that does not answer within `timeoutMs` counts as
 * unreachable.
 */
export const checkConnections = async (config: CrmConfig, timeoutMs = 5000): Promise<void> => {
  const postgres = [config.eventStore, config.readStore].find((store) => store.kind === 'postgres');
  if (postgres?.kind === 'postgres') await checkPostgres(postgres.connectionString, timeoutMs);
  if (config.eventStore.kind === 'eventstoredb') await checkEventStoreDb(config.eventStore, timeoutMs);
  if (config.identity.keySet) await checkKeySet(config.identity.keySet.url, timeoutMs);
};

/**
 * Fetches the identity provider's key set once, as the verifier will (no redirects), so that a
 * wrong URL or an unreachable provider stops the start instead of failing every request.
 */
const checkKeySet = async (url: URL, timeoutMs: number): Promise<void> => {
  const fail = (problem: string) =>
    new ConfigurationError('CRM_JWT_JWKS_URL', `cannot fetch a JSON Web Key Set from ${url.origin}${url.pathname}: ${problem}`);
  let response: Response;
  try {
    response = await fetch(url, {
      redirect: 'manual',
      headers: { accept: 'application/json, application/jwk-set+json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    throw fail(error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : messageOf(cause ?? error));
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw fail(`HTTP ${response.status}${response.status >= 300 && response.status < 400 ? ' (redirects are not followed)' : ''}`);
  }
  const body = await response.json().catch(() => undefined) as { keys?: unknown } | undefined;
  if (!body || !Array.isArray(body.keys)) throw fail('the answer is not JSON of the form { "keys": [...] }');
  if (body.keys.length === 0) throw fail('the key set holds no keys');
};

const checkPostgres = async (connectionString: string, timeoutMs: number): Promise<void> => {
  // Imported here: a SQLite deployment never loads pg (about 90 ms of its start).
  const { Client } = await import('pg');
  const client = new Client({ connectionString, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
  // A connection that breaks after the check must not crash the process with an unhandled 'error'.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    throw new ConfigurationError('DATABASE_URL', `cannot reach PostgreSQL at ${describeServer(connectionString)}: ${messageOf(error)}`);
  } finally {
    await client.end().catch(() => undefined);
  }
};

/** The EventStoreDB client lives in its adapter only, so the check goes through the port. */
const checkEventStoreDb = async (
  config: Extract<EventStoreConfig, { kind: 'eventstoredb' }>,
  timeoutMs: number,
): Promise<void> => {
  let store: EventStore | undefined;
  let timer: NodeJS.Timeout | undefined;
  const silence = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([
      (async () => {
        store = await openEventStore(config);
        await store.headPosition();
      })(),
      silence,
    ]);
  } catch (error) {
    throw new ConfigurationError('EVENTSTORE_URL', `cannot reach EventStoreDB at ${describeServer(config.connectionString)}: ${messageOf(error)}`);
  } finally {
    clearTimeout(timer);
    await store?.close().catch(() => undefined);
  }
};

const oneOf = <T extends string>(env: NodeJS.ProcessEnv, variable: string, allowed: readonly T[]): T => {
  const value = env[variable] || allowed[0]!;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigurationError(variable, `must be ${allowed.join(', ')}; got ${JSON.stringify(value)}`);
  }
  return value as T;
};

const url = (env: NodeJS.ProcessEnv, variable: string, requiredBy: string, protocols: string[]): string => {
  const value = env[variable];
  if (!value) throw new ConfigurationError(variable, `is required when ${requiredBy}`);
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigurationError(variable, `is not a URL (expected ${protocols[0]}//host:port/...)`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigurationError(variable, `must start with ${protocols.map((p) => `${p}//`).join(' or ')}, got ${parsed.protocol}//`);
  }
  return value;
};

/**
 * A cluster names several hosts (`esdb://node1:2113,node2:2113,node3:2113?tls=true`), which
 * WHATWG URLs cannot parse: check the scheme and the presence of hosts, and leave the rest to
 * the client's own parser when the adapter connects.
 */
const ESDB_URL = /^(esdb|esdb\+discover):\/\/[^/?#\s]+/;
const eventStoreDbUrl = (env: NodeJS.ProcessEnv): string => {
  const value = env.EVENTSTORE_URL;
  if (!value) throw new ConfigurationError('EVENTSTORE_URL', 'is required when CRM_EVENT_STORE=eventstoredb');
  if (!ESDB_URL.test(value)) {
    throw new ConfigurationError('EVENTSTORE_URL', 'must look like esdb://host:2113?tls=false (or esdb+discover://, or a comma-separated list of hosts)');
  }
  return value;
};

const backdateLimitDays = (env: NodeJS.ProcessEnv): number => {
  try {
    return parseBackdateLimitDays(env.CRM_BACKDATE_LIMIT_DAYS);
  } catch (error) {
    throw new ConfigurationError('CRM_BACKDATE_LIMIT_DAYS', messageOf(error));
  }
};

const wholeSetting = (env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number => {
  const value = env[name] || String(fallback);
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new ConfigurationError(name, `must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
};

const logLevel = (env: NodeJS.ProcessEnv): LogLevel => {
  const value = env.LOG_LEVEL || (env.NODE_ENV === 'test' ? 'silent' : 'info');
  if (!(LOG_LEVELS as readonly string[]).includes(value)) {
    throw new ConfigurationError('LOG_LEVEL', `must be ${LOG_LEVELS.join(', ')}; got ${JSON.stringify(value)}`);
  }
  return value as LogLevel;
};

/** The API explorer is for developers: on unless NODE_ENV=production, where it must be asked for. */
const explorer = (env: NodeJS.ProcessEnv): boolean => {
  const value = env.CRM_EXPLORER || (env.NODE_ENV === 'production' ? 'off' : 'on');
  if (value !== 'on' && value !== 'off') {
    throw new ConfigurationError('CRM_EXPLORER', `must be on or off; got ${JSON.stringify(value)}`);
  }
  return value === 'on';
};

const port = (env: NodeJS.ProcessEnv): number => {
  if (env.PORT === undefined || env.PORT === '') return 4000;
  const value = Number(env.PORT);
  if (!/^\d+$/.test(env.PORT) || value > 65535) {
    throw new ConfigurationError('PORT', `must be a TCP port number (0-65535), got ${JSON.stringify(env.PORT)}`);
  }
  return value;
};

/**
 * The HS256 secret (CRM_JWT_SECRET, else the development file in the data directory), the
 * identity provider's key set (CRM_JWT_JWKS_URL), or both; and the claim rules for every token.
 * With a key set and no CRM_JWT_SECRET (unset or empty), HS256 tokens are refused and no
 * development secret is created.
 */
const identity = (env: NodeJS.ProcessEnv, dataDir: string): IdentityConfig => {
  const jwksUrl = optionalHttpUrl(env, 'CRM_JWT_JWKS_URL');
  const secret = jwksUrl && !env.CRM_JWT_SECRET ? undefined : jwtSecret(env, dataDir);
  if (secret && env.NODE_ENV === 'production' && isPublicExampleSecret(secret.secret)) {
    const where = secret.source === 'env' ? '' : ` (read from ${path.join(dataDir, 'jwt-secret')})`;
    throw new ConfigurationError(
      'CRM_JWT_SECRET',
      `is the public example secret${where}, refused with NODE_ENV=production: anyone can mint tokens with it; ` +
        'set one of your own (openssl rand -hex 32)',
    );
  }

  const maxTokenAge = env.CRM_JWT_MAX_AGE || DEFAULT_MAX_TOKEN_AGE;
  if (maxTokenAge !== 'off') {
    try {
      parseTimeSpan(maxTokenAge);
    } catch (error) {
      throw new ConfigurationError('CRM_JWT_MAX_AGE', `${messageOf(error)} (or off)`);
    }
  }
  const rolesClaim = env.CRM_JWT_ROLES_CLAIM || DEFAULT_ROLES_CLAIM;
  try {
    parseClaimPath(rolesClaim);
  } catch (error) {
    throw new ConfigurationError('CRM_JWT_ROLES_CLAIM', messageOf(error));
  }

  return {
    ...(secret ? { secret: secret.secret, secretSource: secret.source } : {}),
    ...(jwksUrl ? { keySet: { url: jwksUrl } } : {}),
    ...optionalText(env, 'CRM_JWT_ISSUER', 'issuer'),
    ...optionalText(env, 'CRM_JWT_AUDIENCE', 'audience'),
    ...(maxTokenAge === 'off' ? {} : { maxTokenAge }),
    rolesClaim,
  };
};

const optionalHttpUrl = (env: NodeJS.ProcessEnv, variable: string): URL | undefined => {
  const value = env[variable];
  if (!value) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigurationError(variable, 'is not a URL (expected https://host/path)');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new ConfigurationError(variable, `must start with https:// or http://, got ${parsed.protocol}//`);
  }
  return parsed;
};

/** An exact value to compare claims with: blank or padded values are typing mistakes. */
const optionalText = <K extends string>(env: NodeJS.ProcessEnv, variable: string, key: K): Partial<Record<K, string>> => {
  const value = env[variable];
  if (!value) return {};
  if (value.trim() !== value) {
    throw new ConfigurationError(variable, 'must not start or end with white space (the claim is compared exactly)');
  }
  return { [key]: value } as Partial<Record<K, string>>;
};

const jwtSecret = (env: NodeJS.ProcessEnv, dataDir: string): ResolvedSecret => {
  try {
    return resolveJwtSecret({ env, dataDir });
  } catch (error) {
    const problem = messageOf(error);
    throw new ConfigurationError('CRM_JWT_SECRET', env.CRM_JWT_SECRET === undefined ? `is not set and ${problem}` : `is unusable: ${problem}`);
  }
};

const fromFile = <T>(variable: string, file: string | undefined, load: (file?: string) => T): T => {
  try {
    return load(file || undefined);
  } catch (error) {
    const problem = messageOf(error).replace(new RegExp(`^${variable}:?\\s*`), '');
    throw new ConfigurationError(variable, problem.startsWith(file ?? '') ? problem : `${file}: ${problem}`);
  }
};

/** Host, port and database of a server URL, without the credentials it may carry. */
const describeServer = (connectionString: string): string => {
  const cluster = /^[a-z+]+:\/\/([^/?#]*,[^/?#]*)/.exec(connectionString);
  if (cluster) return cluster[1]!.replace(/^[^@]*@/, '');
  const parsed = new URL(connectionString);
  return `${parsed.hostname || 'localhost'}${parsed.port ? `:${parsed.port}` : ''}${parsed.pathname.length > 1 ? parsed.pathname : ''}`;
};

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error)) || 'no answer';
