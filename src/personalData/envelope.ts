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

/** A copy of `data` with `path` set (`undefined` removes it); objects on the way are copied, never changed. */
export const withValueAt = (data: Json, path: string, value: unknown): Json => {
  const [head, ...rest] = path.split('.') as [string, ...string[]];
  const copy: Json = { ...data };
  if (rest.length === 0) {
    if (value === undefined) delete copy[head];
    else copy[head] = value;
    return copy;
  }
  const inner = copy[head];
  if (!isObject(inner)) {
    if (value === undefined) return copy;
    copy[head] = withValueAt({}, rest.join('.'), value);
  } else {
    copy[head] = withValueAt(inner, rest.join('.'), value);
  }
  return copy;
};

/** The personal values present in `data` (null counts as absent), and the data without them. */
export const takePersonal = (
  data: Json,
  paths: readonly string[],
): { clear: Json; personal: Record<string, unknown>; fields: string[] } => {
  let clear = data;
  const personal: Record<string, unknown> = {};
  const fields: string[] = [];
  for (const path of paths) {
    const value = valueAt(data, path);
    if (value === undefined || value === null) continue;
    personal[path] = value;
    fields.push(path);
    clear = withValueAt(clear, path, undefined);
  }
  return { clear, personal, fields };
};

export const envelopeOf = (data: unknown): Envelope | undefined => {
  if (!isObject(data)) return undefined;
  const envelope = data[ENVELOPE];
  return isObject(envelope) && typeof envelope.keyId === 'string' ? (envelope as unknown as Envelope) : undefined;
};

export const withoutEnvelope = (data: Json): Json => {
  const { [ENVELOPE]: _envelope, ...rest } = data;
  return rest;
};

/** Puts opened values back where they were taken from. */
export const restorePersonal = (data: Json, personal: Record<string, unknown>): Json => {
  let restored = withoutEnvelope(data);
  for (const [path, value] of Object.entries(personal)) restored = withValueAt(restored, path, value);
  return restored;
};

/** What an event reads as once its key is gone: each sealed field null, and which ones they were. */
export const erasedView = (data: Json, fields: readonly string[]): Json => {
  let view = withoutEnvelope(data);
  for (const path of fields) view = withValueAt(view, path, null);
  return { ...view, [ERASED_PERSONAL_DATA]: [...fields] };
};
