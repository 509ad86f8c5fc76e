/**
 * The explorer's own files: its HTML page, the script that mounts GraphiQL, and a few styles.
 * They live in TypeScript strings so that `tsc` carries them into dist/ like any other code
 * (the Docker image ships dist/ and node_modules only).
 */

/** Where the explorer answers, and where its files are served from. */
export const EXPLORER_PATH = '/explorer';
export const ASSETS_PATH = `${EXPLORER_PATH}/assets`;

/** What the header editor shows on every load: a token is pasted after `Bearer `. */
export const DEFAULT_HEADERS = '{"Authorization": "Bearer "}';

const DEFAULT_QUERY = `# Paste a token after "Bearer " in the Headers tab below, then run this query (Ctrl-Enter).
# npm start prints a development token when CRM_JWT_SECRET is not set;
# mint others with: npm run token -- --sub alice --roles sales
{
  me {
    sub
    roles
  }
}
`;

/** Nothing leaves this origin: no CDN, no fonts, no frames; fetches only to our own /graphql. */
export const EXPLORER_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  // GraphiQL's dialogs insert a <style> element (react-style-singleton); no remote style is allowed.
  "style-src 'self' 'unsafe-inline'",
  // GraphiQL's CSS inlines its fonts and icons as data: URLs.
  "font-src 'self' data:",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The files from npm packages, in the order the page loads them. */
export const VENDOR_SCRIPTS = ['react.production.min.js', 'react-dom.production.min.js', 'graphiql.min.js'] as const;
export const VENDOR_STYLES = ['graphiql.min.css'] as const;

const escapeAttribute = (value: string): string =>
  value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export const explorerPage = (graphqlPath: string): string => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>CRM API explorer</title>
<link rel="icon" href="data:,">
${VENDOR_STYLES.map((file) => `<link rel="stylesheet" href="${ASSETS_PATH}/${file}">`).join('\n')}
<link rel="stylesheet" href="${ASSETS_PATH}/explorer.css">
</head>
<body>
<p id="explorer-hint">Every operation needs a bearer token: paste it after <code>Bearer </code> in the
<b>Headers</b> tab below. <code>npm start</code> prints a development token when <code>CRM_JWT_SECRET</code>
is not set; mint others with <code>npm run token -- --sub alice --roles sales</code>. Headers are not saved.</p>
<div id="graphiql" data-endpoint="${escapeAttribute(graphqlPath)}">Loading the explorer…</div>
<noscript>The explorer needs JavaScript. POST GraphQL requests to ${escapeAttribute(graphqlPath)} instead.</noscript>
${VENDOR_SCRIPTS.map((file) => `<script src="${ASSETS_PATH}/${file}"></script>`).join('\n')}
<script src="${ASSETS_PATH}/explorer.js"></script>
</body>
</html>
`;

/** Runs in the browser after React, ReactDOM and GraphiQL's UMD bundles (globals). */
export const EXPLORER_SCRIPT = `'use strict';
(function () {
  var root = document.getElementById('graphiql');
  var endpoint = new URL(root.getAttribute('data-endpoint') || '/graphql', window.location.href).toString();
  // An Authorization header with no token yet ("Bearer ") is left out, so that the answer says
  // a token is needed (UNAUTHENTICATED) rather than that the header is malformed.
  function fetchWithoutBlankToken(input, init) {
    var headers = new Headers((init && init.headers) || {});
    var authorization = headers.get('authorization');
    if (authorization !== null && /^\\s*(bearer)?\\s*$/i.test(authorization)) headers.delete('authorization');
    return window.fetch(input, Object.assign({}, init, { headers: headers }));
  }
  var defaultHeaders = ${JSON.stringify(DEFAULT_HEADERS)};
  // The schema comes from the explorer's own schema.json: GraphiQL's introspection query is
  // over the request cost limit, and this way the documentation shows before a token is pasted.
  window
    .fetch(${JSON.stringify(`${ASSETS_PATH}/schema.json`)}, { headers: { accept: 'application/json' } })
    .then(function (response) {
      if (!response.ok) throw new Error('HTTP ' + response.status);
      return response.json();
    })
    .then(function (body) {
      render(GraphiQL.GraphQL.buildClientSchema(body.data));
    })
    .catch(function (error) {
      console.warn('The schema could not be loaded (' + error.message + '); GraphiQL will ask the endpoint.');
      render(undefined);
    });
  function render(schema) {
    root.textContent = '';
    ReactDOM.createRoot(root).render(
      React.createElement(GraphiQL, {
        schema: schema,
        fetcher: GraphiQL.createFetcher({ url: endpoint, fetch: fetchWithoutBlankToken }),
        defaultQuery: ${JSON.stringify(DEFAULT_QUERY)},
        headers: defaultHeaders,
        defaultHeaders: defaultHeaders,
        shouldPersistHeaders: false,
        defaultEditorToolsVisibility: 'headers',
      }),
    );
  }
})();
`;

export const EXPLORER_STYLES = `html, body { height: 100%; margin: 0; }
body { display: flex; flex-direction: column; font-family: system-ui, sans-serif; }
#explorer-hint { margin: 0; padding: 6px 12px; font-size: 13px; background: #f4f6f8; border-bottom: 1px solid #d9dde1; }
#explorer-hint code { font-size: 12px; }
#graphiql { flex: 1; min-height: 0; }
`;
