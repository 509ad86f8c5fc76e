import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

/**
 * End-to-end suites that only speak HTTP to `startTestServer`, so they run unchanged on any
 * store. (test/conversionCrash reads the SQLite file itself; test/multiInstance is PostgreSQL's.)
 */
const POSTGRES_E2E_SUITES = [
  'src/**/*.e2e.spec.ts',
  'test/seedsExample.e2e.spec.ts',
  'test/roles.e2e.spec.ts',
  'test/requestLimits.e2e.spec.ts',
  'test/personalDataErasure.e2e.spec.ts',
];

export default defineConfig({
  resolve: {
    // type-graphql require()s graphql's CommonJS build; without this alias vitest would load
    // the ESM build too and graphql refuses schemas "from another module or realm".
    alias: { graphql: require.resolve('graphql/index.js') },
  },
  test: {
    setupFiles: ['reflect-metadata'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Each project lists its own files: `extends` would concatenate an `include` set here.
    projects: [
      {
        extends: true,
        test: { name: 'sqlite', include: ['src/**/*.spec.ts', 'projections/**/*.spec.ts', 'test/**/*.spec.ts'] },
      },
      {
        // The same end-to-end suites again, each server on a fresh PostgreSQL schema.
        extends: true,
        test: {
          name: 'postgres',
          include: POSTGRES_E2E_SUITES,
          env: { CRM_TEST_STORE: 'postgres' },
        },
      },
      {
        // Events on EventStoreDB: the protocol model of test/support/eventStoreDbModel.ts (not
        // the server), or the real server when EVENTSTORE_URL is set; see test/eventStoreDb.e2e.spec.ts.
        extends: true,
        test: {
          name: 'eventstoredb',
          include: ['test/seedsExample.e2e.spec.ts', 'src/graphql/resolvers/personalData.e2e.spec.ts'],
          env: { CRM_TEST_STORE: 'eventstoredb' },
        },
      },
    ],
  },
});
