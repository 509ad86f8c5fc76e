import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigurationError, loadConfig } from './config';

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-config-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const SECRET = 'a-secret-that-is-long-enough-for-hs256!!';
/** The default docker-compose.yml used to give CRM_JWT_SECRET (it now has none). */
const COMPOSE_EXAMPLE_SECRET = 'dev-only-insecure-jwt-secret-do-not-use-in-production';
const PG_URL = 'postgres://crm:pw@db.internal:5432/crm';
const load = (env: NodeJS.ProcessEnv) => loadConfig({ CRM_JWT_SECRET: SECRET, CRM_DATA_DIR: dataDir, ...env });

const failure = (env: NodeJS.ProcessEnv): ConfigurationError => {
  try {
    load(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    const { message } = error as ConfigurationError;
    expect(message).not.toContain('\n');
    return error as ConfigurationError;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
};

describe('loadConfig', () => {
  it('runs on the embedded SQLite file in the data directory when nothing is set', () => {
    const config = load({});
    expect(config).toMatchObject({
      port: 4000,
      host: '0.0.0.0',
      dataDir,
      maxBody: '1mb',
      production: false,
      eventStore: { kind: 'sqlite', filename: path.join(dataDir, 'crm.sqlite') },
      readStore: { kind: 'sqlite', filename: path.join(dataDir, 'crm.sqlite') },
    });
    expect(config.identity).toEqual({
      secret: new TextEncoder().encode(SECRET),
      secretSource: 'env',
      maxTokenAge: '12h',
      rolesClaim: 'roles',
    });
    expect(config.pipeline.stages.length).toBeGreaterThan(0);
    expect(config.catalogs.lossReasons.codes()).toContain('PRICE');
  });

  it('puts events and read models on PostgreSQL, in the schema named', () => {
    const config = load({
      CRM_EVENT_STORE: 'postgres',
      CRM_READ_STORE: 'postgres',
      DATABASE_URL: PG_URL,
      CRM_PG_SCHEMA: 'crm_eu',
      PORT: '8080',
      NODE_ENV: 'production',
      CRM_DATA_KEY: 'ab'.repeat(32),
    });
    expect(config.eventStore).toEqual({ kind: 'postgres', connectionString: PG_URL, schema: 'crm_eu' });
    expect(config.readStore).toEqual({ kind: 'postgres', connectionString: PG_URL, schema: 'crm_eu' });
    expect(config).toMatchObject({ port: 8080, production: true });
  });

  it('accepts a three-node EventStoreDB cluster connection string', () => {
    const cluster = 'esdb://node1:2113,node2:2113,node3:2113?tls=true&nodePreference=leader';
    const config = load({ CRM_EVENT_STORE: 'eventstoredb', EVENTSTORE_URL: cluster, CRM_READ_STORE: 'postgres', DATABASE_URL: PG_URL });
    expect(config.eventStore).toEqual({ kind: 'eventstoredb', connectionString: cluster });
  });

  it('combines EventStoreDB events with PostgreSQL read models in the public schema', () => {
    const config = load({
      CRM_EVENT_STORE: 'eventstoredb',
      EVENTSTORE_URL: 'esdb://localhost:2113?tls=false',
      CRM_READ_STORE: 'postgres',
      DATABASE_URL: PG_URL,
    });
    expect(config.eventStore).toEqual({ kind: 'eventstoredb', connectionString: 'esdb://localhost:2113?tls=false' });
    expect(config.readStore).toMatchObject({ kind: 'postgres', schema: 'public' });
  });

  it.each([
    [{ CRM_EVENT_STORE: 'mysql' }, 'CRM_EVENT_STORE must be sqlite, postgres, eventstoredb; got "mysql"'],
    [{ CRM_READ_STORE: 'eventstoredb' }, 'CRM_READ_STORE must be sqlite, postgres; got "eventstoredb"'],
    [{ CRM_EVENT_STORE: 'postgres' }, 'DATABASE_URL is required when CRM_EVENT_STORE=postgres'],
    [{ CRM_READ_STORE: 'postgres' }, 'DATABASE_URL is required when CRM_READ_STORE=postgres'],
    [{ CRM_EVENT_STORE: 'eventstoredb' }, 'EVENTSTORE_URL is required when CRM_EVENT_STORE=eventstoredb'],
    [{ CRM_EVENT_STORE: 'postgres', DATABASE_URL: 'db.internal:5432' }, 'DATABASE_URL must start with postgres:// or postgresql://'],
    [{ CRM_READ_STORE: 'postgres', DATABASE_URL: 'localhost' }, 'DATABASE_URL is not a URL'],
    [{ CRM_EVENT_STORE: 'eventstoredb', EVENTSTORE_URL: 'http://localhost:2113' }, 'EVENTSTORE_URL must look like esdb://'],
    [{ CRM_EVENT_STORE: 'postgres', DATABASE_URL: PG_URL, CRM_PG_SCHEMA: 'CRM-EU' }, 'CRM_PG_SCHEMA must be a lower-case SQL name'],
    [{ PORT: 'http' }, 'PORT must be a TCP port number'],
    [{ PORT: '70000' }, 'PORT must be a TCP port number'],
    [{ CRM_MAX_BODY: 'plenty' }, 'CRM_MAX_BODY must be a size such as 1mb'],
    [{ CRM_JWT_SECRET: 'short' }, 'CRM_JWT_SECRET is unusable: JWT secret from CRM_JWT_SECRET is 5 bytes'],
    [{ CRM_PIPELINE_FILE: path.join(dataDir, 'missing.json') }, 'CRM_PIPELINE_FILE'],
    [{ CRM_JWT_JWKS_URL: 'ftp://sso.example.com/certs' }, 'CRM_JWT_JWKS_URL must start with https:// or http://, got ftp://'],
    [{ CRM_JWT_JWKS_URL: 'sso.example.com/certs' }, 'CRM_JWT_JWKS_URL is not a URL'],
    [{ CRM_JWT_MAX_AGE: 'forever' }, 'CRM_JWT_MAX_AGE must be a time span such as 12h, 30m or 7 days; got "forever" (or off)'],
    [{ CRM_JWT_MAX_AGE: '0s' }, 'CRM_JWT_MAX_AGE must be a time span'],
    [{ CRM_JWT_MAX_AGE: '-1h' }, 'CRM_JWT_MAX_AGE must be a time span'],
    [{ CRM_JWT_MAX_AGE: '2 hours ago' }, 'CRM_JWT_MAX_AGE must be a time span'],
    [{ CRM_JWT_ROLES_CLAIM: 'realm_access..roles' }, 'CRM_JWT_ROLES_CLAIM must be claim names joined by dots'],
    [{ CRM_JWT_ROLES_CLAIM: '.roles' }, 'CRM_JWT_ROLES_CLAIM must be claim names joined by dots'],
    [{ CRM_JWT_ROLES_CLAIM: '  ' }, 'CRM_JWT_ROLES_CLAIM must name a claim'],
    [{ CRM_JWT_ISSUER: 'https://sso.example.com/realms/crm ' }, 'CRM_JWT_ISSUER must not start or end with white space'],
    [{ CRM_JWT_AUDIENCE: ' crm-api' }, 'CRM_JWT_AUDIENCE must not start or end with white space'],
    [
      { NODE_ENV: 'production', CRM_JWT_SECRET: COMPOSE_EXAMPLE_SECRET },
      'CRM_JWT_SECRET is the public example secret, refused with NODE_ENV=production',
    ],
    [{ NODE_ENV: 'production', CRM_JWT_SECRET: 'x'.repeat(31) }, 'CRM_JWT_SECRET is unusable: JWT secret from CRM_JWT_SECRET is 31 bytes'],
    [{ CRM_JWT_SECRET: '' }, 'CRM_JWT_SECRET is unusable: JWT secret from CRM_JWT_SECRET is 0 bytes'],
  ])('refuses %j with one line naming the variable', (env, expected) => {
    const error = failure(env);
    expect(error.message).toContain(`Configuration error: ${expected}`);
  });

  it('names the reasons file when it is not JSON', () => {
    const file = path.join(dataDir, 'reasons.json');
    writeFileSync(file, '{ "lossReasons": [ oops ] }');
    const error = failure({ CRM_REASONS_FILE: file });
    expect(error.variable).toBe('CRM_REASONS_FILE');
    expect(error.message).toContain(`Configuration error: CRM_REASONS_FILE ${file}: `);
  });

  describe('identity', () => {
    const JWKS_URL = 'https://sso.example.com/realms/crm/protocol/openid-connect/certs';

    it('reads the identity provider settings', () => {
      const config = load({
        CRM_JWT_JWKS_URL: JWKS_URL,
        CRM_JWT_ISSUER: 'https://sso.example.com/realms/crm',
        CRM_JWT_AUDIENCE: 'crm-api',
        CRM_JWT_MAX_AGE: '30 minutes',
        CRM_JWT_ROLES_CLAIM: 'realm_access.roles',
      });
      expect(config.identity).toEqual({
        secret: new TextEncoder().encode(SECRET),
        secretSource: 'env',
        keySet: { url: new URL(JWKS_URL) },
        issuer: 'https://sso.example.com/realms/crm',
        audience: 'crm-api',
        maxTokenAge: '30 minutes',
        rolesClaim: 'realm_access.roles',
      });
    });

    it('trusts only the key set when CRM_JWT_SECRET is unset or empty, and creates no development secret', () => {
      const own = mkdtempSync(path.join(os.tmpdir(), 'crm-config-jwks-'));
      try {
        for (const secret of [undefined, '']) {
          const config = loadConfig({ CRM_DATA_DIR: own, CRM_JWT_JWKS_URL: JWKS_URL, CRM_JWT_SECRET: secret });
          expect(config.identity.secret).toBeUndefined();
          expect(config.identity.keySet?.url.href).toBe(JWKS_URL);
          expect(existsSync(path.join(own, 'jwt-secret'))).toBe(false);
        }
      } finally {
        rmSync(own, { recursive: true, force: true });
      }
    });

    it('lifts the age limit with CRM_JWT_MAX_AGE=off and reads an Auth0 namespaced roles claim whole', () => {
      const config = load({ CRM_JWT_MAX_AGE: 'off', CRM_JWT_ROLES_CLAIM: 'https://crm.example.com/roles' });
      expect(config.identity.maxTokenAge).toBeUndefined();
      expect(config.identity.rolesClaim).toBe('https://crm.example.com/roles');
    });

    it('takes the public example secret outside production only', () => {
      expect(load({ CRM_JWT_SECRET: COMPOSE_EXAMPLE_SECRET }).identity.secretSource).toBe('env');
      expect(failure({ CRM_JWT_SECRET: COMPOSE_EXAMPLE_SECRET, NODE_ENV: 'production' }).variable).toBe('CRM_JWT_SECRET');
    });

    it('refuses the public example secret in production when it comes from the secret file', () => {
      const own = mkdtempSync(path.join(os.tmpdir(), 'crm-config-file-'));
      try {
        writeFileSync(path.join(own, 'jwt-secret'), `${COMPOSE_EXAMPLE_SECRET}\n`);
        expect(() => loadConfig({ CRM_DATA_DIR: own, NODE_ENV: 'production' })).toThrow(
          `Configuration error: CRM_JWT_SECRET is the public example secret (read from ${path.join(own, 'jwt-secret')})`,
        );
      } finally {
        rmSync(own, { recursive: true, force: true });
      }
    });

    it('keeps the docker-compose.yml file free of a default secret', () => {
      const compose = readFileSync(path.join(__dirname, '..', '..', 'docker-compose.yml'), 'utf8');
      expect(compose).not.toContain(COMPOSE_EXAMPLE_SECRET);
      const line = compose.split('\n').find((text) => /^\s*CRM_JWT_SECRET:/.test(text));
      expect(line?.trim()).toBe('CRM_JWT_SECRET: ${CRM_JWT_SECRET:-}');
    });
  });

  it('ignores the URLs of stores it does not use', () => {
    expect(load({ DATABASE_URL: 'not a url', EVENTSTORE_URL: 'nor this' }).eventStore.kind).toBe('sqlite');
  });
});

describe('the master key of personal data (CRM_DATA_KEY)', () => {
  it('creates a development key once, readable by its owner only, and reads it back on the next start', () => {
    const own = mkdtempSync(path.join(os.tmpdir(), 'crm-data-key-'));
    try {
      const first = load({ CRM_DATA_DIR: own }).dataKey;
      expect(first.source).toBe('generated');
      expect(first.key).toHaveLength(32);
      const file = path.join(own, 'data-key');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(load({ CRM_DATA_DIR: own }).dataKey).toEqual({ key: first.key, source: 'file' });
    } finally {
      rmSync(own, { recursive: true, force: true });
    }
  });

  it('takes 32 bytes as hex or base64, and refuses anything else or nothing in production, naming the variable', () => {
    const hex = 'c0'.repeat(32);
    expect(load({ CRM_DATA_KEY: hex }).dataKey).toEqual({ key: Buffer.from(hex, 'hex'), source: 'env' });
    expect(load({ CRM_DATA_KEY: Buffer.from(hex, 'hex').toString('base64') }).dataKey.key).toEqual(Buffer.from(hex, 'hex'));
    expect(failure({ CRM_DATA_KEY: 'too-short' }).message).toMatch(/^Configuration error: CRM_DATA_KEY must be 32 random bytes/);
    expect(failure({ CRM_DATA_KEY: 'ab'.repeat(31) }).variable).toBe('CRM_DATA_KEY');
    expect(failure({ NODE_ENV: 'production' }).message).toMatch(/^Configuration error: CRM_DATA_KEY is not set, refused with NODE_ENV=production/);
  });
});

describe('CRM_RETENTION', () => {
  it('is off by default, an age in days, months or years when set, and refused otherwise', () => {
    expect(load({}).retention).toBeUndefined();
    expect(load({ CRM_RETENTION: 'off' }).retention).toBeUndefined();
    expect(load({ CRM_RETENTION: '24m' }).retention).toEqual({ text: '24m', months: 24, days: 0 });
    expect(load({ CRM_RETENTION: '2y' }).retention).toEqual({ text: '2y', months: 24, days: 0 });
    expect(load({ CRM_RETENTION: '730d' }).retention).toEqual({ text: '730d', months: 0, days: 730 });
    for (const bad of ['24', '0m', 'two years', '-3m']) expect(failure({ CRM_RETENTION: bad }).variable).toBe('CRM_RETENTION');
  });
});
