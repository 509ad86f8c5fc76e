/**
 * Stands in for @apollo/utils.createhash in `dist/main.js` (scripts/bundle.mjs). Apollo hashes
 * every query text with it (the key of its parsed-document cache, and of persisted queries). The
 * original uses node's crypto only when `module.require` exists, which esbuild's module wrapper
 * lacks, so in the bundle it fell back to sha.js, a SHA-256 written in JavaScript: about 7.5 µs a
 * request under load, where node's crypto (OpenSSL) takes about one.
 */
const { createHash } = require('node:crypto');

exports.createHash = (kind) => createHash(kind);
