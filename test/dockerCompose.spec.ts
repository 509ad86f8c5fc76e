/**
 * docker-compose.yml, read as Compose reads it (YAML, `${VAR:-default}` interpolation), checked
 * against what the API needs: only variables the server reads, stores that point at the
 * services of the file, health checks it waits on, published ports, and no JWT secret by default
 * that the server would accept in production (loadConfig itself decides).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../src/composition/config';

interface Service {
  image?: string;
  build?: unknown;
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] | string };
}

const root = path.resolve(__dirname, '..');
const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service> };
const api = compose.services.api!;

/** Compose's interpolation of `${VAR}`, `${VAR:-default}` and `${VAR-default}` with `shell` as the environment. */
const interpolate = (value: string, shell: Record<string, string>) =>
  value.replace(/\$\{([A-Z0-9_]+)(:?-)?([^}]*)\}/g, (_, name: string, op: string | undefined, fallback: string) =>
    shell[name] !== undefined && (op !== ':-' || shell[name] !== '') ? shell[name]! : op ? fallback : '');

const apiEnv = (shell: Record<string, string> = {}) =>
  Object.fromEntries(Object.entries(api.environment ?? {}).map(([key, value]) => [key, interpolate(String(value), shell)]));

/** Every variable name the configuration reads (src/composition/config.ts and what it calls). */
const namesTheServerReads = (() => {
  const files = ['src/composition/config.ts', 'src/identity/jwt.ts', 'src/identity/tokenVerifier.ts'];
  const names = new Set<string>();
  for (const file of files) {
    const text = readFileSync(path.join(root, file), 'utf8');
    for (const match of text.matchAll(/\benv\.([A-Z][A-Z0-9_]*)|\boneOf\(env, '([A-Z0-9_]+)'|'((?:CRM|EVENTSTORE|DATABASE)_[A-Z0-9_]+)'/g)) {
      names.add(match[1] ?? match[2] ?? match[3]!);
    }
  }
  return names;
})();

describe('docker-compose.yml', () => {
  it('gives the API only variables the server reads, and the ones this deployment needs', () => {
    const env = apiEnv();
    for (const name of Object.keys(env)) expect(namesTheServerReads, name).toContain(name);
    expect(env).toMatchObject({ CRM_EVENT_STORE: 'eventstoredb', CRM_READ_STORE: 'postgres' });
  });

  it('points the API at the EventStoreDB and PostgreSQL services of the file, with their credentials', () => {
    const env = apiEnv();
    const esdb = new URL(env.EVENTSTORE_URL!);
    expect(esdb.protocol).toBe('esdb:');
    expect(esdb.hostname).toBe('eventstoredb');
    expect(esdb.port).toBe('2113');
    expect(esdb.searchParams.get('tls')).toBe(compose.services.eventstoredb!.environment!.EVENTSTORE_INSECURE === 'true' ? 'false' : 'true');

    const database = new URL(env.DATABASE_URL!);
    const postgres = compose.services.postgres!.environment!;
    expect(database.hostname).toBe('postgres');
    expect(database.port).toBe('5432');
    expect(database.username).toBe(postgres.POSTGRES_USER);
    expect(database.password).toBe(postgres.POSTGRES_PASSWORD);
    expect(database.pathname).toBe(`/${postgres.POSTGRES_DB}`);
  });

  it('starts the API only once its stores answer their health checks', () => {
    for (const name of ['eventstoredb', 'postgres']) {
      expect(compose.services[name]!.healthcheck?.test, name).toBeDefined();
      expect(api.depends_on?.[name]?.condition, name).toBe('service_healthy');
    }
    expect(String(compose.services.eventstoredb!.healthcheck!.test)).toContain(':2113/health/live');
  });

  it('publishes the port the API listens on, and EventStoreDB\'s', () => {
    const port = apiEnv().PORT ?? '4000';
    expect(api.ports?.some((mapping) => mapping.endsWith(`:${port}`))).toBe(true);
    expect(compose.services.eventstoredb!.ports?.some((mapping) => mapping.endsWith(':2113'))).toBe(true);
  });

  it('has no JWT secret by default that the server would accept in production', () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-compose-'));
    try {
      // Nothing exported in the shell: what the API gets is what the file defaults to.
      const env: Record<string, string> = { ...apiEnv(), NODE_ENV: 'production', CRM_DATA_DIR: dataDir };
      expect(env.CRM_JWT_SECRET ?? '').toBe('');
      expect(() => loadConfig(env, { dataDir })).toThrow(/CRM_JWT_SECRET/);
      // And what a user exports reaches the API.
      expect(apiEnv({ CRM_JWT_SECRET: 'x'.repeat(64) }).CRM_JWT_SECRET).toBe('x'.repeat(64));
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('has no master key for personal data by default, and passes on the one a user exports', () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-compose-'));
    try {
      const env: Record<string, string> = { ...apiEnv({ CRM_JWT_SECRET: 'x'.repeat(64) }), NODE_ENV: 'production', CRM_DATA_DIR: dataDir };
      expect(env.CRM_DATA_KEY ?? '').toBe('');
      expect(() => loadConfig(env, { dataDir })).toThrow(/^Configuration error: CRM_DATA_KEY is not set, refused with NODE_ENV=production/);
      const key = 'ab'.repeat(32);
      const config = loadConfig({ ...apiEnv({ CRM_JWT_SECRET: 'x'.repeat(64), CRM_DATA_KEY: key }), NODE_ENV: 'production' }, { dataDir });
      expect(config.dataKey).toEqual({ key: Buffer.from(key, 'hex'), source: 'env' });
      expect(config.retention).toBeUndefined();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
