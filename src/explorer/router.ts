/**
 * The API explorer at `/explorer`: GraphiQL 3 from node_modules (its UMD bundle and CSS, with
 * React 18's UMD builds), served by this process, so that it works offline and behind proxies
 * that block CDNs. The page sends GraphQL only to our own `/graphql`, with the token the user
 * pastes into the header editor; its Content-Security-Policy forbids every other origin.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import express, { type Router } from 'express';
import { introspectionFromSchema, type GraphQLSchema } from 'graphql';
import {
  EXPLORER_CSP,
  EXPLORER_SCRIPT,
  EXPLORER_STYLES,
  explorerPage,
  VENDOR_SCRIPTS,
  VENDOR_STYLES,
} from './page';

type Asset = { type: string } & ({ file: string } | { body: string });

/**
 * Where the npm packages keep the files the page loads. React's `exports` map hides its umd/
 * folder from require.resolve, so the folders are found from each package.json.
 */
const vendorFiles = (): Record<(typeof VENDOR_SCRIPTS)[number] | (typeof VENDOR_STYLES)[number], string> => {
  const require = createRequire(__filename);
  const folderOf = (name: string) => path.dirname(require.resolve(`${name}/package.json`));
  const files = {
    'react.production.min.js': path.join(folderOf('react'), 'umd', 'react.production.min.js'),
    'react-dom.production.min.js': path.join(folderOf('react-dom'), 'umd', 'react-dom.production.min.js'),
    'graphiql.min.js': path.join(folderOf('graphiql'), 'graphiql.min.js'),
    'graphiql.min.css': path.join(folderOf('graphiql'), 'graphiql.min.css'),
  };
  const missing = Object.values(files).filter((file) => !existsSync(file));
  if (missing.length > 0) throw new Error(`The API explorer's files are missing (run npm install): ${missing.join(', ')}`);
  return files;
};

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

export interface ExplorerOptions {
  /** The GraphQL endpoint the page talks to, as a path on this origin. */
  graphqlPath: string;
  /**
   * The schema served, handed to GraphiQL as `schema.json`: GraphiQL's own introspection query
   * selects every type's fields, arguments and values, which the request cost limit refuses.
   */
  schema: GraphQLSchema;
}

/** Mount at EXPLORER_PATH: `GET /` is the page, `GET /assets/<file>` its scripts and styles. */
export const explorerRouter = ({ graphqlPath, schema }: ExplorerOptions): Router => {
  const vendor = vendorFiles();
  const graphiqlFolder = path.dirname(vendor['graphiql.min.js']);
  const assets: Record<string, Asset> = {
    'react.production.min.js': { type: JS, file: vendor['react.production.min.js'] },
    'react-dom.production.min.js': { type: JS, file: vendor['react-dom.production.min.js'] },
    'graphiql.min.js': { type: JS, file: vendor['graphiql.min.js'] },
    'graphiql.min.css': { type: CSS, file: vendor['graphiql.min.css'] },
    // Named by the bundles' sourceMappingURL comments; browsers ask for them only with devtools open.
    'graphiql.min.js.map': { type: 'application/json', file: path.join(graphiqlFolder, 'graphiql.min.js.map') },
    'graphiql.min.css.map': { type: 'application/json', file: path.join(graphiqlFolder, 'graphiql.min.css.map') },
    'explorer.js': { type: JS, body: EXPLORER_SCRIPT },
    'explorer.css': { type: CSS, body: EXPLORER_STYLES },
  };
  let introspection: string | undefined;
  const page = explorerPage(graphqlPath);

  const router = express.Router();
  router.use((_req, res, next) => {
    res.set({
      'Content-Security-Policy': EXPLORER_CSP,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      // Revalidated on each load (ETag / Last-Modified): a new GraphiQL after npm install shows at once.
      'Cache-Control': 'no-cache',
    });
    next();
  });
  router.get('/', (_req, res) => {
    res.type('text/html; charset=utf-8').send(page);
  });
  router.get('/assets/schema.json', (_req, res) => {
    introspection ??= JSON.stringify({ data: introspectionFromSchema(schema, { descriptions: true, inputValueDeprecation: true }) });
    res.type('application/json').send(introspection);
  });
  router.get('/assets/:file', (req, res, next) => {
    const asset = Object.hasOwn(assets, req.params.file) ? assets[req.params.file] : undefined;
    if (!asset) {
      next();
      return;
    }
    if ('body' in asset) {
      res.type(asset.type).send(asset.body);
    } else {
      res.sendFile(asset.file, { headers: { 'Content-Type': asset.type }, dotfiles: 'allow' }, (error) => {
        if (error && !res.headersSent) next(error);
      });
    }
  });
  return router;
};

/**
 * A browser opening `/graphql` (it prefers HTML and sends no query) is sent to the explorer;
 * GraphQL requests, GETs with `?query=` included, go on to the GraphQL endpoint unchanged.
 */
export const redirectBrowsersToExplorer =
  (explorerPath: string): express.RequestHandler =>
  (req, res, next) => {
    const wantsPage =
      req.method === 'GET' &&
      req.query.query === undefined &&
      req.accepts(['application/json', 'application/graphql-response+json', 'text/html']) === 'text/html';
    if (wantsPage) res.redirect(302, explorerPath);
    else next();
  };
