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
  // digest comes as hex (no Buffer to make), and its first 32 digits are the UUID's.
  const hex =
    name.length * 3 <= NAME_ROOM
      ? hash('sha1', NAMED.subarray(0, NAMESPACE_BYTES.length + NAMED.write(name, NAMESPACE_BYTES.length, 'utf8')), 'hex')
      : createHash('sha1').update(NAMESPACE_BYTES).update(name, 'utf8').digest('hex');
  for (let digit = 0; digit < 32; digit++) UUID[DIGIT_AT[digit]!] = hex.charCodeAt(digit);
  // The version (5) is the 13th digit; the variant (binary 10) the top bits of the 17th.
  UUID[14] = VERSION_5;
  UUID[19] = VARIANT_DIGIT[hex.charCodeAt(16)]!;
  return uuidText();
};

/** The namespace, then room for a name of up to NAME_ROOM bytes (UTF-8 takes at most 3 per UTF-16 unit). */
const NAME_ROOM = 2048;
const NAMED = Buffer.alloc(NAMESPACE_BYTES.length + NAME_ROOM);
NAMESPACE_BYTES.copy(NAMED);

/**
 * Where every id made here is written, character by character, before it becomes one string.
 * Cut from a hex digest and put together with `slice` and templates, an id was a tree of
 * strings, each holding on to the one it was cut from: 192 bytes of heap for an event's id and
 * 280 for a lead's, against 64 as one string (`npm run bench:ids`). A seed keeps each event's
 * id, and its lead's, until its batch is written, and V8's young generation copied every string
 * of them at each collection they survived.
 */
const UUID = Buffer.from('00000000-0000-0000-0000-000000000000', 'latin1');
const uuidText = (): string => UUID.toString('latin1', 0, 36);
const HEX = Buffer.from('0123456789abcdef', 'latin1');
/** By the char code of a hex digit: the char code of that digit with its top two bits set to the variant, 10. */
const VARIANT_DIGIT: readonly number[] = (() => {
  const digits: number[] = [];
  for (let value = 0; value < 16; value++) digits[HEX[value]!] = HEX[(value & 0x3) | 0x8]!;
  return digits;
})();
const DASH = 0x2d;
const VERSION_5 = 0x35;
const VERSION_8 = 0x38;
/** The offset in a UUID's text of each of its 32 hex digits, in order. */
const DIGIT_AT: readonly number[] = Array.from({ length: 36 }, (_, offset) => offset).filter((offset) => UUID[offset] !== DASH);

/** `text`'s characters from `from` to 36 copied into `UUID` at the same offsets (a UUID's text is ASCII). */
const copyFrom = (text: string, from: number): void => {
  for (let offset = from; offset < 36; offset++) UUID[offset] = text.charCodeAt(offset);
};

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
export const withTimeOf = (source: string, id: string): string => {
  if (!isTimeOrdered(source)) return id;
  // An id that is not a UUID's 36 characters (never one derived here) is cut as it always was.
  if (id.length !== 36) return `${source.slice(0, 13)}-8${id.slice(15)}`;
  copyFrom(id, 15);
  for (let offset = 0; offset < 13; offset++) UUID[offset] = source.charCodeAt(offset);
  UUID[14] = VERSION_8;
  return uuidText();
};

const isTimeOrdered = (id: string): boolean =>
  id.length === 36 && (id.charCodeAt(14) === 0x37 || id.charCodeAt(14) === 0x38) && id.charCodeAt(8) === 0x2d && id.charCodeAt(13) === 0x2d;

/** A UUID's 48 bits of time set to `atMs` and its version to `version`; the rest, variant included, kept. */
const withTime = (atMs: number, uuid: string, version: '7' | '8'): string => {
  const ms = Math.floor(atMs);
  if (!(ms >= 0 && ms <= MAX_UUID_TIME)) throw new RangeError(`not a time a UUID can hold: ${atMs}`);
  copyFrom(uuid, 15);
  // 12 hex digits: the top 16 bits of the 48, then the low 32 (a Number holds 48 bits exactly).
  const high = Math.floor(ms / 2 ** 32);
  const low = ms - high * 2 ** 32;
  for (let digit = 0; digit < 4; digit++) UUID[DIGIT_AT[digit]!] = HEX[(high >>> (4 * (3 - digit))) & 0xf]!;
  for (let digit = 0; digit < 8; digit++) UUID[DIGIT_AT[4 + digit]!] = HEX[(low >>> (4 * (7 - digit))) & 0xf]!;
  UUID[14] = version.charCodeAt(0);
  return uuidText();
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
