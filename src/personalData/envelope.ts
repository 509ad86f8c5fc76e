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
 * Sets values by path on a copy of `data`, copying each object on the way once however many paths
 * go through it (`undefined` removes the value). The input is never changed. This runs for every
 * event written and read, so it copies as little as it can (bench/sealing.ts).
 */
const withValuesAt = (data: Json, entries: Iterable<readonly [string, unknown]>, skip?: string): Json => {
  const root: Json = {};
  for (const key in data) if (key !== skip) root[key] = data[key];
  const copies = new Set<Json>([root]);
  paths: for (const [path, value] of entries) {
    const parts = path.split('.');
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

export const withoutEnvelope = (data: Json): Json => withValuesAt(data, [], ENVELOPE);

/** Puts opened values back where they were taken from. */
export const restorePersonal = (data: Json, personal: Record<string, unknown>): Json =>
  withValuesAt(data, Object.entries(personal), ENVELOPE);

/** What an event reads as once its key is gone: each sealed field null, and which ones they were. */
export const erasedView = (data: Json, fields: readonly string[]): Json => {
  const view = withValuesAt(data, fields.map((path) => [path, null] as const), ENVELOPE);
  view[ERASED_PERSONAL_DATA] = [...fields];
  return view;
};
