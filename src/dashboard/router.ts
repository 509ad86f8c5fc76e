/**
 * The analyst dashboard at `/dashboard`: static HTML, CSS and browser modules (./public) and
 * Chart.js's UMD build from node_modules, all from this process (no CDN). The page reads only
 * through the public `/graphql` endpoint with the token the user pastes, so the role rules apply
 * to it as to any client. The Content-Security-Policy forbids every other origin.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import express, { type Router } from 'express';

/** Nothing but this origin: scripts, styles, fetches, images; no inline script, no frames. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The static files: beside this module when run from source (tsx, vitest), or in the source tree
 * when run from `dist/` (neither tsc nor the bundle copies them): from `dist/src/dashboard/` as tsc
 * built it, or from `dist/main.js`, the bundle `npm start` runs.
 */
const publicDirectory = (): string => {
  const candidates = [
    path.join(__dirname, 'public'),
    path.resolve(__dirname, '..', '..', '..', 'src', 'dashboard', 'public'),
    path.resolve(__dirname, '..', 'src', 'dashboard', 'public'),
  ];
  const found = candidates.find((candidate) => existsSync(path.join(candidate, 'index.html')));
  if (!found) throw new Error(`The dashboard's files are missing (looked in ${candidates.join(', ')})`);
  return found;
};

const chartJsFile = (): string =>
  // chart.js's `exports` map names no file of dist/; its CommonJS entry sits beside the UMD build.
  path.join(path.dirname(createRequire(__filename).resolve('chart.js')), 'chart.umd.min.js');

export const dashboardRouter = (): Router => {
  const root = publicDirectory();
  const chartJs = chartJsFile();
  const router = express.Router();
  router.use((_req, res, next) => {
    res.set({
      'Content-Security-Policy': DASHBOARD_CSP,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-cache',
    });
    next();
  });
  router.get('/vendor/chart.umd.min.js', (_req, res) => {
    res.type('text/javascript').sendFile(chartJs);
  });
  // `/dashboard` and `/dashboard/` alike (the page names its files by absolute paths).
  router.get('/', (_req, res) => {
    res.sendFile(path.join(root, 'index.html'));
  });
  router.use(express.static(root, { index: false, redirect: false, dotfiles: 'ignore' }));
  return router;
};
