import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigurationError, loadConfig } from './config';

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-config-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const SECRET = 'a-secret-that-is-long-enough-for-hs256!!';
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
    expect(config.jwtSecret.source).toBe('env');
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

  it('ignores the URLs of stores it does not use', () => {
    expect(load({ DATABASE_URL: 'not a url', EVENTSTORE_URL: 'nor this' }).eventStore.kind).toBe('sqlite');
  });
});
