/**
 * Stands in for fast-json-stringify in `dist/main.js` (scripts/bundle.mjs). graphql-jit requires
 * it when loaded, but calls it only for its `customJSONSerializer` option, which
 * src/graphql/compiledExecution.ts does not set: Apollo serialises the answers. Loaded, it and the
 * JSON-schema compiler it brings hold about 3 MB of heap, from a budget of 300 MiB (issue 11).
 */
module.exports = function unusedJsonSerializer() {
  throw new Error("fast-json-stringify is not bundled: graphql-jit's customJSONSerializer is not used");
};
