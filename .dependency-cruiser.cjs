/**
 * The direction of imports, checked by `npm run check:imports` (part of `npm test`).
 *
 * Layers, bottom to top; each may import only the layers listed with it (and npm packages,
 * except where said). The same table is in README's "How the code is laid out".
 */
const LAYERS = {
  core: { path: '^src/core/', may: ['core'] },
  domain: { path: '^src/domain/', may: ['core', 'domain'] },
  'event stores': { path: '^src/eventStores/', may: ['core', 'event stores'] },
  identity: { path: '^src/identity/', may: ['core', 'identity'] },
  projections: { path: '^projections/', may: ['core', 'domain', 'event stores', 'projections'] },
  // Crypto-shredding: the sealing event-store decorator, the key store, the key shredder.
  'personal data': { path: '^src/personalData/', may: ['core', 'domain', 'event stores', 'projections', 'personal data'] },
  'use cases': { path: '^src/useCases/', may: ['core', 'domain', 'event stores', 'projections', 'personal data', 'use cases'] },
  // Logs and metrics: pino, prom-client, the observed event-store port, projection lag.
  observability: { path: '^src/observability/', may: ['core', 'identity', 'projections', 'observability'] },
  composition: {
    path: '^src/composition/',
    may: ['core', 'domain', 'event stores', 'identity', 'projections', 'personal data', 'use cases', 'observability', 'composition'],
  },
  seeding: {
    path: '^src/seeding/',
    may: ['core', 'domain', 'event stores', 'projections', 'personal data', 'use cases', 'composition', 'seeding'],
  },
  graphql: {
    path: '^src/graphql/',
    may: ['core', 'domain', 'event stores', 'identity', 'projections', 'personal data', 'use cases', 'observability', 'composition', 'graphql'],
  },
  // The analyst dashboard: static files and the router serving them; it talks to the API only over HTTP.
  dashboard: { path: '^src/dashboard/', may: ['dashboard'] },
  // The API explorer: GraphiQL's files from node_modules and the page mounting it; it talks to the API only over HTTP.
  explorer: { path: '^src/explorer/', may: ['explorer'] },
  server: {
    path: '^src/server[.]ts$',
    may: ['core', 'domain', 'event stores', 'identity', 'projections', 'personal data', 'use cases', 'observability', 'composition', 'graphql', 'dashboard', 'explorer'],
  },
  'command-line tools': {
    path: '^src/cli/',
    may: ['core', 'domain', 'event stores', 'identity', 'projections', 'personal data', 'use cases', 'composition', 'seeding', 'graphql', 'command-line tools'],
  },
  main: { path: '^src/main[.]ts$', may: ['core', 'identity', 'observability', 'composition', 'server'] },
};

const OURS = '^(src|projections)/';
const SPEC = '[.]spec[.]ts$';
const alternatives = (names) => names.map((name) => LAYERS[name].path).join('|');

const layerRules = Object.entries(LAYERS).map(([name, layer]) => ({
  name: `${name.replace(/ /g, '-')}-imports-only-${layer.may.map((m) => m.replace(/ /g, '-')).join('+')}`,
  comment: `${name} (${layer.path}) may import only: ${layer.may.join(', ')}`,
  severity: 'error',
  from: { path: layer.path, pathNot: SPEC },
  to: { path: OURS, pathNot: alternatives(layer.may) },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'A file is part of an import cycle (type-only imports count too)',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-folder-cycles',
      comment: 'A folder imports another that imports it back, directly or around a loop',
      severity: 'error',
      scope: 'folder',
      from: {},
      to: { circular: true },
    },
    {
      name: 'domain-is-pure',
      comment:
        'src/domain is pure: no node:* module, no npm package (database clients, clocks, randomness come in with the command)',
      severity: 'error',
      from: { path: '^src/domain/', pathNot: SPEC },
      to: { pathNot: '^src/(core|domain)/' },
    },
    {
      name: 'projections-never-decide',
      comment: 'Projections fold events; they never import a decider (decide.ts)',
      severity: 'error',
      from: { path: '^projections/', pathNot: SPEC },
      to: { path: '^src/domain/.+/decide[.]ts$' },
    },
    {
      name: 'graphql-shared-below-types',
      comment: 'src/graphql/shared is below the GraphQL types, resolvers and schema',
      severity: 'error',
      from: { path: '^src/graphql/shared/' },
      to: { path: '^src/graphql/(types|resolvers)/|^src/graphql/schema[.]ts$' },
    },
    {
      name: 'graphql-types-never-import-resolvers',
      comment: 'GraphQL types never import resolvers; schema.ts lists the resolvers',
      severity: 'error',
      from: { path: '^src/graphql/types/' },
      to: { path: '^src/graphql/resolvers/|^src/graphql/schema[.]ts$' },
    },
    {
      name: 'resolvers-below-schema',
      severity: 'error',
      from: { path: '^src/graphql/resolvers/' },
      to: { path: '^src/graphql/schema[.]ts$' },
    },
    {
      name: 'no-test-code-in-the-product',
      comment: 'Product code never imports tests, test helpers or the test runner',
      severity: 'error',
      from: { path: OURS, pathNot: `${SPEC}|^src/core/testing/` },
      to: { path: `${SPEC}|^test/|^src/core/testing/|node_modules/vitest/` },
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Specs are not product code: they may import across layers (test helpers, the composition root).
    exclude: { path: '^(dist|node_modules)/|[.]spec[.]ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['cjs', 'es6'],
  },
};
