import { createHash, hash, randomUUID } from 'node:crypto';

/** Fixed namespace for every id this service derives; changing it would change every derived id. */
export const CRM_NAMESPACE = '5b4f3d1e-6a0c-4c39-9f0e-2f3b7b8f6a11';
const NAMESPACE_BYTES = Buffer.from(CRM_NAMESPACE.replace(/-/g, ''), 'hex');

/**
 * A UUID that depends only on its parts: the same command retried yields the same ids. It is the
 * name-based UUID version 5 of RFC 9562 (what the `uuid` package's v5 computes, as the unit test
 * checks), made here with one SHA-1 and no parsing of the namespace: the seed derives several
 * ids per event, and the package's v5 cost more than deciding.
 */
export const deterministicId = (...parts: Array<string | number>): string => {
  const name = parts.join('\u001f');
  // One-shot hashing of the namespace and the name side by side in a reused buffer: a third
  // less time than a Hash object fed twice, for the ids the seed derives by the million. The
  // digest comes as hex, and the UUID is cut from it: no Buffer to make, set and print again
  // (0.8 us an id instead of 1.5 to 2 on our 2-core machines; the seed derives several an event).
  const hex =
    name.length * 3 <= NAME_ROOM
      ? hash('sha1', NAMED.subarray(0, NAMESPACE_BYTES.length + NAMED.write(name, NAMESPACE_BYTES.length, 'utf8')), 'hex')
      : createHash('sha1').update(NAMESPACE_BYTES).update(name, 'utf8').digest('hex');
  // The version (5) is the 13th digit; the variant (binary 10) the top bits of the 17th.
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${VARIANT_DIGIT[hex.charCodeAt(16)]}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
};

/** By the char code of a hex digit: the digit with its top two bits set to the variant, 10. */
const VARIANT_DIGIT: readonly string[] = (() => {
  const digits: string[] = [];
  for (const digit of '0123456789abcdef') digits[digit.charCodeAt(0)] = ((parseInt(digit, 16) & 0x3) | 0x8).toString(16);
  return digits;
})();

/** The namespace, then room for a name of up to NAME_ROOM bytes (UTF-8 takes at most 3 per UTF-16 unit). */
const NAME_ROOM = 2048;
const NAMED = Buffer.alloc(NAMESPACE_BYTES.length + NAME_ROOM);
NAMESPACE_BYTES.copy(NAMED);

/*
 * Time-ordered ids. A B-tree index over random UUIDs (versions 4 and 5) takes each new key on a
 * random leaf, so every batch of appends dirties pages all over the log's indexes (event ids;
 * stream ids with revisions), and all over each read model's index on a lead or opportunity id.
 * Ids that begin with the time they were made land together at the end of those indexes. The
 * layouts are RFC 9562's: 48 bits of Unix time in milliseconds, then the version digit.
 * `npm run bench:ordered-ids` measures what the order saves a bulk load.
 */

/** A new random id that sorts by the millisecond it was made in: a UUID version 7. */
export const newId = (): string => withTime(Date.now(), randomUUID(), '7');

/**
 * An id that depends only on its parts, as `deterministicId`, and begins with the time `atMs`: a
 * UUID version 8 (RFC 9562's custom layout), the 74 bits after the time from the name's SHA-1.
 * The seed gives its leads and commands these, from the simulated time they happen at.
 */
export const orderedId = (atMs: number, ...parts: Array<string | number>): string => withTime(atMs, deterministicId(...parts), '8');

/**
 * `id`, which derives from `source`, with the time of `source` when `source` is time-ordered (a
 * UUID version 7 or 8): a command's events sort with the command, a lead's conversion with the
 * lead. From any other source, `id` is returned as it is, so an id derived before ids were
 * time-ordered (a command retried, a lead converted again) is derived the same today.
 */
export const withTimeOf = (source: string, id: string): string =>
  isTimeOrdered(source) ? `${source.slice(0, 13)}-8${id.slice(15)}` : id;

const isTimeOrdered = (id: string): boolean =>
  id.length === 36 && (id.charCodeAt(14) === 0x37 || id.charCodeAt(14) === 0x38) && id.charCodeAt(8) === 0x2d && id.charCodeAt(13) === 0x2d;

/** A UUID's 48 bits of time set to `atMs` and its version to `version`; the rest, variant included, kept. */
const withTime = (atMs: number, uuid: string, version: '7' | '8'): string => {
  const ms = Math.floor(atMs);
  if (!(ms >= 0 && ms <= MAX_UUID_TIME)) throw new RangeError(`not a time a UUID can hold: ${atMs}`);
  const time = ms.toString(16).padStart(12, '0');
  return `${time.slice(0, 8)}-${time.slice(8)}-${version}${uuid.slice(15)}`;
};

const MAX_UUID_TIME = 2 ** 48 - 1;

/** A stable digest of a JSON-like value, independent of key order. */
export const digest = (value: unknown): string =>
  createHash('sha256').update(canonicalJson(value)).digest('base64url');

const canonicalJson = (value: unknown): string => {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
};
