/**
 * `npm run build`'s second step: `dist/main.js`, the API in one file, which `npm start` and the
 * Docker image run.
 *
 * Why one file: the API is about 900 CommonJS modules, most of them in node_modules. Node 20 looks
 * each one up (stat calls, package.json reads), reads it and compiles it apart, and that took more
 * than half of the start (issue 11 asks for ready in 2 s at a million events). One file is read and
 * compiled once, with no look-up at all.
 *
 * What is bundled is tsc's output (`dist/src/main.js`), not the TypeScript: esbuild does not emit
 * the decorator metadata that type-graphql and class-validator read.
 *
 * Left out, and required from node_modules when used:
 * - better-sqlite3: a native addon (its report thread requires it by path too);
 * - @eventstore/db-client: loaded only with CRM_EVENT_STORE=eventstoredb, and with gRPC and
 *   protobuf it would be two fifths of the file;
 * - pino-pretty: development logs only;
 * - pg-native: pg's optional native driver, which we do not install;
 * - esbuild: the SQLite writer thread compiles its entry with it only when run from TypeScript.
 *
 * Replaced:
 * - fast-json-stringify, which graphql-jit loads but we never call, by a stub that throws
 *   (scripts/unusedJsonSerializer.cjs says why);
 * - @apollo/utils.createhash, which in a bundle hashes every query with a SHA-256 written in
 *   JavaScript, by node's crypto (scripts/nodeCreateHash.cjs says why).
 *
 * The bundle keeps names and lines as they are (no minification), so that a stack trace in the log
 * reads like the code; `dist/main.js.map` maps it back to `dist/` for `node --enable-source-maps`.
 */
import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const EXTERNAL = ['better-sqlite3', '@eventstore/db-client', 'pino-pretty', 'pg-native', 'esbuild'];

/** `dist/src/<from>.js`, with what it requires, in one file: `dist/<to>.js`. */
const bundle = (from, to) =>
  build({
    entryPoints: [path.join(root, 'dist', 'src', `${from}.js`)],
    outfile: path.join(root, 'dist', `${to}.js`),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: EXTERNAL,
    alias: {
      'fast-json-stringify': path.join(root, 'scripts', 'unusedJsonSerializer.cjs'),
      '@apollo/utils.createhash': path.join(root, 'scripts', 'nodeCreateHash.cjs'),
    },
    sourcemap: 'linked',
    sourcesContent: false,
    logLevel: 'warning',
  });

await bundle('main', 'main');
// The SQLite event store's writer thread (src/eventStores/sqliteWriter.ts), the thread that
// stages a rebuild (src/composition/stagingThread.ts) and the projections' SQLite thread
// (projections/sqliteOnAThread.ts) start the module beside the one that starts them: beside
// dist/main.js, these.
await bundle('eventStores/sqliteWriterThread', 'sqliteWriterThread');
await bundle('composition/stagingThreadEntry', 'stagingThreadEntry');
await bundle('../projections/sqliteOnAThreadEntry', 'sqliteOnAThreadEntry');
