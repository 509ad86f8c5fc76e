/**
 * How personal fields sit inside an event's data. On the way in they are taken out of the data
 * and sealed together, under the person's key, into one `personalData` envelope that names the
 * key and the fields (names are not personal, values are):
 *
 *   { leadId, source, company, personalData: { keyId, fields: ['person'], sealed: '...' } }
 *
 * On the way out the envelope is opened and the fields put back where they were; when the key was
 * destroyed (the person's data erased), each field reads `null` and `erasedPersonalData` lists them.
 * Pure: the cipher and the keys are passed in.
 */

import { ERASED_PERSONAL_DATA } from '../domain/personalData';

export const ENVELOPE = 'personalData';

export interface Envelope {
  keyId: string;
  /** The paths sealed, in the order of the event type's list. Absent when nothing was personal. */
  fields?: string[];
  /** base64url of the sealed JSON object { path: value }. */
  sealed?: string;
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

export const valueAt = (data: unknown, path: string): unknown => {
  let current: unknown = data;
  for (const part of path.split('.')) {
    if (!isObject(current)) return undefined;
    current = current[part];
  }
  return current;
};

/**
 * A path's parts, split once: the paths are the few of PERSONAL_FIELDS, put back on every event a
 * rebuild reads. Bounded, should a caller ever pass paths of its own.
 */
const PATH_PARTS = new Map<string, readonly string[]>();
const partsOf = (path: string): readonly string[] => {
  let parts = PATH_PARTS.get(path);
  if (parts === undefined) {
    parts = path.split('.');
    if (PATH_PARTS.size < 1024) PATH_PARTS.set(path, parts);
  }
  return parts;
};

/** In place, every object on the way is the caller's: none is copied. */
const ALL_OWNED = { has: (_object: Json): boolean => true, add: (_object: Json): void => undefined };

/**
 * Sets values by path on a copy of `data`, copying each object on the way once however many paths
 * go through it (`undefined` removes the value), and leaves `skip` out. The input is never
 * changed, unless `inPlace`: then `data` itself is changed and returned, for a caller that owns it.
 * This runs for every event written and read, so it copies as little as it can (bench/sealing.ts).
 */
const withValuesAt = (data: Json, entries: Iterable<readonly [string, unknown]>, skip?: string, inPlace = false): Json => {
  let root: Json;
  if (inPlace) {
    root = data;
    if (skip !== undefined) delete root[skip];
  } else {
    root = {};
    for (const key in data) if (key !== skip) root[key] = data[key];
  }
  const copies = inPlace ? ALL_OWNED : new Set<Json>([root]);
  paths: for (const [path, value] of entries) {
    const parts = partsOf(path);
    let parent = root;
    for (let depth = 0; depth < parts.length - 1; depth++) {
      const part = parts[depth]!;
      const inner = parent[part];
      if (!isObject(inner)) {
        if (value === undefined) continue paths; // nothing there to remove
        const created: Json = {};
        copies.add(created);
        parent[part] = created;
        parent = created;
      } else if (copies.has(inner)) {
        parent = inner;
      } else {
        const copy: Json = { ...inner };
        copies.add(copy);
        parent[part] = copy;
        parent = copy;
      }
    }
    const leaf = parts[parts.length - 1]!;
    if (value === undefined) delete parent[leaf];
    else parent[leaf] = value;
  }
  return root;
};

/** A copy of `data` with `path` set (`undefined` removes it); objects on the way are copied, never changed. */
export const withValueAt = (data: Json, path: string, value: unknown): Json => withValuesAt(data, [[path, value]]);

/** The personal values present in `data` (null counts as absent), and the data without them. */
export const takePersonal = (
  data: Json,
  paths: readonly string[],
): { clear: Json; personal: Record<string, unknown>; fields: string[] } => {
  const personal: Record<string, unknown> = {};
  const fields: string[] = [];
  for (const path of paths) {
    const value = valueAt(data, path);
    if (value === undefined || value === null) continue;
    personal[path] = value;
    fields.push(path);
  }
  const clear = fields.length === 0 ? data : withValuesAt(data, fields.map((path) => [path, undefined] as const));
  return { clear, personal, fields };
};

export const envelopeOf = (data: unknown): Envelope | undefined => {
  if (!isObject(data)) return undefined;
  const envelope = data[ENVELOPE];
  return isObject(envelope) && typeof envelope.keyId === 'string' ? (envelope as unknown as Envelope) : undefined;
};

/**
 * The three ways back from stored data: each returns a copy, and leaves `data` as it was, unless
 * `inPlace` (the caller owns `data`, freshly read: it is changed and returned, which spares a
 * rebuild a second copy of every event it reads).
 */
export const withoutEnvelope = (data: Json, inPlace = false): Json => withValuesAt(data, [], ENVELOPE, inPlace);

/** Puts opened values back where they were taken from. */
export const restorePersonal = (data: Json, personal: Record<string, unknown>, inPlace = false): Json =>
  withValuesAt(data, Object.entries(personal), ENVELOPE, inPlace);

/** What an event reads as once its key is gone: each sealed field null, and which ones they were. */
export const erasedView = (data: Json, fields: readonly string[], inPlace = false): Json => {
  const view = withValuesAt(data, fields.map((path) => [path, null] as const), ENVELOPE, inPlace);
  view[ERASED_PERSONAL_DATA] = [...fields];
  return view;
};
